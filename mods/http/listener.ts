import type { Channel } from '../../core/engine/channel.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import type { HttpApi, HttpRequest } from './api.ts';
import { CORS_HEADERS, formatHead, NO_CACHE_HEADERS, respond, respondText } from './response.ts';

/** Shared by every listener's socket: a closure each would cost a few hundred bytes a listener. */
function destroySocket(this: { destroy(): void }): void {
  this.destroy();
}

/**
 * Answers GET/HEAD/OPTIONS on a channel's mount. A GET becomes a listener: the
 * head is written here (HTTP/1.0 style, close-delimited, as Icecast does, since
 * several embedded players cannot de-chunk), then the engine owns the socket.
 */
export async function serveListener(kernel: Kernel, api: HttpApi, req: HttpRequest, channel: Channel): Promise<void> {
  const { socket } = req;
  const headOnly = req.method === 'HEAD';
  if (req.method === 'OPTIONS') {
    respond(socket, 204, { Allow: 'GET, HEAD, OPTIONS', 'Access-Control-Max-Age': 86400 });
    return;
  }
  if (req.method !== 'GET' && !headOnly) {
    respondText(socket, 405, `method ${req.method} not allowed on ${channel.mount}`, { Allow: 'GET, HEAD, OPTIONS' });
    return;
  }
  const admission = await channel.admit({
    protocol: 'http',
    remoteAddress: req.remoteAddress,
    user: req.basic?.user,
    channelPassword: req.basic?.password ?? req.query.get('password') ?? undefined,
    query: Object.fromEntries(req.query),
  });
  if ('status' in admission) {
    const challenge: Record<string, string> = admission.status === 401 ? { 'WWW-Authenticate': `Basic realm="${channel.mount}"` } : {};
    respondText(socket, admission.status, admission.reason, challenge, headOnly);
    return;
  }
  const res = api.hooks.listenerResponse.call({
    channel,
    headers: { 'Content-Type': channel.contentType, ...NO_CACHE_HEADERS, ...CORS_HEADERS, Connection: 'close' },
  }, req);
  if (socket.destroyed) return;
  const head = formatHead(200, res.headers);
  if (headOnly) {
    socket.resume();
    socket.end(head, 'latin1');
    return;
  }
  // A listener sends nothing we need; reading keeps its FIN (disconnect) visible.
  socket.resume();
  socket.on('end', destroySocket);
  // Asked when the stream's first bytes leave: a source opened for this listener knows its type only then.
  const guessed = res.headers['Content-Type'] === channel.contentType;
  const preamble = () => Buffer.from(formatHead(200, guessed ? { ...res.headers, 'Content-Type': channel.contentType } : res.headers), 'latin1');
  admission.join(socket, { remoteAddress: req.remoteAddress, protocol: 'http', transform: res.transform, preamble });
}
