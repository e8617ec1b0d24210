import type { FrameEmit, Framer, StreamFormat } from '../../core/contracts/frame.ts';

/**
 * Annex B byte streams (H.264 and HEVC elementary streams): NAL units behind
 * start codes (00 00 01, or 00 00 00 01 where the standards ask for the extra
 * zero byte), grouped into access units (one picture and what precedes it).
 * The codecs differ only in how a NAL unit's first bytes are read, so the
 * scanning, grouping, bounds and junk accounting live here once.
 */

/** `classify` needs more bytes after the start code than the data has so far. */
export const NEED_MORE = -1;
/** Not a NAL unit (forbidden_zero_bit set, an empty unit): its bytes up to the next start code are junk. */
export const NAL_INVALID = 1;
/** A slice (VCL NAL unit): the access unit has its picture. */
export const NAL_VCL = 2;
/** Begins a new access unit when one with a picture is under way (AUD, parameter sets, SEI, a picture's first slice). */
export const NAL_STARTS_AU = 4;
/** A slice of a picture a decoder can start at (IDR, IRAP). */
export const NAL_SYNC = 8;
/** A parameter set: handed to `parameterSet` once complete. */
export const NAL_PARAMETER_SET = 16;

/** chroma_format_idc as people write it, for `format.params`. */
export const CHROMA_NAMES = ['4:0:0', '4:2:0', '4:2:2', '4:4:4'];

const START_CODE = Buffer.from([0, 0, 1]);
const EMPTY = Buffer.alloc(0);

/**
 * Cuts an Annex B stream into access units. An access unit is complete when
 * the next one starts, so each is emitted one unit late; the bytes are emitted
 * untouched (start codes, parameter sets and all), as views of the chunk when
 * they lie inside it. An access unit is a sync point when its picture is one a
 * decoder can start at and the parameter sets it refers to are known; those
 * sets, as last seen, are the stream header, updated before the access unit
 * that brings new ones is emitted.
 *
 * Invalid bytes: anything before the first access unit's start (a stream joined
 * mid-unit included), NAL units with an impossible header, and an access unit
 * that outgrows `limit` together with what follows it until the next one starts.
 * Junk between units that has no start code of its own cannot be told from the
 * end of the NAL unit before it, which is where it stays.
 */
export abstract class AnnexBFramer implements Framer {
  invalidBytes = 0;
  format?: StreamFormat;
  abstract readonly contentType: string;

  /** Start code and NAL header bytes cut off by the end of the last chunk, or its trailing zeros. */
  private tail: Buffer = EMPTY;
  /** The current access unit's bytes from earlier chunks (or from before a junk NAL unit inside it). */
  private readonly held: Accumulator;
  /** False while looking for the start of an access unit: bytes are invalid until one begins. */
  private inAu = false;
  /** The current NAL unit is junk inside an access unit: its bytes are left out of it. */
  private junk = false;
  private auHasVcl = false;
  private auSync = false;
  /** Offset in the access unit of its first slice's NAL header, -1 before it. */
  private sliceAt = -1;
  /** Offset in the access unit of the NAL header of the parameter set being read, -1 when none is. */
  private keepAt = -1;

  /** `limit`: the largest access unit accepted, in bytes. */
  protected constructor(private readonly limit: number) {
    this.held = new Accumulator(limit);
  }

  abstract get header(): Buffer | undefined;

  /**
   * What the NAL unit whose header starts at `data[at]` is (`NAL_*` flags), or
   * NEED_MORE when `avail` (bytes from `at` to the end of the data so far) is
   * too few to tell. Bytes past the NAL unit's end may be among those read: a
   * codec must only look at what a real unit of that type always has.
   */
  protected abstract classify(data: Buffer, at: number, avail: number): number;

  /** A complete parameter set: NAL header and payload, without trailing zero bytes. May be a view: copy to keep. */
  protected abstract parameterSet(nal: Buffer): void;

  /**
   * A complete access unit, about to be emitted, whose first slice's NAL
   * header is at `au[sliceAt]`: its duration in ms (0 when the stream does not
   * tell), or -1 when the parameter sets the slice refers to are unknown.
   */
  protected abstract accessUnit(au: Buffer, sliceAt: number): number;

  push(chunk: Buffer, emit: FrameEmit): void {
    if (!chunk.length) return;
    const data = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
    this.tail = EMPTY;
    /** Where the current access unit's bytes in `data` begin, -1 when none are (all held, or no unit). */
    let auFrom = this.inAu && !this.junk ? 0 : -1;
    /** The first byte of `data` not yet in an access unit or counted as invalid. */
    let from = 0;
    let scan = 0;
    let cut = -1;
    for (;;) {
      const p = data.indexOf(START_CODE, scan);
      if (p < 0) break;
      // The zero byte before a start code belongs to the NAL unit after it (zero_byte in Annex B).
      const nalStart = p > 0 && data[p - 1] === 0 ? p - 1 : p;
      const kind = this.classify(data, p + 3, data.length - p - 3);
      if (kind === NEED_MORE) {
        cut = nalStart;
        break;
      }
      scan = p + 3;

      // The NAL unit before this start code ends here.
      if (!this.inAu || this.junk) this.invalidBytes += nalStart - from;
      else if (this.keepAt >= 0) this.keepParameterSet(data, auFrom, nalStart);
      from = nalStart;
      this.keepAt = -1;
      if (this.inAu && this.size(auFrom, nalStart) > this.limit) auFrom = this.drop(auFrom, nalStart);

      if (kind & NAL_INVALID) {
        if (this.inAu && !this.junk) {
          // The unit goes on after the junk: what it has so far waits in `held`.
          this.held.append(data, auFrom, nalStart);
          auFrom = -1;
          this.junk = true;
        }
        continue;
      }
      if (!this.inAu) {
        if (!(kind & NAL_STARTS_AU)) continue;
        auFrom = this.begin(nalStart);
      } else if (kind & NAL_STARTS_AU && this.auHasVcl) {
        this.finish(data, auFrom, nalStart, emit);
        auFrom = this.begin(nalStart);
      } else if (this.junk) {
        this.junk = false;
        auFrom = nalStart;
      }
      const at = this.held.length + (p + 3 - auFrom);
      if (kind & NAL_VCL) {
        if (!this.auHasVcl) this.sliceAt = at;
        this.auHasVcl = true;
        if (kind & NAL_SYNC) this.auSync = true;
      }
      if (kind & NAL_PARAMETER_SET) this.keepAt = at;
    }

    if (cut < 0) cut = data.length - trailingZeros(data, scan, 3);
    if (!this.inAu || this.junk) this.invalidBytes += cut - from;
    else if (this.size(auFrom, cut) > this.limit) this.drop(auFrom, cut);
    else this.held.append(data, auFrom, cut);
    if (cut < data.length) this.tail = Buffer.from(data.subarray(cut));
  }

  /** The source ended: the access unit under way is complete, though no next one started. */
  flush(emit: FrameEmit): void {
    if (!this.inAu || this.junk || !this.auHasVcl) return;
    if (this.keepAt >= 0) this.keepParameterSet(EMPTY, -1, 0);
    this.keepAt = -1;
    // Bytes in `tail` are trailing zeros or a start code the stream never finished: not part of the unit.
    this.invalidBytes += this.tail.length;
    this.tail = EMPTY;
    this.finish(EMPTY, -1, 0, emit);
  }

  reset(): void {
    // A unit cut short by the end of a source is as lost as junk.
    this.invalidBytes += this.held.length + this.tail.length;
    this.held.clear();
    this.tail = EMPTY;
    this.inAu = false;
    this.junk = false;
    this.keepAt = -1;
  }

  /** Bytes held for the current unit if its part in the data so far runs from `auFrom` to `end`. */
  private size(auFrom: number, end: number): number {
    return this.held.length + (auFrom >= 0 ? end - auFrom : 0);
  }

  /** Drops the current unit (too large) as invalid: bytes up to `end` are counted; returns the new `auFrom`. */
  private drop(auFrom: number, end: number): number {
    this.invalidBytes += this.size(auFrom, end);
    this.held.clear();
    this.inAu = false;
    this.junk = false;
    this.keepAt = -1;
    return -1;
  }

  /** Starts an access unit at `nalStart`; returns its `auFrom`. */
  private begin(nalStart: number): number {
    this.held.clear();
    this.inAu = true;
    this.junk = false;
    this.auHasVcl = false;
    this.auSync = false;
    this.sliceAt = -1;
    return nalStart;
  }

  private finish(data: Buffer, auFrom: number, end: number, emit: FrameEmit): void {
    let au: Buffer;
    if (auFrom < 0 || auFrom === end) au = this.held.take();
    else if (!this.held.length) au = data.subarray(auFrom, end);
    else {
      au = Buffer.concat([this.held.view(), data.subarray(auFrom, end)]);
      this.held.clear();
    }
    this.inAu = false;
    if (!au.length) return;
    const ms = this.accessUnit(au, this.sliceAt);
    emit(au, Math.max(ms, 0), this.auSync && ms >= 0);
  }

  private keepParameterSet(data: Buffer, auFrom: number, end: number): void {
    const start = this.keepAt;
    const stop = this.size(auFrom, end);
    const inHeld = this.held.length;
    let nal: Buffer;
    if (start >= inHeld) nal = data.subarray(auFrom + start - inHeld, end);
    else if (auFrom < 0 || auFrom === end) nal = this.held.view().subarray(start, stop);
    else nal = Buffer.concat([this.held.view().subarray(start), data.subarray(auFrom, end)]);
    this.parameterSet(nal.subarray(0, nal.length - trailingZeros(nal, 0, nal.length)));
  }
}

/** How many zero bytes end `data`, looking no further back than `from` and counting at most `max`. */
function trailingZeros(data: Buffer, from: number, max: number): number {
  let n = 0;
  while (n < max && data.length - n - 1 >= from && data[data.length - n - 1] === 0) n++;
  return n;
}

/**
 * Bytes of the access unit under way, in memory of its own. Appended to at
 * the end only, so a view handed out by `take` is never written again.
 */
class Accumulator {
  private buf: Buffer = EMPTY;
  length = 0;

  /** `cap`: the most it is ever asked to hold (the caller checks before appending). */
  constructor(private readonly cap: number) {}

  append(data: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    if (this.length + n > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.length + n, Math.min(Math.max(this.buf.length * 2, 4096), this.cap)));
      this.buf.copy(grown, 0, 0, this.length);
      this.buf = grown;
    }
    data.copy(this.buf, this.length, start, end);
    this.length += n;
  }

  view(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  /** The bytes, handed over: this accumulator starts afresh in new memory. */
  take(): Buffer {
    const out = this.view();
    this.buf = EMPTY;
    this.length = 0;
    return out;
  }

  clear(): void {
    this.length = 0;
    // Room for one large key frame need not stay allocated for the rest of the stream.
    if (this.buf.length > 256 * 1024) this.buf = EMPTY;
  }
}

/** Verdicts of a codec's `judge` on one NAL unit, for sniffing. */
export const IMPLAUSIBLE = -1;
export const NEUTRAL = 0;
export const PLAUSIBLE = 1;
/** A parameter set that parses into sane values: one is enough. */
export const CONVINCING = 2;

/** Start codes looked at when sniffing, at most. */
const SNIFF_UNITS = 256;

/**
 * Whether `head` looks like an Annex B stream of the codec whose `judge`
 * rates each NAL unit (`data[at..end)`, `end` short of the unit's end when the
 * head cuts it). Start codes turn up by chance in other data, followed by
 * anything: most units must be plausible, and either several or a parameter
 * set that parses.
 */
export function sniffAnnexB(head: Buffer, judge: (data: Buffer, at: number, end: number, whole: boolean) => number): boolean {
  let plausible = 0;
  let implausible = 0;
  let convincing = false;
  let p = head.indexOf(START_CODE);
  for (let n = 0; p >= 0 && n < SNIFF_UNITS; n++) {
    const next = head.indexOf(START_CODE, p + 3);
    const end = next < 0 ? head.length : next - (head[next - 1] === 0 ? 1 : 0);
    const verdict = judge(head, p + 3, Math.max(end, p + 3), next >= 0);
    if (verdict === IMPLAUSIBLE) implausible++;
    else if (verdict >= PLAUSIBLE) plausible++;
    if (verdict === CONVINCING) convincing = true;
    p = next;
  }
  return (plausible >= 2 || convincing) && implausible * 10 <= plausible;
}
