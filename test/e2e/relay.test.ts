/**
 * Relays between three of our own servers: an origin and two edges reading it
 * once each, listeners on both edges; the origin killed for 3 s and restarted
 * keeps every edge listener connected, and the edges count the outage. Also
 * relay loops, refused by the X-Streamserve-Via header.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../bench/procs.ts';
import { runCli, startServer, type Server } from '../helpers/server.ts';
import { Client, has, tempDir } from './streamserve-lib.ts';
import { selfSignedCert } from './fstream-lib.ts';
import { makeMp3, status, walkMp3, type RelayFigures } from './relay-lib.ts';

const skip = has('ffmpeg') ? false : 'ffmpeg is not installed (it makes the MP3 fixture)';

async function relayFigures(server: Server): Promise<RelayFigures> {
  const st = await status(server.port);
  const ch = st.relay.channels.find((c) => c.mount === '/');
  assert.ok(ch, `the edge lists its relayed channel: ${JSON.stringify(st.relay)}`);
  return ch;
}

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

test('origin → two edges: listeners stay through a 3 s origin outage, resume at a frame, and the outage is counted', { skip, timeout: 55_000 }, async (t) => {
  const tmp = tempDir();
  const servers: Server[] = [];
  const clients: Client[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.stop()));
    tmp.cleanup();
  });
  const mp3 = makeMp3(tmp.dir, 30);
  const port = await freePort();
  const originArgs = ['-address', `127.0.0.1:${port}`, '-path', mp3, '-frame-filter', 'mp3', '-realtime', '-relay-server-id', 'origin'];
  let origin = await startServer(originArgs);
  servers.push(origin);
  const edges = await Promise.all([1, 2].map((i) => startServer(['-relay', `http://127.0.0.1:${port}/live`, '-relay-server-id', `edge${i}`])));
  servers.push(...edges);
  await Promise.all(edges.map((e) => e.waitLog((l) => l.msg === 'source opened')));

  for (const edge of edges) for (let i = 0; i < 2; i++) clients.push(new Client(edge.port, `/listen/${i}`));
  await Promise.all(clients.map((c) => c.gotHead));
  for (const [i, c] of clients.entries()) {
    assert.equal(c.status, 200, `listener ${i} is let in`);
    // The origin's type is carried over, and the chain of servers is named.
    assert.equal(c.headers['content-type'], 'audio/mpeg');
    assert.equal(c.headers['x-streamserve-via'], `origin, edge${i < 2 ? 1 : 2}`);
  }
  await Promise.all(clients.map((c) => c.waitBytes(8000, 8000)));
  for (const edge of edges) {
    const fig = await relayFigures(edge);
    assert.deepEqual(fig.via, ['origin']);
    assert.equal(fig.outages, 0);
  }
  // The edges read the origin once each, whatever their own listeners.
  const originStatus = await status(origin.port);
  const originListeners = (originStatus.raw.icestats as { source: { listeners: number }[] }).source[0]!.listeners;
  assert.equal(originListeners, 2, 'two edge connections at the origin');

  origin.proc.kill('SIGKILL');
  await once(origin.proc, 'exit');
  await sleep(3000);
  const before = clients.map((c) => c.length);
  for (const [i, c] of clients.entries()) assert.ok(!c.ended, `edge listener ${i} still connected while the origin is down`);
  origin = await startServer(originArgs);
  servers.push(origin);

  for (const edge of edges) {
    await until('the edge to reconnect', 15_000, async () => {
      const fig = await relayFigures(edge);
      return fig.up && fig.outages >= 1;
    });
  }
  await Promise.all(clients.map((c, i) => c.waitBytes(before[i]! + 8000, 10_000)));
  for (const [i, c] of clients.entries()) {
    assert.ok(!c.ended, `edge listener ${i} was never disconnected`);
    assert.ok(c.length >= before[i]! + 8000, `edge listener ${i} resumed after the outage (${before[i]} → ${c.length} bytes)`);
    // Whole frames back to back across the gap: the edge resumed at a frame boundary.
    const walk = walkMp3(c.bytes());
    assert.equal(walk.brokeAt, -1, `listener ${i}: whole MPEG frames throughout (broke at byte ${walk.brokeAt} of ${c.length})`);
    assert.ok(walk.frames > 100, `listener ${i}: ${walk.frames} frames`);
  }
  for (const edge of edges) {
    const fig = await relayFigures(edge);
    assert.equal(fig.outages, 1, 'one outage');
    assert.ok(fig.outageMs >= 2900 && fig.outageMs < 15_000, `the skipped interval is counted: ${fig.outageMs} ms`);
    assert.equal(fig.down, false);
  }
});

test('relay loops are refused: a server relaying itself, and two edges relaying each other', { timeout: 30_000 }, async (t) => {
  const servers: Server[] = [];
  t.after(async () => { await Promise.all(servers.map((s) => s.stop())); });
  const self = await freePort();
  const a = await startServer(['-address', `127.0.0.1:${self}`, '-relay', `http://127.0.0.1:${self}/`, '-relay-server-id', 'selfish']);
  servers.push(a);
  await a.waitLog((l) => l.msg === 'relay loop: refusing a relay of this server\'s own stream');
  const failed = await a.waitLog((l) => typeof l.err === 'string' && l.err.includes('508 Loop Detected'));
  assert.match(String(failed.err), /relay loop/);

  const [pb, pc] = [await freePort(), await freePort()];
  const b = await startServer(['-address', `127.0.0.1:${pb}`, '-relay', `http://127.0.0.1:${pc}/`, '-relay-server-id', 'B']);
  const c = await startServer(['-address', `127.0.0.1:${pc}`, '-relay', `http://127.0.0.1:${pb}/`, '-relay-server-id', 'C']);
  servers.push(b, c);
  // Neither has a stream to give: the loop is found from the request chain, before any byte flows.
  const refused = await Promise.race([b, c].map((s) => s.waitLog((l) => l.msg === 'relay loop: refusing a relay of this server\'s own stream', 15_000)));
  assert.ok(Array.isArray(refused.via) && refused.via.length === 2, `the refused chain names both servers: ${JSON.stringify(refused.via)}`);
});

test('bad relay settings stop start-up with a clear message', { timeout: 20_000 }, async () => {
  const bad = await runCli(['-address', '127.0.0.1:0', '-relay', 'ftp://example.invalid/x']);
  assert.equal(bad.code, 2, bad.stderr);
  // One line naming the flag, the value and what was wrong (the kernel reports it under its code for a failing module).
  assert.match(bad.stderr, /^streamserve: \[SS_ERR_[A-Z_]+\] .*invalid relay URL "ftp:\/\/example\.invalid\/x" for -relay: scheme ftp: is not http: or https:/);
  const both = await runCli(['-address', '127.0.0.1:0', '-relay', 'http://127.0.0.1:1/', '-path', '/dev/null']);
  assert.equal(both.code, 2, both.stderr);
  assert.match(both.stderr, /-relay http:\/\/127\.0\.0\.1:1\/ cannot be combined with -path or -exec/);
  const tmp = tempDir();
  try {
    const config = join(tmp.dir, 'two.json');
    writeFileSync(config, JSON.stringify({ channels: [{ mount: '/r', relay: 'http://127.0.0.1:1/', path: '/dev/zero' }, { mount: '/s', relay: 'gopher://x/' }] }));
    const two = await runCli(['-config', config, '-address', '127.0.0.1:0']);
    assert.equal(two.code, 2, two.stderr);
    assert.match(two.stderr, /channels\[0\] \(\/r\): give exactly one of path, exec or relay/);
    writeFileSync(config, JSON.stringify({ channels: [{ mount: '/s', relay: 'gopher://x/' }] }));
    const scheme = await runCli(['-config', config, '-address', '127.0.0.1:0']);
    assert.match(scheme.stderr, /invalid relay URL "gopher:\/\/x\/" for setting channels\[0\] \(\/s\)\.relay: scheme gopher:/);
  } finally {
    tmp.cleanup();
  }
});

test('an https:// origin is relayed (its certificate trusted through NODE_EXTRA_CA_CERTS)', { skip, timeout: 30_000 }, async (t) => {
  const tmp = tempDir();
  const servers: Server[] = [];
  const clients: Client[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.stop()));
    tmp.cleanup();
  });
  const cert = selfSignedCert(tmp.dir);
  if (!cert) return t.skip('openssl could not make a certificate');
  const mp3 = makeMp3(tmp.dir, 10);
  const origin = await startServer(['-path', mp3, '-frame-filter', 'mp3', '-realtime', '-tls-address', '127.0.0.1:0', '-tls-cert', cert.cert, '-tls-key', cert.key]);
  servers.push(origin);
  const edge = await startServer(['-relay', `https://127.0.0.1:${origin.tlsPort}/`], { env: { NODE_EXTRA_CA_CERTS: cert.cert } });
  servers.push(edge);
  await edge.waitLog((l) => l.msg === 'source opened');
  const listener = new Client(edge.port, '/');
  clients.push(listener);
  await listener.waitBytes(8000, 8000);
  assert.equal(listener.headers['content-type'], 'audio/mpeg');
  assert.equal(walkMp3(listener.bytes()).brokeAt, -1, 'whole MPEG frames over https');
  // Without the certificate trusted, the edge says why it cannot connect.
  const untrusted = await startServer(['-relay', `https://127.0.0.1:${origin.tlsPort}/`]);
  servers.push(untrusted);
  const failed = await untrusted.waitLog((l) => l.msg === 'source could not be opened');
  assert.match(String(failed.err), /https:\/\/127\.0\.0\.1:\d+\/: .*certificate/);
});
