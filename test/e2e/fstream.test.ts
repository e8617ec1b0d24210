// fstream end to end: the real CLI on a loopback port, driven by a raw-socket
// implementation of the handshake (fstream-lib.ts), never by our own client.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { bin, httpGet, type Server } from '../helpers/server.ts';
import { connect, fixture, offsetOf, pacedWrite, rawHandshake, startWith } from './fstream-lib.ts';

const T = { timeout: 15_000 };
const f = fixture({ fier: '123', other: 'abc' });
after(() => f.cleanup());

/** Resolves once the server has logged `n` accepted handshakes of this action on this mount. */
async function accepted(s: Server, action: string, mount: string, n = 1): Promise<void> {
  const msg = `fstream ${action === 'watch' ? 'watcher' : 'broadcaster'} accepted`;
  for (let i = 0; i < 100; i++) {
    if (s.logs.filter((l) => l.msg === msg && l.mount === mount).length >= n) return;
    await sleep(20);
  }
  throw new Error(`no ${n} ${msg} for ${mount}; last logs ${JSON.stringify(s.logs.slice(-3))}`);
}

test('a watcher that joined at the start receives several MB byte-exact', T, async () => {
  const s = await startWith(f);
  try {
    const b = await connect(s.port, rawHandshake('broadcast,user=fier,user_password=123,channel=cam'));
    await accepted(s, 'broadcast', '/fier/cam');
    const w = await connect(s.port, rawHandshake('watch,user=fier,channel=cam'));
    await accepted(s, 'watch', '/fier/cam');
    const data = randomBytes(6 * 1024 * 1024);
    await pacedWrite(b.socket, data, 16_384, 30_000_000);
    const got = await w.waitBytes(data.length);
    assert.equal(got.length, data.length);
    assert.ok(got.equals(data), 'byte-exact');
    b.socket.destroy();
    w.socket.destroy();
  } finally {
    await s.stop();
  }
});

test('a late watcher with bufsize=B starts at a chunk boundary, then matches byte-exact', T, async () => {
  const s = await startWith(f);
  try {
    const B = 1000;
    const data = randomBytes(2_000_000);
    const b = await connect(s.port, rawHandshake(`broadcast,user=fier,user_password=123,channel=chunks,bufsize=${B}`));
    await accepted(s, 'broadcast', '/fier/chunks');
    const sending = pacedWrite(b.socket, data, 4096, 4_000_000);
    await sleep(150);
    const w = await connect(s.port, rawHandshake('watch,user=fier,channel=chunks'));
    await sending;
    const first = await w.waitBytes(64);
    const start = offsetOf(data, first);
    assert.ok(start > 0, 'joined late');
    assert.equal(start % B, 0, `starts at a chunk boundary (offset ${start})`);
    const got = await w.waitBytes(data.length - start);
    assert.equal(got.length, data.length - start);
    assert.ok(got.equals(data.subarray(start)), 'then byte-exact');
    b.socket.destroy();
    w.socket.destroy();
  } finally {
    await s.stop();
  }
});

// The refusals here ask for their reason (errors=1) to tell them apart; fstream-refusal.test.ts shows a plain client gets none.
test('wrong passwords, unknown users, spent, expired and replaced tokens, a second broadcaster: all refused; failures throttled', T, async () => {
  const s = await startWith(f, ['-token-ttl', '1500ms']);
  const answer = async (payload: string) => (await (await connect(s.port, rawHandshake(payload))).closed()).toString();
  const refusal = (payload: string) => answer(`${payload},errors=1`);
  const token = async () => {
    const text = await answer('token,user=fier,user_password=123');
    assert.match(text, /^[A-Za-z0-9_-]{20,}\n$/, 'a token line');
    return text.trim();
  };
  /** A broadcast that is accepted stays open; one that is refused is closed with its reason. */
  const tryBroadcast = async (payload: string) => {
    const p = await connect(s.port, rawHandshake(`${payload},errors=1`));
    const outcome = await Promise.race([p.closed(3000).then((r) => r.toString()), sleep(400).then(() => 'open')]);
    p.socket.destroy();
    return outcome;
  };
  try {
    assert.equal(await refusal('broadcast,user=fier,user_password=nope'), 'ERROR authentication failed\n');
    assert.equal(await refusal('broadcast,user=ghost,user_password=123'), 'ERROR authentication failed\n');
    assert.equal(await refusal('token,user=fier,user_password=abc'), 'ERROR authentication failed\n');

    const live = await connect(s.port, rawHandshake('broadcast,user=fier,user_password=123,channel=locked,channel_password=lock456'));
    await accepted(s, 'broadcast', '/fier/locked');
    live.socket.write(randomBytes(1000));
    assert.equal(await refusal('watch,user=fier,channel=locked,channel_password=lock457'), 'ERROR wrong channel password\n');
    assert.equal(await refusal('watch,user=fier,channel=locked'), 'ERROR wrong channel password\n');
    assert.equal(await refusal('watch,user=fier,channel=nothing'), 'ERROR no channel /fier/nothing is live\n');
    assert.match(await refusal('broadcast,user=fier,user_password=123,channel=locked'), /^ERROR channel \/fier\/locked is busy/);
    const ok = await connect(s.port, rawHandshake('watch,user=fier,channel=locked,channel_password=lock456'));
    live.socket.write(randomBytes(1000));
    await ok.waitBytes(1000);
    ok.socket.destroy();
    live.socket.destroy();

    const t1 = await token();
    assert.equal(await tryBroadcast(`broadcast,user=fier,token=${t1},channel=t1`), 'open', 'a fresh token works');
    assert.equal(await tryBroadcast(`broadcast,user=fier,token=${t1},channel=t1b`), 'ERROR authentication failed\n', 'but only once');
    const replaced = await token();
    const current = await token();
    assert.equal(await tryBroadcast(`broadcast,user=fier,token=${replaced},channel=t2`), 'ERROR authentication failed\n', 'replaced');
    assert.equal(await tryBroadcast(`broadcast,user=other,token=${current},channel=t2`), 'ERROR authentication failed\n', "another user's");
    assert.equal(await tryBroadcast(`broadcast,user=fier,token=${current},channel=t2`), 'open', 'the newest one works');
    const expiring = await token();
    await sleep(1600);
    assert.equal(await tryBroadcast(`broadcast,user=fier,token=${expiring},channel=t3`), 'ERROR authentication failed\n', 'expired');

    let reply = '';
    for (let i = 0; i < 12 && !reply.includes('too many'); i++) reply = await refusal('token,user=fier,user_password=guess');
    assert.equal(reply, 'ERROR too many failed attempts from this address; try again later\n', 'failures are throttled per address');
    assert.equal(await refusal('token,user=fier,user_password=123'), reply, 'even the right password, for now');
    assert.equal(await answer('token,user=fier,user_password=123'), '', 'and a client that did not ask is told nothing');

    const refusedLogs = s.logs.filter((l) => l.msg === 'fstream handshake refused');
    assert.ok(refusedLogs.length >= 10);
    for (const l of refusedLogs) {
      assert.equal(l.level, 30, 'info level');
      assert.equal(l.remote, '127.0.0.1');
      assert.ok(typeof l.reason === 'string');
    }
    const all = JSON.stringify(s.logs);
    for (const secret of ['nope', '"123"', 'lock456', 'lock457', t1, replaced, current, expiring]) assert.ok(!all.includes(secret), `logs never hold ${secret}`);
  } finally {
    await s.stop();
  }
});

test('hostile handshakes are closed while a normal watcher keeps receiving', T, async () => {
  const s = await startWith(f, ['-fstream-handshake-timeout', '1500ms']);
  const sent: Buffer[] = [];
  let pump: NodeJS.Timeout | undefined;
  try {
    const b = await connect(s.port, rawHandshake('broadcast,user=fier,user_password=123,channel=steady'));
    await accepted(s, 'broadcast', '/fier/steady');
    const w = await connect(s.port, rawHandshake('watch,user=fier,channel=steady'));
    await accepted(s, 'watch', '/fier/steady');
    pump = setInterval(() => { const c = randomBytes(2000); sent.push(c); b.socket.write(c); }, 20);

    const huge = await connect(s.port, Buffer.from([0x0a, 0x0a, 0xff, 0xff, 0xff, 0xff, 0x00]));
    const noise = await connect(s.port, randomBytes(512));
    const badUtf8 = await connect(s.port, rawHandshake(Buffer.from([0x77, 0x61, 0xff, 0xfe, 0xc3, 0x28])));
    const traversal = await connect(s.port, rawHandshake('watch,user=../../etc/passwd'));
    const traversal2 = await connect(s.port, rawHandshake('broadcast,user=../../etc/passwd,user_password=x,errors=1'));
    const slow = await connect(s.port);
    const drip = rawHandshake('watch,user=fier,channel=steady');
    let i = 0;
    const dripper = setInterval(() => { if (i < drip.length && !slow.socket.destroyed) slow.socket.write(drip.subarray(i, ++i)); }, 1000);
    try {
      // Closed with nothing sent; only the client that asked (errors=1) is told why.
      assert.equal((await huge.closed(1000)).length, 0);
      assert.equal((await noise.closed(2000)).length, 0);
      assert.equal((await badUtf8.closed(1000)).length, 0);
      assert.equal((await traversal.closed(1000)).length, 0);
      assert.match((await traversal2.closed(1000)).toString(), /^ERROR bad handshake: invalid user name/);
      const before = w.received().length;
      assert.equal((await slow.closed(3000)).length, 0);
      assert.ok(w.received().length > before, 'the watcher kept receiving meanwhile');
    } finally {
      clearInterval(dripper);
    }
    clearInterval(pump);
    pump = undefined;
    const all = Buffer.concat(sent);
    const got = await w.waitBytes(all.length);
    assert.ok(got.equals(all), 'and nothing it got was lost or garbled');
    assert.ok(!s.logs.some((l) => Number(l.level) >= 50), 'no errors logged');
    // A log line may reach us after the close it explains: wait for each (bounded) rather than look once.
    for (const re of [/payload of 4294967295 bytes/, /not valid UTF-8/, /invalid user name/, /handshake not complete within 1\.5s/]) {
      const line = await s.waitLog((l) => l.msg === 'fstream handshake refused' && re.test(String(l.reason)), 3000).catch(() => undefined);
      assert.ok(line, `the server logs ${re}`);
    }
    b.socket.destroy();
    w.socket.destroy();
  } finally {
    clearInterval(pump);
    await s.stop();
  }
});

test('broadcast over fstream, listen over HTTP with the channel password', T, async () => {
  const s = await startWith(f);
  try {
    const b = await connect(s.port, rawHandshake('broadcast,user=fier,user_password=123,channel_password=456,bufsize=500'));
    await accepted(s, 'broadcast', '/fier/default');
    const data = randomBytes(400_000);
    const sending = pacedWrite(b.socket, data, 2000, 400_000);
    await sleep(100);
    const denied = await httpGet(s.port, '/fier/default', { ms: 500 });
    assert.equal(denied.status, 401);
    const basic = `Basic ${Buffer.from('anyone:456').toString('base64')}`;
    const [byQuery, byBasic] = await Promise.all([
      httpGet(s.port, '/fier/default?password=456', { bytes: 20_000, ms: 3000 }),
      httpGet(s.port, '/fier/default', { bytes: 20_000, headers: { Authorization: basic }, ms: 3000 }),
    ]);
    for (const r of [byQuery, byBasic]) {
      assert.equal(r.status, 200);
      assert.equal(r.body.length, 20_000);
      const at = offsetOf(data, r.body);
      assert.equal(at % 500, 0, 'starts at a chunk boundary');
      assert.ok(r.body.equals(data.subarray(at, at + r.body.length)));
    }
    await sending;
    b.socket.destroy();
  } finally {
    await s.stop();
  }
});

test('watchers stay through the grace period, resume with a returning broadcaster, then are disconnected', T, async () => {
  const s = await startWith(f, ['-fstream-grace', '1200ms']);
  try {
    const b1 = await connect(s.port, rawHandshake('broadcast,user=fier,user_password=123,channel=g'));
    await accepted(s, 'broadcast', '/fier/g');
    const w = await connect(s.port, rawHandshake('watch,user=fier,channel=g'));
    await accepted(s, 'watch', '/fier/g');
    b1.socket.write(Buffer.alloc(3000, 'a'));
    await w.waitBytes(3000);
    b1.socket.destroy();
    await sleep(300);
    const b2 = await connect(s.port, rawHandshake('broadcast,user=fier,user_password=123,channel=g'));
    await accepted(s, 'broadcast', '/fier/g', 2);
    b2.socket.write(Buffer.alloc(3000, 'b'));
    const got = await w.waitBytes(6000);
    assert.equal(got.toString(), 'a'.repeat(3000) + 'b'.repeat(3000));
    b2.socket.destroy();
    const started = Date.now();
    await w.closed(4000);
    assert.ok(Date.now() - started >= 1000, 'not before the grace period ended');
    assert.equal((await (await connect(s.port, rawHandshake('watch,user=fier,channel=g'))).closed()).length, 0, 'the channel is gone');
    await s.waitLog((l) => l.msg === 'fstream handshake refused' && l.reason === 'no channel /fier/g is live', 2000);
  } finally {
    await s.stop();
  }
});

test('every preamble form reaches fstream, ahead of HTTP on the same port', T, async () => {
  const s = await startWith(f);
  try {
    const b = await connect(s.port, rawHandshake('broadcast,user=fier,user_password=123', 'Host: example\r\nUser-Agent: test\r\n\r\n'));
    await accepted(s, 'broadcast', '/fier/default');
    const preambles = ['\n\n', '\r\n\r\n', 'X-Anything: 1\nX-Other: 2\n\n', 'GET /fier/default HTTP/1.1\r\nHost: example\r\n\r\n'];
    const watchers = await Promise.all(preambles.map((p) => connect(s.port, rawHandshake('watch,user=fier', p))));
    await accepted(s, 'watch', '/fier/default', preambles.length);
    b.socket.write(Buffer.alloc(5000, 'z'));
    for (const w of watchers) assert.equal((await w.waitBytes(5000)).toString(), 'z'.repeat(5000));
    const http = await httpGet(s.port, '/fier/default', { bytes: 100, ms: 1000 });
    assert.equal(http.status, 200, 'a plain GET is still HTTP');
    for (const w of watchers) w.socket.destroy();
    b.socket.destroy();
  } finally {
    await s.stop();
  }
});

test('streamserve passwd stores a hash that counts at once, and user files reload without a restart', T, async () => {
  const s = await startWith(f);
  try {
    writeFileSync(join(f.dir, 'main.mods'), 'users\n');
    const proc = spawn(process.execPath, [bin, 'passwd', '-users-dir', f.usersDir, 'other'], { cwd: f.dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => { stderr += d; });
    proc.stdin.end('n3w-secret\n');
    const [code] = await once(proc, 'close');
    assert.equal(code, 0, stderr);
    const tokenWith = async (user: string, password: string, extra = '') => (await (await connect(s.port, rawHandshake(`token,user=${user},user_password=${password}${extra}`))).closed()).toString();
    assert.match(await tokenWith('other', 'n3w-secret'), /^[A-Za-z0-9_-]+\n$/);
    assert.equal(await tokenWith('other', 'abc', ',errors=1'), 'ERROR authentication failed\n', 'the plaintext password is gone');
    assert.equal(await tokenWith('newcomer', 'x1'), '', 'no token, and nothing else');
    writeFileSync(join(f.usersDir, 'newcomer.ini'), '[DEFAULT]\npassword=x1\n');
    assert.match(await tokenWith('newcomer', 'x1'), /^[A-Za-z0-9_-]+\n$/, 'a new file counts at once');
  } finally {
    await s.stop();
  }
});
