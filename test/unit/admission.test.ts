/**
 * One way in: every protocol admits listeners through `channel.admit` and
 * attaches broadcasters through `channels.attachSource`, so authentication,
 * the channel password and `listenerJoin` limits hold for all of them.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import { pino } from 'pino';
import type { Refusal } from '../../core/engine/channel.ts';
import { channelDefaults } from '../../core/contracts/channel-settings.ts';
import { createChannels } from '../../core/engine/channels.ts';
import { Kernel } from '../../core/kernel/kernel.ts';
import { RawFramer } from '../../mods/filters/raw.ts';
import { root } from '../helpers/server.ts';

function kernel(): Kernel {
  const k = new Kernel({ channels: createChannels, log: pino({ level: 'silent' }), settings: {}, packageRoot: root });
  k.hooks.frameFilter.for('raw').tap('test', (o) => new RawFramer(o));
  return k;
}
const asker = { protocol: 'test', remoteAddress: '127.0.0.9' };

test('admit: the authenticate hook decides, 401 or 403; the identity it gives is the listener\'s', async () => {
  const k = kernel();
  const ch = k.channels.create('/a', channelDefaults);
  k.hooks.authenticate.tap('gate', (req) => {
    assert.equal(req.action, 'watch');
    assert.equal(req.mount, '/a');
    if (req.user === 'eve') return { allow: false, reason: 'eve may not' };
    if (req.user === 'bob') return { allow: false, reason: 'not bob\'s', forbidden: true };
    return { allow: true, user: 'alice@example' };
  });
  assert.deepEqual(await ch.admit({ ...asker, user: 'eve' }), { status: 401, reason: 'eve may not' });
  assert.deepEqual(await ch.admit({ ...asker, user: 'bob' }), { status: 403, reason: 'not bob\'s' });
  const ok = await ch.admit({ ...asker, user: 'alice' });
  assert.ok(!('status' in ok), 'alice is let in');
  assert.equal(ok.user, 'alice@example');
  k.channels.closeAll();
  assert.deepEqual(await ch.admit(asker), { status: 404, reason: 'channel /a has ended' });
});

test('admit: with no module deciding, the broadcaster\'s channel password still holds', async () => {
  const k = kernel();
  const ch = k.channels.create('/b', channelDefaults);
  ch.info.password = 's3cret';
  assert.deepEqual(await ch.admit({ ...asker, channelPassword: 'guess' }), { status: 401, reason: 'wrong channel password' });
  assert.ok(!('status' in (await ch.admit({ ...asker, channelPassword: 's3cret' }))), 'the right password lets in');
  k.channels.closeAll();
});

test('admit: listenerJoin sees the live count and may refuse with 503', async () => {
  const k = kernel();
  const ch = k.channels.create('/c', channelDefaults);
  const seen: number[] = [];
  k.hooks.listenerJoin.tap('limit', (req) => {
    seen.push(req.listeners);
    return req.listeners >= 1 ? 'channel full' : undefined;
  });
  const first = await ch.admit(asker);
  assert.ok(!('status' in first), 'the first listener is let in');
  const socket = new PassThrough() as never;
  first.join(socket, { remoteAddress: asker.remoteAddress, protocol: 'test' });
  assert.equal(ch.listeners.length, 1);
  assert.deepEqual(await ch.admit(asker) as Refusal, { status: 503, reason: 'channel full' });
  assert.deepEqual(seen, [0, 1]);
  k.channels.closeAll();
});

test('attachSource: refused on a configured or live mount; resumes a channel in its grace period unless incompatible', async () => {
  const k = kernel();
  const src = () => ({ readable: new PassThrough(), describe: 'test', close() {} });
  k.channels.create('/configured', channelDefaults, { kind: 'nothing' });
  assert.deepEqual(k.channels.attachSource('/configured', channelDefaults, src()), { refused: 'configured' });
  const first = k.channels.attachSource('/live', channelDefaults, src());
  assert.ok('channel' in first && !first.resumed, 'a new channel for the first broadcaster');
  assert.deepEqual(k.channels.attachSource('/live', channelDefaults, src()), { refused: 'busy' });
  // The broadcaster drops: its channel and listeners wait for the grace period.
  (first.channel.source as unknown as { current: { readable: PassThrough } }).current.readable.end();
  await setImmediate();
  assert.equal(first.channel.source.up, false);
  const back = k.channels.attachSource('/live', channelDefaults, src());
  assert.ok('channel' in back && back.resumed && back.channel === first.channel, 'the returning broadcaster resumes the channel');
  (back.channel.source as unknown as { current: { readable: PassThrough } }).current.readable.end();
  await setImmediate();
  const other = k.channels.attachSource('/live', channelDefaults, src(), { compatible: () => false });
  assert.ok('channel' in other && !other.resumed && other.channel !== first.channel, 'another format gets a channel of its own');
  assert.equal(first.channel.closed, true);
  k.channels.closeAll();
});

/** Every .ts file under mods/, as paths relative to the repository. */
function modFiles(dir = join(root, 'mods')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? modFiles(p) : e.name.endsWith('.ts') ? [relative(root, p)] : [];
  });
}

test('no module lets a listener or a broadcaster in any other way, nor calls the hooks that decide', () => {
  const ways = [
    [/(?<!admission)\.join\(\s*socket\b/, 'channel.join (use channel.admit)'],
    [/\.source\.attach\(/, 'source.attach (use channels.attachSource)'],
    [/hooks\.(authenticate|listenerJoin|connection|stats|sourceOpen)\.(promise|call)\(/, 'calling a kernel hook (use kernel.authenticate/claim/stats)'],
  ] as const;
  const found: string[] = [];
  for (const file of modFiles()) {
    const text = readFileSync(join(root, file), 'utf8');
    for (const [re, what] of ways) if (re.test(text)) found.push(`${file}: ${what}`);
  }
  assert.deepEqual(found, []);
});
