/**
 * The fstream preamble: `\n\n`, `\r\n\r\n`, or a block of HTTP-style header
 * lines (optionally after a request line) ending in a blank line, followed at
 * once by the handshake's 4-byte length. It lets a handshake pass proxies and
 * share one port with HTTP.
 */

const LF = 0x0a;
const CR = 0x0d;
const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/;
const isTchar = (b: number) => b < 0x80 && TCHAR.test(String.fromCharCode(b));
const REQUEST_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ \S+ [A-Za-z]+\/\d+(?:\.\d+)?\r?$/;
const HEADER_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\0\r\n]*$/;

/**
 * Index just past the blank line that ends the preamble, or -1 while it is
 * incomplete. The block ends at the first LF followed by LF or CRLF.
 */
export function preambleEnd(buf: Buffer, from = 0): number {
  for (let i = buf.indexOf(LF, from); i >= 0; i = buf.indexOf(LF, i + 1)) {
    if (buf[i + 1] === LF) return i + 2;
    if (buf[i + 1] === CR && buf[i + 2] === LF) return i + 3;
    if (i + 1 >= buf.length || (buf[i + 1] === CR && i + 2 >= buf.length)) return -1;
  }
  return -1;
}

/** Why the preamble before `end` is not a header block, or undefined when it is one. */
export function preambleProblem(buf: Buffer, end: number): string | undefined {
  const lines = buf.subarray(0, end).toString('latin1').split(/\r?\n/).filter((l) => l !== '');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (HEADER_LINE.test(line)) continue;
    if (i === 0 && REQUEST_LINE.test(line)) continue;
    return `preamble line ${i + 1} is neither a header line (Name: value) nor a request line`;
  }
  return undefined;
}

/** What a connection's first bytes say: an fstream handshake, something else, or not yet known. */
export type Verdict = 'fstream' | 'other' | 'undecided';

/**
 * Sniffs a connection. A blank line or a header line first means fstream. A
 * request line first means HTTP, unless what follows the header block at once
 * is a handshake length (first byte 0x00, at most `maxPayload`) and its 0x00:
 * so it is decided only once the whole head is there, and a head with nothing
 * after it is HTTP (clients send the preamble and the handshake in one write).
 */
export function sniff(head: Buffer, maxPayload: number, maxHead: number): Verdict {
  if (!head.length) return 'undecided';
  if (head[0] === LF) return 'fstream';
  if (head[0] === CR) return head.length < 2 ? 'undecided' : head[1] === LF ? 'fstream' : 'other';
  let i = 0;
  while (i < head.length && isTchar(head[i]!)) i++;
  if (i === head.length) return i > 256 ? 'other' : 'undecided';
  if (i === 0) return 'other';
  if (head[i] === 0x3a) return 'fstream';
  if (head[i] !== 0x20) return 'other';
  const eol = head.indexOf(LF);
  if (eol < 0) return head.length > maxHead ? 'other' : 'undecided';
  if (!REQUEST_LINE.test(head.subarray(0, eol).toString('latin1'))) return 'other';
  const end = preambleEnd(head, eol);
  if (end < 0) return head.length > maxHead ? 'other' : 'undecided';
  if (end === head.length || head[end] !== 0) return 'other';
  if (head.length < end + 5) return 'undecided';
  const length = head.readUInt32BE(end);
  return length >= 1 && length <= maxPayload && head[end + 4] === 0 ? 'fstream' : 'other';
}
