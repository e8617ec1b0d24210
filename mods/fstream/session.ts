import type { Connection } from '../../core/contracts/connection.ts';
import { formatDuration } from '../../core/kernel/duration.ts';
import { broadcast } from './broadcaster.ts';
import { who, type FstreamContext } from './context.ts';
import { readHandshake, type ReadResult } from './handshake.ts';
import { refuse } from './refuse.ts';
import { token } from './token.ts';
import { watch } from './watcher.ts';

/**
 * Takes over a connection the sniffer recognised: reads the handshake within
 * the time limit, then serves the action. The socket arrives paused, with the
 * bytes read so far in `conn.head`.
 */
export function handleConnection(ctx: FstreamContext, conn: Connection): void {
  const socket = conn.socket;
  let received = conn.head;
  conn.head = Buffer.alloc(0);
  let settled = false;
  const limit = ctx.settings.handshakeTimeout;
  const timer = setTimeout(() => settle({ kind: 'error', reason: `handshake not complete within ${formatDuration(limit)}`, wantsReason: false }), limit);
  const onData = (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    step();
  };
  const onClose = () => {
    settled = true;
    clearTimeout(timer);
    ctx.log.debug({ ...who(conn), bytes: received.length }, 'connection closed during the fstream handshake');
  };
  const settle = (result: Exclude<ReadResult, { kind: 'more' }>) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
    socket.pause();
    if (result.kind === 'error') return refuse(ctx, conn, `bad handshake: ${result.reason}`, result.wantsReason);
    serve(ctx, conn, result).catch((err: unknown) => {
      ctx.log.error({ ...who(conn), err }, 'serving an fstream handshake failed');
      refuse(ctx, conn, 'internal error', result.request.wantsReason);
    });
  };
  const step = () => {
    const result = readHandshake(received, ctx.limits);
    if (result.kind !== 'more') settle(result);
  };
  socket.on('data', onData);
  socket.once('close', onClose);
  step();
  if (!settled) socket.resume();
}

function serve(ctx: FstreamContext, conn: Connection, { request, rest }: Extract<ReadResult, { kind: 'done' }>): Promise<void> {
  switch (request.action) {
    case 'broadcast': return broadcast(ctx, conn, request, rest);
    case 'watch': return watch(ctx, conn, request);
    case 'token': return token(ctx, conn, request);
  }
}
