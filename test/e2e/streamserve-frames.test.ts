/**
 * Frame-level behaviour end to end, with a generator (`-exec node gen.js`) whose
 * fixed-size frames carry a counter: whole frames only, in order, late joiners,
 * skipping, headers, restarts, idle reading, a missing program.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpGet, startServer } from '../helpers/server.ts';
import { Client, FrameCounter, jumps, parseFrames, tempDir } from './streamserve-lib.ts';

const tmp = tempDir();
test.after(() => tmp.cleanup());

test('frames arrive whole and in order; a late joiner starts at a recent frame boundary', async () => {
  const size = 1000;
  const srv = await startServer(['-frame-bytes', String(size), '-source-buffer', '1000', '-exec', 'node', tmp.gen, String(size), '--rate', '500']);
  try {
    const early = new Client(srv.port, '/');
    await early.waitBytes(300 * size, 3000);
    const before = parseFrames(early.bytes().subarray(0, Math.floor(early.length / size) * size), size);
    const latest = before.at(-1)!.n;
    assert.ok(latest >= 250, `the early listener got ${latest + 1} frames`);

    const late = new Client(srv.port, '/late');
    await late.waitBytes(100 * size, 2000);
    await sleep(100);
    early.close();
    late.close();
    const all = parseFrames(early.bytes().subarray(0, Math.floor(early.length / size) * size), size);
    assert.equal(all[0]!.n, 0, 'the early listener starts at the first frame');
    assert.equal(jumps(all), 0, 'a listener that keeps up never skips');

    const lateFrames = parseFrames(late.bytes().subarray(0, Math.floor(late.length / size) * size), size);
    const first = lateFrames[0]!.n;
    // The default burst for frames without a duration is 64 KiB: about 66 frames back.
    assert.ok(first > latest - 80 && first <= latest + 500, `late joiner starts at frame ${first}; the live edge was near ${latest}`);
    assert.equal(jumps(lateFrames), 0);
  } finally {
    await srv.stop();
  }
});

test('-burst-bytes 0 starts a late joiner at the live edge, as streamserve does', async () => {
  const size = 500;
  const srv = await startServer(['-frame-bytes', String(size), '-burst-bytes', '0', '-exec', 'node', tmp.gen, String(size), '--rate', '200']);
  try {
    const early = new Client(srv.port, '/');
    await early.waitBytes(200 * size, 3000);
    // What the early listener has so far is at or behind the live edge when the late one joins.
    const edge = parseFrames(early.bytes().subarray(0, Math.floor(early.length / size) * size), size).at(-1)!.n;
    const late = new Client(srv.port, '/');
    await late.waitBytes(size, 3000);
    const lateFrames = parseFrames(late.bytes().subarray(0, Math.floor(late.length / size) * size), size);
    assert.ok(lateFrames.length > 0);
    // With the default 64 KiB burst it would start about 130 frames back.
    assert.ok(lateFrames[0]!.n >= edge - 1, `late joiner starts at ${lateFrames[0]!.n}, live edge ${edge}`);
    early.close();
    late.close();
  } finally {
    await srv.stop();
  }
});

test('a stalled listener is lapped and skips whole frames (a counter jump), never a torn frame; others are unaffected', async () => {
  const size = 4000;
  const srv = await startServer(['-frame-bytes', String(size), '-source-buffer', '64', '-exec', 'node', tmp.gen, String(size), '--rate', '2500']);
  try {
    const steady = new Client(srv.port, '/');
    const stalled = new Client(srv.port, '/');
    await stalled.waitBytes(50 * size, 3000);
    stalled.pause();
    const pausedAt = stalled.length;
    await sleep(2500); // about 25 MB flow meanwhile: more than socket buffers hold
    assert.ok(stalled.length - pausedAt < 8 << 20, 'it really stopped reading');
    stalled.resume();
    await sleep(500);
    stalled.close();
    steady.close();

    const s = parseFrames(stalled.bytes().subarray(0, Math.floor(stalled.length / size) * size), size);
    assert.ok(jumps(s) >= 1, 'the stalled listener skipped forward');
    const tail = s.at(-1)!.n;
    const live = parseFrames(steady.bytes().subarray(0, Math.floor(steady.length / size) * size), size);
    assert.ok(live.at(-1)!.n - tail < 200, `after resuming it caught up with the live stream (${tail} vs ${live.at(-1)!.n})`);
    // The steady listener read throughout: frames in order, and it got the bulk of the stream.
    jumps(live);
    assert.ok(live.length > 0.5 * (live.at(-1)!.n - live[0]!.n), `steady listener got ${live.length} of ${live.at(-1)!.n - live[0]!.n} frames`);

    // Source memory was reused all along, and never while a queued write still needed it.
    const metrics = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1] ?? NaN);
    assert.ok(value('streamserve_slabs_reused_total') > value('streamserve_slabs_created_total'), metrics.split('\n').filter((l) => l.startsWith('streamserve_slabs')).join('; '));
    assert.equal(value('streamserve_slabs_misused_total'), 0);
  } finally {
    await srv.stop();
  }
});

test('-header-bytes: the header is sent first to every listener, late joiners too, then whole frames', async () => {
  const size = 1000;
  const header = 'STREAMHEADER-v01';
  const srv = await startServer([
    '-frame-bytes', String(size), '-header-bytes', String(header.length), '-exec', 'node', tmp.gen, String(size), '--rate', '300', '--header', header,
  ]);
  try {
    const first = new Client(srv.port, '/');
    await first.waitBytes(header.length + 50 * size);
    await sleep(300);
    const late = new Client(srv.port, '/late');
    await late.waitBytes(header.length + 30 * size);
    first.close();
    late.close();
    for (const c of [first, late]) {
      const body = c.bytes();
      assert.equal(body.subarray(0, header.length).toString(), header);
      const frames = body.subarray(header.length);
      const parsed = parseFrames(frames.subarray(0, Math.floor(frames.length / size) * size), size);
      assert.equal(jumps(parsed), 0);
    }
    const lateFirst = parseFrames(late.bytes().subarray(header.length, header.length + size), size)[0]!.n;
    assert.ok(lateFirst > 0, 'the late joiner got the header, then a recent frame');
  } finally {
    await srv.stop();
  }
});

test('-header-bytes: a different header on reopen is an error that closes the source', async () => {
  const size = 500;
  const runs = join(tmp.dir, 'runs-header');
  const srv = await startServer([
    '-frame-bytes', String(size), '-header-bytes', '8', '-exec', 'node', tmp.gen, String(size), '--rate', '400', '--count', '100', '--header-run', runs,
  ]);
  try {
    const c = new Client(srv.port, '/');
    const failed = await srv.waitLog((l) => l.msg === 'source failed' && /header changed/.test(String(l.err)), 5000);
    assert.match(String(failed.err), /header changed on reopen/);
    await srv.waitLog((l) => l.msg === 'reopening source after backoff', 2000);
    assert.equal(c.bytes().subarray(0, 8).toString(), 'RUN0....', 'listeners keep the first header');
    const body = c.bytes().subarray(8);
    const frames = parseFrames(body.subarray(0, Math.floor(body.length / size) * size), size);
    assert.equal(new Set(frames.map((f) => f.run)).size, 1, 'no frame of the source with the different header reached the listener');
    assert.equal(c.ended, false, 'the listener stays connected while the source is retried');
    c.close();
  } finally {
    await srv.stop();
  }
});

test('-exec is restarted after the command exits; a listener keeps receiving across restarts', async () => {
  const size = 200;
  const srv = await startServer(['-frame-bytes', String(size), '-exec', 'node', tmp.gen, String(size), '--rate', '100', '--count', '50']);
  try {
    const c = new Client(srv.port, '/');
    await srv.waitLog(() => srv.logs.filter((l) => l.msg === 'source command started').length >= 3, 4000);
    await sleep(200);
    assert.equal(c.ended, false, 'the listener is still connected');
    c.close();
    const frames = parseFrames(c.bytes().subarray(0, Math.floor(c.length / size) * size), size);
    const runs = [...new Set(frames.map((f) => f.run))];
    assert.ok(runs.length >= 2, `frames from ${runs.length} runs of the command`);
    jumps(frames); // in order within each run
    assert.ok(srv.logs.some((l) => l.msg === 'source command exited'));
    assert.ok(srv.logs.filter((l) => l.msg === 'source closed' && l.reason === 'end of stream').length >= 2);
  } finally {
    await srv.stop();
  }
});

test('-close-idle=false keeps reading the source with no listeners (the stat log shows bytesIn growing)', async () => {
  const srv = await startServer(['-close-idle=false', '-stat-log-interval', '200ms', '-frame-bytes', '100', '-exec', 'node', tmp.gen, '100', '--rate', '500']);
  try {
    await srv.waitLog(() => srv.logs.filter((l) => l.msg === 'source stats').length >= 5, 3000);
    const stats = srv.logs.filter((l) => l.msg === 'source stats');
    for (const s of stats) assert.equal(s.listeners, 0);
    const bytesIn = stats.map((s) => Number(s.bytesIn));
    for (let i = 2; i < bytesIn.length; i++) assert.ok(bytesIn[i]! > bytesIn[i - 1]!, `bytesIn grows: ${bytesIn.join(', ')}`);
    for (const key of ['bytesOut', 'invalidBytes', 'framesSkipped', 'uptimeSeconds', 'mount']) assert.ok(key in stats[0]!, `stat line has ${key}`);
  } finally {
    await srv.stop();
  }
});

test('-exec of a missing program: a clear logged error, retried with growing backoff; a listener gets 503', async () => {
  const srv = await startServer(['-exec', '/nonexistent/streamserve-no-such-program', '--flag']);
  try {
    await srv.waitLog(() => srv.logs.filter((l) => l.msg === 'reopening source after backoff').length >= 3, 3000);
    const error = srv.logs.find((l) => l.msg === 'source could not be opened')!;
    assert.match(String(error.err), /program "\/nonexistent\/streamserve-no-such-program" not found/);
    const delays = srv.logs.filter((l) => l.msg === 'reopening source after backoff').map((l) => Number(l.retryInMs));
    for (let i = 1; i < delays.length; i++) assert.ok(delays[i]! > delays[i - 1]!, `retry delays grow: ${delays.join(', ')}`);
    const res = await httpGet(srv.port, '/');
    assert.equal(res.status, 503);
    assert.match(res.body.toString(), /not found/);
    assert.equal(srv.proc.exitCode, null, 'the server keeps running');
  } finally {
    await srv.stop();
  }
});

test('-max-quiet-interval: a source silent for longer is closed (its command killed) and reopened', async () => {
  const srv = await startServer(['-max-quiet-interval', '300ms', '-frame-bytes', '1', '-exec', 'sh', '-c', 'printf go; exec sleep 30']);
  try {
    const c = new Client(srv.port, '/');
    await srv.waitLog((l) => l.msg === 'source quiet too long; reopening', 2000);
    await srv.waitLog(() => srv.logs.filter((l) => l.msg === 'source command started').length >= 2, 2000);
    assert.ok(srv.logs.some((l) => l.msg === 'source command exited' && l.signal === 'SIGTERM'), 'the silent command was killed');
    await c.waitBytes(4, 1000);
    assert.equal(c.bytes().toString(), 'gogo', 'the listener stayed and got both runs');
    c.close();
  } finally {
    await srv.stop();
  }
});

test('-reopen=false: when the command ends, listeners get every frame it wrote, are disconnected, and the server exits', async () => {
  const size = 100;
  const srv = await startServer(['-reopen=false', '-frame-bytes', String(size), '-close-idle', '-exec', 'node', tmp.gen, String(size), '--rate', '200', '--count', '100']);
  try {
    const exited = once(srv.proc, 'exit');
    const c = new Client(srv.port, '/');
    await Promise.race([c.closed, sleep(5000, undefined, { ref: false })]);
    assert.ok(c.ended, 'disconnected when the source ended');
    const frames = parseFrames(c.bytes(), size);
    assert.deepEqual(frames.map((f) => f.n), Array.from({ length: 100 }, (_, i) => i), 'every frame, the last ones too');
    const [code] = await Promise.race([exited, sleep(3000, undefined, { ref: false }).then(() => ['running'])]);
    assert.equal(code, 0);
  } finally {
    await srv.stop();
  }
});

test('writer threads (-cpu-max 2): whole frames in order for everyone, a stalled listener resumes at a frame boundary, a clean exit', async () => {
  const size = 4000;
  // -parallel-writes-above 0: the threads write from the first round rather than once the engine thread is saturated.
  const srv = await startServer(['-cpu-max', '2', '-parallel-writes-above', '0', '-frame-bytes', String(size), '-source-buffer', '3000', '-burst-bytes', '0',
    '-exec', 'node', tmp.gen, String(size), '--rate', '3000']);
  try {
    // 12 MB/s: a listener that stops reading for 2.5 s overflows its kernel buffers, so writes to it come back partial.
    const clients = Array.from({ length: 10 }, (_, i) => new FrameCounter(srv.port, `/c${i}`, size));
    await srv.waitLog((l) => l.msg === 'writer threads started', 5000);
    const stalled = clients[0]!;
    for (let t = Date.now(); stalled.frames < 500 && Date.now() - t < 3000;) await sleep(20);
    stalled.pause();
    await sleep(2500);
    const atResume = stalled.frames;
    stalled.resume();
    await sleep(700);
    const metrics = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const threadWrites = Number(/^streamserve_writer_thread_writes_total (\d+)$/m.exec(metrics)?.[1] ?? NaN);
    for (const c of clients) c.close();
    for (const [i, c] of clients.entries()) {
      assert.equal(c.error, '', `listener ${i}`);
      assert.ok(c.frames > 2000, `listener ${i} got ${c.frames} frames`);
      if (i > 0) assert.equal(c.jumps, 0, `listener ${i} kept up, yet skipped`);
    }
    assert.ok(stalled.jumps > 0, 'the stalled listener was lapped and skipped');
    assert.ok(stalled.frames > atResume + 1000, 'it streams again after resuming');
    assert.ok(threadWrites > 0, `a writer thread wrote none of the frames: ${threadWrites}`);
    const exited = once(srv.proc, 'exit');
    srv.proc.kill('SIGTERM');
    const [code] = await Promise.race([exited, sleep(3000, undefined, { ref: false }).then(() => ['still running'])]);
    assert.equal(code, 0, 'the writer threads do not hold up the exit');
  } finally {
    await srv.stop();
  }
});
