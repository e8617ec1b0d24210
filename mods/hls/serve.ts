import type { Channel } from '../../core/engine/channel.ts';
import { respond, respondText, type HttpRequest } from '../http/index.ts';
import { renderPlaylist } from './playlist.ts';
import { sendCacheable, segmentMaxAge } from './responses.ts';
import type { HlsPath } from './routes.ts';
import { strongEtag } from './segment.ts';
import type { Segmenter } from './segmenter.ts';

export interface HlsSettings {
  targetDuration: number;
  playlistSegments: number;
  maxSegmentBytes: number;
  pollInterval: number;
  idleTimeout: number;
}

/** What the server counts of HLS requests (`/status.json`'s `hls` section). */
export interface HlsCounts {
  playlistRequests: number;
  segmentRequests: number;
  notModified: number;
}

export interface HlsContext {
  settings: HlsSettings;
  counts: HlsCounts;
  /** The channel's segmenter, made on its first request; each call counts as a request against the idle timeout. */
  segmenterOf(channel: Channel): Segmenter;
}

const ALLOW = 'GET, HEAD, OPTIONS';
const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';

/** Answers a GET, HEAD or OPTIONS for a channel's playlist or one of its segments. */
export async function serveHls(ctx: HlsContext, req: HttpRequest, channel: Channel, route: HlsPath): Promise<void> {
  const { settings: s, counts } = ctx;
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
  const seg = ctx.segmenterOf(channel);
  const unsupported = seg.unsupported;
  if (unsupported) {
    return respondText(socket, 404, `${channel.mount} is ${unsupported}: HLS is served for MP3, ADTS AAC and MPEG-TS channels`, {}, headOnly);
  }
  if (route.kind === 'playlist') {
    counts.playlistRequests++;
    // A fresh segmenter has nothing yet: hold the first request until its first segment is cut.
    await seg.whenSegment(3 * s.targetDuration + 2000);
    if (socket.destroyed) return;
    const window = seg.window();
    if (!window.length) {
      return respondText(socket, 503, `no HLS segment of ${channel.mount} yet: is its source sending?`, { 'Retry-After': '2' }, headOnly);
    }
    const body = Buffer.from(renderPlaylist({ epoch: seg.epoch, targetSeconds: seg.targetSeconds, discontinuitySequence: seg.discontinuitySequence, segments: window }));
    const maxAge = Math.max(1, Math.floor(s.targetDuration / 2000));
    if (sendCacheable(req, { contentType: PLAYLIST_TYPE, body, etag: strongEtag(body), maxAge, immutable: false, private: isPrivate }) === 'not-modified') counts.notModified++;
    return;
  }
  counts.segmentRequests++;
  const found = route.epoch === seg.epoch ? seg.find(route.sequence) : undefined;
  if (!found || found.kind.extension !== route.extension) {
    return respondText(socket, 404, `segment ${req.path} is not held (segments live about ${s.playlistSegments + 3} target durations)`, {}, headOnly);
  }
  const sent = sendCacheable(req, { contentType: found.kind.contentType, body: found.body, etag: found.etag, maxAge: segmentMaxAge, immutable: true, private: isPrivate });
  if (sent === 'not-modified') counts.notModified++;
}
