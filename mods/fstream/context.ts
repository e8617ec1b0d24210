import type { Connection } from '../../core/contracts/connection.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import type { Logger } from '../../core/kernel/log.ts';
import type { HandshakeLimits } from './handshake.ts';

export interface FstreamSettings {
  maxPayload: number;
  maxPreamble: number;
  handshakeTimeout: number;
  grace: number;
  maxBufsize: number;
  maxChunk: number;
  ringBytes: number;
}

/** What the session handlers share: the kernel, the settings and the module's figures. */
export interface FstreamContext {
  kernel: Kernel;
  log: Logger;
  settings: FstreamSettings;
  limits: HandshakeLimits;
  counts: { accepted: number; refused: number; tokens: number };
}

/** Log fields naming a connection; never a password or token. */
export function who(conn: Connection): { conn: number; remote: string; tls?: true } {
  return conn.secure ? { conn: conn.id, remote: conn.remoteAddress, tls: true } : { conn: conn.id, remote: conn.remoteAddress };
}

/** `(user, channel)` is the mount every protocol sees. */
export function mountOf(user: string, channel: string): string {
  return `/${user}/${channel}`;
}
