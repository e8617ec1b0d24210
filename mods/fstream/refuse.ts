import type { Connection } from '../../core/contracts/connection.ts';
import { who, type FstreamContext } from './context.ts';
import { errorLine } from './reply.ts';

/**
 * After our side is closed the client gets this long to close its own.
 * Reading (and dropping) its bytes meanwhile keeps the kernel from answering
 * unread data with a reset, which could discard the refusal line before the
 * client reads it, or show a clean close as a lost connection (a broadcaster
 * is usually still sending).
 */
const LINGER_MS = 2000;

/**
 * Refuses a connection: logs why at info level (reasons never hold a secret),
 * closes gracefully. Nothing is sent unless the client asked for the reason
 * (`errors=1`, see reply.ts); then it gets one `ERROR reason` line first.
 */
export function refuse(ctx: FstreamContext, conn: Connection, reason: string, wantsReason: boolean, fields: Record<string, unknown> = {}): void {
  ctx.counts.refused++;
  ctx.log.info({ ...who(conn), ...fields, reason, reasonSent: wantsReason }, 'fstream handshake refused');
  const socket = conn.socket;
  if (socket.destroyed) return;
  socket.on('data', () => {});
  if (wantsReason) socket.end(errorLine(reason));
  else socket.end();
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS).unref();
  socket.once('close', () => clearTimeout(timer));
}
