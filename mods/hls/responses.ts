import type { Socket } from 'node:net';
import { CORS_HEADERS, formatHead, type HttpRequest } from '../http/index.ts';

/** Seconds a cache may keep an immutable segment: a year, the customary "forever". */
const SEGMENT_MAX_AGE = 31_536_000;

/** True when the request's If-None-Match names this ETag (or `*`): the cache's copy is current. */
export function notModified(req: HttpRequest, etag: string): boolean {
  const header = req.headers['if-none-match'];
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

function send(socket: Socket, status: number, headers: Record<string, string | number>, body: Buffer | undefined): void {
  if (socket.destroyed) return;
  // Whatever the client still sends is read and dropped, so its FIN is seen and the socket freed.
  socket.resume();
  const head = Buffer.from(formatHead(status, { ...CORS_HEADERS, ...headers, Connection: 'close' }), 'latin1');
  socket.end(body ? Buffer.concat([head, body]) : head);
}

/**
 * A cacheable answer: 304 when the client's copy is current, the head alone for
 * HEAD, else the body. `private` keeps a password-protected channel out of
 * shared caches.
 */
export function sendCacheable(req: HttpRequest, o: { contentType: string; body: Buffer; etag: string; maxAge: number; immutable: boolean; private: boolean }): 'sent' | 'not-modified' {
  const cacheControl = `${o.private ? 'private' : 'public'}, max-age=${o.maxAge}${o.immutable ? ', immutable' : ''}`;
  const common = { ETag: o.etag, 'Cache-Control': cacheControl };
  if (notModified(req, o.etag)) {
    send(req.socket, 304, common, undefined);
    return 'not-modified';
  }
  const headers = { 'Content-Type': o.contentType, 'Content-Length': o.body.length, ...common };
  send(req.socket, 200, headers, req.method === 'HEAD' ? undefined : o.body);
  return 'sent';
}

export const segmentMaxAge = SEGMENT_MAX_AGE;
