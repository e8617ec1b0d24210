/**
 * Source bytes live in reusable slabs. A stream's bytes stay in memory for the
 * ring's length (seconds), long enough for V8 to promote their buffers, so with
 * a fresh buffer per read they were only freed by the rare full collections:
 * a steady trickle of source data became megabytes of dead buffers between two
 * of them. A slab is handed out again once nothing holds a view of it: not the
 * ring, a pacer, a filter's tail, nor a listener's socket queue. A slab that is
 * never released (a source closed with bytes in flight) is simply collected.
 */

const SLAB = Symbol('streamserve.slab');

/** Bytes a pool keeps in released slabs, ready for reuse; beyond that they are left to the collector. */
const FREE_BYTES = 16 << 20;

let nextSlabId = 1;

export class Slab {
  /** Names the slab to the writer threads (`core/engine/writers.ts`), which see it through its shared memory. */
  readonly id = nextSlabId++;
  /** Set once the writer threads were given this slab's memory. */
  shared = false;
  /** Holders of views into this slab; the slab is reused when it reaches 0. */
  refs = 1;
  /** Released more often than held, or held after its release: never reused, left to the collector. */
  poisoned = false;
  readonly buf: Buffer;

  constructor(readonly pool: SlabPool) {
    // A slab owns its memory whole, and that memory is shared so writer threads can send from it without a copy.
    this.buf = Buffer.from(new SharedArrayBuffer(pool.size));
    (this.buf.buffer as unknown as Record<symbol, Slab>)[SLAB] = this;
  }
}

/** Counters for tests and stats: how slabs came and went. */
export const slabCounters = { created: 0, reused: 0, dropped: 0, /** Misuses caught (see `poison`); 0 unless there is a bug. */ overReleased: 0 };

export class SlabPool {
  private readonly free: Slab[] = [];
  private readonly maxFree: number;

  constructor(readonly size: number) {
    this.maxFree = Math.max(4, Math.floor(FREE_BYTES / size));
  }

  /** A slab for the caller to fill; the caller holds its first reference. */
  take(): Slab {
    const slab = this.free.pop();
    if (slab) {
      slab.refs = 1;
      slabCounters.reused++;
      return slab;
    }
    slabCounters.created++;
    return new Slab(this);
  }

  recycle(slab: Slab): void {
    if (slab.poisoned || this.free.length >= this.maxFree) {
      slabCounters.dropped++;
      return;
    }
    this.free.push(slab);
  }

  /** Retires a slab found to be misused: it is never handed out again. */
  poison(slab: Slab): void {
    if (!slab.poisoned) slabCounters.overReleased++;
    slab.poisoned = true;
    const i = this.free.indexOf(slab);
    if (i >= 0) this.free.splice(i, 1);
  }

  get freeCount(): number {
    return this.free.length;
  }
}

const pools = new Map<number, SlabPool>();

/** The process-wide pool of slabs of `size` bytes. */
export function slabPool(size: number): SlabPool {
  let pool = pools.get(size);
  if (!pool) pools.set(size, (pool = new SlabPool(size)));
  return pool;
}

/** The slab a buffer is a view of, if any. */
export function slabOf(b: Buffer): Slab | undefined {
  return (b.buffer as unknown as Record<symbol, Slab | undefined>)[SLAB];
}

/** Keeps the slab under `b` (if any) from being reused while `b` is held. */
export function hold(b: Buffer): void {
  const slab = slabOf(b);
  if (!slab) return;
  // A view of a released slab is stale: whoever holds it must not get memory that will be reused.
  if (slab.refs <= 0) slab.pool.poison(slab);
  slab.refs++;
}

/** Drops one hold taken with `hold` (or by the slab's taker). */
export function release(b: Buffer): void {
  const slab = slabOf(b);
  if (slab) releaseSlab(slab);
}

export function releaseSlab(slab: Slab): void {
  if (--slab.refs > 0) return;
  // A bookkeeping error must never hand out memory still in use: retire the slab instead.
  if (slab.refs < 0 || slab.poisoned) slab.pool.poison(slab);
  else slab.pool.recycle(slab);
}

/**
 * Copies incoming bytes (a socket's or a pipe's chunks, which Node allocates
 * afresh for each read) into slabs, so that the short-lived originals die young
 * and what is kept for seconds is reused memory. Each view handed out carries
 * one hold for the receiver to release.
 */
export class SlabWriter {
  private slab: Slab | undefined;
  private fill = 0;

  constructor(private readonly pool: SlabPool) {}

  copy(chunk: Buffer, each: (view: Buffer) => void): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (!this.slab || this.fill === this.pool.size) this.next();
      const slab = this.slab!;
      const n = chunk.copy(slab.buf, this.fill, pos);
      const view = slab.buf.subarray(this.fill, this.fill + n);
      this.fill += n;
      pos += n;
      slab.refs++;
      each(view);
    }
  }

  private next(): void {
    if (this.slab) releaseSlab(this.slab);
    this.slab = this.pool.take();
    this.fill = 0;
  }

  /** Lets go of the slab being filled (the writer is done). */
  close(): void {
    if (this.slab) releaseSlab(this.slab);
    this.slab = undefined;
  }
}
