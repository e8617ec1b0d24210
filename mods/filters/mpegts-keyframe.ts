/**
 * Tells whether a video PES starts a key frame by finding its first coded
 * slice: the random_access_indicator is optional and muxers differ in setting
 * it, while the NAL unit type of the first slice is what a decoder goes by.
 */

export type SliceCodec = 'h264' | 'hevc';

export function isSliceCodec(codec: string | undefined): codec is SliceCodec {
  return codec === 'h264' || codec === 'hevc';
}

/**
 * Reads the PES data of one access unit, packet by packet, up to the header
 * of its first VCL NAL unit. `verdict` is then true for an H.264 IDR slice or
 * an HEVC IRAP picture (BLA, IDR, CRA), false for any other slice, and stays
 * undefined while no slice has been seen.
 */
export class KeyFrameScanner {
  verdict: boolean | undefined;
  /** PES header bytes still to pass before the elementary stream begins. */
  private skip: number;
  /** Zero bytes just seen (a start code is two or more zeros, then 0x01). */
  private zeros = 0;
  /** The next byte is a NAL unit header. */
  private atNal = false;

  constructor(private readonly codec: SliceCodec, pesHeaderBytes: number) {
    this.skip = pesHeaderBytes;
  }

  get done(): boolean {
    return this.verdict !== undefined;
  }

  /** Feeds the PES bytes [from, to) of `buf`. */
  feed(buf: Buffer, from: number, to: number): void {
    if (this.verdict !== undefined) return;
    let p = from;
    if (this.skip > 0) {
      const n = Math.min(this.skip, to - p);
      this.skip -= n;
      p += n;
    }
    for (; p < to; p++) {
      const b = buf[p]!;
      if (this.atNal) {
        this.atNal = false;
        if (this.classify(b)) return;
        this.zeros = b === 0 ? 1 : 0;
      } else if (b === 0) {
        this.zeros++;
      } else {
        if (b === 1 && this.zeros >= 2) this.atNal = true;
        this.zeros = 0;
      }
    }
  }

  /** Sets the verdict when `header` (a NAL unit's first byte) is a slice's; returns whether it did. */
  private classify(header: number): boolean {
    if (this.codec === 'h264') {
      const type = header & 0x1f;
      if (type < 1 || type > 5) return false;
      this.verdict = type === 5;
    } else {
      const type = (header >> 1) & 0x3f;
      if (type > 31) return false;
      this.verdict = type >= 16 && type <= 23;
    }
    return true;
  }
}
