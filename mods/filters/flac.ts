import { DEFAULT_FRAME_BYTES, frameLimit, type FrameEmit, type Framer, type FramerOptions, type StreamFormat } from '../../core/contracts/frame.ts';
import { Carry } from './carry.ts';
import { crc16, crc16Advance } from './flac-crc.ts';
import {
  BLOCK_INVALID, BLOCK_PADDING, BLOCK_SEEKTABLE, BLOCK_STREAMINFO, MORE, parseFrameHeader, parseStreamStart,
  STREAM_START, streamHeader, streamInfoFromFrame, type FrameHeader, type StreamInfo,
} from './flac-headers.ts';

/** The filter's own bound on a frame (see `frameLimit`). */
const FLAC_FRAME_LIMIT = 1024 * 1024;
/** The stream header is sent to every listener: metadata blocks beyond this are dropped from it. */
const HEADER_LIMIT = 64 * 1024;
/** After its header a frame has at least one subframe header byte and the CRC-16. */
const MIN_BODY = 3;
/** Frame headers still waiting for a successor, and per successor number: bounds for hostile input. */
const MAX_CANDIDATES = 256;
const MAX_PER_KEY = 4;

/** A frame header that may start a frame, waiting for the header that ends it. */
interface Candidate {
  /** Stream offset. */
  pos: number;
  /** The running CRC-16 state before its first byte. */
  crc: number;
  h: FrameHeader;
  /** Sample rate and bits per sample, filled in from STREAMINFO where the header leaves them to it. */
  rate: number;
  bits: number;
  /** Whether it agrees with STREAMINFO (true while none is known). */
  fits: boolean;
  /** Largest frame it may start. */
  limit: number;
  /** The next frame's number (frame or sample) times 2, plus the blocking strategy. */
  next: number;
}

/** Metadata blocks being read after "fLaC". */
interface Metadata {
  info: StreamInfo;
  kept: Buffer[];
  size: number;
  /** The last-block flag was seen. */
  last: boolean;
}

/**
 * Cuts a native FLAC stream into frames. "fLaC" and its metadata blocks
 * become the stream header (PADDING and SEEKTABLE dropped, the rest while it
 * stays under 64 KiB, STREAMINFO always) and are not emitted as frames; every
 * frame is a sync point.
 *
 * FLAC frames carry no length, so a frame is known to end only where the next
 * one starts: a header with a valid CRC-8 whose frame or sample number follows
 * and whose rate, channels and bits match, with the CRC-16 of the bytes in
 * between (the frame and its footer) coming out right. A frame is therefore
 * emitted when the next one's header has arrived, and a stream's last frame
 * only if another "fLaC" follows. Running the CRC-16 once over every byte and
 * noting its state at each header lets any two headers be tested without
 * reading the frame between them again, so time stays linear whatever the
 * input.
 *
 * Headers must agree with STREAMINFO. A frame confirmed that way that
 * disagrees anyway means the source switched streams without a new "fLaC":
 * STREAMINFO is forgotten. Without one (a source joined mid-stream), the
 * header is "fLaC" and a STREAMINFO made from the frame headers, which spell
 * out rate, channels and bits unless the rate or depth is unusual: ffmpeg
 * decodes bare frames too, but this way players that insist on "fLaC" can
 * start as well. Frames that leave rate or bits to STREAMINFO get no header.
 */
const EMPTY = Buffer.alloc(0);

export class FlacFramer implements Framer {
  invalidBytes = 0;
  header: Buffer | undefined;
  format: StreamFormat | undefined;
  readonly contentType = 'audio/flac';
  /** Largest frame accepted; STREAMINFO's maximum frame size lowers it when given. */
  readonly maxFrame: number;
  private readonly carry = new Carry();
  /** Stream offset of the first carried byte. */
  private base = 0;
  /** Stream offset of the next byte to look at, and the running CRC-16 state before it. */
  private scanAt = 0;
  private crc = 0;
  /** Stream offset up to which every byte was emitted, counted as invalid, or read as metadata. */
  private done = 0;
  /** In stream order. */
  private alive: Candidate[] = [];
  private byNext = new Map<number, Candidate[]>();
  private info: StreamInfo | undefined;
  /** What the made-up header was made from ('' when the header is not made up). */
  private madeFrom = '';
  private madeBlock = 0;
  private meta: Metadata | undefined;
  /** Bytes of a dropped metadata block still to come. */
  private skip = 0;

  constructor(options: FramerOptions) {
    this.maxFrame = frameLimit(options, FLAC_FRAME_LIMIT);
  }

  push(chunk: Buffer, emit: FrameEmit): void {
    if (!chunk.length) return;
    const data = this.carry.join(chunk);
    const from = this.scan(data, emit);
    this.base += from;
    this.carry.keep(data, from);
  }

  /**
   * The source ended: the frame under way has no next header to prove its
   * end, so the end of the stream does, with the frame's CRC-16 over it.
   */
  flush(emit: FrameEmit): void {
    if (this.meta || !this.carry.length) return;
    const data = this.carry.join(EMPTY);
    const end = this.base + data.length;
    const crc = crc16(this.crc, data, this.scanAt - this.base, data.length);
    const last = this.alive.find((p) => this.ends(p, end, crc));
    if (!last) return;
    this.emitFrame(data, last, end, emit);
    this.carry.keep(data, data.length);
    this.base = this.scanAt = this.done = end;
    this.crc = 0;
    this.alive = [];
    this.byNext.clear();
  }

  reset(): void {
    // A frame cut short by the end of a source is as lost as junk.
    this.invalidBytes += Math.max(0, this.base + this.carry.length - this.done);
    this.carry.clear();
    this.base = this.scanAt = this.crc = this.done = 0;
    this.alive = [];
    this.byNext.clear();
    // The next source may be another stream: what this one said no longer holds.
    this.info = undefined;
    this.header = undefined;
    this.madeFrom = '';
    this.meta = undefined;
    this.skip = 0;
  }

  /** Emits what `data` completes; returns where the bytes still needed start. */
  private scan(data: Buffer, emit: FrameEmit): number {
    const end = data.length;
    let i = this.scanAt - this.base;
    let crc = this.crc;
    // Next 0xFF (a frame header?) and next "f" ("fLaC"?) at or after i; found once, reused while ahead.
    let nextSync = -1;
    let nextMagic = -1;
    while (i < end) {
      if (this.meta) {
        i = this.readMetadata(data, i);
        if (this.meta) break;
        crc = 0;
        continue;
      }
      if (nextSync < i) nextSync = indexOr(data, 0xff, i, end);
      if (nextMagic < i) nextMagic = indexOr(data, 0x66, i, end);
      const at = Math.min(nextSync, nextMagic);
      crc = crc16(crc, data, i, at);
      i = at;
      if (i === end) break;
      if (at === nextSync) {
        const h = parseFrameHeader(data, i, end);
        if (h === MORE) break;
        if (h) this.frameHeader(data, i, crc, h, emit);
      } else {
        const info = parseStreamStart(data, i, end);
        if (info === MORE) break;
        if (info) {
          this.streamStart(data, i, crc, info, emit);
          i += STREAM_START;
          continue;
        }
      }
      crc = crc16(crc, data, i, i + 1);
      i++;
    }
    this.scanAt = this.base + i;
    this.crc = crc;
    if (this.meta) return i;

    this.expire(this.scanAt);
    // Bytes before the first header that may still start a frame can be in none.
    const from = Math.min(this.alive[0]?.pos ?? this.scanAt, this.scanAt);
    if (from > this.done) {
      this.invalidBytes += from - this.done;
      this.done = from;
    }
    return from - this.base;
  }

  /** A valid frame header at `data[i]`, `crc` the running state before it. */
  private frameHeader(data: Buffer, i: number, crc: number, h: FrameHeader, emit: FrameEmit): void {
    const pos = this.base + i;
    this.expire(pos);
    const c = this.candidate(pos, crc, h);
    for (const p of this.byNext.get(h.number * 2 + h.blocking) ?? []) {
      if (sameStream(p, c) && this.ends(p, pos, crc)) {
        this.emitFrame(data, p, pos, emit);
        break;
      }
    }
    this.add(c);
  }

  /** Whether the frame `p` starts can end at `pos`, the running CRC-16 state there being `crc`. */
  private ends(p: Candidate, pos: number, crc: number): boolean {
    const size = pos - p.pos;
    return size >= p.h.length + MIN_BODY && size <= p.limit && crc16Advance(p.crc, size) === crc;
  }

  private candidate(pos: number, crc: number, h: FrameHeader): Candidate {
    const info = this.info;
    const fits = !info || (h.channels === info.channels && (!h.rate || h.rate === info.rate) &&
      (!h.bits || h.bits === info.bits) && h.blockSize <= info.maxBlock);
    const known = info && fits ? info : undefined;
    return {
      pos, crc, h, fits,
      rate: h.rate || (known?.rate ?? 0),
      bits: h.bits || (known?.bits ?? 0),
      limit: known?.maxFrame ? Math.min(this.maxFrame, known.maxFrame) : this.maxFrame,
      next: (h.number + (h.blocking ? h.blockSize : 1)) * 2 + h.blocking,
    };
  }

  private add(c: Candidate): void {
    const list = this.byNext.get(c.next);
    // The oldest make way: look-alikes in junk must not crowd out the real stream's next header.
    if (list && list.length >= MAX_PER_KEY) this.drop(list[0]!);
    if (this.alive.length >= MAX_CANDIDATES) this.drop(this.alive[0]!);
    const now = this.byNext.get(c.next);
    if (now) now.push(c);
    else this.byNext.set(c.next, [c]);
    this.alive.push(c);
  }

  private drop(c: Candidate): void {
    const at = this.alive.indexOf(c);
    if (at >= 0) this.alive.splice(at, 1);
    this.unlink(c);
  }

  /** Forgets the candidates that could only make a frame longer than they may be. */
  private expire(pos: number): void {
    while (this.alive.length && pos - this.alive[0]!.pos > this.alive[0]!.limit) this.unlink(this.alive.shift()!);
  }

  private unlink(c: Candidate): void {
    const list = this.byNext.get(c.next);
    if (!list) return;
    const at = list.indexOf(c);
    if (at >= 0) list.splice(at, 1);
    if (!list.length) this.byNext.delete(c.next);
  }

  private emitFrame(data: Buffer, p: Candidate, end: number, emit: FrameEmit): void {
    this.invalidBytes += Math.max(0, p.pos - this.done);
    this.done = end;
    // Headers inside the frame were chance look-alikes in its audio.
    while (this.alive.length && this.alive[0]!.pos < end) this.unlink(this.alive.shift()!);
    if (this.info && !p.fits) this.info = undefined;
    if (!this.info) this.makeHeader(p.h);
    emit(data.subarray(p.pos - this.base, end - this.base), p.rate ? (p.h.blockSize * 1000) / p.rate : 0);
  }

  /** The header for frames met without STREAMINFO, rebuilt only when they change. */
  private makeHeader(h: FrameHeader): void {
    if (!h.rate || !h.bits) return;
    const from = `${h.blocking} ${h.rate} ${h.channels} ${h.bits}`;
    if (from === this.madeFrom && (h.blocking || h.blockSize <= this.madeBlock)) return;
    this.header = streamHeader([streamInfoFromFrame(h)]);
    this.madeFrom = from;
    this.madeBlock = h.blockSize;
    this.describe(h.rate, h.channels, h.bits);
  }

  /** "fLaC" and a STREAMINFO at `data[i]`: the stream so far ends, its metadata follows. */
  private streamStart(data: Buffer, i: number, crc: number, info: StreamInfo, emit: FrameEmit): void {
    const pos = this.base + i;
    this.expire(pos);
    for (const p of this.alive) {
      if (this.ends(p, pos, crc)) {
        this.emitFrame(data, p, pos, emit);
        break;
      }
    }
    this.alive = [];
    this.byNext.clear();
    this.invalidBytes += Math.max(0, pos - this.done);
    this.done = pos + STREAM_START;
    const streamInfo = Buffer.from(data.subarray(i + 4, i + STREAM_START));
    this.meta = { info, kept: [streamInfo], size: streamInfo.length, last: (data[i + 4]! & 0x80) !== 0 };
    this.describe(info.rate, info.channels, info.bits);
  }

  /** Reads metadata blocks from `data[i]`; returns where it stopped (`meta` is cleared once they end). */
  private readMetadata(data: Buffer, i: number): number {
    const meta = this.meta!;
    const end = data.length;
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, end - i);
        this.skip -= n;
        i += n;
        this.done = this.base + i;
        if (this.skip > 0) return i;
      }
      // A block type no metadata block may have (a frame's 0xFF, say) ends a list whose last flag lied.
      const type = end - i >= 1 ? data[i]! & 0x7f : -1;
      if (meta.last || type === BLOCK_STREAMINFO || type === BLOCK_INVALID) {
        this.finishMetadata();
        return i;
      }
      if (end - i < 4) return i;
      const length = data.readUIntBE(i + 1, 3);
      const keep = type !== BLOCK_PADDING && type !== BLOCK_SEEKTABLE && meta.size + 4 + length <= HEADER_LIMIT;
      if (keep) {
        if (end - i < 4 + length) return i;
        meta.kept.push(Buffer.from(data.subarray(i, i + 4 + length)));
        meta.size += 4 + length;
      } else {
        this.skip = length;
      }
      meta.last = (data[i]! & 0x80) !== 0;
      i += keep ? 4 + length : 4;
      this.done = this.base + i;
    }
  }

  private finishMetadata(): void {
    const meta = this.meta!;
    this.meta = undefined;
    this.info = meta.info;
    this.madeFrom = '';
    this.header = streamHeader(meta.kept);
  }

  private describe(rate: number, channels: number, bits: number): void {
    const params = `${rate}Hz ${channels}ch ${bits}bit`;
    if (this.format?.params !== params) this.format = { name: 'flac', codec: 'flac', params };
  }
}

function indexOr(data: Buffer, byte: number, from: number, end: number): number {
  const i = data.indexOf(byte, from);
  return i < 0 ? end : i;
}

function sameStream(a: Candidate, b: Candidate): boolean {
  return a.h.blocking === b.h.blocking && a.h.channels === b.h.channels && a.rate === b.rate && a.bits === b.bits;
}

const OGG_CAPTURE = Buffer.from('OggS\0');
const MP4_FTYP = Buffer.from('ftyp');

/**
 * Whether `head` (the first bytes of a stream, possibly mid-frame or after
 * junk) looks like native FLAC: "fLaC" and a sane STREAMINFO at its start, or
 * a frame confirmed by the next one's header and its CRC-16. FLAC frames
 * inside Ogg pages or an MP4 file can be contiguous enough to confirm, so
 * those containers' marks rule it out: their own filters are the ones to use.
 */
export function sniffFlac(head: Buffer): boolean {
  if (typeof parseStreamStart(head, 0, head.length) === 'object') return true;
  if (head.includes(OGG_CAPTURE) || head.subarray(4, 8).equals(MP4_FTYP)) return false;
  const framer = new FlacFramer({ frameBytes: DEFAULT_FRAME_BYTES });
  let frames = 0;
  framer.push(head, () => frames++);
  return frames > 0;
}
