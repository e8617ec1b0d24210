import { Counter } from 'prom-client';
import type { Kernel } from '../../core/kernel/kernel.ts';
import { defineModule } from '../../core/kernel/module.ts';
import type {} from '../metrics.ts';
import { listenerRefusal, liveBroadcasters, serverListeners, sourceRefusal, type Refused } from './door.ts';
import { DurationSweep } from './duration-sweep.ts';
import { LIMIT_KINDS, LimitCounts } from './refusals.ts';
import { Reservations } from './reservations.ts';
import { limitsAt, limitsSchema, shortestDuration, type LimitsSettings } from './settings.ts';

/**
 * Listener and broadcaster limits: listeners per channel and on the whole
 * server (an HTTP listener over the limit gets 503 with the reason, an fstream
 * watcher a close), broadcasters on the whole server, and how long a listener
 * may stay. With every limit at 0 (the shipped defaults) it refuses nothing.
 */
export default defineModule<LimitsSettings>({
  name: 'limits',
  description: 'max listeners (per channel, server-wide), max broadcasters, max listener duration',
  // Its counts join /metrics when the metrics module is loaded.
  uses: ['metrics'],
  schema: limitsSchema,
  flags: {
    'max-listeners': { setting: 'maxListeners', type: 'int' },
    'max-sources': { setting: 'maxSources', type: 'int' },
    'max-listener-duration': { setting: 'maxListenerDuration', type: 'duration' },
  },
  apply(kernel: Kernel, s: LimitsSettings) {
    const log = kernel.logger('limits');
    const counts = new LimitCounts();
    const refused = (r: Refused | undefined, fields: Record<string, unknown>): string | undefined => {
      if (!r) return undefined;
      counts.add(r.kind);
      log.info({ ...fields, limit: r.kind, reason: r.reason }, 'refused by a limit');
      return r.reason;
    };

    const reserved = new Reservations();
    kernel.hooks.listenerJoin.tap('limits', (req) => {
      const channel = req.channel;
      const r = listenerRefusal(s, channel.mount, req.listeners + reserved.on(channel), serverListeners(kernel.channels) + reserved.total);
      if (!r) reserved.hold(channel);
      return refused(r, { mount: channel.mount, remote: req.remoteAddress, protocol: req.protocol });
    });
    kernel.hooks.listenerJoined.tap('limits', (l) => reserved.joined(l.channel));
    kernel.hooks.sourceAttach.tap('limits', (mount, source) =>
      refused(sourceRefusal(s, liveBroadcasters(kernel.channels)), { mount, source: source.describe }));

    const sweep = new DurationSweep(kernel.channels, (mount) => limitsAt(s, mount).maxListenerDuration, (l, limitMs) => {
      counts.add('listenerDuration');
      log.info({ mount: l.channel.mount, remote: l.remoteAddress, protocol: l.protocol, limitMs }, 'listener reached its time limit');
    });

    kernel.hooks.stats.tap('limits', (stats) => ({
      ...stats,
      limits: {
        maxListeners: s.maxListeners,
        maxListenersPerChannel: s.maxListenersPerChannel,
        maxSources: s.maxSources,
        maxListenerDurationMs: s.maxListenerDuration,
        listeners: serverListeners(kernel.channels),
        broadcasters: liveBroadcasters(kernel.channels),
        refusals: counts.snapshot(),
      },
    }));

    kernel.hooks.start.tap('limits', () => {
      sweep.start(shortestDuration(s));
      const register = kernel.service('metrics')?.register;
      if (!register) return;
      new Counter({
        name: 'streamserve_limit_refusals_total',
        help: 'Listeners and broadcasters refused, and listeners disconnected, by a limit (kind: channelListeners, serverListeners, sources, listenerDuration)',
        labelNames: ['kind'] as const,
        registers: [register],
        collect() {
          this.reset();
          for (const kind of LIMIT_KINDS) this.inc({ kind }, counts.get(kind));
        },
      });
    });
    kernel.hooks.stop.tap('limits', () => sweep.stop());
  },
});
