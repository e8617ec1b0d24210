// The limits module on the real CLI (the package's main.mods): listeners per
// channel and server-wide (HTTP: 503 with the reason; fstream: a silent
// close), broadcasters server-wide (Icecast: 503 with the reason; fstream: a
// close), the listener time limit, and the figures in /status.json and /metrics.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Server } from '../helpers/server.ts';
import { rawHandshake } from './fstream-lib.ts';
import { basic, connect, fixture, frames, listedModules, listen, parseResponse, startWith, type Peer } from './icecast-lib.ts';

const T = { timeout: 30_000 };
const f = fixture({ fier: 'password=123', mia: 'password=456' }, listedModules());
after(() => f.cleanup());

function start(limits: Record<string, unknown>): Promise<Server> {
  const file = join(f.dir, `limits-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ limits }));
  return startWith(f, ['-config', file, '-demo=false']);
}

/** An Icecast source at `mount` that keeps sending MP3 frames until stopped; resolves once the server answered. */
async function source(port: number, mount: string, user = 'fier', password = '123'): Promise<{ peer: Peer; status: number; body: string; stop(): void }> {
  const peer = await connect(port, `PUT ${mount} HTTP/1.1\r\nAuthorization: ${basic(user, password)}\r\nContent-Type: audio/mpeg\r\n\r\n`);
  const res = parseResponse(await peer.until((b) => parseResponse(b) !== undefined, 'no answer to the source'))!;
  let stopped = res.status !== 200;
  void (async () => {
    for (let seq = 0; !stopped && !peer.socket.destroyed; seq += 5) {
      peer.socket.write(frames(seq, 5));
      await sleep(50);
    }
  })();
  return { peer, status: res.status, body: res.body.toString(), stop: () => { stopped = true; peer.socket.destroy(); } };
}

/** A listener's answer: its status and, when refused, the reason in the body. */
async function listener(port: number, mount: string) {
  const l = await listen(port, mount);
  const res = await l.response();
  if (res.status !== 200) await l.closed(3000);
  return { l, status: res.status, reason: parseResponse(l.received())!.body.toString().trim() };
}

/** An fstream watcher of `/user/channel`: 'open' while the server keeps it, else what it was sent before the close. */
async function watcher(port: number, user: string, channel: string, extra = ''): Promise<{ peer: Peer; outcome: string }> {
  const peer = await connect(port, rawHandshake(`watch,user=${user},channel=${channel}${extra}`));
  const outcome = await Promise.race([peer.closed(3000).then((b) => `closed:${b.toString()}`), sleep(500).then(() => 'open')]);
  return { peer, outcome };
}

async function statusJson(port: number): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${port}/status.json`, { signal: AbortSignal.timeout(5000) });
  return res.json();
}

async function metric(port: number, line: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const m = text.split('\n').find((l) => line.test(l));
  assert.ok(m, `a /metrics line matching ${line}`);
  return Number(m.split(' ').pop());
}

test('maxListeners per mount and server-wide: the next HTTP listener gets 503 with the reason, an fstream watcher a silent close', T, async () => {
  const s = await start({ maxListeners: 3, mounts: { '/fier/a': { maxListeners: 1 } } });
  const open: { stop(): void }[] = [];
  try {
    const a = await source(s.port, '/fier/a');
    const b = await source(s.port, '/fier/b');
    open.push(a, b);
    assert.equal(a.status, 200, a.body);
    assert.equal(b.status, 200, b.body);

    const first = await listener(s.port, '/fier/a');
    assert.equal(first.status, 200, 'the first listener of /fier/a is let in');
    const full = await listener(s.port, '/fier/a');
    assert.deepEqual([full.status, full.reason], [503, '/fier/a is full: it takes at most 1 listeners']);
    const w = await watcher(s.port, 'fier', 'a');
    assert.equal(w.outcome, 'closed:', 'the watcher is closed without a word');
    const told = await watcher(s.port, 'fier', 'a', ',errors=1');
    assert.equal(told.outcome, 'closed:ERROR /fier/a is full: it takes at most 1 listeners\n', 'a watcher that asks for reasons gets it');

    // /fier/b has no limit of its own: the server's 3 hold (1 on /fier/a already).
    const httpOnB = await listener(s.port, '/fier/b');
    const watcherOnB = await watcher(s.port, 'fier', 'b');
    assert.equal(httpOnB.status, 200);
    assert.equal(watcherOnB.outcome, 'open', 'an fstream watcher counts like any listener');
    const serverFull = await listener(s.port, '/fier/b');
    assert.deepEqual([serverFull.status, serverFull.reason], [503, 'server is full: it takes at most 3 listeners']);
    const watcherRefused = await watcher(s.port, 'fier', 'b');
    assert.equal(watcherRefused.outcome, 'closed:');

    // One leaving makes room for one, once the server has seen it go (retried for up to 2 s).
    first.l.socket.destroy();
    let again = await listener(s.port, '/fier/a');
    for (let i = 0; i < 20 && again.status !== 200; i++) {
      await sleep(100);
      again = await listener(s.port, '/fier/a');
    }
    assert.equal(again.status, 200, 'a place freed on /fier/a is taken');

    const status = await statusJson(s.port);
    assert.equal(status.limits.maxListeners, 3);
    assert.equal(status.limits.listeners, 3);
    assert.ok(status.limits.refusals.channelListeners >= 2, `channel refusals counted: ${JSON.stringify(status.limits)}`);
    assert.equal(status.limits.refusals.serverListeners, 2);
    assert.equal(await metric(s.port, /^streamserve_limit_refusals_total\{kind="serverListeners"\}/), 2);
    again.l.socket.destroy();
    httpOnB.l.socket.destroy();
    watcherOnB.peer.socket.destroy();
  } finally {
    for (const o of open) o.stop();
    await s.stop();
  }
});

test('maxSources: the next Icecast source gets 503 with the reason, an fstream broadcaster a close; a freed place is taken', T, async () => {
  const s = await start({ maxSources: 1 });
  const open: { stop(): void }[] = [];
  try {
    const a = await source(s.port, '/fier/one');
    open.push(a);
    assert.equal(a.status, 200, a.body);
    const b = await source(s.port, '/mia/two', 'mia', '456');
    open.push(b);
    assert.deepEqual([b.status, b.body.trim()], [503, 'server is full: it takes at most 1 broadcasters']);
    const fs = await connect(s.port, rawHandshake('broadcast,user=mia,user_password=456,channel=three,errors=1'));
    assert.equal((await fs.closed(3000)).toString(), 'ERROR server is full: it takes at most 1 broadcasters\n');
    const quiet = await connect(s.port, rawHandshake('broadcast,user=mia,user_password=456,channel=three'));
    assert.equal((await quiet.closed(3000)).length, 0, 'without errors=1 the broadcaster is closed without a word');

    a.stop();
    // The server sees the source go once it reads the close: retried for up to 2 s.
    let c = await source(s.port, '/mia/two', 'mia', '456');
    for (let i = 0; i < 20 && c.status !== 200; i++) {
      await sleep(100);
      c = await source(s.port, '/mia/two', 'mia', '456');
    }
    open.push(c);
    assert.equal(c.status, 200, `the freed place is taken: ${c.body}`);
    const status = await statusJson(s.port);
    assert.equal(status.limits.broadcasters, 1);
    assert.ok(status.limits.refusals.sources >= 3, `each refused attempt counted: ${JSON.stringify(status.limits.refusals)}`);
  } finally {
    for (const o of open) o.stop();
    await s.stop();
  }
});

test('maxListenerDuration ends listeners after their time, per mount (0 turns it off for one), and counts them', T, async () => {
  const s = await start({ maxListenerDuration: '1s', mounts: { '/fier/long': { maxListenerDuration: 0 } } });
  const open: { stop(): void }[] = [];
  try {
    open.push(await source(s.port, '/fier/short'), await source(s.port, '/fier/long'));
    const started = Date.now();
    const short = await listen(s.port, '/fier/short');
    const long = await listen(s.port, '/fier/long');
    assert.equal((await short.response()).status, 200);
    assert.equal((await long.response()).status, 200);
    await short.closed(4000);
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 2500, `closed after about 1 s (took ${took} ms)`);
    assert.ok(parseResponse(short.received())!.body.length > 0, 'it had the stream until then');
    assert.ok(!long.isClosed(), 'the mount without a limit keeps its listener');
    const status = await statusJson(s.port);
    assert.equal(status.limits.refusals.listenerDuration, 1);
    long.socket.destroy();
  } finally {
    for (const o of open) o.stop();
    await s.stop();
  }
});
