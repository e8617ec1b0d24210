// The `fstream` client bin against our server (driven on the other side by raw
// sockets) and against a stand-in for the original server written here from the
// protocol description alone.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Server } from '../helpers/server.ts';
import { connect, fixture, rawHandshake, runClient, startWith } from './fstream-lib.ts';

const T = { timeout: 15_000 };
const f = fixture({ fier: '123' });
after(() => f.cleanup());
const fier = { fserv_arg_user: 'fier', fserv_arg_user_password: '123' };

async function logged(s: Server, msg: string, mount: string): Promise<void> {
  await s.waitLog((l) => l.msg === msg && l.mount === mount, 5000);
}

test('client token, broadcast and watch against our server', T, async () => {
  const s = await startWith(f, ['-fstream-grace', '300ms']);
  try {
    const target = `127.0.0.1:${s.port}`;
    const tok = await runClient([target, 'token'], fier).done;
    assert.equal(tok.code, 0, tok.stderr);
    const token = tok.stdout.toString();
    assert.match(token, /^[A-Za-z0-9_-]{43}\n$/);
    assert.equal(tok.stderr, '', 'nothing on stderr when it is not a terminal');

    // Broadcast from stdin with the token; a raw watcher joins before the data flows.
    const stdin = new PassThrough();
    const bc = runClient([target, 'broadcast'], { fserv_arg_user: 'fier', fserv_arg_token: token.trim(), fserv_arg_channel: 'cli', fserv_arg_bufsize: '4096' }, { stdin });
    await logged(s, 'fstream broadcaster accepted', '/fier/cli');
    const w = await connect(s.port, rawHandshake('watch,user=fier,channel=cli'));
    await logged(s, 'fstream watcher accepted', '/fier/cli');
    const data = randomBytes(3 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 65_536) {
      stdin.write(data.subarray(i, i + 65_536));
      await sleep(2);
    }
    stdin.end();
    const b = await bc.done;
    assert.equal(b.code, 0, b.stderr);
    assert.ok((await w.waitBytes(data.length)).equals(data), 'the raw watcher got stdin byte-exact');
    w.socket.destroy();

    // Watch to stdout; a raw broadcaster sends, then leaves; after the grace period the client reports it.
    const rb = await connect(s.port, rawHandshake('broadcast,user=fier,user_password=123,channel=out'));
    await logged(s, 'fstream broadcaster accepted', '/fier/out');
    const watcher = runClient([target, 'watch'], { fserv_arg_user: 'fier', fserv_arg_channel: 'out' });
    await logged(s, 'fstream watcher accepted', '/fier/out');
    const sent = randomBytes(500_000);
    rb.socket.end(sent);
    const wr = await watcher.done;
    assert.ok(wr.stdout.equals(sent), 'stdout is the stream');
    assert.equal(wr.code, 1);
    assert.equal(wr.stderr, 'fstream: connection closed by the server\n');
  } finally {
    await s.stop();
  }
});

test('client refusals, usage errors and lost connections: a clear message and a non-zero exit', T, async () => {
  const s = await startWith(f);
  const target = `127.0.0.1:${s.port}`;
  try {
    const wrong = await runClient([target, 'broadcast'], { ...fier, fserv_arg_user_password: 'nope' }, { stdin: randomBytes(300_000) }).done;
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stderr, 'fstream: refused by the server: authentication failed\n');
    const none = await runClient([target, 'watch'], { fserv_arg_user: 'fier', fserv_arg_channel: 'nothing' }).done;
    assert.equal(none.code, 1);
    assert.equal(none.stdout.length, 0, 'the refusal is not written as stream data');
    assert.equal(none.stderr, 'fstream: refused by the server: no channel /fier/nothing is live\n');
    const badToken = await runClient([target, 'token'], { ...fier, fserv_arg_user_password: 'x' }).done;
    assert.equal(badToken.code, 1);
    assert.equal(badToken.stdout.length, 0);
    assert.match(badToken.stderr, /refused by the server: authentication failed/);

    for (const [args, env, re] of [
      [[], fier, /expected HOST:PORT and a command/],
      [[target, 'dance'], fier, /unknown command "dance"/],
      [['nohost', 'watch'], fier, /"nohost" is not HOST:PORT/],
      [[target, 'watch'], {}, /set fserv_arg_user/],
      [[target, 'broadcast'], { fserv_arg_user: 'fier' }, /fserv_arg_user_password or fserv_arg_token/],
      [[target, 'watch'], { fserv_arg_user: 'fier', fserv_arg_channel_password: 'a,b' }, /fserv_arg_channel_password must not contain ","/],
      [[target, 'broadcast'], { ...fier, fserv_arg_bufsize: 'big' }, /fserv_arg_bufsize must be a whole number/],
    ] as [string[], Record<string, string>, RegExp][]) {
      const r = await runClient(args, env).done;
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
    const help = await runClient(['--help'], {}).done;
    assert.equal(help.code, 0);
    assert.match(help.stdout.toString(), /usage: fstream/);

    // The server goes away in the middle of a broadcast.
    const stdin = new PassThrough();
    const bc = runClient([target, 'broadcast'], { ...fier, fserv_arg_channel: 'doomed' }, { stdin });
    stdin.write(randomBytes(10_000));
    await logged(s, 'fstream broadcaster accepted', '/fier/doomed');
    await s.stop();
    const lost = await bc.done;
    stdin.destroy();
    assert.equal(lost.code, 1);
    assert.match(lost.stderr, /^fstream: connection (lost|closed by the server)/);
    const refused = await runClient([target, 'token'], fier).done;
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^fstream: cannot connect to 127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  } finally {
    await s.stop();
  }
});

/** A stand-in for the original server: reads `\n\n`, the length, 0x00 and the payload, then acts. */
async function foreignServer(act: (fields: Record<string, string>, socket: net.Socket, rest: Buffer) => void): Promise<{ port: number; payloads: string[]; close(): void }> {
  const payloads: string[] = [];
  const server = net.createServer((socket) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\n\n');
      if (end < 0 || buf.length < end + 2 + 5) return;
      const len = buf.readUInt32BE(end + 2);
      assert.equal(buf[end + 6], 0);
      const start = end + 7;
      if (buf.length < start + len) return;
      socket.off('data', onData);
      const payload = buf.subarray(start, start + len).toString('utf8');
      payloads.push(payload);
      const [action, ...parts] = payload.split(',');
      act({ action: action!, ...Object.fromEntries(parts.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)])) }, socket, buf.subarray(start + len));
    };
    socket.on('data', onData);
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, payloads, close: () => server.close() };
}

test('our client speaks the original protocol to a server written from its description', T, async () => {
  const stream = Buffer.concat([Buffer.from('ERROR is only a prefix here\n'), randomBytes(200_000)]);
  let broadcastGot: Promise<Buffer> | undefined;
  const other = await foreignServer((fields, socket, rest) => {
    if (fields.action === 'token') socket.end('tok-123_ABC\n');
    else if (fields.action === 'watch') socket.end(stream);
    else {
      const parts = [rest];
      broadcastGot = new Promise((resolve) => {
        socket.on('data', (d: Buffer) => parts.push(d));
        socket.on('end', () => { socket.end(); resolve(Buffer.concat(parts)); });
      });
    }
  });
  try {
    const target = `127.0.0.1:${other.port}`;
    const tok = await runClient([target, 'token'], fier).done;
    assert.equal(tok.code, 0, tok.stderr);
    assert.equal(tok.stdout.toString(), 'tok-123_ABC\n');
    const w = await runClient([target, 'watch'], { fserv_arg_user: 'fier', fserv_arg_channel: 'cam', fserv_arg_channel_password: '456' }).done;
    assert.ok(w.stdout.equals(stream), 'a stream that merely starts like a refusal is passed on whole');
    const data = randomBytes(1_000_000);
    const b = await runClient([target, 'broadcast'], { ...fier, fserv_arg_channel: 'cam', fserv_arg_channel_password: '456', fserv_arg_bufsize: '1024' }, { stdin: data }).done;
    assert.equal(b.code, 0, b.stderr);
    assert.ok((await broadcastGot!).equals(data), 'the server got stdin byte-exact after the handshake');
    assert.deepEqual(other.payloads, [
      'token,user=fier,user_password=123,errors=1',
      'watch,user=fier,channel=cam,channel_password=456,errors=1',
      'broadcast,user=fier,user_password=123,channel=cam,channel_password=456,bufsize=1024,errors=1',
    ], 'the original fields, and last our own errors=1, which a server that does not know it skips');
  } finally {
    other.close();
  }
});

test('a server that refuses by closing with nothing sent, as the original does: a generic reason and exit 1', T, async () => {
  // It reads and drops what follows the handshake, so the close is clean rather than a reset.
  const other = await foreignServer((_fields, socket) => {
    socket.on('data', () => {});
    socket.end();
  });
  try {
    const target = `127.0.0.1:${other.port}`;
    const stdin = new PassThrough();
    const feeding = setInterval(() => stdin.write(randomBytes(16_384)), 10);
    const runs = await Promise.all([
      runClient([target, 'token'], fier).done,
      runClient([target, 'watch'], { fserv_arg_user: 'fier' }).done,
      runClient([target, 'broadcast'], fier, { stdin }).done.finally(() => { clearInterval(feeding); stdin.destroy(); }),
    ]);
    for (const [i, r] of runs.entries()) {
      assert.equal(r.code, 1, `${['token', 'watch', 'broadcast'][i]}: ${r.stderr}`);
      assert.equal(r.stderr, 'fstream: connection closed by the server: refused?\n');
      assert.equal(r.stdout.length, 0);
    }
    assert.equal(other.payloads.length, 3);
  } finally {
    other.close();
  }
});
