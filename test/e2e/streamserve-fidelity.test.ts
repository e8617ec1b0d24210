/**
 * Nothing lost: small rings never lap a listener that keeps up, a source's
 * last frames reach listeners before its end, and a source played once opens
 * for its first listener (streamserve's behaviour).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from '../helpers/server.ts';
import { Client, FrameCounter, parseFrames, tempDir, waitFor, type GenFrame } from './streamserve-lib.ts';

const tmp = tempDir();
test.after(() => tmp.cleanup());

/** Bytes that arrived in each of `seconds` one-second windows. */
async function perSecond(c: Client, seconds: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < seconds; i++) {
    const before = c.length;
    await sleep(1000);
    out.push(c.length - before);
  }
  return out;
}

for (const ring of ['4', '3']) {
  test(`-frame-bytes 1 -source-buffer ${ring} on /dev/zero streams continuously`, { timeout: 20_000 }, async () => {
    const srv = await startServer(['-path', '/dev/zero', '-frame-bytes', '1', '-source-buffer', ring]);
    try {
      const c = new Client(srv.port, '/');
      await c.gotHead;
      assert.equal(c.status, 200);
      const windows = await perSecond(c, 3);
      // A ring of four 1-byte frames used to give a listener a few bytes per round: 27 bytes in 4 s.
      for (const [i, n] of windows.entries()) assert.ok(n > 50_000, `second ${i + 1}: ${n} bytes (all: ${windows.join(', ')})`);
      assert.ok(c.bytes().every((b) => b === 0), 'only the source bytes');
      c.close();
    } finally {
      await srv.stop();
    }
  });
}

test('a listener that keeps up is never lapped by a ring smaller than one source read', { timeout: 20_000 }, async () => {
  const size = 1000;
  // 3 MB/s in pipe reads of up to 64 KiB: one read is four times the 16-frame ring.
  const srv = await startServer(['-frame-bytes', String(size), '-source-buffer', '16', '-exec', 'node', tmp.gen, String(size), '--rate', '3000']);
  try {
    const l = new FrameCounter(srv.port, '/', size);
    await waitFor(() => l.frames > 0, 5000, 'the first frame');
    const start = l.frames;
    await sleep(3000);
    assert.equal(l.error, '');
    assert.ok(l.frames - start > 3000, `${l.frames - start} frames in 3 s at 3000 frames/s`);
    assert.equal(l.jumps, 0, 'a listener reading as fast as it can never skips');
    l.close();
  } finally {
    await srv.stop();
  }
});

/** Frames grouped by the generator run (its pid) that made them, in arrival order. */
function runs(frames: GenFrame[]): number[][] {
  const out: number[][] = [];
  let last = -1;
  for (const f of frames) {
    if (f.run !== last) out.push([]);
    last = f.run;
    out.at(-1)!.push(f.n);
  }
  return out;
}

const upTo = (n: number) => Array.from({ length: n }, (_, i) => i);

test('-reopen with -source-bandwidth: every frame of every run reaches the listener before the next run', { timeout: 20_000 }, async () => {
  const size = 1000;
  const srv = await startServer(['-frame-bytes', String(size), '-reopen', '-source-bandwidth', '100000', '-burst-bytes', '0',
    '-exec', 'node', tmp.gen, String(size), '--count', '20']);
  try {
    const c = new Client(srv.port, '/');
    await waitFor(() => runs(parseFrames(c.bytes().subarray(0, Math.floor(c.length / size) * size), size)).length >= 4, 10_000, 'four runs');
    c.close();
    const seen = runs(parseFrames(c.bytes().subarray(0, Math.floor(c.length / size) * size), size));
    // The first run was joined at the live edge and the last one may be in progress: the ones between are whole.
    for (const run of seen.slice(1, -1)) assert.deepEqual(run, upTo(20), `a run delivered ${run.join(',')}`);
  } finally {
    await srv.stop();
  }
});

test('-reopen=false with -source-bandwidth: the listener gets every frame, then the end, then the server exits', { timeout: 20_000 }, async () => {
  const size = 1000;
  const srv = await startServer(['-frame-bytes', String(size), '-reopen=false', '-source-bandwidth', '50000',
    '-exec', 'node', tmp.gen, String(size), '--count', '20']);
  const c = new Client(srv.port, '/');
  await c.closed;
  const ended = Date.now();
  assert.equal(c.status, 200);
  assert.deepEqual(parseFrames(c.bytes(), size).map((f) => f.n), upTo(20));
  const [code] = await Promise.race([once(srv.proc, 'exit'), sleep(2000).then(() => ['still running'])]);
  assert.equal(code, 0, `exit ${Date.now() - ended} ms after the end of the response`);
});

test('-path FILE -reopen=false opens the file for the first listener, who gets it from its first frame', { timeout: 20_000 }, async () => {
  const size = 1000;
  const file = join(tmp.dir, 'ten-frames.bin');
  const frames = upTo(10).map((n) => {
    const b = Buffer.alloc(size);
    b.writeUInt32BE(n, 0);
    b.writeUInt32BE(7, 4);
    for (let i = 8; i < size; i++) b[i] = (n * 7 + i) & 0xff;
    return b;
  });
  writeFileSync(file, Buffer.concat(frames));
  const srv = await startServer(['-path', file, '-frame-bytes', String(size), '-reopen=false', '-source-bandwidth', '20000']);
  // Before streamserve's rule, the file played to nobody at start-up and the channel was gone before anyone came.
  await sleep(800);
  const c = new Client(srv.port, '/');
  await c.closed;
  assert.equal(c.status, 200);
  assert.deepEqual(parseFrames(c.bytes(), size).map((f) => f.n), upTo(10));
  const [code] = await Promise.race([once(srv.proc, 'exit'), sleep(2000).then(() => ['still running'])]);
  assert.equal(code, 0);
});
