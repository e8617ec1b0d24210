/**
 * A writer thread (`core/engine/writers.ts`): sleeps until the engine thread posts a
 * batch, then claims jobs one at a time and writes them. It never returns to an
 * event loop; slabs reach it as messages it reads synchronously.
 */
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { ACTIVE, COUNT, GEN, NEXT, READY, runJob, WRITTEN, type JobMemory, type SlabMessage } from './writer-jobs.ts';

const { port, memory } = workerData as { port: MessagePort; memory: JobMemory };
const { ctrl, results } = memory;
const slabs = new Map<number, Buffer>();
// A full socket is an expected error here; its stack trace would cost more than the write.
Error.stackTraceLimit = 0;

function receive(): void {
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
    const msg = m.message as SlabMessage;
    if ('add' in msg) slabs.set(msg.add, Buffer.from(msg.sab));
    else slabs.delete(msg.forget);
  }
}

function slab(id: number): Buffer | undefined {
  let buf = slabs.get(id);
  if (!buf) {
    // Posted after this thread last looked (it woke late and joined the next batch).
    receive();
    buf = slabs.get(id);
  }
  return buf;
}

Atomics.add(ctrl, READY, 1);
let seen = Atomics.load(ctrl, GEN);
try {
  for (;;) {
    // The timeout only bounds how long a stopping process waits for this thread.
    Atomics.wait(ctrl, GEN, seen, 1000);
    seen = Atomics.load(ctrl, GEN);
    receive();
    Atomics.add(ctrl, ACTIVE, 1);
    try {
      for (let j = Atomics.add(ctrl, NEXT, 1); j < Atomics.load(ctrl, COUNT); j = Atomics.add(ctrl, NEXT, 1)) {
        Atomics.store(results, j, runJob(memory, j, slab));
        Atomics.add(ctrl, WRITTEN, 1);
      }
    } finally {
      // The engine thread waits for this count: it must drop even if a job threw.
      Atomics.sub(ctrl, ACTIVE, 1);
      Atomics.notify(ctrl, ACTIVE);
    }
  }
} finally {
  Atomics.sub(ctrl, READY, 1);
}
