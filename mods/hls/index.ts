import type { Channel } from '../../core/engine/channel.ts';
import { ERR } from '../../core/kernel/errors.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import { defineModule } from '../../core/kernel/module.ts';
import { respond, respondText, type HttpRequest } from '../http/index.ts';
import { renderPlaylist } from './playlist.ts';
import { sendCacheable, segmentMaxAge } from './responses.ts';
import { parseHlsPath } from './routes.ts';
import { strongEtag } from './segment.ts';
import { Segmenter } from './segmenter.ts';

interface HlsSettings {
  targetDuration: number;
  playlistSegments: number;
  maxSegmentBytes: number;
  pollInterval: number;
  idleTimeout: number;
}

const ALLOW = 'GET, HEAD, OPTIONS';
const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';

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
    let playlistRequests = 0;
    let segmentRequests = 0;
    let notModified = 0;

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
        playlistRequests,
        segmentRequests,
        notModified,
        channels: [...segmenters.values()].map((seg) => ({
          mount: seg.channel.mount,
          epoch: seg.epoch,
          segmentsCut: seg.segmentsCut,
          framesMissed: seg.framesMissed,
          listed: seg.window().map((x) => x.sequence),
        })),
      },
    }));

    const answer = async (req: HttpRequest, channel: Channel, route: NonNullable<ReturnType<typeof parseHlsPath>>) => {
      const { socket } = req;
      const headOnly = req.method === 'HEAD';
      if (req.method === 'OPTIONS') return respond(socket, 204, { Allow: ALLOW, 'Access-Control-Max-Age': 86400 });
      // HLS clients are listeners too: the same passwords, users and limits decide.
      const admission = await channel.admit({
        protocol: 'hls',
        remoteAddress: req.remoteAddress,
        user: req.basic?.user,
        channelPassword: req.basic?.password ?? req.query.get('password') ?? undefined,
      });
      if ('status' in admission) {
        const challenge: Record<string, string> = admission.status === 401 ? { 'WWW-Authenticate': `Basic realm="${channel.mount}"` } : {};
        return respondText(socket, admission.status, admission.reason, challenge, headOnly);
      }
      const isPrivate = Boolean(channel.info.password);
      const seg = segmenterOf(channel);
      const unsupported = seg.unsupported;
      if (unsupported) {
        return respondText(socket, 404, `${channel.mount} is ${unsupported}: HLS is served for MP3, ADTS AAC and MPEG-TS channels`, {}, headOnly);
      }
      if (route.kind === 'playlist') {
        playlistRequests++;
        // A fresh segmenter has nothing yet: hold the first request until its first segment is cut.
        await seg.whenSegment(3 * s.targetDuration + 2000);
        if (socket.destroyed) return;
        const window = seg.window();
        if (!window.length) {
          return respondText(socket, 503, `no HLS segment of ${channel.mount} yet: is its source sending?`, { 'Retry-After': '2' }, headOnly);
        }
        const body = Buffer.from(renderPlaylist({ epoch: seg.epoch, targetSeconds: seg.targetSeconds, discontinuitySequence: seg.discontinuitySequence, segments: window }));
        const maxAge = Math.max(1, Math.floor(s.targetDuration / 2000));
        if (sendCacheable(req, { contentType: PLAYLIST_TYPE, body, etag: strongEtag(body), maxAge, immutable: false, private: isPrivate }) === 'not-modified') notModified++;
        return;
      }
      segmentRequests++;
      const found = route.epoch === seg.epoch ? seg.find(route.sequence) : undefined;
      if (!found || found.kind.extension !== route.extension) {
        return respondText(socket, 404, `segment ${req.path} is not held (segments live about ${s.playlistSegments + 3} target durations)`, {}, headOnly);
      }
      const sent = sendCacheable(req, { contentType: found.kind.contentType, body: found.body, etag: found.etag, maxAge: segmentMaxAge, immutable: true, private: isPrivate });
      if (sent === 'not-modified') notModified++;
    };

    http.hooks.request.tapPromise('hls', async (req) => {
      const route = parseHlsPath(req.path);
      // Other methods may mean something to later modules (a source publishing at the path).
      if (!route || !['GET', 'HEAD', 'OPTIONS'].includes(req.method)) return undefined;
      // A channel mounted at the very path (`/x/index.m3u8`) streams as it always did.
      if (kernel.channels.get(req.path)) return undefined;
      const channel = http.resolve(route.mount);
      if (!channel) return undefined;
      await answer(req, channel, route);
      return true;
    });
  },
});
