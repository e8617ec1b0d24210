import type { Socket } from 'node:net';

/** A connection accepted by a listening port, before any protocol has claimed it. */
export interface Connection {
  readonly id: number;
  readonly socket: Socket;
  /** Bytes received so far and not yet consumed by a protocol. */
  head: Buffer;
  readonly remoteAddress: string;
  /** True when it came in on the TLS port. */
  readonly secure: boolean;
}

/** A sniffing tap returns this when it cannot decide until more bytes arrive. */
export const NEED_MORE: unique symbol = Symbol('need more bytes');

/** Takes over a claimed connection: the socket and the bytes in `head` are its own now. */
export type ConnectionHandler = (conn: Connection) => void;

export type SniffResult = ConnectionHandler | typeof NEED_MORE | undefined;
