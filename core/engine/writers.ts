import { availableParallelism } from 'node:os';
import type { Socket } from 'node:net';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { Listener } from './listener.ts';
import type { Payload } from './ring.ts';
import { slabOf, type Slab } from './slab.ts';
import { ACTIVE, CLOSED, COUNT, GEN, jobMemory, MAX_JOBS, MAX_SEGS, NEXT, READY, UNKNOWN_SLAB, writeFd, WRITTEN, type JobMemory, type SlabMessage } from './writer-jobs.ts';

/** Batches smaller than this are written by the engine thread alone: waking a thread costs more. */
const MIN_PARALLEL = 8;
/** Jobs per batch and thread: a batch takes about a round's slice (`core/engine/channel.ts`), so new listeners are not kept waiting. */
const JOBS_PER_THREAD = 32;
/** How often the engine thread's load is judged. */
const LOAD_WINDOW_MS = 500;
/**
 * Writing in parallel starts when rounds keep the engine thread busy more than
 * a share of the time (`parallelAbove`, 0.75 unless configured) and stops below
 * this share of that mark: in parallel the engine thread does about half the
 * writing, so the same load reads as about half as busy.
 */
const SINGLE_BELOW_SHARE = 0.45;
/** Frames in one job at most; a longer list is written the usual way. */
const MAX_JOB_SEGS = 64;

/**
 * Writing to listeners from several threads. On loopback and LAN alike, the
 * engine's time goes to the kernel copying each listener's bytes (`write`
 * syscalls); one thread can only do so much of that. Each slice of a round
 * becomes a batch of jobs (a socket's descriptor and slab segments) that the
 * engine thread and the writer threads claim one at a time and write with
 * non-blocking syscalls, while the engine thread is saturated (`parallelAbove`,
 * `-parallel-writes-above`); otherwise every write goes through the sockets.
 * The engine thread waits for the batch to finish before it does anything else, so no socket closes and no slab is reused while a
 * writer thread uses it. Whatever a job could not write (a full socket) goes
 * through the socket as usual, which queues it and reports errors.
 */
export class Writers {
  private memory: JobMemory | undefined;
  private ports: MessagePort[] = [];
  private readonly forget = new FinalizationRegistry<number>((id) => this.post({ forget: id }));
  private count = 0;
  private segCount = 0;
  private readonly listeners: Listener[] = [];
  private readonly payloads: Buffer[][] = [];
  private readonly lengths: number[] = [];
  private readonly results = new Int32Array(MAX_JOBS);

  private batchJobs = 0;
  /** Batches are being written in parallel (the engine thread was saturated). */
  parallel = false;
  private parallelAbove = 0.75;
  private windowStart = performance.now();
  private windowBusy = 0;
  private log: WritersLog = { started() {}, failed() {} };

  /** `threads` writing in all, the engine thread included; 1 writes through the sockets only. */
  constructor(private threads: number) {
    this.configure(threads);
  }

  /**
   * Takes effect until the writer threads start. `parallelAbove` 0 writes in
   * parallel from the first round on.
   */
  configure(threads: number, opts: { parallelAbove?: number; log?: WritersLog } = {}): void {
    if (this.memory) return;
    this.threads = Math.max(1, Math.min(threads, 64));
    this.batchJobs = Math.min(MAX_JOBS, JOBS_PER_THREAD * this.threads);
    if (opts.log) this.log = opts.log;
    if (opts.parallelAbove !== undefined) this.parallelAbove = opts.parallelAbove;
    this.parallel = this.threads > 1 && this.parallelAbove <= 0;
  }

  /** Writer threads started and waiting for work. */
  get threadsReady(): number {
    return this.memory ? Atomics.load(this.memory.ctrl, READY) : 0;
  }

  /** Listener writes the writer threads made (the engine thread's own are not counted). */
  get threadWrites(): number {
    return this.memory ? Atomics.load(this.memory.ctrl, WRITTEN) : 0;
  }

  /** Rounds report the time each slice took; the share of time spent in them decides the mode. */
  busy(ms: number, now: number): void {
    this.windowBusy += ms;
    const elapsed = now - this.windowStart;
    if (elapsed < LOAD_WINDOW_MS) return;
    const load = this.windowBusy / elapsed;
    this.windowStart = now;
    this.windowBusy = 0;
    if (this.threads > 1 && !this.parallel && load > this.parallelAbove) this.parallel = true;
    else if (this.parallel && load < this.parallelAbove * SINGLE_BELOW_SHARE) this.parallel = false;
  }

  /** The socket's descriptor when this process may write to it directly (plain TCP), else -1. */
  static fdOf(socket: Socket): number {
    // TLS sockets encrypt in Node; only a plain TCP handle carries the descriptor the bytes go to.
    if ((socket as { encrypted?: boolean }).encrypted) return -1;
    const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
    return typeof fd === 'number' && fd >= 0 ? fd : -1;
  }

  /**
   * Queues `payload` for `l` when a writer thread can send it (plain socket with
   * nothing queued, bytes in slabs); false means the caller writes it itself.
   */
  add(l: Listener, payload: Payload): boolean {
    if (!this.parallel || l.fd < 0 || l.socket.writableLength > 0 || l.socket.destroyed) return false;
    const bufs = Array.isArray(payload) ? payload : [payload];
    if (bufs.length > MAX_JOB_SEGS) return false;
    let bytes = 0;
    for (const b of bufs) {
      if (!slabOf(b)) return false;
      bytes += b.length;
    }
    l.settle();
    if (this.count === this.batchJobs || this.segCount + bufs.length > MAX_SEGS) this.run();
    this.segCount += bufs.length;
    const j = this.count++;
    this.listeners[j] = l;
    this.payloads[j] = bufs;
    this.lengths[j] = bytes;
    return true;
  }

  /** Writes the queued jobs, in parallel when there are enough, and hands leftovers to the sockets. */
  run(): void {
    const n = this.count;
    if (n === 0) return;
    if (!this.memory) this.start();
    const m = this.memory!;
    const results = this.results;
    if (n >= MIN_PARALLEL && Atomics.load(m.ctrl, READY) > 0) {
      this.describe(m, n);
      Atomics.store(m.ctrl, COUNT, n);
      Atomics.store(m.ctrl, NEXT, 0);
      Atomics.add(m.ctrl, GEN, 1);
      Atomics.notify(m.ctrl, GEN);
      for (let j = Atomics.add(m.ctrl, NEXT, 1); j < n; j = Atomics.add(m.ctrl, NEXT, 1)) {
        Atomics.store(m.results, j, writeFd(this.listeners[j]!.fd, this.payloads[j]!));
      }
      Atomics.store(m.ctrl, NEXT, CLOSED);
      // A writer thread only makes non-blocking writes, so this wait is one write long at most.
      for (let active = Atomics.load(m.ctrl, ACTIVE); active !== 0; active = Atomics.load(m.ctrl, ACTIVE)) {
        Atomics.wait(m.ctrl, ACTIVE, active, 5);
      }
      for (let j = 0; j < n; j++) results[j] = Atomics.load(m.results, j);
    } else {
      for (let j = 0; j < n; j++) results[j] = writeFd(this.listeners[j]!.fd, this.payloads[j]!);
    }
    this.count = 0;
    this.segCount = 0;
    for (let j = 0; j < n; j++) {
      const l = this.listeners[j]!;
      const bufs = this.payloads[j]!;
      this.listeners[j] = undefined!;
      this.payloads[j] = undefined!;
      const done = results[j]!;
      // A full socket, an error or an unknown slab: the socket sends the rest, or reports its error and closes.
      if (done !== this.lengths[j]) l.sendRest(after(bufs, Math.max(0, done)));
    }
  }

  /** Puts the batch in shared memory for the writer threads. */
  private describe(m: JobMemory, n: number): void {
    let s = 0;
    for (let j = 0; j < n; j++) {
      const bufs = this.payloads[j]!;
      m.jobs[j * 3] = this.listeners[j]!.fd;
      m.jobs[j * 3 + 1] = s;
      m.jobs[j * 3 + 2] = bufs.length;
      // Unless a thread writes it, the job counts as unwritten and goes through the socket.
      m.results[j] = UNKNOWN_SLAB;
      for (const b of bufs) {
        const slab = slabOf(b)!;
        if (!slab.shared) this.share(slab);
        m.segs[s * 3] = slab.id;
        m.segs[s * 3 + 1] = b.byteOffset - slab.buf.byteOffset;
        m.segs[s * 3 + 2] = b.length;
        s++;
      }
    }
  }

  private share(slab: Slab): void {
    slab.shared = true;
    this.post({ add: slab.id, sab: slab.buf.buffer as SharedArrayBuffer });
    this.forget.register(slab, slab.id);
  }

  private post(msg: SlabMessage): void {
    for (const port of this.ports) port.postMessage(msg);
  }

  /** Starts the writer threads for the first batch. */
  private start(): void {
    const m = (this.memory = jobMemory());
    const fromSource = import.meta.url.endsWith('.ts');
    const url = new URL(fromSource ? './writer-thread.ts' : './writer-thread.js', import.meta.url);
    // Run from TypeScript sources (the unit tests), a thread needs tsx too: Node 20 does not pass `--import` on to workers.
    const script = fromSource ? `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })` : url;
    for (let i = 1; i < this.threads; i++) {
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(script, {
        eval: fromSource,
        workerData: { port: port2, memory: m },
        transferList: [port2],
        // A writer thread allocates a few views per job and nothing it keeps.
        resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 },
      });
      // A thread that fails leaves its share to the others and to the engine thread, which never wait for it to claim.
      worker.on('error', (err) => this.log.failed(err));
      worker.unref();
      port1.unref();
      this.ports.push(port1);
    }
    this.log.started(this.threads - 1);
  }
}

export interface WritersLog {
  started(threads: number): void;
  failed(err: Error): void;
}

/** The bytes of `bufs` after the first `skip`. */
function after(bufs: Buffer[], skip: number): Buffer[] {
  if (skip === 0) return bufs;
  const rest: Buffer[] = [];
  for (const b of bufs) {
    if (skip >= b.length) skip -= b.length;
    else {
      rest.push(skip ? b.subarray(skip) : b);
      skip = 0;
    }
  }
  return rest;
}

/** The process's writers; `-cpu-max` sets how many threads (default: one per CPU). */
export const writers = new Writers(availableParallelism());
