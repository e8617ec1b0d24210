import type { Channel } from '../../core/engine/channel.ts';
import { ERR } from '../../core/kernel/errors.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import { defineModule } from '../../core/kernel/module.ts';
import { parseHlsPath } from './routes.ts';
import { Segmenter } from './segmenter.ts';
import { serveHls, type HlsCounts, type HlsSettings } from './serve.ts';

function checkRange(setting: string, ms: number, min: number, max: number): void {
  if (ms < min || ms > max) throw ERR.HLS_DURATION_RANGE(`hls.${setting}`, `${ms}ms`, `${min}ms to ${max}ms`);
}

/**
 * Every MP3, ADTS AAC and MPEG-TS channel also as HLS, so any HTTP cache or CDN
 * can carry the audience: `M/index.m3u8` (`/index.m3u8` for `/`) lists segments
 * cut at sync points from the channel's own ring. Segments are immutable (the
 * name holds the segmenter's epoch and sequence number) with strong ETags; the
 * playlist may be cached for half a target duration. A channel is segmented
 * only while someone asks for it: after `idleTimeout` without a request its
 * segmenter and segments are dropped.
 */
export default defineModule<HlsSettings>({
  name: 'hls',
  description: 'HLS playlists and segments for MP3, ADTS AAC and MPEG-TS channels',
  needs: ['http'],
  // Its TS timed metadata reads MPEG-TS tables with the filters' parsers (code only: no service).
  uses: ['filters'],
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      targetDuration: { type: ['string', 'number'], 'x-duration': true, default: '2s', description: 'media per segment (segments are cut at the first sync point after it)' },
      playlistSegments: { type: 'integer', minimum: 2, maximum: 100, default: 6, description: 'segments listed in a playlist' },
      maxSegmentBytes: { type: 'integer', minimum: 65536, default: 8388608, description: 'largest segment; a stream with no sync point within it is dropped until the next one' },
      pollInterval: { type: ['string', 'number'], 'x-duration': true, default: '100ms', description: 'how often a segmented channel\'s ring is read for new frames' },
      idleTimeout: { type: ['string', 'number'], 'x-duration': true, default: '60s', description: 'a channel nobody asked HLS of for this long is no longer segmented' },
    },
  },
  apply(kernel: Kernel, s: HlsSettings) {
    checkRange('targetDuration', s.targetDuration, 500, 60_000);
    checkRange('pollInterval', s.pollInterval, 10, 1000);
    checkRange('idleTimeout', s.idleTimeout, 1000, 86_400_000);
    const log = kernel.logger('hls');
    const http = kernel.service('http')!;
    const segmenters = new Map<Channel, Segmenter>();
    const counts: HlsCounts = { playlistRequests: 0, segmentRequests: 0, notModified: 0 };

    const segmenterOf = (channel: Channel): Segmenter => {
      let seg = segmenters.get(channel);
      if (!seg) {
        seg = new Segmenter(channel, {
          targetDurationMs: s.targetDuration, playlistSegments: s.playlistSegments, maxSegmentBytes: s.maxSegmentBytes, pollMs: s.pollInterval,
        });
        segmenters.set(channel, seg);
        log.info({ mount: channel.mount, epoch: seg.epoch }, 'segmenting for HLS');
      }
      seg.lastRequestAt = Date.now();
      return seg;
    };
    const drop = (channel: Channel, why: string) => {
      const seg = segmenters.get(channel);
      if (!seg) return;
      seg.stop();
      segmenters.delete(channel);
      log.info({ mount: channel.mount, why }, 'HLS segmenting stopped');
    };

    const idleSweep = setInterval(() => {
      const now = Date.now();
      for (const [channel, seg] of segmenters) if (now - seg.lastRequestAt > s.idleTimeout) drop(channel, 'idle');
    }, Math.min(s.idleTimeout, 5000));
    idleSweep.unref();

    kernel.hooks.channelClosed.tap('hls', (channel) => drop(channel, 'channel closed'));
    kernel.hooks.sourceOpened.tap('hls', (channel) => segmenters.get(channel)?.sourceRunStarted());
    kernel.hooks.sourceClosed.tap('hls', (channel) => segmenters.get(channel)?.sourceRunEnded());
    kernel.hooks.stop.tapPromise('hls', async () => {
      clearInterval(idleSweep);
      for (const channel of [...segmenters.keys()]) drop(channel, 'server stopping');
    });
    kernel.hooks.stats.tap('hls', (stats) => ({
      ...stats,
      hls: {
        ...counts,
        channels: [...segmenters.values()].map((seg) => ({
          mount: seg.channel.mount,
          epoch: seg.epoch,
          segmentsCut: seg.segmentsCut,
          framesMissed: seg.framesMissed,
          listed: seg.window().map((x) => x.sequence),
        })),
      },
    }));

    http.hooks.request.tapPromise('hls', async (req) => {
      const route = parseHlsPath(req.path);
      // Other methods may mean something to later modules (a source publishing at the path).
      if (!route || !['GET', 'HEAD', 'OPTIONS'].includes(req.method)) return undefined;
      // A channel mounted at the very path (`/x/index.m3u8`) streams as it always did.
      if (kernel.channels.get(req.path)) return undefined;
      const channel = http.resolve(route.mount);
      if (!channel) return undefined;
      await serveHls({ settings: s, counts, segmenterOf }, req, channel, route);
      return true;
    });
  },
});
