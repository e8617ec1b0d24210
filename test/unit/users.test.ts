import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import type { AuthRequest } from '../../core/contracts/auth.ts';
import { channelDefaults } from '../../core/contracts/channel-settings.ts';
import { Kernel } from '../../core/kernel/kernel.ts';
import { createChannels } from '../../core/engine/channels.ts';
import { FailureThrottle } from '../../mods/users/failure-throttle.ts';
import { globToRegExp, mayPublishTo } from '../../mods/users/mounts.ts';
import { isSafeName } from '../../mods/users/names.ts';
import { withPasswordHash } from '../../mods/users/passwd-command.ts';
import { hashPassword, parseHash, verifyHash } from '../../mods/users/password-hash.ts';
import { sameSecret } from '../../core/contracts/secret.ts';
import { TokenBook } from '../../mods/users/tokens.ts';
import { parseUserFile } from '../../mods/users/user-file.ts';
import { UserStore } from '../../mods/users/user-store.ts';
import { AUTH_FAILED, THROTTLED, Users } from '../../mods/users/users.ts';

const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'users-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('safe names: letters, digits, _ and -, no dots, slashes or leading dash', () => {
  for (const ok of ['fier', 'a', 'A_b-9', 'x'.repeat(64)]) assert.ok(isSafeName(ok), ok);
  for (const bad of ['', '.', '..', '../../etc/passwd', 'a/b', 'a.b', '-x', 'x'.repeat(65), 'a b', 'ä', 'a\0']) assert.ok(!isSafeName(bad), bad);
});

test('user files: [DEFAULT] or top level, values always text, quoted passwords keep ; and #', () => {
  assert.deepEqual(parseUserFile('fier', '[DEFAULT]\npassword=foobar\n'), { name: 'fier', password: 'foobar', passwordHash: undefined, mounts: [], admin: false });
  assert.equal(parseUserFile('a', 'password=true\n').password, 'true');
  assert.equal(parseUserFile('a', 'password="x;y#z"\n').password, 'x;y#z');
  assert.equal(parseUserFile('a', '[DEFAULT]\npassword=1\n[other]\npassword=2\n').password, '1');
  const r = parseUserFile('a', 'Password_Hash=scrypt:1\nmounts=/live.mp3, /radio/* ,nope\n');
  assert.equal(r.passwordHash, 'scrypt:1');
  assert.deepEqual(r.mounts, ['/live.mp3', '/radio/*']);
});

test('scrypt hashes verify, and malformed or oversized parameters match nothing', async () => {
  const h = await hashPassword('s3cret');
  assert.match(h, /^scrypt:16384:8:1:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$/);
  assert.ok(await verifyHash('s3cret', h));
  assert.ok(!(await verifyHash('s3cret ', h)));
  assert.ok(!(await verifyHash('s3cret', 'scrypt:garbage')));
  assert.equal(parseHash(h.replace(':16384:', ':4294967296:')), undefined);
  assert.equal(parseHash(h.replace(':16384:', ':1000:')), undefined);
});

test('sameSecret compares whole values', () => {
  assert.ok(sameSecret('abc', 'abc'));
  assert.ok(!sameSecret('abc', 'abcd'));
  assert.ok(!sameSecret('', 'a'));
});

test('tokens: single use, one per user, expiring', () => {
  let now = 1000;
  const book = new TokenBook(120_000, () => now);
  const t1 = book.issue('fier');
  assert.match(t1, /^[A-Za-z0-9_-]{43}$/);
  assert.ok(!book.consume('other', t1));
  assert.ok(book.consume('fier', t1));
  assert.ok(!book.consume('fier', t1), 'reused');
  const t2 = book.issue('fier');
  const t3 = book.issue('fier');
  assert.ok(!book.consume('fier', t2), 'replaced');
  now += 120_000;
  assert.ok(!book.consume('fier', t3), 'expired');
  book.issue('a');
  now += 200_000;
  book.issue('b');
  assert.equal(book.size, 1, 'expired tokens are swept');
});

test('failure throttle: refuses after max failures in the window, per address, bounded', () => {
  let now = 0;
  const t = new FailureThrottle(3, 60_000, () => now, 2);
  for (let i = 0; i < 3; i++) { assert.ok(!t.blocked('a')); t.fail('a'); }
  assert.ok(t.blocked('a'));
  assert.ok(!t.blocked('b'));
  now += 60_000;
  assert.ok(!t.blocked('a'), 'window over');
  t.fail('x'); t.fail('y'); t.fail('z');
  assert.ok(!new FailureThrottle(0, 1000).blocked('a'));
});

test('mounts: own /NAME/x, plus glob patterns', () => {
  assert.ok(mayPublishTo('fier', [], '/fier/default'));
  assert.ok(mayPublishTo('fier', [], '/fier/live.mp3'));
  assert.ok(!mayPublishTo('fier', [], '/fier/a/b'));
  assert.ok(!mayPublishTo('fier', [], '/other/default'));
  assert.ok(!mayPublishTo('fier', [], '/fier/..'));
  assert.ok(mayPublishTo('fier', ['/live.mp3', '/radio/*'], '/live.mp3'));
  assert.ok(mayPublishTo('fier', ['/radio/*'], '/radio/jazz'));
  assert.ok(!mayPublishTo('fier', ['/radio/*'], '/radio/a/b'));
  assert.ok(mayPublishTo('fier', ['/radio/**'], '/radio/a/b'));
  assert.ok(!mayPublishTo('fier', ['/live.mp3'], '/liveXmp3'));
  assert.ok(globToRegExp('/a?c').test('/abc'));
});

test('passwd keeps other lines and leaves one password_hash in [DEFAULT]', () => {
  assert.equal(withPasswordHash('', 'H'), '[DEFAULT]\npassword_hash=H\n');
  assert.equal(withPasswordHash('# me\n[DEFAULT]\npassword=old\nmounts=/a\n', 'H'), '# me\n[DEFAULT]\npassword_hash=H\nmounts=/a\n');
  assert.equal(withPasswordHash('password = x\r\nmounts=/a\r\n', 'H'), '[DEFAULT]\npassword_hash=H\nmounts=/a\n');
  assert.equal(withPasswordHash('[x]\ny=1\n', 'H'), 'password_hash=H\n[x]\ny=1\n');
});

test('the store picks up new, changed and removed files without a restart', async () => {
  const store = new UserStore(dir, log);
  assert.equal(await store.get('neo'), undefined);
  writeFileSync(join(dir, 'neo.ini'), '[DEFAULT]\npassword=one\n');
  assert.equal((await store.get('neo'))?.password, 'one');
  writeFileSync(join(dir, 'neo.ini'), '[DEFAULT]\npassword=two!\n');
  assert.equal((await store.get('neo'))?.password, 'two!');
  unlinkSync(join(dir, 'neo.ini'));
  assert.equal(await store.get('neo'), undefined);
  assert.equal(await store.get('../neo'), undefined);
});

test('authenticate: passwords, hashes, tokens, mounts, channel passwords, throttling', async () => {
  writeFileSync(join(dir, 'fier.ini'), '[DEFAULT]\npassword=123\n');
  writeFileSync(join(dir, 'hashed.ini'), `[DEFAULT]\npassword_hash=${await hashPassword('pw')}\nmounts=/live.mp3\n`);
  writeFileSync(join(dir, 'nopass.ini'), '[DEFAULT]\npassword=\n');
  writeFileSync(join(dir, 'boss.ini'), '[DEFAULT]\npassword=adm\nadmin=true\n');
  const kernel = new Kernel({ channels: createChannels, log, settings: {}, packageRoot: dir });
  const users = new Users(new UserStore(dir, log), new TokenBook(60_000), new FailureThrottle(20, 60_000), kernel.channels, log);
  const ask = (r: Partial<AuthRequest>) => users.authenticate({ action: 'broadcast', protocol: 'test', remoteAddress: '10.0.0.1', ...r });
  assert.deepEqual(await ask({ user: 'fier', password: '123', mount: '/fier/default' }), { allow: true, user: 'fier' });
  assert.deepEqual(await ask({ user: 'fier', password: '1234' }), { allow: false, reason: AUTH_FAILED });
  assert.deepEqual(await ask({ user: 'ghost', password: '123' }), { allow: false, reason: AUTH_FAILED });
  assert.deepEqual(await ask({ user: 'nopass', password: '' }), { allow: false, reason: AUTH_FAILED });
  assert.deepEqual(await ask({ user: 'hashed', password: 'pw', mount: '/live.mp3' }), { allow: true, user: 'hashed' });
  assert.deepEqual(await ask({ user: 'hashed', password: 'pw', mount: '/other.mp3' }), { allow: false, reason: 'user hashed may not publish to /other.mp3', forbidden: true });
  assert.deepEqual(await ask({ action: 'token', user: 'fier', password: '123' }), { allow: true, user: 'fier' });
  const token = users.issueToken('fier');
  assert.deepEqual(await ask({ user: 'fier', token }), { allow: true, user: 'fier' });
  assert.deepEqual(await ask({ user: 'fier', token }), { allow: false, reason: AUTH_FAILED });
  assert.equal(await ask({ action: 'admin', user: 'fier', password: '123' }), undefined, 'not an admin: left to the caller');
  assert.deepEqual(await ask({ action: 'admin', user: 'boss', password: 'adm' }), { allow: true, user: 'boss' });
  assert.equal(await ask({ action: 'admin', user: 'boss', password: 'wrong' }), undefined);
  assert.ok(await users.checkPassword('fier', '123', '10.0.0.1'));
  assert.ok(await users.mayPublish('hashed', '/live.mp3'));

  const channel = kernel.channels.create('/fier/default', channelDefaults);
  assert.equal(await ask({ action: 'watch', mount: '/fier/default' }), undefined, 'no channel password: no opinion');
  channel.info.password = '456';
  assert.deepEqual(await ask({ action: 'watch', mount: '/fier/default', channelPassword: '456' }), { allow: true });
  assert.deepEqual(await ask({ action: 'watch', mount: '/fier/default' }), { allow: false, reason: 'wrong channel password' });

  const strict = new Users(new UserStore(dir, log), new TokenBook(60_000), new FailureThrottle(2, 60_000), kernel.channels, log);
  const from = (remoteAddress: string, password: string) => strict.authenticate({ action: 'token', protocol: 'test', remoteAddress, user: 'fier', password });
  await from('10.9.9.9', 'x');
  await from('10.9.9.9', 'y');
  assert.deepEqual(await from('10.9.9.9', '123'), { allow: false, reason: THROTTLED }, 'even the right password once throttled');
  assert.deepEqual(await from('10.9.9.8', '123'), { allow: true, user: 'fier' });
  kernel.channels.closeAll();
});
