import type { Connection } from '../../core/connection.ts';
import { authenticate } from './authenticate.ts';
import { fstreamChannelSettings } from './channel-settings.ts';
import { mountOf, who, type FstreamContext } from './context.ts';
import type { HandshakeRequest } from './handshake.ts';
import { refuse } from './refuse.ts';

type Broadcast = Extract<HandshakeRequest, { action: 'broadcast' }>;

/**
 * An accepted broadcaster becomes the pushed source of the channel at
 * `/user/channel`: created now, or taken over while it is in its grace period
 * (its watchers resume at the next frame). A live channel refuses a second one.
 */
export async function broadcast(ctx: FstreamContext, conn: Connection, req: Broadcast, rest: Buffer): Promise<void> {
  const mount = mountOf(req.user, req.channel);
  const fields = { action: 'broadcast', user: req.user, mount };
  const decision = await authenticate(ctx, conn, req, mount);
  if (!decision?.allow) return refuse(ctx, conn, decision?.reason ?? 'no authentication module accepts this broadcaster', req.wantsReason, fields);
  const socket = conn.socket;
  if (socket.destroyed) return;
  const kernel = ctx.kernel;
  const has = (name: string) => kernel.hooks.frameFilter.has(name);
  if (req.bufsize > 0 && !has('raw')) {
    ctx.log.warn('a broadcaster asked for a bufsize but no loaded module provides the raw frame filter (module filters)');
    return refuse(ctx, conn, 'bufsize is not available on this server', req.wantsReason, fields);
  }
  const unsized = has('auto') ? 'auto' : 'chunk';
  if (req.bufsize === 0 && !has(unsized)) {
    ctx.log.warn('no loaded module provides the auto or chunk frame filter (module filters)');
    return refuse(ctx, conn, 'no frame filter for this stream on this server', req.wantsReason, fields);
  }
  let channel = kernel.channels.get(mount);
  if (channel?.source.spec) return refuse(ctx, conn, `${mount} is served by a configured source`, req.wantsReason, fields);
  const existed = channel !== undefined;
  channel ??= kernel.channels.create(mount, fstreamChannelSettings(ctx.settings, req.bufsize, unsized));
  if (rest.length) socket.unshift(rest);
  const attached = channel.source.attach({
    readable: socket,
    describe: `fstream broadcaster ${conn.remoteAddress}`,
    close: () => socket.destroy(),
  });
  if (!attached) return refuse(ctx, conn, `channel ${mount} is busy: another broadcaster is live`, req.wantsReason, fields);
  channel.info.owner = req.user;
  channel.info.password = req.channelPassword;
  const wanted = fstreamChannelSettings(ctx.settings, req.bufsize, unsized);
  if (existed && (wanted.filter !== channel.settings.filter || wanted.frameBytes !== channel.settings.frameBytes)) {
    // Listeners are cursors into frames of the channel's size; it keeps that size until it ends.
    ctx.log.info({ mount, bufsize: req.bufsize, keeps: channel.settings.filter === 'raw' ? channel.settings.frameBytes : 0 }, 'returning broadcaster asked for another bufsize; the channel keeps its own');
  }
  ctx.counts.accepted++;
  ctx.log.info({ ...who(conn), ...fields, bufsize: req.bufsize, resumed: existed, viaToken: req.token !== undefined }, 'fstream broadcaster accepted');
  socket.resume();
}
