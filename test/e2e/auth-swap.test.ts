// The operator's authenticate module (config/examples/broadcast-gate.js) listed
// before `users` in a temporary main.mods decides first; without it `users`
// decides; without `users` nobody vouches for a broadcaster.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startServer } from '../helpers/server.ts';
import { connect, fixture, rawHandshake, startWith } from './fstream-lib.ts';

const T = { timeout: 15_000 };
const gate = fileURLToPath(new URL('../../config/examples/broadcast-gate.js', import.meta.url));
const withGate = fixture({ fier: '123' }, ['server', 'filters', 'http', gate, 'users', 'fstream']);
const withoutGate = fixture({ fier: '123' });
const withoutUsers = fixture({ fier: '123' }, ['server', 'filters', 'http', 'fstream']);
after(() => { withGate.cleanup(); withoutGate.cleanup(); withoutUsers.cleanup(); });

function config(dir: string, gateSettings: Record<string, unknown>): string {
  const file = join(dir, `gate-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ 'broadcast-gate': gateSettings }));
  return file;
}

/** 'open' when the server took the handshake and kept the connection, else its answer: the reason, which it is asked for (errors=1). */
async function outcome(port: number, payload: string): Promise<string> {
  const p = await connect(port, rawHandshake(`${payload},errors=1`));
  const r = await Promise.race([p.closed(3000).then((b) => b.toString()), sleep(400).then(() => 'open')]);
  p.socket.destroy();
  return r;
}

test('the operator module decides first: outside its networks even the right password is refused, its secret lets anyone in', T, async () => {
  const cfg = config(withGate.dir, { networks: ['10.0.0.0/8'], secret: 'studio-key' });
  const server = await startWith(withGate, ['-config', cfg]);
  try {
    assert.equal(await outcome(server.port, 'broadcast,user=fier,user_password=123'), 'ERROR broadcasting is not allowed from your network\n');
    assert.equal(await outcome(server.port, 'token,user=fier,user_password=123'), 'ERROR broadcasting is not allowed from your network\n');
    assert.equal(await outcome(server.port, 'broadcast,user=guest,user_password=studio-key,channel_password=p'), 'open', 'the shared secret, for a user with no file');
    const b = await connect(server.port, rawHandshake('broadcast,user=guest,user_password=studio-key,channel_password=p'));
    await server.waitLog((l) => l.msg === 'fstream broadcaster accepted' && l.mount === '/guest/default' && l.conn !== undefined);
    assert.equal(await outcome(server.port, 'watch,user=guest,channel_password=wrong'), 'ERROR wrong channel password\n', 'watchers are still left to users');
    const w = await connect(server.port, rawHandshake('watch,user=guest,channel_password=p'));
    await server.waitLog((l) => l.msg === 'fstream watcher accepted' && l.mount === '/guest/default');
    b.socket.write(Buffer.alloc(2000, 'g'));
    assert.equal((await w.waitBytes(2000)).toString(), 'g'.repeat(2000));
    b.socket.destroy();
    w.socket.destroy();
  } finally {
    await server.stop();
  }
});

test('inside its networks the operator module defers to users', T, async () => {
  const cfg = config(withGate.dir, { networks: ['127.0.0.0/8'] });
  const s = await startWith(withGate, ['-config', cfg]);
  try {
    assert.equal(await outcome(s.port, 'broadcast,user=fier,user_password=123'), 'open');
    assert.equal(await outcome(s.port, 'broadcast,user=fier,user_password=nope,channel=x'), 'ERROR authentication failed\n');
    assert.equal(await outcome(s.port, 'broadcast,user=guest,user_password=studio-key,channel=x'), 'ERROR authentication failed\n', 'no secret configured');
  } finally {
    await s.stop();
  }
});

test('without the operator module users decides; without users nobody vouches for a broadcaster', T, async () => {
  const s = await startWith(withoutGate);
  try {
    assert.equal(await outcome(s.port, 'broadcast,user=guest,user_password=studio-key'), 'ERROR authentication failed\n');
    assert.equal(await outcome(s.port, 'broadcast,user=fier,user_password=123'), 'open');
  } finally {
    await s.stop();
  }
  const bare = await startServer(['-mods', withoutUsers.mods, '-address', '127.0.0.1:0']);
  try {
    assert.equal(await outcome(bare.port, 'broadcast,user=fier,user_password=123'), 'ERROR no authentication module accepts this broadcaster\n');
    assert.equal(await outcome(bare.port, 'token,user=fier,user_password=123'), 'ERROR no authentication module hands out tokens\n');
  } finally {
    await bare.stop();
  }
});
