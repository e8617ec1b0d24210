import type { Connection } from '../../core/contracts/connection.ts';
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
  const wanted = fstreamChannelSettings(ctx.settings, req.bufsize, unsized);
  if (rest.length) socket.unshift(rest);
  const result = kernel.channels.attachSource(mount, wanted, {
    readable: socket,
    describe: `fstream broadcaster ${conn.remoteAddress}`,
    close: () => socket.destroy(),
  });
  if ('refused' in result) {
    const why = result.refused === 'configured' ? `${mount} is served by a configured source`
      : result.refused === 'limit' ? result.reason! : `channel ${mount} is busy: another broadcaster is live`;
    return refuse(ctx, conn, why, req.wantsReason, fields);
  }
  const { channel, resumed: existed } = result;
  channel.info.owner = req.user;
  channel.info.password = req.channelPassword;
  if (existed && (wanted.filter !== channel.settings.filter || wanted.frameBytes !== channel.settings.frameBytes)) {
    // Listeners are cursors into frames of the channel's size; it keeps that size until it ends.
    ctx.log.info({ mount, bufsize: req.bufsize, keeps: channel.settings.filter === 'raw' ? channel.settings.frameBytes : 0 }, 'returning broadcaster asked for another bufsize; the channel keeps its own');
  }
  ctx.counts.accepted++;
  ctx.log.info({ ...who(conn), ...fields, bufsize: req.bufsize, resumed: existed, viaToken: req.token !== undefined }, 'fstream broadcaster accepted');
  socket.resume();
}
