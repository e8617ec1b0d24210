import { Transform, type TransformCallback } from 'node:stream';

/** icy-metaint values an origin may announce; Icecast and SHOUTcast use 8192–32768. */
export const MAX_METAINT = 1 << 20;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The StreamTitle of a metadata block's text, undefined when it has none. Our own server escapes `'` and `\`. */
export function titleOf(block: Buffer): string | undefined {
  const end = block.indexOf(0);
  const bytes = end < 0 ? block : block.subarray(0, end);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    // Not UTF-8: SHOUTcast-era encoders send latin1.
    text = bytes.toString('latin1');
  }
  const m = /StreamTitle='((?:\\.|[^\\])*?)';/s.exec(text);
  return m ? m[1]!.replace(/\\(['\\])/g, '$1') : undefined;
}

/**
 * Removes the origin's in-band ICY metadata blocks (one after every `metaint`
 * bytes of audio) and reports each title, so the stream that reaches the frame
 * filter is the audio alone; the icy module inserts blocks of our own for the
 * listeners who ask.
 */
export class IcyStrip extends Transform {
  private audioLeft: number;
  /** -1: reading the length byte; otherwise the metadata bytes still to come. */
  private metaLeft = -1;
  private meta: Buffer[] = [];

  constructor(private readonly metaint: number, private readonly onTitle: (title: string) => void) {
    super();
    this.audioLeft = metaint;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.audioLeft > 0) {
        const take = Math.min(this.audioLeft, chunk.length - at);
        this.push(chunk.subarray(at, at + take));
        this.audioLeft -= take;
        at += take;
      } else if (this.metaLeft < 0) {
        this.metaLeft = chunk[at]! * 16;
        at++;
        if (this.metaLeft === 0) this.endBlock();
      } else {
        const take = Math.min(this.metaLeft, chunk.length - at);
        this.meta.push(chunk.subarray(at, at + take));
        this.metaLeft -= take;
        at += take;
        if (this.metaLeft === 0) this.endBlock();
      }
    }
    done();
  }

  private endBlock(): void {
    if (this.meta.length) {
      const title = titleOf(Buffer.concat(this.meta));
      if (title !== undefined) this.onTitle(title);
    }
    this.meta = [];
    this.metaLeft = -1;
    this.audioLeft = this.metaint;
  }
}
