import { hold, release } from './slab.ts';

/** What a listener is written: one buffer, or frames to be written together. */
export type Payload = Buffer | Buffer[];

/** Payloads up to this size are copied into one buffer; larger ones are written as a list of frames. */
const COPY_LIMIT = 64 * 1024;

export function payloadBytes(p: Payload): number {
  if (!Array.isArray(p)) return p.length;
  let n = 0;
  for (const b of p) n += b.length;
  return n;
}

/**
 * The last N frames of a channel, by sequence number. Listeners are cursors into
 * it (the sequence number of the next frame they are owed); a cursor older than
 * `oldest` has been lapped and must skip forward.
 */
export class Ring {
  private readonly frames: (Buffer | undefined)[];
  private readonly durations: Float64Array;
  /** 1 where a decoder can start (`core/contracts/frame.ts`). */
  private readonly syncs: Uint8Array;
  /** The stream header in force at each frame (the same object while it does not change). */
  private readonly headers: (Buffer | undefined)[];
  /** Sequence number the next pushed frame gets. */
  head = 0;
  /** Bytes held by the frames in the ring. */
  bytes = 0;
  /** The newest frame whose header differs from its predecessor's (-1: none yet); a write from before it must replay the header. */
  headerChange = -1;
  /** Every frame pushed so far was a sync point (raw, mp3): start points need no search. */
  private allSync = true;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 3) throw new RangeError(`ring capacity must be an integer > 2, got ${capacity}`);
    this.frames = new Array(capacity);
    this.durations = new Float64Array(capacity);
    this.syncs = new Uint8Array(capacity);
    this.headers = new Array(capacity);
  }

  /** The oldest sequence number still held. */
  get oldest(): number {
    return Math.max(0, this.head - this.capacity);
  }

  /** Holds the frame's slab while the frame is in the ring (`core/engine/slab.ts`). */
  push(frame: Buffer, durationMs: number, sync = true, header?: Buffer): number {
    const slot = this.head % this.capacity;
    const old = this.frames[slot];
    if (old) {
      this.bytes -= old.length;
      release(old);
    }
    hold(frame);
    this.frames[slot] = frame;
    this.durations[slot] = durationMs;
    this.syncs[slot] = sync ? 1 : 0;
    if (!sync) this.allSync = false;
    if (header !== (this.head > 0 ? this.headers[(this.head - 1) % this.capacity] : undefined)) this.headerChange = this.head;
    this.headers[slot] = header;
    this.bytes += frame.length;
    return this.head++;
  }

  isSync(seq: number): boolean {
    return this.syncs[seq % this.capacity] === 1;
  }

  /** The stream header a listener starting at `seq` needs first. */
  headerAt(seq: number): Buffer | undefined {
    return seq >= this.oldest && seq < this.head ? this.headers[seq % this.capacity] : undefined;
  }

  /** The first sync point at or after `seq` (and not before the oldest frame), or -1 when none is held yet. */
  nextSync(seq: number): number {
    seq = Math.max(seq, this.oldest);
    if (this.allSync) return seq < this.head ? seq : -1;
    for (; seq < this.head; seq++) if (this.syncs[seq % this.capacity] === 1) return seq;
    return -1;
  }

  /** The last sync point at or before `seq`, not before `floor` nor the oldest frame; -1 when there is none. */
  prevSync(seq: number, floor = 0): number {
    floor = Math.max(floor, this.oldest);
    seq = Math.min(seq, this.head - 1);
    if (this.allSync) return seq >= floor ? seq : -1;
    for (; seq >= floor; seq--) if (this.syncs[seq % this.capacity] === 1) return seq;
    return -1;
  }

  /** The first frame after `from` and before `to` whose header differs from `from`'s, or `to`. */
  headerBreak(from: number, to: number): number {
    if (this.headerChange <= from) return to;
    const h = this.headers[from % this.capacity];
    for (let s = from + 1; s < to; s++) if (this.headers[s % this.capacity] !== h) return s;
    return to;
  }

  /** The frame with sequence number `seq`, if still held. */
  get(seq: number): Buffer | undefined {
    return seq >= this.oldest && seq < this.head ? this.frames[seq % this.capacity] : undefined;
  }

  durationOf(seq: number): number {
    return this.durations[seq % this.capacity]!;
  }

  /**
   * Frames `from` (inclusive) to `to` (exclusive) for writing: one frame as it
   * is, a few small ones copied into one buffer (shared by every listener at
   * that cursor), large ones as a list written with one writev and no copy.
   */
  payload(from: number, to: number = this.head): Payload {
    from = Math.max(from, this.oldest);
    const first = this.frames[from % this.capacity]!;
    if (to - from === 1) return first;
    let bytes = 0;
    // Frames cut from one read lie side by side in memory: one view covers them, no copy at all.
    let adjacent = true;
    let end = first.byteOffset;
    for (let s = from; s < to; s++) {
      const f = this.frames[s % this.capacity]!;
      if (adjacent && (f.buffer !== first.buffer || f.byteOffset !== end)) adjacent = false;
      end = f.byteOffset + f.length;
      bytes += f.length;
    }
    if (adjacent) return Buffer.from(first.buffer, first.byteOffset, bytes);
    if (bytes <= COPY_LIMIT) return this.concat(from, to);
    const parts: Buffer[] = [];
    for (let s = from; s < to; s++) parts.push(this.frames[s % this.capacity]!);
    return parts;
  }

  /** Frames `from` (inclusive) to `to` (exclusive) as one buffer; a single frame is returned without copying. */
  concat(from: number, to: number = this.head): Buffer {
    from = Math.max(from, this.oldest);
    if (to - from === 1) return this.frames[from % this.capacity]!;
    const parts: Buffer[] = [];
    for (let s = from; s < to; s++) parts.push(this.frames[s % this.capacity]!);
    return Buffer.concat(parts);
  }

  /**
   * Where a new listener starts so that it first gets about `ms` of media (when
   * frames know their duration) or else about `bytes` bytes, back to a sync
   * point; never before `floor` or the oldest frame. -1 when no sync point is
   * held: the listener waits for the next one.
   */
  burstStart(ms: number, bytes: number, floor = 0): number {
    if (this.head === 0) return -1;
    const timed = this.durations[(this.head - 1) % this.capacity]! > 0;
    floor = Math.max(floor, this.oldest);
    let seq = this.head - 1;
    // Zero burst is streamserve's live edge: the newest complete frame (the newest sync point).
    if (timed ? ms > 0 : bytes > 0) {
      let total = 0;
      for (seq = this.head; seq > floor; ) {
        seq--;
        total += timed ? this.durations[seq % this.capacity]! : this.frames[seq % this.capacity]!.length;
        if (total >= (timed ? ms : bytes)) break;
      }
    }
    const back = this.prevSync(seq, floor);
    return back >= 0 ? back : this.nextSync(Math.max(seq, floor));
  }
}
