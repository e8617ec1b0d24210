// Behind a reverse proxy: from a trusted peer the forwarded client address is
// what authentication, the admin listener list and the logs see; from anyone
// else, and without trustedProxies, the headers are ignored.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runCli } from '../helpers/server.ts';
import { ADMIN, basic, eventually, get, listen, startStation, type Station } from './admin-lib.ts';

const T = { timeout: 20_000 };
const dir = mkdtempSync(join(tmpdir(), 'streamserve-proxy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// An operator's module listed before users: it decides nothing, it logs what the authenticate hook is asked.
writeFileSync(join(dir, 'auth-recorder.js'), `export default {
  name: 'auth-recorder',
  apply(kernel) {
    const log = kernel.logger('auth-recorder');
    kernel.hooks.authenticate.tapPromise('auth-recorder', async (r) => {
      log.info({ action: r.action, mount: r.mount, remoteAddress: r.remoteAddress }, 'authenticate asked');
      return undefined;
    });
  },
};
`);
const mods = join(dir, 'proxy.mods');
writeFileSync(mods, ['server', 'filters', 'http', 'source', 'channels', 'status', './auth-recorder.js', 'users', 'admin'].join('\n') + '\n');

/** The address the admin listener list shows for the one listener on /a. */
async function listedAddress(port: number): Promise<string> {
  const doc = JSON.parse((await get(port, '/admin/listclients.json?mount=/a', { Authorization: ADMIN })).text);
  assert.equal(doc.listeners.length, 1, JSON.stringify(doc));
  return doc.listeners[0].address;
}

/** Listens on /a with `headers`; the address the authenticate hook was asked with and the one listed. */
async function seenAs(s: Station, headers: Record<string, string>): Promise<{ auth: unknown; listed: string }> {
  const from = s.server.logs.length;
  const l = await listen(s.server.port, '/a', headers);
  try {
    // The log line may reach us after the stream's first bytes.
    const asked = await eventually('the authenticate hook to be asked about the listener',
      () => s.server.logs.slice(from).find((line) => line.msg === 'authenticate asked' && line.action === 'watch' && line.mount === '/a'), 3000);
    return { auth: asked.remoteAddress, listed: await listedAddress(s.server.port) };
  } finally {
    l.socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('trustedProxies 127.0.0.0/8 with X-Forwarded-For', { timeout: 60_000 }, () => {
  let s: Station;
  after(async () => { await s?.stop(); });

  test('the right-most untrusted hop is the listener, for authenticate and the admin list; junk leaves the peer', T, async () => {
    s = await startStation({ http: { trustedProxies: ['127.0.0.0/8'] } }, mods);
    assert.deepEqual(await seenAs(s, { 'X-Forwarded-For': '203.0.113.9' }), { auth: '203.0.113.9', listed: '203.0.113.9' });
    assert.deepEqual(await seenAs(s, { 'X-Forwarded-For': '6.6.6.6, 203.0.113.9, 127.0.0.2' }), { auth: '203.0.113.9', listed: '203.0.113.9' });
    assert.deepEqual(await seenAs(s, { 'X-Forwarded-For': 'not-an-address' }), { auth: '127.0.0.1', listed: '127.0.0.1' });
    assert.deepEqual(await seenAs(s, { Forwarded: 'for=198.51.100.1' }), { auth: '127.0.0.1', listed: '127.0.0.1' }, 'Forwarded is not the configured header');
  });

  test('an admin request\'s refusal is logged with the forwarded address', T, async () => {
    const res = await get(s.server.port, '/admin/listmounts', { Authorization: basic('boss', 'wrong'), 'X-Forwarded-For': '2001:db8::77' });
    assert.equal(res.status, 401);
    await s.server.waitLog((l) => l.msg === 'authenticate asked' && l.action === 'admin' && l.remoteAddress === '2001:db8::77', 3000);
    await s.server.waitLog((l) => l.msg === 'admin request refused' && l.remote === '2001:db8::77', 3000);
  });
});

describe('forwardedHeader forwarded', { timeout: 60_000 }, () => {
  let s: Station;
  after(async () => { await s?.stop(); });

  test('Forwarded: for="[2001:db8::1]:4711" is 2001:db8::1; X-Forwarded-For is then ignored', T, async () => {
    s = await startStation({ http: { trustedProxies: ['127.0.0.1', '::1'], forwardedHeader: 'forwarded' } }, mods);
    assert.deepEqual(await seenAs(s, { Forwarded: 'for="[2001:db8::1]:4711";proto=https' }), { auth: '2001:db8::1', listed: '2001:db8::1' });
    assert.deepEqual(await seenAs(s, { 'X-Forwarded-For': '203.0.113.9' }), { auth: '127.0.0.1', listed: '127.0.0.1' });
  });
});

describe('without trustedProxies', { timeout: 60_000 }, () => {
  let s: Station;
  after(async () => { await s?.stop(); });

  test('forwarding headers are ignored', T, async () => {
    s = await startStation({}, mods);
    assert.deepEqual(await seenAs(s, { 'X-Forwarded-For': '203.0.113.9', Forwarded: 'for=203.0.113.9' }), { auth: '127.0.0.1', listed: '127.0.0.1' });
  });
});

test('a trustedProxies entry that is no network stops start-up, naming it', T, async () => {
  const cfg = join(dir, 'bad.json');
  writeFileSync(cfg, JSON.stringify({ http: { trustedProxies: ['10.0.0.0/33'] } }));
  const r = await runCli(['-mods', mods, '-config', cfg, '-address', '127.0.0.1:0']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /http\.trustedProxies: "10\.0\.0\.0\/33" is neither an IP address nor address\/prefix/);
});
