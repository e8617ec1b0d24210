import type { Connection } from '../../core/connection.ts';
import { who, type FstreamContext } from './context.ts';
import { errorLine } from './reply.ts';

/**
 * After the refusal line the client gets this long to close its side. Reading
 * (and dropping) its bytes meanwhile keeps the kernel from answering unread
 * data with a reset, which could discard the refusal line before the client
 * reads it (a broadcaster is usually still sending).
 */
const LINGER_MS = 2000;

/** Refuses a connection: logs why at info level, answers `ERROR reason`, closes. */
export function refuse(ctx: FstreamContext, conn: Connection, reason: string, fields: Record<string, unknown> = {}): void {
  ctx.counts.refused++;
  ctx.log.info({ ...who(conn), ...fields, reason }, 'fstream handshake refused');
  const socket = conn.socket;
  if (socket.destroyed) return;
  socket.on('data', () => {});
  socket.end(errorLine(reason));
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS).unref();
  socket.once('close', () => clearTimeout(timer));
}
