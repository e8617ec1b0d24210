import type { Connection } from '../../core/contracts/connection.ts';
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
  const admission = await channel.admit({
    protocol: 'fstream',
    remoteAddress: conn.remoteAddress,
    user: req.user,
    channelPassword: req.channelPassword,
  });
  if ('status' in admission) {
    const reason = admission.status === 404 ? `no channel ${mount} is live` : admission.reason;
    return refuse(ctx, conn, reason, req.wantsReason, fields);
  }
  if (kernel.channels.get(mount) !== channel) return refuse(ctx, conn, `no channel ${mount} is live`, req.wantsReason, fields);
  const socket = conn.socket;
  if (socket.destroyed) return;
  // A watcher has nothing to say; reading and dropping its bytes lets its close be seen.
  socket.on('data', () => {});
  admission.join(socket, { remoteAddress: conn.remoteAddress, protocol: 'fstream' });
  ctx.counts.accepted++;
  ctx.log.info({ ...who(conn), ...fields }, 'fstream watcher accepted');
  socket.resume();
}
