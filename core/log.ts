import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/**
 * The root logger: JSON lines, or readable lines when stdout is a terminal. The
 * pretty printer runs in-process (not as a worker transport) to keep the server
 * to one thread and its memory small.
 */
export function createLogger(level: string): Logger {
  const opts = { level, base: { pid: process.pid } };
  if (process.stdout.isTTY) {
    return pino(opts, pretty({ colorize: true, sync: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' }));
  }
  return pino(opts);
}
