import type { Readable } from 'node:stream';
import { channelDefaults, type ChannelSettings } from '../../core/contracts/channel-settings.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import type { Logger } from '../../core/kernel/log.ts';
import { MAX_MPEG_FRAME } from '../filters/index.ts';
import { respondText, type HttpRequest } from '../http/index.ts';
import { authorizeSource } from './authorize.ts';
import { ChunkedBodyStream } from './chunked-body.ts';
import { sourceInfo } from './ice-headers.ts';
import { validMount } from './mount-name.ts';
import { acceptSourceReply, refuseCredentials } from './replies.ts';
import { filterFor, mediaType } from './stream-format.ts';

/** The settings every Icecast mount gets; the filter and content type come from each source. */
export interface IcecastSettings {
  sourceBuffer: number;
  frameBytes: number;
  burst: number;
  burstBytes: number;
  clientMaxBytes: number;
  maxQuietInterval: number;
  grace: number;
}

/** With `auto` the channel's type is what the filter finds (the declared one while they agree): not fixed here. */
function channelSettings(s: IcecastSettings, filter: string, contentType: string): ChannelSettings {
  return {
    ...channelDefaults,
    filter,
    contentType: filter === 'auto' ? channelDefaults.contentType : contentType,
    frameBytes: filter === 'mp3' ? Math.max(s.frameBytes, MAX_MPEG_FRAME) : s.frameBytes,
    sourceBuffer: s.sourceBuffer,
    burst: s.burst,
    burstBytes: s.burstBytes,
    clientMaxBytes: s.clientMaxBytes,
    maxQuietInterval: s.maxQuietInterval,
    grace: s.grace,
  };
}

/**
 * The body as the source runner reads it: the socket itself when it runs to
 * EOF (ffmpeg, libshout, butt, darkice), a decoder when it is chunked (curl -T -).
 * Bytes that arrived with the head are put back in front of the socket's own.
 */
function sourceBody(req: HttpRequest): Readable {
  const { socket } = req;
  if (req.body.length) socket.unshift(req.body);
  if (!/\bchunked\b/i.test(req.headers['transfer-encoding'] ?? '')) return socket;
  const body = new ChunkedBodyStream();
  socket.pipe(body);
  socket.once('close', () => body.destroy());
  return body;
}

/**
 * An Icecast source (`PUT` or `SOURCE`): checks the credentials and the mount,
 * answers as each encoder expects, and hands the socket to the channel, which
 * reads it until EOF. Listeners stay for the grace period when it drops.
 */
export async function acceptSource(kernel: Kernel, s: IcecastSettings, req: HttpRequest, log: Logger): Promise<void> {
  const { socket, method, remoteAddress } = req;
  const mount = req.path;
  // Early encoders (ICE/1.0, old darkice) sent the source password in a header of its own, for user `source`.
  const legacyPassword = req.headers['ice-password'];
  const credentials = req.basic ?? (legacyPassword !== undefined ? { user: 'source', password: legacyPassword } : undefined);
  // libshout's first request is this unauthenticated challenge; it reads `Allow` in the answer.
  if (!credentials) {
    log.info({ mount, remote: remoteAddress, method }, 'source without credentials challenged');
    return refuseCredentials(socket, 'credentials required');
  }
  if (!validMount(mount)) {
    const why = mount === '/' ? 'mount / cannot take a source; use a named mount such as /NAME/live.mp3' : `invalid mount ${JSON.stringify(mount.slice(0, 80))}`;
    return respondText(socket, mount === '/' ? 403 : 400, why);
  }
  const verdict = await authorizeSource(kernel, credentials, mount, remoteAddress);
  if (!verdict.ok) {
    log.info({ mount, user: credentials.user, remote: remoteAddress, status: verdict.status, reason: verdict.reason }, 'source refused');
    return verdict.status === 401 ? refuseCredentials(socket, verdict.reason) : respondText(socket, 403, verdict.reason);
  }
  const declared = req.headers['content-type']?.trim();
  // Icecast 1.x sources sent SOURCE without a type and meant MP3; a PUT must say what it sends.
  if (!declared && method === 'PUT') return respondText(socket, 403, 'No Content-type given');
  const contentType = declared || 'audio/mpeg';
  const type = mediaType(contentType);
  if (!type) return respondText(socket, 403, `Content-type not supported: ${JSON.stringify(contentType.slice(0, 80))}`);
  const filters = kernel.hooks.frameFilter.names();
  const filter = filterFor(type, filters);
  if (!filters.includes(filter)) return respondText(socket, 503, `no frame filter for ${type} (is filters in main.mods?)`);
  const body = sourceBody(req);
  const describe = `icecast ${method} ${mount} from ${remoteAddress} (user ${verdict.user})`;
  // A source in another format cannot feed the listeners an earlier one left in their grace period: they go, the channel is made anew.
  const result = kernel.channels.attachSource(mount, channelSettings(s, filter, contentType), {
    readable: body,
    describe,
    contentType,
    close: () => {
      socket.destroy();
      if (body !== socket) body.destroy();
    },
  }, { compatible: (existing) => existing.source.declaredType === contentType && existing.settings.filter === filter });
  if ('refused' in result) return result.refused === 'limit' ? respondText(socket, 503, result.reason!) : respondText(socket, 403, 'Mountpoint in use');
  const { channel } = result;
  channel.info = { ...channel.info, ...sourceInfo(req.headers), owner: verdict.user, title: undefined };
  acceptSourceReply(socket, req.headers.expect?.trim().toLowerCase() === '100-continue');
  log.info({ mount, user: verdict.user, remote: remoteAddress, method, contentType, filter }, 'source connected');
  socket.resume();
}
