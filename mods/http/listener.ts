import type { Channel } from '../../core/channel.ts';
import type { Kernel } from '../../core/kernel.ts';
import { sameSecret } from '../../core/secret.ts';
import type { HttpApi, HttpRequest } from './api.ts';
import { CORS_HEADERS, formatHead, NO_CACHE_HEADERS, respond, respondText } from './response.ts';

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
  const channelPassword = req.basic?.password ?? req.query.get('password') ?? undefined;
  const decision = await kernel.hooks.authenticate.promise({
    action: 'watch',
    protocol: 'http',
    remoteAddress: req.remoteAddress,
    mount: channel.mount,
    user: req.basic?.user,
    channelPassword,
  });
  // Nobody decided (no auth module loaded): the broadcaster's channel password still holds.
  const password = channel.info.password;
  const denied = decision && !decision.allow ? decision.reason
    : !decision && password && !sameSecret(channelPassword ?? '', password) ? 'wrong channel password' : undefined;
  if (denied) {
    respondText(socket, 401, denied, { 'WWW-Authenticate': `Basic realm="${channel.mount}"` }, headOnly);
    return;
  }
  const refusal = await kernel.hooks.listenerJoin.promise({ channel, remoteAddress: req.remoteAddress, protocol: 'http', user: req.basic?.user });
  if (refusal) {
    respondText(socket, 503, refusal, {}, headOnly);
    return;
  }
  if (channel.closed) {
    respondText(socket, 404, `channel ${channel.mount} has ended`, {}, headOnly);
    return;
  }
  if (!channel.source.up && channel.ring.head === 0 && channel.source.lastError) {
    respondText(socket, 503, `source of ${channel.mount} cannot be opened: ${channel.source.lastError}`, {}, headOnly);
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
  socket.once('end', () => socket.destroy());
  channel.join(socket, { remoteAddress: req.remoteAddress, protocol: 'http', user: req.basic?.user, transform: res.transform, preamble: Buffer.from(head, 'latin1') });
}
