/** One ICY metadata block as a player reads it. */
export interface IcyBlock {
  /** Audio bytes before this block (always a multiple of metaint). */
  audioOffset: number;
  /** Length byte × 16. */
  length: number;
  /** The text without its NUL padding ('' for an empty block). */
  text: string;
  /** Raw bytes of the block's text part, padding included. */
  raw: Buffer;
}

/**
 * Splits a listener's body into audio and metadata blocks the way a player
 * does, given the announced `icy-metaint`. A trailing partial block is left out.
 */
export function readIcy(body: Buffer, metaint: number): { audio: Buffer; blocks: IcyBlock[] } {
  const audio: Buffer[] = [];
  const blocks: IcyBlock[] = [];
  let pos = 0;
  let audioBytes = 0;
  while (pos < body.length) {
    const take = Math.min(metaint, body.length - pos);
    audio.push(body.subarray(pos, pos + take));
    audioBytes += take;
    pos += take;
    if (take < metaint || pos >= body.length) break;
    const length = body[pos]! * 16;
    if (pos + 1 + length > body.length) break;
    const raw = body.subarray(pos + 1, pos + 1 + length);
    const end = raw.indexOf(0);
    blocks.push({ audioOffset: audioBytes, length, raw, text: raw.subarray(0, end < 0 ? raw.length : end).toString('utf8') });
    pos += 1 + length;
  }
  return { audio: Buffer.concat(audio), blocks };
}

/** `StreamTitle='…';` → the title with `\'` and `\\` unescaped; undefined when absent. */
export function streamTitle(text: string): string | undefined {
  const m = /StreamTitle='((?:\\.|[^\\])*?)';/s.exec(text);
  return m ? m[1]!.replace(/\\(.)/gs, '$1') : undefined;
}
