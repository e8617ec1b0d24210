import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Channel } from '../core/engine/channel.ts';
import type { Kernel } from '../core/kernel/kernel.ts';
import { defineModule } from '../core/kernel/module.ts';
import { slabCounters } from '../core/engine/slab.ts';
import { writers } from '../core/engine/writers.ts';
import { NO_CACHE_HEADERS, respond, respondText } from './http/index.ts';
import type { FallbackFigures } from './fallback/index.ts';
import type { RecordedChannelStats, RecordingFigures } from './record/index.ts';

/** What other modules reach as `kernel.service('metrics')`: the registry their own series join. */
export interface MetricsApi {
  register: Registry;
}

declare module '../core/kernel/kernel.ts' {
  interface Services {
    /** The /metrics registry (`kernel.service('metrics')`), for modules with figures of their own. */
    metrics: MetricsApi;
  }
}

interface MetricsSettings {
  processMetrics: boolean;
}

type ChannelStats = ReturnType<Channel['stats']>;

/**
 * A per-channel series read from the channel's figures at scrape time. Series
 * are rebuilt on every scrape, so a closed channel's series disappear with it,
 * and nothing is counted on the stream path.
 */
function perChannel(
  kernel: Kernel,
  register: Registry,
  kind: 'gauge' | 'counter',
  name: string,
  help: string,
  value: (st: ChannelStats) => number,
): void {
  const collect = function (this: Gauge<'mount'> | Counter<'mount'>) {
    this.reset();
    for (const channel of kernel.channels.all()) {
      const st = channel.stats();
      if (this instanceof Gauge) this.set({ mount: st.mount }, value(st));
      else this.inc({ mount: st.mount }, value(st));
    }
  };
  const config = { name, help, labelNames: ['mount'] as const, registers: [register], collect };
  if (kind === 'gauge') new Gauge(config);
  else new Counter(config);
}

/** Prometheus text exposition at `/metrics`: per-channel figures (label `mount`) and Node's process metrics. */
export default defineModule<MetricsSettings>({
  name: 'metrics',
  description: 'Prometheus metrics at /metrics',
  needs: ['http'],
  uses: ['fallback', 'record'],
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      processMetrics: { type: 'boolean', default: true, description: 'also export prom-client\'s process and Node.js runtime metrics' },
    },
  },
  apply(kernel: Kernel, s: MetricsSettings) {
    const http = kernel.service('http')!;
    // Our own registry, not prom-client's global one, so that a second kernel in the process (the tests) can
    // register the same names. The engine's counters below (slabs, writer threads) are process-wide all the same.
    const register = new Registry();
    if (s.processMetrics) collectDefaultMetrics({ register });
    kernel.provide('metrics', { register });

    new Gauge({
      name: 'streamserve_channels',
      help: 'Channels (mounts) that exist now',
      registers: [register],
      collect() { this.set(kernel.channels.size); },
    });
    const series: [kind: 'gauge' | 'counter', name: string, help: string, value: (st: ChannelStats) => number][] = [
      ['gauge', 'streamserve_channel_listeners', 'Listeners connected to the channel', (st) => st.listeners],
      ['gauge', 'streamserve_channel_listener_peak', 'Most listeners the channel has had at once', (st) => st.listenerPeak],
      ['gauge', 'streamserve_channel_source_up', '1 while a source delivers to the channel, 0 while it is down or awaited', (st) => (st.sourceUp ? 1 : 0)],
      ['counter', 'streamserve_channel_source_reconnects_total', 'Times the channel\'s source was opened again after the first', (st) => st.reconnects],
      ['counter', 'streamserve_channel_bytes_in_total', 'Bytes read from the channel\'s sources', (st) => st.bytesIn],
      ['counter', 'streamserve_channel_bytes_out_total', 'Stream bytes written to the channel\'s listeners', (st) => st.bytesOut],
      ['counter', 'streamserve_channel_frames_in_total', 'Frames the channel\'s filter produced', (st) => st.framesIn],
      ['counter', 'streamserve_channel_frames_skipped_total', 'Frames slow listeners skipped to catch up', (st) => st.framesSkipped],
      ['counter', 'streamserve_channel_invalid_bytes_total', 'Source bytes the frame filter discarded as not part of a frame', (st) => st.invalidBytes],
    ];
    for (const [kind, name, help, value] of series) perChannel(kernel, register, kind, name, help, value);
    new Gauge({
      name: 'streamserve_channel_format_info',
      help: 'Always 1: the channel\'s frame filter and the format and codec it found in the stream (empty until known)',
      labelNames: ['mount', 'filter', 'format', 'codec'] as const,
      registers: [register],
      collect() {
        this.reset();
        for (const channel of kernel.channels.all()) {
          const f = channel.source.format;
          this.set({ mount: channel.mount, filter: channel.settings.filter, format: f?.name ?? '', codec: f?.codec ?? '' }, 1);
        }
      },
    });
    new Counter({
      name: 'streamserve_filter_invalid_bytes_total',
      help: 'Source bytes discarded as not part of a frame, by the filter that found them (auto: the one it chose), over the channels that exist now',
      labelNames: ['filter'] as const,
      registers: [register],
      collect() {
        this.reset();
        for (const channel of kernel.channels.all()) {
          this.inc({ filter: channel.source.format?.name ?? channel.settings.filter }, channel.source.invalidBytes);
        }
      },
    });

    // Fallback (`mods/fallback`): listeners moved off a mount whose source is down, and back.
    const fallback = kernel.service('fallback');
    if (fallback) {
      const fallbackSeries: [name: string, help: string, value: (f: FallbackFigures) => number][] = [
        ['streamserve_fallback_moves_total', 'Listeners moved from their mount to a fallback or filler while its source was down', (f) => f.listenersMoved],
        ['streamserve_fallback_returns_total', 'Listeners moved back to their mount when its source returned', (f) => f.listenersReturned],
        ['streamserve_fallback_format_mismatches_total', 'Live fallbacks passed over because their format differs from the mount\'s', (f) => f.formatMismatches],
      ];
      for (const [name, help, value] of fallbackSeries) {
        new Counter({ name, help, registers: [register], collect() { this.reset(); this.inc(value(fallback.figures())); } });
      }
      new Gauge({
        name: 'streamserve_fallback_listeners',
        help: 'Listeners away from their mount now, by their mount and the fallback or filler they are on',
        labelNames: ['mount', 'on'] as const,
        registers: [register],
        collect() {
          this.reset();
          for (const row of fallback.figures().displaced) this.set({ mount: row.mount, on: row.on }, row.listeners);
        },
      });
    }

    // Recordings (the record module): only recorded channels have these series.
    const recordingSeries: [name: string, help: string, value: (r: RecordingFigures) => number][] = [
      ['streamserve_recording_bytes_total', 'Bytes the channel\'s recording wrote to files', (r) => r.bytes],
      ['streamserve_recording_gaps_total', 'Times the channel\'s recording could not keep up and lost frames', (r) => r.gaps],
      ['streamserve_recording_frames_skipped_total', 'Frames the channel\'s recording lost in those gaps', (r) => r.framesSkipped],
      ['streamserve_recording_errors_total', 'Recording files that could not be opened or written', (r) => r.errors],
    ];
    for (const [name, help, value] of recordingSeries) {
      new Counter({
        name, help, labelNames: ['mount'] as const, registers: [register],
        collect() {
          this.reset();
          for (const ch of kernel.stats().channels) {
            const rec = (ch as RecordedChannelStats).recording;
            if (rec) this.inc({ mount: ch.mount }, value(rec));
          }
        },
      });
    }

    // Source memory (`core/engine/slab.ts`): reuse should dwarf creation once streams run; misuse is a bug and stays 0.
    // Writer threads (`core/engine/writers.ts`) only write while the engine thread is saturated.
    const engineSeries: [name: string, help: string, value: () => number][] = [
      ['streamserve_slabs_created_total', 'Source buffers (slabs) allocated', () => slabCounters.created],
      ['streamserve_slabs_reused_total', 'Source buffers (slabs) handed out again instead of allocated', () => slabCounters.reused],
      ['streamserve_slabs_misused_total', 'Source buffers retired because they were released more often than held (a bug; never reused)', () => slabCounters.overReleased],
      ['streamserve_writer_thread_writes_total', 'Listener writes made by writer threads (-cpu-max) rather than the engine thread', () => writers.threadWrites],
    ];
    for (const [name, help, value] of engineSeries) {
      new Counter({ name, help, registers: [register], collect() { this.reset(); this.inc(value()); } });
    }

    http.hooks.request.tapPromise('metrics', async (req) => {
      if (req.path !== '/metrics') return undefined;
      if (req.method === 'OPTIONS') {
        respond(req.socket, 204, { Allow: 'GET, HEAD, OPTIONS' });
        return true;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return undefined;
      try {
        const text = await register.metrics();
        respond(req.socket, 200, { 'Content-Type': register.contentType, ...NO_CACHE_HEADERS }, text, req.method === 'HEAD');
      } catch (err) {
        kernel.logger('metrics').error({ err }, 'collecting metrics failed');
        respondText(req.socket, 500, 'collecting metrics failed');
      }
      return true;
    });
  },
});
