import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';

export interface GetOptions {
  headers: Record<string, string>;
  /** No answer, or no bytes while streaming, for this long: the request fails. */
  timeoutMs: number;
  maxHeaderBytes: number;
  maxRedirects: number;
}

/** A 200 answer; the request stays open as long as the body is read. */
export interface Answer {
  /** Where the answer came from, after redirects. */
  url: URL;
  req: ClientRequest;
  res: IncomingMessage;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** `http:` and `https:` only: anything else is no stream this client can read. */
export function checkUrl(text: string): URL | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `scheme ${url.protocol} is not http: or https:`;
  return url;
}

/** The URL without its password, for logs and errors. */
export function shown(url: URL): string {
  if (!url.password) return url.href;
  const copy = new URL(url.href);
  copy.password = '***';
  return copy.href;
}

function once(url: URL, opts: GetOptions): Promise<{ req: ClientRequest; res: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.get(url, { headers: opts.headers, maxHeaderSize: opts.maxHeaderBytes, timeout: opts.timeoutMs, agent: false });
    req.once('timeout', () => req.destroy(new Error(`${shown(url)}: no answer within ${opts.timeoutMs} ms`)));
    req.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'HPE_HEADER_OVERFLOW' ? `response head larger than ${opts.maxHeaderBytes} bytes`
        : err.code === 'ECONNREFUSED' ? 'connection refused' : err.message;
      reject(new Error(why.startsWith(shown(url)) ? why : `${shown(url)}: ${why}`));
    });
    req.once('response', (res) => resolve({ req, res }));
  });
}

/**
 * GET with a timeout, a bounded response head and at most `maxRedirects`
 * redirects; anything but a final 200 is an error naming the URL and the status.
 */
export async function get(start: URL, opts: GetOptions): Promise<Answer> {
  let url = start;
  for (let hop = 0; ; hop++) {
    const { req, res } = await once(url, opts);
    const status = res.statusCode ?? 0;
    if (status === 200) return { url, req, res };
    req.destroy();
    const location = res.headers.location;
    if (REDIRECTS.has(status) && location) {
      if (hop >= opts.maxRedirects) throw new Error(`${shown(start)}: more than ${opts.maxRedirects} redirects (last to ${location})`);
      const next = checkUrl(new URL(location, url).href);
      if (typeof next === 'string') throw new Error(`${shown(url)} redirects to ${location}: ${next}`);
      url = next;
      continue;
    }
    if (status === 508) throw new Error(`${shown(url)} answered 508 Loop Detected: relay loop, the stream would come back to a server it came through`);
    throw new Error(`${shown(url)} answered ${status} ${res.statusMessage ?? ''}`.trim());
  }
}

/** A small JSON document (a status listing), at most `maxBytes`. */
export async function getJson(url: URL, opts: GetOptions, maxBytes: number): Promise<unknown> {
  const { req, res } = await get(url, opts);
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    res.on('data', (d: Buffer) => {
      size += d.length;
      if (size > maxBytes) {
        req.destroy();
        reject(new Error(`${shown(url)}: listing larger than ${maxBytes} bytes`));
        return;
      }
      parts.push(d);
    });
    res.once('error', (err) => reject(new Error(`${shown(url)}: ${err.message}`)));
    res.once('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(parts).toString('utf8')));
      } catch {
        reject(new Error(`${shown(url)}: the listing is not JSON`));
      }
    });
  });
}
