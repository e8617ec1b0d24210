import { NEED_MORE, type Connection } from '../../core/contracts/connection.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import { defineModule } from '../../core/kernel/module.ts';
import { createHttpHooks, type HttpApi, type HttpRequest } from './api.ts';
import { looksLikeRequest, parseHead, type RequestHead } from './request.ts';
import { respondText } from './response.ts';
import { serveListener } from './listener.ts';
import { TrustedProxies, type ForwardedHeader } from './forwarded.ts';
import { ERR } from '../../core/kernel/errors.ts';

// The http module's public contract: what other modules may import (as `../http/index.ts`).
export type { HttpApi, HttpRequest, ListenerResponse } from './api.ts';
export { CORS_HEADERS, formatHead, NO_CACHE_HEADERS, respond, respondJson, respondText } from './response.ts';

declare module '../../core/kernel/kernel.ts' {
  interface Services {
    /** Pages, admin calls and stream responses (`kernel.service('http')`). */
    http: HttpApi;
  }
}

interface HttpSettings {
  maxLineBytes: number;
  maxHeadBytes: number;
  trustedProxies: string[];
  forwardedHeader: ForwardedHeader;
}

function basicAuth(header: string | undefined): HttpRequest['basic'] {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

function toRequest(conn: Connection, head: RequestHead, remoteAddress: string): HttpRequest {
  let url: URL;
  try {
    url = new URL(head.target, 'http://x');
  } catch {
    url = new URL('http://x/');
  }
  let path = url.pathname;
  try {
    path = decodeURIComponent(path);
  } catch {
    // Keep the raw path; it will not match a mount.
  }
  return {
    method: head.method,
    target: head.target,
    version: head.version,
    path,
    query: url.searchParams,
    headers: head.headers,
    body: conn.head.subarray(head.length),
    socket: conn.socket,
    conn,
    remoteAddress,
    basic: basicAuth(head.headers.authorization),
  };
}

/**
 * HTTP on the shared port: parses request heads itself (tolerantly, see
 * http/request.ts), lets modules answer through its `request` hook, and streams
 * channels to listeners with a close-delimited body, never chunked.
 */
export default defineModule<HttpSettings>({
  name: 'http',
  description: 'HTTP listeners and pages',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      maxLineBytes: { type: 'integer', minimum: 64, default: 8192, description: 'longest request line (longer: 414)' },
      maxHeadBytes: { type: 'integer', minimum: 256, default: 16384, description: 'largest request head (larger: 431)' },
      trustedProxies: {
        type: 'array',
        items: { type: 'string', pattern: '^[0-9A-Fa-f.:]+(/\\d{1,3})?$' },
        default: [],
        description: 'reverse proxies (CIDRs or addresses) whose forwardedHeader names the client',
      },
      forwardedHeader: {
        enum: ['x-forwarded-for', 'forwarded'],
        default: 'x-forwarded-for',
        description: 'the header the trusted proxies write the client address into',
      },
    },
  },
  apply(kernel: Kernel, s: HttpSettings) {
    const log = kernel.logger('http');
    let proxies: TrustedProxies;
    try {
      proxies = new TrustedProxies(s.trustedProxies);
    } catch (err) {
      throw ERR.TRUSTED_PROXY_INVALID((err as Error).message);
    }
    const hooks = createHttpHooks();
    const api: HttpApi = {
      hooks,
      resolve: (path) => kernel.channels.get(path) ?? hooks.resolveChannel.call(path),
    };
    kernel.provide('http', api);

    const handle = async (req: HttpRequest) => {
      try {
        const handled = await hooks.request.promise(req);
        if (!handled) respondText(req.socket, 404, `no channel or page at ${req.path}`, {}, req.method === 'HEAD');
      } catch (err) {
        log.error({ err, path: req.path }, 'request failed');
        respondText(req.socket, 500, 'internal error');
      }
    };

    kernel.hooks.connection.tap('http', (conn) => {
      const looks = looksLikeRequest(conn.head);
      if (looks === false) return undefined;
      if (looks === 'maybe') return NEED_MORE;
      const parsed = parseHead(conn.head, s);
      if (parsed.kind === 'partial') return NEED_MORE;
      if (parsed.kind === 'error') {
        return (c) => {
          log.info({ remote: c.remoteAddress, status: parsed.status, reason: parsed.reason }, 'bad request');
          respondText(c.socket, parsed.status, parsed.reason);
        };
      }
      // The socket stays paused: a source's body must not flow before its handler listens.
      // The client's address is settled here, once: auth, limits, logs and status all see the same one.
      return (c) => void handle(toRequest(c, parsed.head, proxies.clientAddress(c.remoteAddress, parsed.head.headers, s.forwardedHeader)));
    });

    // Streams come last so that pages and admin calls registered by other modules win.
    hooks.request.tapPromise({ name: 'http', stage: 100 }, async (req) => {
      const channel = api.resolve(req.path);
      if (!channel) return undefined;
      await serveListener(kernel, api, req, channel);
      return true;
    });
  },
});
