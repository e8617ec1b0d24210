import type { FrameEmit, Framer, FramerOptions, StreamFormat } from '../../core/contracts/frame.ts';

/** The largest legal MPEG audio frame: MPEG-2.5 layer II, 160 kbit/s, 8 kHz, padded. */
export const MAX_MPEG_FRAME = 2881;

/**
 * The smallest MPEG-1 layer II/III frame (32 kbit/s at 48 kHz). A frameBytes
 * below it would refuse virtually every real mp3 stream, so it can only be the
 * raw filter's default (64) left in place: the legal maximum applies instead.
 */
export const SMALLEST_MPEG1_FRAME = 96;

// Indexed by version bits (0 = MPEG-2.5, 1 reserved, 2 = MPEG-2, 3 = MPEG-1), then layer bits (1 = III, 2 = II, 3 = I).
const V1 = [[], [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320], [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384], [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448]];
const V2L23 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
const V2 = [[], V2L23, V2L23, [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256]];
const KBPS: number[][][] = [V2, [], V2, V1];
const SAMPLE_RATES: number[][] = [[11025, 12000, 8000], [], [22050, 24000, 16000], [44100, 48000, 32000]];

/**
 * Frame size and duration for every combination of header bits 20..9 (version,
 * layer, protection, bitrate, sample rate, padding); size 0 marks a header that
 * cannot start a frame (reserved values, free format, bad bitrate).
 */
const SIZE = new Int32Array(4096);
const DURATION_MS = new Float64Array(4096);
for (let key = 0; key < 4096; key++) {
  const version = key >> 10;
  const layer = (key >> 8) & 3;
  const bitrate = (KBPS[version]?.[layer]?.[(key >> 3) & 15] ?? 0) * 1000;
  const rate = SAMPLE_RATES[version]?.[(key >> 1) & 3] ?? 0;
  if (!bitrate || !rate || !layer) continue;
  const pad = key & 1;
  let samples: number;
  if (layer === 3) { // layer I: 4-byte slots
    SIZE[key] = (Math.floor((12 * bitrate) / rate) + pad) * 4;
    samples = 384;
  } else if (layer === 1 && version !== 3) { // layer III of MPEG-2 and 2.5: half the samples
    SIZE[key] = Math.floor((72 * bitrate) / rate) + pad;
    samples = 576;
  } else {
    SIZE[key] = Math.floor((144 * bitrate) / rate) + pad;
    samples = 1152;
  }
  DURATION_MS[key] = (samples * 1000) / rate;
}

/** Size of the frame whose header is `h`, or 0 when `h` is no frame header. */
function frameSize(h: number): number {
  if (h >>> 21 !== 0x7ff || (h & 3) === 2) return 0; // no sync, or reserved emphasis
  return SIZE[(h >>> 9) & 0xfff]!;
}

/**
 * What stays constant along one stream: version, layer, sample rate, and mono
 * or not (a channel-count change is a new stream to any decoder). Bitrate and
 * padding vary frame to frame (VBR), so they are not part of it.
 */
function signature(h: number): number {
  return (h & 0xfffe0c00) | (((h >>> 6) & 3) === 3 ? 1 : 0);
}

/** Verdicts on a candidate frame out of sync (any other is a byte count still needed). */
const BELIEVED = -1;
const REFUSED = -2;
/** What `rival` finds besides a position. */
const NONE = -1;
const MORE = -2;
/** No signature (signatures have bit 1 clear, so never -1 or -3): nothing known clear. */
const UNKNOWN = -3;

const ID3 = Buffer.from('ID3');
const I = 0x49;

/**
 * Length of the ID3v2 tag starting at `p` (header, body and v2.4 footer), 0 if
 * `data` ends before that can be told, -1 if no tag starts there.
 */
function id3Length(data: Buffer, p: number): number {
  const avail = Math.min(data.length - p, 10);
  for (let i = 0; i < avail; i++) if (!id3HeaderByteOk(i, data[p + i]!)) return -1;
  if (avail < 10) return 0;
  const size = (data[p + 6]! << 21) | (data[p + 7]! << 14) | (data[p + 8]! << 7) | data[p + 9]!;
  const footer = data[p + 3] === 4 && data[p + 5]! & 0x10 ? 10 : 0;
  return 10 + size + footer;
}

/** "ID3", major version 2–4, a revision that is not 0xFF, any flags, four syncsafe size bytes. */
function id3HeaderByteOk(i: number, b: number): boolean {
  if (i < 3) return b === ID3[i];
  if (i === 3) return b >= 2 && b <= 4;
  if (i === 4) return b !== 0xff;
  return i === 5 || b < 0x80;
}

/**
 * Cuts MPEG audio (MPEG-1/2/2.5, layers I–III) into physical frames with their
 * duration. In sync, a frame whose header matches the stream's signature is
 * emitted as soon as it is complete (no wait for the next one: lower latency);
 * any other byte there drops back to searching.
 *
 * Out of sync, as in Go streamserve, a valid header with its whole frame is a
 * frame, junk after it or not, unless something speaks against it:
 * - a header starts inside it: a sync word in junk overlapping the frame that
 *   follows, or one inside audio data. For a frame of the running stream (two
 *   frames believed in a row were of it, junk between them or not), resuming
 *   after junk, only a header of that stream counts;
 * - a stream is running and the candidate is of another: a sync word in junk
 *   spliced into the stream. A header of the running stream inside it refuses
 *   it at once;
 * - nothing was believed yet and junk came first: a source opened in the
 *   middle of a frame, whose audio data may hold sync words.
 * Then only the next frame's header, right after it and of its stream, vouches
 * for it. A stream's signature is what stays constant along it: version,
 * layer, sample rate, mono or not.
 *
 * Nothing in the bytes tells these from frames, so they pass: a header of the
 * running stream whose whole frame lies in junk, or that junk starts with right
 * after a frame; a lone header of another stream whose whole frame lies in the
 * junk after the first frame (lone frames of different streams in a row are
 * frames: streamserve's test vectors).
 *
 * ID3v2 tags are skipped silently; everything else discarded counts as invalid.
 * At most one candidate frame plus a header is ever held back, so junk cannot
 * grow memory, and each junk byte is looked at a bounded number of times.
 */
export class Mp3Framer implements Framer {
  invalidBytes = 0;
  readonly contentType = 'audio/mpeg';
  /** Version, layer, sample rate and mode of the stream locked on last: what must match for two streams to follow each other. */
  format: StreamFormat = { name: 'mp3' };
  private described = -1;
  /** Largest frame accepted. */
  readonly maxFrame: number;
  /** Bytes held back from the previous pushes, not yet enough to decide. */
  private parts: Buffer[] = [];
  private held = 0;
  /** How many bytes must be held before it is worth looking again. */
  private need = 0;
  /** Bytes of an ID3v2 tag still to drop. */
  private skip = 0;
  /** The locked stream's signature, or -1 while searching. */
  private lock = -1;
  /** Signature of the last stream two frames in a row were of (junk between them or not), or -1: what junk interrupts. */
  private stream = -1;
  /** Signature of the last frame believed, or -1 since the start. */
  private previous = -1;
  /** `invalidBytes` at the start: while it is unchanged and nothing was believed, the source has had no junk. */
  private startMark = 0;
  /** Within one scan: no header of signature `clearSig` (-1: of any) starts in [clearFrom, clearTo). */
  private clearSig = UNKNOWN;
  private clearFrom = 0;
  private clearTo = 0;

  constructor(options: FramerOptions) {
    const n = options.frameBytes;
    this.maxFrame = n >= SMALLEST_MPEG1_FRAME ? Math.min(n, MAX_MPEG_FRAME) : MAX_MPEG_FRAME;
  }

  push(chunk: Buffer, emit: FrameEmit): void {
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      chunk = chunk.subarray(n);
    }
    if (!chunk.length) return;
    this.held += chunk.length;
    if (this.held < this.need) {
      // A copy: the chunks may be reused once this push returns (`core/contracts/frame.ts`), and these wait for more.
      this.parts = [Buffer.concat([...this.parts, chunk], this.held)];
      return;
    }
    const data = this.parts.length ? Buffer.concat([...this.parts, chunk], this.held) : chunk;
    this.parts = [];
    this.held = 0;
    this.need = 0;
    const rest = this.scan(data, emit);
    if (rest < data.length) {
      this.parts.push(data.subarray(rest));
      this.held = data.length - rest;
    }
  }

  private describe(h: number, sig: number): void {
    this.described = sig;
    const version = ['MPEG-2.5', '', 'MPEG-2', 'MPEG-1'][(h >>> 19) & 3]!;
    const layer = ['', 'III', 'II', 'I'][(h >>> 17) & 3]!;
    const rate = SAMPLE_RATES[(h >>> 19) & 3]![(h >>> 10) & 3]!;
    const codec = layer === 'III' ? 'mp3' : layer === 'II' ? 'mp2' : 'mp1';
    this.format = { name: 'mp3', codec, params: `${version} layer ${layer} ${rate} Hz ${((h >>> 6) & 3) === 3 ? 'mono' : 'stereo'}` };
  }

  reset(): void {
    // A frame cut short by the end of a source is as lost as junk.
    this.invalidBytes += this.held;
    this.parts = [];
    this.held = 0;
    this.need = 0;
    this.skip = 0;
    this.lock = -1;
    this.stream = -1;
    this.previous = -1;
    this.startMark = this.invalidBytes;
  }

  /** Emits what `data` completes; returns where the undecided tail starts and sets `need` for it. */
  private scan(data: Buffer, emit: FrameEmit): number {
    const end = data.length;
    let pos = 0;
    this.clearSig = UNKNOWN;
    // Next 0xFF and next "ID3" at or after pos (end when none); found once, reused while ahead of pos.
    let nextSync = -1;
    let nextTag = -1;
    while (pos < end) {
      if (this.lock !== -1) {
        if (end - pos < 4) return this.wait(pos, 4);
        const h = data.readUInt32BE(pos);
        const size = frameSize(h);
        if (size && size <= this.maxFrame && signature(h) === this.lock) {
          if (end - pos < size) return this.wait(pos, size);
          this.stream = this.lock;
          emit(data.subarray(pos, pos + size), DURATION_MS[(h >>> 9) & 0xfff]!);
          pos += size;
          continue;
        }
        this.lock = -1;
      }

      if (nextSync < pos) nextSync = indexOr(data, 0xff, pos, end);
      if (nextTag < pos) nextTag = indexOr(data, ID3, pos, end);
      let at = Math.min(nextSync, nextTag);
      if (at === end) {
        // "I" or "ID" at the very end may begin a tag the next chunk completes.
        if (data[end - 1] === I) at = end - 1;
        else if (end - pos >= 2 && data[end - 2] === I && data[end - 1] === ID3[1]) at = end - 2;
      }
      this.invalidBytes += at - pos;
      pos = at;
      if (pos === end) break;

      if (data[pos] === I) {
        const tag = id3Length(data, pos);
        if (tag === 0) return this.wait(pos, 10);
        if (tag < 0) {
          this.invalidBytes++;
          pos++;
          continue;
        }
        if (tag > end - pos) {
          this.skip = tag - (end - pos);
          return end;
        }
        pos += tag;
        continue;
      }

      if (end - pos < 4) return this.wait(pos, 4);
      const h = data.readUInt32BE(pos);
      const size = frameSize(h);
      if (size && size <= this.maxFrame) {
        const verdict = this.judge(data, pos, size, h);
        if (verdict === BELIEVED) {
          const sig = signature(h);
          if (sig === this.previous) this.stream = sig;
          this.lock = this.previous = sig;
          if (sig !== this.described) this.describe(h, sig);
          emit(data.subarray(pos, pos + size), DURATION_MS[(h >>> 9) & 0xfff]!);
          pos += size;
          continue;
        }
        if (verdict !== REFUSED) return this.wait(pos, verdict);
      }
      this.invalidBytes++;
      pos++;
    }
    return end;
  }

  /**
   * Out of sync: whether the candidate frame at `pos` (header `h`, `size`
   * bytes) is BELIEVED or REFUSED, or else how many bytes from `pos` must be
   * held to tell. It may be judged before the whole frame is there: a rival
   * found in the part that is there is the first in the whole frame too.
   */
  private judge(data: Buffer, pos: number, size: number, h: number): number {
    const sig = signature(h);
    const after = pos + size;
    const whole = data.length >= after;
    const resumes = sig === this.stream;
    if (resumes || (this.stream === -1 && (this.previous !== -1 || this.invalidBytes === this.startMark))) {
      // A frame is believed unless a header starts inside it: of its own stream
      // when it resumes the running stream after junk, of any stream otherwise.
      const rival = this.rival(data, pos + 1, after, resumes ? sig : -1);
      if (rival === NONE) return BELIEVED;
      if (rival === MORE) return whole ? size + 4 : size;
    } else if (this.stream !== -1) {
      // Another stream while one runs: junk, above all when the running stream resumes inside it.
      const rival = this.rival(data, pos + 1, after, this.stream);
      if (rival >= 0) return REFUSED;
    }
    // Only the next frame's header, right after this one, can vouch for it now.
    if (data.length - after < 4) return size + 4;
    const next = data.readUInt32BE(after);
    return frameSize(next) && signature(next) === sig ? BELIEVED : REFUSED;
  }

  /**
   * Where the first frame header (of signature `only`, or any when it is -1)
   * starts in [from, to): NONE when none does, MORE when `data` ends too soon
   * to tell.
   */
  private rival(data: Buffer, from: number, to: number, only: number): number {
    const end = data.length;
    // Candidates overlap: skip what an earlier search of this scan found clear.
    const known = (this.clearSig === only || this.clearSig === -1) && from >= this.clearFrom && from <= this.clearTo;
    const start = known ? Math.max(from, this.clearTo) : from;
    for (let q = data.indexOf(0xff, start); q !== -1 && q < to; q = data.indexOf(0xff, q + 1)) {
      if (end - q < 4) return MORE;
      const r = data.readUInt32BE(q);
      const size = frameSize(r);
      if (size && size <= this.maxFrame && (only === -1 || signature(r) === only)) {
        this.clear(only, known ? this.clearFrom : from, q);
        return q;
      }
    }
    if (end < to) return MORE;
    this.clear(only, known ? this.clearFrom : from, to);
    return NONE;
  }

  private clear(sig: number, from: number, to: number): void {
    this.clearSig = sig;
    this.clearFrom = from;
    this.clearTo = to;
  }

  private wait(pos: number, need: number): number {
    this.need = need;
    return pos;
  }
}

function indexOr(data: Buffer, what: number | Buffer, from: number, end: number): number {
  const i = data.indexOf(what, from);
  return i < 0 ? end : i;
}
