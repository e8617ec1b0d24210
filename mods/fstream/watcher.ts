import type { Connection } from '../../core/connection.ts';
import { sameSecret } from '../../core/secret.ts';
import { authenticate } from './authenticate.ts';
import { mountOf, who, type FstreamContext } from './context.ts';
import type { HandshakeRequest } from './handshake.ts';
import { refuse } from './refuse.ts';

type Watch = Extract<HandshakeRequest, { action: 'watch' }>;

/** An accepted watcher joins the channel as a listener and is sent the stream from a chunk boundary. */
export async function watch(ctx: FstreamContext, conn: Connection, req: Watch): Promise<void> {
  const mount = mountOf(req.user, req.channel);
  const fields = { action: 'watch', mount };
  const kernel = ctx.kernel;
  const channel = kernel.channels.get(mount);
  if (!channel) return refuse(ctx, conn, `no channel ${mount} is live`, req.wantsReason, fields);
  const decision = await authenticate(ctx, conn, req, mount);
  if (decision && !decision.allow) return refuse(ctx, conn, decision.reason, req.wantsReason, fields);
  // Nobody decided (no users module): the broadcaster's channel password still holds.
  const password = channel.info.password;
  if (!decision && password && !sameSecret(req.channelPassword ?? '', password)) return refuse(ctx, conn, 'wrong channel password', req.wantsReason, fields);
  const refusal = await kernel.hooks.listenerJoin.promise({ channel, remoteAddress: conn.remoteAddress, protocol: 'fstream' });
  if (refusal) return refuse(ctx, conn, refusal, req.wantsReason, fields);
  if (channel.closed || kernel.channels.get(mount) !== channel) return refuse(ctx, conn, `no channel ${mount} is live`, req.wantsReason, fields);
  const socket = conn.socket;
  if (socket.destroyed) return;
  // A watcher has nothing to say; reading and dropping its bytes lets its close be seen.
  socket.on('data', () => {});
  channel.join(socket, { remoteAddress: conn.remoteAddress, protocol: 'fstream' });
  ctx.counts.accepted++;
  ctx.log.info({ ...who(conn), ...fields }, 'fstream watcher accepted');
  socket.resume();
}
