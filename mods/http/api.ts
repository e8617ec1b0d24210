import type { Socket } from 'node:net';
import { AsyncSeriesBailHook, SyncBailHook, SyncWaterfallHook } from 'tapable';
import type { Channel } from '../../core/engine/channel.ts';
import type { Connection } from '../../core/contracts/connection.ts';

/** A parsed request on a raw socket; `body` holds the bytes that arrived after the head. */
export interface HttpRequest {
  method: string;
  target: string;
  version: string;
  path: string;
  query: URLSearchParams;
  /** Lower-cased names. */
  headers: Record<string, string>;
  body: Buffer;
  socket: Socket;
  conn: Connection;
  remoteAddress: string;
  /** HTTP Basic credentials, if sent. */
  basic: { user: string; password: string } | undefined;
}

/** What a stream response is made of; `listenerResponse` taps add headers or a per-listener transform. */
export interface ListenerResponse {
  channel: Channel;
  headers: Record<string, string>;
  transform?: (payload: Buffer) => Buffer;
}

/** The http module's own hooks, for modules that serve pages or tune stream responses. */
export function createHttpHooks() {
  return Object.freeze({
    /** A request arrived: the first tap that returns true has answered it (and owns the socket). */
    request: new AsyncSeriesBailHook<[req: HttpRequest], true | undefined>(['req']),
    /** Which channel a request path streams; the registry's exact mount is tried first. */
    resolveChannel: new SyncBailHook<[path: string], Channel | undefined>(['path']),
    /** A listener's response is about to be written: add headers, set a transform. */
    listenerResponse: new SyncWaterfallHook<[res: ListenerResponse, req: HttpRequest]>(['res', 'req']),
  });
}

export interface HttpApi {
  hooks: ReturnType<typeof createHttpHooks>;
  /** The channel a path streams, if any. */
  resolve(path: string): Channel | undefined;
}
