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
  /** Sequence number the next pushed frame gets. */
  head = 0;
  /** Bytes held by the frames in the ring. */
  bytes = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 3) throw new RangeError(`ring capacity must be an integer > 2, got ${capacity}`);
    this.frames = new Array(capacity);
    this.durations = new Float64Array(capacity);
  }

  /** The oldest sequence number still held. */
  get oldest(): number {
    return Math.max(0, this.head - this.capacity);
  }

  /** Holds the frame's slab while the frame is in the ring (`core/slab.ts`). */
  push(frame: Buffer, durationMs: number): number {
    const slot = this.head % this.capacity;
    const old = this.frames[slot];
    if (old) {
      this.bytes -= old.length;
      release(old);
    }
    hold(frame);
    this.frames[slot] = frame;
    this.durations[slot] = durationMs;
    this.bytes += frame.length;
    return this.head++;
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
   * frames know their duration) or else about `bytes` bytes; never before the
   * oldest frame, never past the newest.
   */
  burstStart(ms: number, bytes: number): number {
    if (this.head === 0) return 0;
    const timed = this.durations[(this.head - 1) % this.capacity]! > 0;
    // Zero burst is streamserve's live edge: the newest complete frame.
    if (timed ? ms <= 0 : bytes <= 0) return this.head - 1;
    let seq = this.head;
    let total = 0;
    while (seq > this.oldest) {
      seq--;
      total += timed ? this.durations[seq % this.capacity]! : this.frames[seq % this.capacity]!.length;
      if (total >= (timed ? ms : bytes)) break;
    }
    return seq;
  }
}
