import type { Socket } from 'node:net';

/** A Host header we are willing to repeat in listen URLs: a name, IPv4 or [IPv6], and an optional port. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(?::\d{1,5})?$/;

/**
 * Where listeners reach this server: the configured host, else the request's
 * Host header (what the client itself used), else the address it connected to.
 * A malformed Host header is ignored rather than echoed into URLs.
 */
export function publicHost(configured: string, header: string | undefined, socket: Socket): string {
  if (configured) return configured;
  if (header && HOST.test(header)) return header;
  const address = (socket.localAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  const host = address.includes(':') ? `[${address}]` : address;
  return socket.localPort ? `${host}:${socket.localPort}` : host;
}
