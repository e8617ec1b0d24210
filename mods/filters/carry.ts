const EMPTY = Buffer.alloc(0);

/**
 * The undecided tail of a filter's input, carried from one push to the next.
 *
 * The engine may reuse a chunk's memory once its next push begins
 * (`core/engine/slab.ts`), so the tail is copied into memory of the carry's own.
 * Frames may be views of what `join` returns: the carry only ever writes
 * past the bytes it has handed out, and moves to fresh memory when it runs
 * out of room, leaving the old to the views. Room grows by half again what is
 * needed, so a stream pushed a byte at a time, or a tail that sheds a few
 * bytes per push, costs linear copying, not quadratic.
 */
export class Carry {
  private buf: Buffer = EMPTY;
  /** The carried bytes are `buf[start, start + len)`. */
  private start = 0;
  private len = 0;
  /** Whether the last `join` returned the carry's own memory rather than the chunk. */
  private joinedOwn = false;

  /** Bytes carried. */
  get length(): number {
    return this.len;
  }

  /** What to scan: `chunk` itself when nothing is carried, else the carried bytes followed by a copy of it. */
  join(chunk: Buffer): Buffer {
    this.joinedOwn = this.len > 0;
    if (!this.joinedOwn) return chunk;
    const total = this.len + chunk.length;
    if (this.start + total > this.buf.length) {
      const room = Buffer.allocUnsafe(Math.max(256, total + (total >> 1)));
      this.buf.copy(room, 0, this.start, this.start + this.len);
      this.buf = room;
      this.start = 0;
    }
    chunk.copy(this.buf, this.start + this.len);
    this.len = total;
    return this.buf.subarray(this.start, this.start + total);
  }

  /** Carries `data.subarray(from)` to the next push; `data` is what `join` last returned. */
  keep(data: Buffer, from: number): void {
    const n = data.length - from;
    if (n <= 0) {
      this.clear();
      return;
    }
    if (this.joinedOwn) {
      // Already in the carry's memory, just past what may have been handed out.
      this.start += from;
      this.len = n;
      return;
    }
    this.buf = Buffer.allocUnsafe(Math.max(256, n + (n >> 1)));
    data.copy(this.buf, 0, from);
    this.start = 0;
    this.len = n;
  }

  clear(): void {
    this.buf = EMPTY;
    this.start = 0;
    this.len = 0;
    this.joinedOwn = false;
  }
}
