/**
 * What the server answers. A token is one line of text. An accepted watcher
 * gets stream bytes, an accepted broadcaster nothing at all. A refusal, as in
 * the original, is a close with nothing sent: a watcher's bytes go to a player
 * and a token reply to a script, and either would take text for its answer.
 * Only a client that asked with `errors=1` (ours) gets one line `ERROR reason`
 * before the close; it cannot be a token (it holds a space) and is never sent
 * to an accepted watcher.
 */
export const ERROR_PREFIX = 'ERROR ';
/** Longest reason line we send or recognise. */
export const MAX_REPLY_LINE = 512;

export function errorLine(reason: string): string {
  return `${ERROR_PREFIX}${reason.replace(/[\r\n]+/g, ' ').slice(0, MAX_REPLY_LINE - 8)}\n`;
}

/**
 * Reads an `ERROR reason` line at the start of what the server sent:
 * `'error'` with the reason once a whole such line is there, `'no'` as soon as
 * the bytes cannot be one, `'maybe'` while they still could.
 */
export function scanErrorLine(buf: Buffer): { kind: 'error'; reason: string; length: number } | { kind: 'no' } | { kind: 'maybe' } {
  const n = Math.min(buf.length, ERROR_PREFIX.length);
  if (buf.toString('latin1', 0, n) !== ERROR_PREFIX.slice(0, n)) return { kind: 'no' };
  const nl = buf.indexOf(0x0a);
  if (nl < 0) return buf.length > MAX_REPLY_LINE ? { kind: 'no' } : { kind: 'maybe' };
  if (nl < ERROR_PREFIX.length) return { kind: 'no' };
  return { kind: 'error', reason: buf.toString('utf8', ERROR_PREFIX.length, nl).replace(/\r$/, ''), length: nl + 1 };
}
