import { isSafeName } from '../users/index.ts';
import { preambleEnd, preambleProblem } from './preamble.ts';

/**
 * The fstream handshake after the preamble: a 4-byte big-endian length, one
 * 0x00 byte, then that many bytes of UTF-8 `action,key=value,...`.
 */
export type HandshakeRequest = (
  | { action: 'token'; user: string; userPassword: string }
  | {
    action: 'broadcast';
    user: string;
    userPassword?: string;
    token?: string;
    channel: string;
    channelPassword?: string;
    /** Chunk size: watchers start at a chunk boundary; 0 passes chunks through as they arrive. */
    bufsize: number;
  }
  | { action: 'watch'; user: string; channel: string; channelPassword?: string }
) & {
  /** The client asked (`errors=1`) to be told why it is refused; see reply.ts. */
  wantsReason: boolean;
};

export interface HandshakeLimits {
  /** Largest payload (the string), in bytes. */
  maxPayload: number;
  /** Largest preamble, in bytes. */
  maxPreamble: number;
  /** Largest `bufsize` a broadcaster may ask for. */
  maxBufsize: number;
}

export type ReadResult =
  | { kind: 'more' }
  /** `wantsReason` only when the payload was read and asked for it: before that nobody asked. */
  | { kind: 'error'; reason: string; wantsReason: boolean }
  | { kind: 'done'; request: HandshakeRequest; rest: Buffer };

export const DEFAULT_CHANNEL = 'default';
const FIELDS = new Set(['user', 'user_password', 'token', 'channel', 'channel_password', 'bufsize']);
/**
 * Our client's own field, skipped like any unknown key by a parser that does
 * not know it (parsePayload skips them too). Only a client that sends it is
 * told why it is refused: to anyone else (a player reading a watcher's bytes,
 * a script reading a token) a refusal is a close with nothing sent.
 */
const ASK_REASON = 'errors=1';
const TOKEN_CHARS = /^[A-Za-z0-9_-]{1,256}$/;
/**
 * A channel is one mount path segment. Unlike a user name it never becomes a
 * file name, so it may hold dots (not first), which lets fstream watchers reach
 * Icecast mounts such as `/fier/live.mp3`.
 */
const CHANNEL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads a handshake from the bytes received so far. Errors are found as early
 * as the bytes allow (a bad length before its payload arrives); `rest` is what
 * followed the payload (a broadcaster's first stream bytes).
 */
export function readHandshake(buf: Buffer, limits: HandshakeLimits): ReadResult {
  const end = preambleEnd(buf);
  if (end < 0) {
    return buf.length > limits.maxPreamble ? bad(`preamble longer than ${limits.maxPreamble} bytes`) : { kind: 'more' };
  }
  if (end > limits.maxPreamble) return bad(`preamble longer than ${limits.maxPreamble} bytes`);
  const problem = preambleProblem(buf, end);
  if (problem) return bad(problem);
  if (buf.length < end + 4) {
    return buf.length > end && buf[end] !== 0 && limits.maxPayload < 2 ** 24
      ? bad(`payload longer than ${limits.maxPayload} bytes`)
      : { kind: 'more' };
  }
  const length = buf.readUInt32BE(end);
  if (length === 0) return bad('empty payload');
  if (length > limits.maxPayload) return bad(`payload of ${length} bytes is longer than ${limits.maxPayload}`);
  if (buf.length < end + 5) return { kind: 'more' };
  if (buf[end + 4] !== 0) return bad('expected a 0x00 byte after the length');
  const start = end + 5;
  if (buf.length < start + length) return { kind: 'more' };
  let text: string;
  try {
    text = utf8.decode(buf.subarray(start, start + length));
  } catch {
    return bad('payload is not valid UTF-8');
  }
  const parsed = parsePayload(text, limits);
  if (typeof parsed === 'string') return bad(parsed, asksForReason(text));
  return { kind: 'done', request: parsed, rest: buf.subarray(start + length) };
}

function bad(reason: string, wantsReason = false): ReadResult {
  return { kind: 'error', reason, wantsReason };
}

/** Whether a payload carries our client's `errors=1`, however wrong the rest of it is. */
export function asksForReason(text: string): boolean {
  return text.split(',').slice(1).includes(ASK_REASON);
}

/** The request in a payload, or why it is not one. Reasons never quote a secret. */
export function parsePayload(text: string, limits: Pick<HandshakeLimits, 'maxBufsize'>): HandshakeRequest | string {
  const [action = '', ...parts] = text.split(',');
  const wantsReason = asksForReason(text);
  const fields = new Map<string, string>();
  for (const [i, part] of parts.entries()) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    // Not quoted: it may be the tail of a password that held a comma.
    if (eq <= 0) return `field ${i + 2} is not key=value`;
    const key = part.slice(0, eq);
    if (!FIELDS.has(key)) continue;
    if (fields.has(key)) return `field ${key} given twice`;
    fields.set(key, part.slice(eq + 1));
  }
  if (action !== 'token' && action !== 'broadcast' && action !== 'watch') {
    return `unknown action "${printable(action.slice(0, 32))}" (expected token, broadcast or watch)`;
  }
  const user = fields.get('user');
  if (user === undefined || user === '') return 'missing field user';
  if (!isSafeName(user)) return 'invalid user name (letters, digits, _ and -, at most 64)';
  const channel = fields.get('channel') || DEFAULT_CHANNEL;
  if (!CHANNEL_NAME.test(channel)) return 'invalid channel name (letters, digits, _, - and ., at most 64)';
  const channelPassword = fields.get('channel_password') || undefined;
  const userPassword = fields.get('user_password');
  if (action === 'token') {
    if (!userPassword) return 'missing field user_password';
    return { action, user, userPassword, wantsReason };
  }
  if (action === 'watch') return { action, user, channel, channelPassword, wantsReason };
  const token = fields.get('token') || undefined;
  if (!userPassword && !token) return 'missing field user_password or token';
  if (token !== undefined && !TOKEN_CHARS.test(token)) return 'malformed token';
  const rawSize = fields.get('bufsize') || '0';
  if (!/^\d{1,10}$/.test(rawSize)) return 'bufsize must be a whole number of bytes';
  const bufsize = Number(rawSize);
  if (bufsize > limits.maxBufsize) return `bufsize ${bufsize} is larger than ${limits.maxBufsize}`;
  return { action, user, userPassword: userPassword || undefined, token, channel, channelPassword, bufsize, wantsReason };
}

/** Quotes client text in a reason without letting it break the one-line answer or the log. */
function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?');
}

/** What a client puts in a handshake; empty values are left out. */
export interface HandshakeFields {
  action: 'token' | 'broadcast' | 'watch';
  user?: string;
  user_password?: string;
  token?: string;
  channel?: string;
  channel_password?: string;
  bufsize?: string | number;
  /** Ours only: ask to be told why when refused. */
  errors?: 1;
}

/**
 * Encodes a handshake (preamble `\n\n` unless given). Throws when a value holds
 * a `,`, which the format cannot carry.
 */
export function encodeHandshake(fields: HandshakeFields, preamble: string | Buffer = '\n\n'): Buffer {
  const parts: string[] = [fields.action];
  for (const key of ['user', 'user_password', 'token', 'channel', 'channel_password', 'bufsize', 'errors'] as const) {
    const value = fields[key];
    if (value === undefined || value === '') continue;
    const text = String(value);
    if (text.includes(',')) throw new Error(`${key} must not contain ","`);
    parts.push(`${key}=${text}`);
  }
  const payload = Buffer.from(parts.join(','), 'utf8');
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length, 0);
  return Buffer.concat([Buffer.from(preamble), head, payload]);
}
