/**
 * Reading the fields of H.264/HEVC parameter sets and slice headers: the RBSP
 * (NAL payload without emulation prevention bytes) as a string of bits, with
 * the Exp-Golomb codes both standards use.
 */

/** A read past the end of the data, or a value no valid stream has: the parsers catch it and ignore the unit. */
export class BitstreamError extends Error {}

/**
 * The RBSP of `nal` (bytes after the NAL header): every 0x03 that follows two
 * zero bytes is an emulation prevention byte, inserted so the payload never
 * looks like a start code, and is removed. Returns `nal` itself when there is none.
 */
export function unescapeRbsp(nal: Buffer): Buffer {
  let at = nal.indexOf(EPB);
  if (at < 0) return nal;
  const out = Buffer.allocUnsafe(nal.length);
  let len = 0;
  let from = 0;
  while (at >= 0) {
    len += nal.copy(out, len, from, at + 2);
    from = at + 3;
    at = nal.indexOf(EPB, from);
  }
  len += nal.copy(out, len, from);
  return out.subarray(0, len);
}

const EPB = Buffer.from([0, 0, 3]);

export class BitReader {
  private pos = 0;
  private readonly bits: number;

  constructor(private readonly data: Buffer) {
    this.bits = data.length * 8;
  }

  /** Bits not read yet. */
  get left(): number {
    return this.bits - this.pos;
  }

  /** One bit. */
  flag(): boolean {
    return this.u(1) === 1;
  }

  /** An unsigned field of `n` bits, 0 ≤ n ≤ 32. */
  u(n: number): number {
    if (n > this.bits - this.pos) throw new BitstreamError('read past the end of the NAL unit');
    let v = 0;
    for (let i = 0; i < n; i++) {
      const p = this.pos++;
      v = v * 2 + ((this.data[p >> 3]! >> (7 - (p & 7))) & 1);
    }
    return v;
  }

  skip(n: number): void {
    if (n > this.bits - this.pos) throw new BitstreamError('read past the end of the NAL unit');
    this.pos += n;
  }

  /** ue(v): unsigned Exp-Golomb. Codes longer than 32 bits never occur in a valid stream. */
  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) {
      if (++zeros > 31) throw new BitstreamError('Exp-Golomb code longer than 32 bits');
    }
    return 2 ** zeros - 1 + this.u(zeros);
  }

  /** se(v): signed Exp-Golomb. */
  se(): number {
    const k = this.ue();
    return k & 1 ? (k + 1) / 2 : -(k / 2);
  }

  /** ue(v) that must not exceed `max` (ids, counts): a larger one means the data is not what it claims. */
  ueMax(max: number): number {
    const v = this.ue();
    if (v > max) throw new BitstreamError(`value ${v} above ${max}`);
    return v;
  }
}
