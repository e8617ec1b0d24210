import { writeSync, writevSync } from 'node:fs';

/**
 * The memory the engine thread and the writer threads share for one batch of
 * writes (`core/engine/writers.ts`): a job is a socket's file descriptor and the slab
 * segments to send it; its result is the bytes the kernel took, or a negative
 * errno.
 */
export interface JobMemory {
  /** GEN, NEXT, COUNT, ACTIVE, READY below. */
  ctrl: Int32Array;
  /** Per job: fd, first segment, segment count. */
  jobs: Int32Array;
  /** Per segment: slab id, byte offset, byte length. */
  segs: Int32Array;
  results: Int32Array;
}

/** What the engine thread sends a writer thread: a slab's shared memory, or that a slab is gone. */
export type SlabMessage = { add: number; sab: SharedArrayBuffer } | { forget: number };

/** Bumped to wake the writer threads for a new batch. */
export const GEN = 0;
/** The next job to claim; CLOSED once the batch is over, so a thread waking late claims nothing. */
export const NEXT = 1;
export const COUNT = 2;
/** Writer threads between their first claim and their last write of a batch. */
export const ACTIVE = 3;
/** Writer threads started and waiting. */
export const READY = 4;
/** Jobs the writer threads have written, for the figures. */
export const WRITTEN = 5;
export const CLOSED = 1 << 30;

export const MAX_JOBS = 256;
export const MAX_SEGS = 2048;
/** The result of a job naming a slab the thread was not given: the engine sends it the usual way. */
export const UNKNOWN_SLAB = -1_000_000;

export function jobMemory(): JobMemory {
  const ints = (n: number) => new Int32Array(new SharedArrayBuffer(n * 4));
  return { ctrl: ints(8), jobs: ints(MAX_JOBS * 3), segs: ints(MAX_SEGS * 3), results: ints(MAX_JOBS) };
}

/** One non-blocking write to a socket's descriptor: bytes taken (maybe fewer than given), or a negative errno. */
export function writeFd(fd: number, bufs: Buffer[]): number {
  try {
    return bufs.length === 1 ? writeSync(fd, bufs[0]!) : writevSync(fd, bufs);
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).errno;
    return typeof errno === 'number' && errno < 0 ? errno : -1;
  }
}

/** Runs job `j` from shared memory, finding slabs by id. */
export function runJob(m: JobMemory, j: number, slab: (id: number) => Buffer | undefined): number {
  const fd = m.jobs[j * 3]!;
  const first = m.jobs[j * 3 + 1]!;
  const n = m.jobs[j * 3 + 2]!;
  const bufs: Buffer[] = [];
  for (let s = first; s < first + n; s++) {
    const buf = slab(m.segs[s * 3]!);
    if (!buf) return UNKNOWN_SLAB;
    const offset = m.segs[s * 3 + 1]!;
    bufs.push(buf.subarray(offset, offset + m.segs[s * 3 + 2]!));
  }
  return writeFd(fd, bufs);
}
