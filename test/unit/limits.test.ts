import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { channelDefaults } from '../../core/contracts/channel-settings.ts';
import { createChannels } from '../../core/engine/channels.ts';
import { Kernel } from '../../core/kernel/kernel.ts';
import { RawFramer } from '../../mods/filters/raw.ts';
import limits from '../../mods/limits/index.ts';
import { listenerRefusal, sourceRefusal } from '../../mods/limits/door.ts';
import { DurationSweep } from '../../mods/limits/duration-sweep.ts';
import { limitsAt, shortestDuration, type LimitsSettings } from '../../mods/limits/settings.ts';
import { root } from '../helpers/server.ts';

const off: LimitsSettings = { maxListeners: 0, maxListenersPerChannel: 0, maxSources: 0, maxListenerDuration: 0, mounts: {} };

function kernel(): Kernel {
  const k = new Kernel({ channels: createChannels, log: pino({ level: 'silent' }), settings: {}, packageRoot: root });
  k.hooks.frameFilter.for('raw').tap('test', (o) => new RawFramer(o));
  return k;
}
const src = () => ({ readable: new PassThrough(), describe: 'test', close() {} });

test('limits at a mount: its own where set (0 included), else the server-wide ones', () => {
  const s = { ...off, maxListenersPerChannel: 5, maxListenerDuration: 60_000, mounts: { '/a': { maxListeners: 0 }, '/b': { maxListenerDuration: 1000 } } };
  assert.deepEqual(limitsAt(s, '/a'), { maxListeners: 0, maxListenerDuration: 60_000 });
  assert.deepEqual(limitsAt(s, '/b'), { maxListeners: 5, maxListenerDuration: 1000 });
  assert.deepEqual(limitsAt(s, '/constructor'), { maxListeners: 5, maxListenerDuration: 60_000 }, 'no inherited keys');
  assert.equal(shortestDuration(s), 1000);
  assert.equal(shortestDuration(off), 0);
});

test('the door: the channel\'s limit first, then the server\'s; all 0 refuses nothing', () => {
  const s = { ...off, maxListeners: 10, mounts: { '/a': { maxListeners: 2 } } };
  assert.equal(listenerRefusal(s, '/a', 1, 9), undefined);
  assert.equal(listenerRefusal(s, '/a', 2, 2)?.kind, 'channelListeners');
  assert.equal(listenerRefusal(s, '/b', 100, 10)?.kind, 'serverListeners');
  assert.equal(listenerRefusal(off, '/a', 1e6, 1e6), undefined);
  assert.equal(sourceRefusal({ ...off, maxSources: 1 }, 1)?.reason, 'server is full: it takes at most 1 broadcasters');
  assert.equal(sourceRefusal(off, 1e6), undefined);
});

test('engine: sourceAttach may refuse a broadcaster with a reason, after the configured and busy checks', () => {
  const k = kernel();
  const seen: string[] = [];
  k.hooks.sourceAttach.tap('test', (mount) => { seen.push(mount); return mount === '/no' ? 'full' : undefined; });
  assert.deepEqual(k.channels.attachSource('/no', channelDefaults, src()), { refused: 'limit', reason: 'full' });
  assert.equal(k.channels.get('/no'), undefined, 'no channel made for a refused broadcaster');
  assert.ok('channel' in k.channels.attachSource('/yes', channelDefaults, src()), 'let in');
  assert.deepEqual(k.channels.attachSource('/yes', channelDefaults, src()), { refused: 'busy' });
  assert.deepEqual(seen, ['/no', '/yes'], 'not asked about a mount that is busy anyway');
  k.channels.closeAll();
});

test('engine: an allow decision\'s maxDurationMs ends that listener; its timer goes when it leaves', async () => {
  const k = kernel();
  const ch = k.channels.create('/d', channelDefaults);
  k.hooks.authenticate.tap('t', (req) => (req.user === 'short' ? { allow: true, maxDurationMs: 50 } : { allow: true }));
  const join = async (user: string) => {
    const a = await ch.admit({ protocol: 'test', remoteAddress: '127.0.0.1', user });
    assert.ok(!('status' in a), `${user} let in`);
    return a.join(new PassThrough() as never, { remoteAddress: '127.0.0.1', protocol: 'test' });
  };
  const short = await join('short');
  const other = await join('other');
  await sleep(150);
  assert.ok(short.closed, 'the limited listener was ended');
  assert.ok(!other.closed, 'the other stays');
  k.channels.closeAll();
});

test('DurationSweep: ends the listeners past their mount\'s limit, and only those', () => {
  const k = kernel();
  const a = k.channels.create('/a', channelDefaults);
  const b = k.channels.create('/b', channelDefaults);
  const old = a.join(new PassThrough() as never, { remoteAddress: 'x', protocol: 'test' });
  const young = a.join(new PassThrough() as never, { remoteAddress: 'y', protocol: 'test' });
  const unlimited = b.join(new PassThrough() as never, { remoteAddress: 'z', protocol: 'test' });
  (old as { joinedAt: number }).joinedAt -= 5000;
  (unlimited as { joinedAt: number }).joinedAt -= 5000;
  const ended: string[] = [];
  const sweep = new DurationSweep(k.channels, (mount) => (mount === '/a' ? 1000 : 0), (l) => ended.push(l.remoteAddress));
  sweep.sweep(Date.now());
  assert.deepEqual(ended, ['x']);
  assert.ok(old.closed && !young.closed && !unlimited.closed, 'only the listener past its time');
  k.channels.closeAll();
});

test('the module: two listeners admitted in the same turn cannot both take the last place; a HEAD-like admission gives it back', async () => {
  const k = new Kernel({
    channels: createChannels, log: pino({ level: 'silent' }), packageRoot: root,
    settings: { limits: { ...off, maxListenersPerChannel: 1 } },
  });
  await k.apply(limits, 1000);
  const ch = k.channels.create('/r', channelDefaults);
  const asker = { protocol: 'test', remoteAddress: '127.0.0.1' };
  const [first, second] = await Promise.all([ch.admit(asker), ch.admit(asker)]);
  assert.ok(!('status' in first!), 'the first is let in');
  assert.deepEqual(second, { status: 503, reason: '/r is full: it takes at most 1 listeners' });
  await sleep(5);
  // The first never joined (as a HEAD request): its place is free again.
  const third = await ch.admit(asker);
  assert.ok(!('status' in third), 'the unused place is given back after the turn');
  third.join(new PassThrough() as never, { remoteAddress: '127.0.0.1', protocol: 'test' });
  await sleep(5);
  assert.deepEqual(await ch.admit(asker), { status: 503, reason: '/r is full: it takes at most 1 listeners' }, 'a joined listener counts itself');
  k.channels.closeAll();
});
