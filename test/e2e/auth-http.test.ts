// The auth-http module on the real CLI (the package's main.mods, where it is
// listed before users): a node:http backend in this process answers each
// question; listeners, Icecast and fstream broadcasters are let in or refused
// by it, its answers are cached, a slow or absent backend refuses (or leaves
// listeners to the next module), and an answer's maxDuration ends a listener.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Server } from '../helpers/server.ts';
import { rawHandshake } from './fstream-lib.ts';
import { basic, connect, fixture, listedModules, listen, parseResponse, startWith } from './icecast-lib.ts';

const T = { timeout: 30_000 };
const f = fixture({ fier: 'password=123' }, listedModules());

/** The backend: what it was asked, and its answer by user name. */
const asked: Record<string, unknown>[] = [];
const backend = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', async () => {
    const q = JSON.parse(body) as Record<string, unknown>;
    asked.push({ ...q, method: req.method, contentType: req.headers['content-type'] });
    const json = (status: number, v: unknown) => res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(v));
    switch (q.user) {
      case 'ok': case 'cached': return json(200, { allow: true });
      case 'renamed': return json(200, { allow: true, user: 'someone-else' });
      case 'no': return json(200, { allow: false, reason: 'no entry' });
      case 'forbid': return json(403, { reason: 'not yours' });
      case 'short': return json(200, { allow: true, maxDuration: 1 });
      case 'slow': await sleep(2000); return json(200, { allow: true });
      case 'broken': return res.writeHead(200).end('<html>oops</html>');
      case 'fail': return res.writeHead(500).end();
      default: return res.writeHead(404).end();
    }
  });
});
let backendUrl = '';
/** A URL where nothing listens: a port taken and let go. */
let deadUrl = '';

before(async () => {
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  backendUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/auth`;
  const gone = http.createServer().listen(0, '127.0.0.1');
  await once(gone, 'listening');
  deadUrl = `http://127.0.0.1:${(gone.address() as AddressInfo).port}/auth`;
  gone.close();
});
after(() => {
  backend.close();
  backend.closeAllConnections();
  f.cleanup();
});

function start(settings: Record<string, unknown>): Promise<Server> {
  const file = join(f.dir, `auth-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ 'auth-http': settings }));
  return startWith(f, ['-config', file]);
}

/** A listener of the demo channel with Basic credentials: its status, reason (when refused) and the open connection. */
async function listener(port: number, user: string, path = '/demo.mp3') {
  const l = await listen(port, path, `Authorization: ${basic(user, 'pw')}\r\n`);
  const res = await l.response();
  if (res.status !== 200) await l.closed(3000);
  return { l, status: res.status, reason: parseResponse(l.received())!.body.toString().trim() };
}

/** An Icecast source: the status and body of the server's answer (the connection is closed after). */
async function icecastSource(port: number, mount: string, user: string, password = 'pw') {
  const peer = await connect(port, `PUT ${mount} HTTP/1.1\r\nAuthorization: ${basic(user, password)}\r\nContent-Type: audio/mpeg\r\n\r\n`);
  const res = parseResponse(await peer.until((b) => parseResponse(b) !== undefined, 'no answer to the source'))!;
  peer.socket.destroy();
  return { status: res.status, body: res.body.toString().trim() };
}

/** An fstream broadcaster's outcome: 'open', or the reason it was sent (it asks with errors=1). */
async function fstreamBroadcast(port: number, user: string, channel: string): Promise<string> {
  const p = await connect(port, rawHandshake(`broadcast,user=${user},user_password=pw,channel=${channel},errors=1`));
  const r = await Promise.race([p.closed(3000).then((b) => b.toString()), sleep(500).then(() => 'open')]);
  p.socket.destroy();
  return r;
}

const askedAbout = (user: string) => asked.filter((q) => q.user === user);

describe('with a backend that answers', () => {
  let s: Server;
  before(async () => { s = await start({ url: backendUrl, timeout: '300ms', cacheTtl: '5s' }); });
  after(() => s.stop());

  test('listeners: the backend lets in and refuses (401, 403 with its reason); the question is the documented JSON', T, async () => {
    const ok = await listener(s.port, 'ok', '/demo.mp3?from=test&x=1');
    assert.equal(ok.status, 200);
    ok.l.socket.destroy();
    assert.deepEqual(askedAbout('ok')[0], {
      method: 'POST', contentType: 'application/json',
      action: 'watch', protocol: 'http', remoteAddress: '127.0.0.1', user: 'ok', channel: '/demo.mp3', channelPassword: 'pw',
      query: { from: 'test', x: '1' },
    });
    assert.deepEqual([(await listener(s.port, 'no')).status, (await listener(s.port, 'no')).reason], [401, 'no entry']);
    const forbid = await listener(s.port, 'forbid');
    assert.deepEqual([forbid.status, forbid.reason], [403, 'not yours']);
  });

  test('broadcasters: Icecast and fstream are let in or refused by the backend; no opinion (404) leaves them to users', T, async () => {
    const put = await icecastSource(s.port, '/ok/live', 'ok');
    assert.equal(put.status, 200, put.body);
    assert.deepEqual(await icecastSource(s.port, '/no/live', 'no'), { status: 401, body: 'no entry' });
    assert.equal(await fstreamBroadcast(s.port, 'ok', 'cast'), 'open');
    assert.equal(await fstreamBroadcast(s.port, 'no', 'cast'), 'ERROR no entry\n');
    const q = askedAbout('ok').find((x) => x.protocol === 'fstream')!;
    assert.deepEqual([q.action, q.password, q.channel], ['broadcast', 'pw', '/ok/cast']);
    // fier is unknown to the backend (404): the users module checks fier's password.
    assert.equal((await icecastSource(s.port, '/fier/live', 'fier', '123')).status, 200);
    assert.equal((await icecastSource(s.port, '/fier/other', 'fier', 'wrong')).status, 401);
    assert.ok(askedAbout('fier').length >= 2, 'the backend was asked first');
  });

  test('an identical question within cacheTtl is answered from the cache; the backend is asked once', T, async () => {
    for (let i = 0; i < 3; i++) {
      const l = await listener(s.port, 'cached');
      assert.equal(l.status, 200, `listener ${i}`);
      l.l.socket.destroy();
    }
    assert.equal(askedAbout('cached').length, 1, 'asked once for three identical questions');
    const other = await listener(s.port, 'cached', '/demo.mp3?other=1');
    other.l.socket.destroy();
    assert.equal(askedAbout('cached').length, 2, 'a different query is a different question');
    const st = await (await fetch(`http://127.0.0.1:${s.port}/status.json`, { signal: AbortSignal.timeout(5000) })).json() as any;
    assert.ok(st['auth-http'].cacheHits >= 2, `cache hits in /status.json: ${JSON.stringify(st['auth-http'])}`);
  });

  test('a backend slower than the timeout, or answering badly, counts as down: refused, never cached, in /status.json and /metrics', T, async () => {
    const started = Date.now();
    const slow = await listener(s.port, 'slow');
    assert.deepEqual([slow.status, slow.reason], [401, 'authentication backend unavailable']);
    assert.ok(Date.now() - started < 1500, `refused at the timeout, not after the backend's 2 s (${Date.now() - started} ms)`);
    for (const user of ['broken', 'fail', 'fail']) assert.equal((await listener(s.port, user)).status, 401, user);
    assert.equal(askedAbout('fail').length, 2, 'a failure is never cached');
    const st = await (await fetch(`http://127.0.0.1:${s.port}/status.json`, { signal: AbortSignal.timeout(5000) })).json() as any;
    const fig = st['auth-http'];
    assert.deepEqual([fig.failures.timeout, fig.failures.answer, fig.failures.status], [1, 1, 2], JSON.stringify(fig));
    assert.ok(fig.latencyMs.count >= 5 && fig.latencyMs.buckets['5000'] === fig.latencyMs.count, JSON.stringify(fig.latencyMs));
    const metrics = await (await fetch(`http://127.0.0.1:${s.port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    assert.match(metrics, /^streamserve_auth_backend_failures_total\{kind="timeout"\} 1$/m);
    assert.match(metrics, /^streamserve_auth_backend_latency_seconds_bucket\{le="\+Inf"\} \d+$/m);
  });

  test('an answer\'s maxDuration ends the listener after that long; the user it names is the listener\'s', T, async () => {
    const started = Date.now();
    const short = await listener(s.port, 'short');
    assert.equal(short.status, 200);
    const renamed = await listener(s.port, 'renamed');
    assert.equal(renamed.status, 200);
    await short.l.closed(4000);
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 2500, `closed after about 1 s (took ${took} ms)`);
    assert.ok(!renamed.l.isClosed(), 'a listener without a limit stays');
    renamed.l.socket.destroy();
  });
});

test('backend down, whenDown refuse: everyone is refused', T, async () => {
  const s = await start({ url: deadUrl, timeout: '500ms' });
  try {
    const l = await listener(s.port, 'ok');
    assert.deepEqual([l.status, l.reason], [401, 'authentication backend unavailable']);
    assert.deepEqual(await icecastSource(s.port, '/fier/live', 'fier', '123'), { status: 401, body: 'authentication backend unavailable' });
    await s.waitLog((x) => x.msg === 'authentication backend failed; until it answers, everyone is refused' && x.failure === 'unreachable');
  } finally {
    await s.stop();
  }
});

test('backend down, whenDown allow-listeners: listeners are left to the next module, broadcasters refused', T, async () => {
  const s = await start({ url: deadUrl, timeout: '500ms', whenDown: 'allow-listeners' });
  try {
    const l = await listener(s.port, 'ok');
    assert.equal(l.status, 200, l.reason);
    l.l.socket.destroy();
    assert.equal((await icecastSource(s.port, '/fier/live', 'fier', '123')).status, 401);
    assert.equal(await fstreamBroadcast(s.port, 'fier', 'cast'), 'ERROR authentication backend unavailable\n');
  } finally {
    await s.stop();
  }
});
