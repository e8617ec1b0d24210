import type { Socket } from 'node:net';
import { formatHead, respondText } from '../http/index.ts';

/** The realm Icecast names; some clients show it, none check it. */
export const REALM = 'Basic realm="Icecast2 Server"';

/** What libshout looks for in the challenge's `Allow` to choose PUT over SOURCE. */
export const SOURCE_METHODS = 'GET, PUT, OPTIONS, SOURCE';

/** A refused login: 401 with the challenge, so libshout can read `Allow` and retry with credentials. */
export function refuseCredentials(socket: Socket, reason: string): void {
  respondText(socket, 401, reason, { 'WWW-Authenticate': REALM, Allow: SOURCE_METHODS });
}

/**
 * Accepts a source. A client that sent `Expect: 100-continue` gets exactly
 * `HTTP/1.1 100 Continue` first (liquidsoap fails on anything else) and the
 * final 200 right after it, as Icecast 2.4 does; every other client gets a
 * first line of `HTTP/1.0 200 OK` (darkice fails on a 100).
 */
export function acceptSourceReply(socket: Socket, expectsContinue: boolean): void {
  if (expectsContinue) socket.write(`HTTP/1.1 100 Continue\r\n\r\n${formatHead(200, {}, 'HTTP/1.1')}`, 'latin1');
  else socket.write(formatHead(200, {}, 'HTTP/1.0'), 'latin1');
}
