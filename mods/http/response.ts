import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';

/** Headers every stream and page carries so browsers and players can use it from anywhere. */
export const CORS_HEADERS: Record<string, string> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
  'Access-Control-Allow-Headers': 'Origin, Accept, Content-Type, Range, Authorization, Icy-MetaData',
  'Access-Control-Expose-Headers': 'Icy-MetaInt, Icy-Br, Icy-Description, Icy-Genre, Icy-Name, Ice-Audio-Info, Icy-Url, Icy-Sr, Icy-Vbr, Icy-Pub',
};

export const NO_CACHE_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-cache, no-store',
  Pragma: 'no-cache',
  Expires: 'Mon, 26 Jul 1997 05:00:00 GMT',
};

/** A response head; header values with CR or LF are dropped so no input can split it. */
export function formatHead(status: number, headers: Record<string, string | number | undefined>, version = 'HTTP/1.0'): string {
  let head = `${version} ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\nServer: streamserve\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const v = String(value);
    if (/[\r\n]/.test(v) || /[\r\n:]/.test(name)) continue;
    head += `${name}: ${v}\r\n`;
  }
  return head + '\r\n';
}

/**
 * A complete response with a length, then the connection is closed: pages and
 * errors are small and rare, so there is no keep-alive to manage.
 */
export function respond(socket: Socket, status: number, headers: Record<string, string | number | undefined>, body: string | Buffer = '', headOnly = false): void {
  if (socket.destroyed) return;
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  // Discard whatever the client still sends, so its FIN is seen and the socket is freed.
  socket.resume();
  const head = formatHead(status, { 'Content-Length': buf.length, Connection: 'close', ...CORS_HEADERS, ...headers });
  socket.end(headOnly ? head : Buffer.concat([Buffer.from(head, 'latin1'), buf]));
}

/** A one-line plain-text answer (errors: the reason names what was wrong). */
export function respondText(socket: Socket, status: number, text: string, headers: Record<string, string> = {}, headOnly = false): void {
  respond(socket, status, { 'Content-Type': 'text/plain; charset=utf-8', ...NO_CACHE_HEADERS, ...headers }, `${text}\n`, headOnly);
}

export function respondJson(socket: Socket, value: unknown, headOnly = false): void {
  respond(socket, 200, { 'Content-Type': 'application/json; charset=utf-8', ...NO_CACHE_HEADERS }, JSON.stringify(value, null, 2), headOnly);
}
