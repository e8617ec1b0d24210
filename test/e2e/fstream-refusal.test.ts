// How a refused fstream handshake ends, driven by a raw-socket implementation
// of the handshake (fstream-lib.ts) and by our client bin: a plain client gets
// nothing and the close, as from the original server; a client that asked with
// errors=1 gets one ERROR line; our client prints that reason.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Server } from '../helpers/server.ts';
import { connect, fixture, rawHandshake, runClient, startWith, type Peer } from './fstream-lib.ts';

const T = { timeout: 15_000 };
/** A refused client sees the close this soon (the server lingers only when the client does not close). */
const CLOSE_MS = 1000;
const f = fixture({ fier: '123', other: 'abc' });
let s: Server;
let live: Peer;

before(async () => {
  // Every case fails a login three times from one address; the throttle would change the reasons.
  const cfg = join(f.dir, 'no-throttle.json');
  writeFileSync(cfg, JSON.stringify({ users: { maxFailures: 0 } }));
  s = await startWith(f, ['-config', cfg]);
  live = await connect(s.port, rawHandshake('broadcast,user=fier,user_password=123,channel=locked,channel_password=lock456'));
  await s.waitLog((l) => l.msg === 'fstream broadcaster accepted' && l.mount === '/fier/locked', 5000);
});
after(async () => {
  live?.socket.destroy();
  await s?.stop();
  f.cleanup();
});

/** Sends a handshake and returns what came back before the close, failing if the close takes longer than CLOSE_MS. */
async function answer(payload: string): Promise<Buffer> {
  const p = await connect(s.port, rawHandshake(payload));
  const started = Date.now();
  const got = await p.closed(CLOSE_MS);
  assert.ok(Date.now() - started < CLOSE_MS);
  return got;
}

/** The refusal log lines since `from` (the server writes them asynchronously: waits until there are `n`). */
async function refusalLogs(from: number, n: number): Promise<Record<string, unknown>[]> {
  for (let i = 0; i < 100; i++) {
    const found = s.logs.slice(from).filter((l) => l.msg === 'fstream handshake refused');
    if (found.length >= n) return found;
    await sleep(20);
  }
  throw new Error(`fewer than ${n} refusals logged; last logs ${JSON.stringify(s.logs.slice(-3))}`);
}

interface Case {
  name: string;
  /** The payload a plain client sends; `,errors=1` is appended to ask for the reason. */
  payload: string;
  reason: string | RegExp;
  /** Our client, when it can send such a handshake: its command and fserv_arg_* variables. */
  bin?: { command: 'token' | 'broadcast' | 'watch'; env: Record<string, string> };
  /** Values that must never reach the log. */
  secrets?: string[];
}

const cases: Case[] = [
  {
    name: 'a wrong user password',
    payload: 'broadcast,user=fier,user_password=nope1,channel=x',
    reason: 'authentication failed',
    bin: { command: 'broadcast', env: { fserv_arg_user: 'fier', fserv_arg_user_password: 'nope1', fserv_arg_channel: 'x' } },
    secrets: ['nope1'],
  },
  {
    name: 'a wrong channel password',
    payload: 'watch,user=fier,channel=locked,channel_password=lock457',
    reason: 'wrong channel password',
    bin: { command: 'watch', env: { fserv_arg_user: 'fier', fserv_arg_channel: 'locked', fserv_arg_channel_password: 'lock457' } },
    secrets: ['lock457', 'lock456'],
  },
  {
    name: 'an unknown user',
    payload: 'token,user=ghost,user_password=boo123',
    reason: 'authentication failed',
    bin: { command: 'token', env: { fserv_arg_user: 'ghost', fserv_arg_user_password: 'boo123' } },
    secrets: ['boo123'],
  },
  {
    name: 'a bad token',
    payload: 'broadcast,user=fier,token=notAToken4242,channel=y',
    reason: 'authentication failed',
    bin: { command: 'broadcast', env: { fserv_arg_user: 'fier', fserv_arg_token: 'notAToken4242', fserv_arg_channel: 'y' } },
    secrets: ['notAToken4242'],
  },
  {
    name: 'an unknown action',
    payload: 'dance,user=fier,user_password=dance99',
    reason: 'bad handshake: unknown action "dance" (expected token, broadcast or watch)',
    secrets: ['dance99'],
  },
  {
    name: 'an invalid user name',
    payload: 'watch,user=../../etc/passwd',
    reason: 'bad handshake: invalid user name (letters, digits, _ and -, at most 64)',
    bin: { command: 'watch', env: { fserv_arg_user: '../../etc/passwd' } },
  },
  {
    name: 'a channel that is not live',
    payload: 'watch,user=fier,channel=nothing',
    reason: 'no channel /fier/nothing is live',
    bin: { command: 'watch', env: { fserv_arg_user: 'fier', fserv_arg_channel: 'nothing' } },
  },
  {
    name: 'a second broadcaster on a live channel',
    payload: 'broadcast,user=fier,user_password=123,channel=locked',
    reason: 'channel /fier/locked is busy: another broadcaster is live',
    bin: { command: 'broadcast', env: { fserv_arg_user: 'fier', fserv_arg_user_password: '123', fserv_arg_channel: 'locked' } },
  },
  {
    name: 'a malformed handshake',
    payload: 'watch,user=fier,garbage',
    reason: 'bad handshake: field 3 is not key=value',
  },
  {
    name: 'a bufsize larger than allowed',
    payload: 'broadcast,user=fier,user_password=123,channel=z,bufsize=99999999',
    reason: 'bad handshake: bufsize 99999999 is larger than 262144',
    bin: { command: 'broadcast', env: { fserv_arg_user: 'fier', fserv_arg_user_password: '123', fserv_arg_channel: 'z', fserv_arg_bufsize: '99999999' } },
  },
];

for (const c of cases) {
  test(`refused for ${c.name}: nothing and the close, the reason only when asked`, T, async () => {
    const from = s.logs.length;
    const plain = await answer(c.payload);
    assert.equal(plain.length, 0, `no bytes for a plain client, got ${JSON.stringify(plain.toString('latin1'))}`);
    const asked = (await answer(`${c.payload},errors=1`)).toString('utf8');
    const line = /^ERROR (.*)\n$/.exec(asked);
    assert.ok(line, `exactly one ERROR line, got ${JSON.stringify(asked)}`);
    if (typeof c.reason === 'string') assert.equal(line[1], c.reason);
    else assert.match(line[1]!, c.reason);
    let expected = 2;
    if (c.bin) {
      const stdin = c.bin.command === 'broadcast' ? randomBytes(300_000) : undefined;
      const r = await runClient([`127.0.0.1:${s.port}`, c.bin.command], c.bin.env, { stdin }).done;
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, `fstream: refused by the server: ${line[1]}\n`);
      assert.equal(r.stdout.length, 0, 'the refusal is not written as a token or as stream data');
      expected++;
    }
    const logs = await refusalLogs(from, expected);
    assert.equal(logs.length, expected, 'one refusal logged per connection');
    assert.deepEqual(logs.map((l) => l.reasonSent), [false, ...Array(expected - 1).fill(true)]);
    for (const l of logs) {
      assert.equal(l.level, 30, 'info level');
      assert.equal(l.reason, line[1]);
    }
    const all = JSON.stringify(s.logs);
    for (const secret of c.secrets ?? []) assert.ok(!all.includes(secret), `the log never holds ${secret}`);
  });
}

test('a watcher that asked errors=1 gets exactly the media a plain one gets; only refusals answer it', T, async () => {
  const b = await connect(s.port, rawHandshake('broadcast,user=fier,user_password=123,channel=same'));
  await s.waitLog((l) => l.msg === 'fstream broadcaster accepted' && l.mount === '/fier/same', 5000);
  const from = s.logs.length;
  const plain = await connect(s.port, rawHandshake('watch,user=fier,channel=same'));
  const asking = await connect(s.port, rawHandshake('watch,user=fier,channel=same,errors=1'));
  for (let i = 0; i < 100 && s.logs.slice(from).filter((l) => l.msg === 'fstream watcher accepted').length < 2; i++) await sleep(20);
  assert.equal(plain.received().length + asking.received().length, 0, 'no success line');
  const data = randomBytes(300_000);
  b.socket.write(data);
  const [p, a] = await Promise.all([plain.waitBytes(data.length), asking.waitBytes(data.length)]);
  await sleep(200);
  assert.ok(p.equals(data), 'the plain watcher gets the stream');
  assert.ok(asking.received().equals(data) && a.equals(p), 'and so does the one that asked, and nothing more');
  // The same request refused: the plain client gets nothing, the one that asked its line.
  assert.equal((await answer('watch,user=fier,channel=gone')).length, 0);
  assert.equal((await answer('watch,user=fier,channel=gone,errors=1')).toString(), 'ERROR no channel /fier/gone is live\n');
  for (const p of [plain, asking, b]) p.socket.destroy();
});
