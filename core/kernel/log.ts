import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * The root logger: JSON lines, or readable lines when stdout is a terminal. The
 * pretty printer runs in-process (not as a worker transport) to keep the server
 * to one thread and its memory small, and is loaded only for a terminal.
 */
export async function createLogger(level: string): Promise<Logger> {
  const opts = { level, base: { pid: process.pid } };
  if (process.stdout.isTTY) {
    const { default: pretty } = await import('pino-pretty');
    return pino(opts, pretty({ colorize: true, sync: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' }));
  }
  return pino(opts);
}
