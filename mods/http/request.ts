/**
 * A tolerant HTTP request-head parser for the raw front door: bare-LF line ends
 * (darkice), `ICE/1.0` (old encoders), `SOURCE` (legacy Icecast sources), and
 * bodies that run to EOF with neither Content-Length nor chunking. Node's own
 * parser rejects or mangles all of these.
 */
export interface RequestHead {
  method: string;
  target: string;
  version: string;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** Length of the head including the blank line. */
  length: number;
}

export type HeadResult =
  | { kind: 'partial' }
  | { kind: 'error'; status: 400 | 414 | 431; reason: string }
  | { kind: 'done'; head: RequestHead };

export interface HeadLimits {
  maxLineBytes: number;
  maxHeadBytes: number;
}

const METHOD = /^[A-Z][A-Z_-]{0,19}$/;

/** True when the bytes so far could begin a request line (`GET `, `SOURCE `, …). */
export function looksLikeRequest(buf: Buffer): boolean | 'maybe' {
  const n = Math.min(buf.length, 21);
  for (let i = 0; i < n; i++) {
    const c = buf[i]!;
    if (c === 0x20) return i > 0;
    if (!((c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x2d)) return false;
  }
  return n < 21 ? 'maybe' : false;
}

/** Index just past the blank line that ends the head, or -1. */
export function headEnd(buf: Buffer, limit = buf.length): number {
  let i = buf.indexOf(0x0a);
  while (i !== -1 && i < limit) {
    if (buf[i + 1] === 0x0a) return i + 2;
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return i + 3;
    i = buf.indexOf(0x0a, i + 1);
  }
  return -1;
}

export function parseHead(buf: Buffer, limits: HeadLimits): HeadResult {
  const lineEnd = buf.indexOf(0x0a);
  if (lineEnd === -1) {
    return buf.length > limits.maxLineBytes ? { kind: 'error', status: 414, reason: 'request line too long' } : { kind: 'partial' };
  }
  if (lineEnd > limits.maxLineBytes) return { kind: 'error', status: 414, reason: 'request line too long' };
  const end = headEnd(buf);
  if (end === -1) {
    return buf.length > limits.maxHeadBytes ? { kind: 'error', status: 431, reason: 'request header fields too large' } : { kind: 'partial' };
  }
  if (end > limits.maxHeadBytes) return { kind: 'error', status: 431, reason: 'request header fields too large' };
  const lines = buf.subarray(0, end).toString('latin1').split('\n').map((l) => l.replace(/\r$/, ''));
  const parts = lines[0]!.split(' ').filter(Boolean);
  const [method, target, version = 'HTTP/1.0'] = parts;
  if (!method || !METHOD.test(method) || !target || parts.length > 3 || !/^(HTTP\/1\.[01]|ICE\/1\.0)$/.test(version)) {
    return { kind: 'error', status: 400, reason: 'malformed request line' };
  }
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    if (!line) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return { kind: 'error', status: 400, reason: 'malformed header line' };
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { kind: 'done', head: { method, target, version, headers, length: end } };
}
