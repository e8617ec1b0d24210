/**
 * Robustness end to end: hostile and broken clients against one server while a
 * normal listener keeps streaming. Each storm must leave that listener at the
 * full rate, the server's memory bounded, and the server serving.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpGet, startServer, type Server } from '../helpers/server.ts';
import { Client, rss, tempDir } from './streamserve-lib.ts';

const RATE = 200_000; // bytes/s of the flag channel
const tmp = tempDir();
let srv: Server;
let steady: Client;
let baseline = 0;
let peak = 0;
let sampler: NodeJS.Timeout;

before(async () => {
  const config = join(tmp.dir, 'streamserve.config.json');
  // A fast second channel for the listeners that never read: 5 MB/s of 16 KiB frames.
  writeFileSync(config, JSON.stringify({ channels: [{ mount: '/fast', path: '/dev/zero', frameBytes: 16384, sourceBandwidth: 5_000_000 }] }));
  srv = await startServer([
    '-config', config, '-header-timeout', '1s', '-stat-log-interval', '500ms', '-path', '/dev/urandom', '-frame-bytes', '1000', '-source-bandwidth', String(RATE),
    '-source-buffer', '1000', // 5 s of slack: the steady listener must never be lapped, even on a loaded machine
  ]);
  steady = new Client(srv.port, '/steady');
  await steady.waitBytes(100_000, 3000);
  await sleep(300);
  baseline = rss(srv.proc.pid!);
  sampler = setInterval(() => { peak = Math.max(peak, rss(srv.proc.pid!)); }, 50);
});

after(async () => {
  clearInterval(sampler);
  steady.close();
  await srv.stop();
  tmp.cleanup();
});

/** Runs a storm and checks the steady listener kept the stream rate and the server's RSS stayed bounded. */
async function meanwhile(what: string, storm: () => Promise<void>, maxGrowthMB = 40): Promise<void> {
  const bytes0 = steady.length;
  const t0 = performance.now();
  await storm();
  const seconds = (performance.now() - t0) / 1000;
  await sleep(100);
  const got = steady.length - bytes0;
  assert.equal(steady.ended, false, `${what}: the steady listener is still connected`);
  if (seconds >= 0.5) {
    assert.ok(got >= RATE * seconds * 0.8, `${what}: steady listener got ${got} bytes in ${seconds.toFixed(2)} s (stream rate ${RATE}/s)`);
  }
  const growth = (peak - baseline) / (1 << 20);
  assert.ok(growth < maxGrowthMB, `${what}: server RSS grew by ${growth.toFixed(1)} MB (baseline ${(baseline / (1 << 20)).toFixed(1)} MB)`);
  assert.equal(srv.proc.exitCode, null, `${what}: the server is running`);
  const check = await httpGet(srv.port, '/check', { bytes: 2000, ms: 2000 });
  assert.equal(check.status, 200, `${what}: a new listener is served`);
}

/** Opens a raw connection and waits until it is connected. */
async function connect(): Promise<net.Socket> {
  const s = net.connect(srv.port, '127.0.0.1');
  s.on('error', () => {});
  await once(s, 'connect');
  return s;
}

/** Resolves with everything the server sent until it closed the connection, and how long that took. */
function untilClosed(s: net.Socket, ms = 5000): Promise<{ data: string; closedAfter: number; closed: boolean }> {
  const t0 = performance.now();
  const chunks: Buffer[] = [];
  s.on('data', (d) => chunks.push(d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ data: Buffer.concat(chunks).toString('latin1'), closedAfter: performance.now() - t0, closed: false }), ms);
    s.once('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks).toString('latin1'), closedAfter: performance.now() - t0, closed: true });
    });
  });
}

test('listeners that never read hold no more than a bounded backlog each', async () => {
  await meanwhile('20 listeners that never read', async () => {
    const stuck = Array.from({ length: 20 }, () => new Client(srv.port, '/fast', { paused: true }));
    await sleep(2000); // 10 MB flow through the channel meanwhile: more than socket buffers hold
    const fast = new Client(srv.port, '/fast');
    await fast.waitBytes(2 << 20, 3000);
    assert.ok(fast.length >= 2 << 20, `a reading listener of the same channel gets the stream (${fast.length} bytes)`);
    fast.close();
    for (const c of stuck) c.close();
  });
});

test('10,000 quick connects and disconnects', async () => {
  await meanwhile('10,000 connect/disconnect', async () => {
    for (let batch = 0; batch < 100; batch++) {
      await Promise.all(Array.from({ length: 100 }, async (_, i) => {
        const s = await connect();
        if (i % 3 === 0) s.write('GET /x HTTP/1.1\r\n\r\n');
        else if (i % 3 === 1) s.write('GET /x HT');
        s.destroy();
      }));
    }
  });
});

test('a request head sent one byte at a time completes fine', async () => {
  await meanwhile('slow head', async () => {
    const s = await connect();
    const head = 'GET /slowly HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: drip\r\n\r\n';
    const reply: Buffer[] = [];
    s.on('data', (d) => reply.push(d));
    for (const ch of head) {
      s.write(ch);
      await sleep(10);
    }
    await sleep(300);
    const text = Buffer.concat(reply);
    assert.match(text.subarray(0, 20).toString('latin1'), /^HTTP\/1\.[01] 200 /);
    assert.ok(text.length > text.indexOf('\r\n\r\n') + 4 + 1000, 'and the stream flows');
    s.destroy();
  });
});

test('a head that never finishes is closed after -header-timeout', async () => {
  await meanwhile('unfinished heads', async () => {
    const sockets = await Promise.all(Array.from({ length: 10 }, () => connect()));
    const results = sockets.map((s, i) => {
      s.write(i % 2 ? 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n' : 'GE');
      return untilClosed(s, 5000);
    });
    for (const r of await Promise.all(results)) {
      assert.ok(r.closed, 'closed by the server');
      assert.ok(r.closedAfter > 800 && r.closedAfter < 3500, `closed after ${r.closedAfter.toFixed(0)} ms (timeout 1 s)`);
      assert.equal(r.data, '', 'no stream was started');
    }
  });
});

test('an oversized request line is answered 414 and a header block 431, then closed', async () => {
  await meanwhile('oversized heads', async () => {
    const line = await connect();
    const lineDone = untilClosed(line, 3000);
    line.write(`GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const r414 = await lineDone;
    assert.match(r414.data, /^HTTP\/1\.[01] 414 /);
    assert.ok(r414.closed);

    const noEnd = await connect();
    const noEndDone = untilClosed(noEnd, 3000);
    noEnd.write(`GET /${'b'.repeat(20_000)}`); // no line end at all
    const r414b = await noEndDone;
    assert.match(r414b.data, /^HTTP\/1\.[01] 414 /);

    const headers = await connect();
    const headersDone = untilClosed(headers, 3000);
    headers.write(`GET / HTTP/1.1\r\n${Array.from({ length: 40 }, (_, i) => `X-Filler-${i}: ${'c'.repeat(1000)}\r\n`).join('')}\r\n`);
    const r431 = await headersDone;
    assert.match(r431.data, /^HTTP\/1\.[01] 431 /);
    assert.ok(r431.closed);
  });
});

test('hundreds of idle connections do not disturb anyone and are closed at the header timeout', async () => {
  await meanwhile('500 idle connections', async () => {
    const idle: net.Socket[] = [];
    for (let i = 0; i < 5; i++) idle.push(...(await Promise.all(Array.from({ length: 100 }, () => connect()))));
    const closed = idle.map((s) => untilClosed(s, 4000));
    const during = await httpGet(srv.port, '/during', { bytes: 5000, ms: 2000 });
    assert.equal(during.status, 200);
    const results = await Promise.all(closed);
    assert.equal(results.filter((r) => r.closed).length, 500, 'every idle connection was closed by the server');
  });
});

test('after all of it: RSS is back near the baseline, and the steady channel never skipped a frame', async (t) => {
  await sleep(600);
  const now = rss(srv.proc.pid!);
  const mb = (n: number) => (n / (1 << 20)).toFixed(1);
  t.diagnostic(`RSS baseline ${mb(baseline)} MB, peak ${mb(peak)} MB, now ${mb(now)} MB`);
  assert.ok(now - baseline < 40 << 20, `RSS ${mb(now)} MB, baseline ${mb(baseline)} MB, peak ${mb(peak)} MB`);
  const stats = srv.logs.filter((l) => l.msg === 'source stats' && l.mount === '/');
  assert.ok(stats.length >= 5);
  assert.equal(stats.at(-1)!.framesSkipped, 0, 'no listener of the steady channel was lapped');
  assert.ok(steady.length > RATE * 5, `the steady listener got ${steady.length} bytes`);
});
