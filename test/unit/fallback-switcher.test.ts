/**
 * The fallback module on the real engine, without sockets or encoders: pushed
 * sources are PassThrough streams of raw frames, listeners fake sockets.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { channelDefaults, type ChannelSettings } from '../../core/contracts/channel-settings.ts';
import type { Channel } from '../../core/engine/channel.ts';
import { createChannels } from '../../core/engine/channels.ts';
import { Kernel } from '../../core/kernel/kernel.ts';
import fallback from '../../mods/fallback/index.ts';
import type { MountFallback } from '../../mods/fallback/settings.ts';
import { RawFramer } from '../../mods/filters/raw.ts';
import { FakeSocket } from '../helpers/fake-socket.ts';
import { root } from '../helpers/server.ts';

const SIZE = 100;
const settings: ChannelSettings = { ...channelDefaults, filter: 'raw', frameBytes: SIZE, burstBytes: 0 };

function kernel(mounts: Record<string, MountFallback>): Kernel {
  const k = new Kernel({ channels: createChannels, log: pino({ level: 'silent' }), settings: {}, packageRoot: root });
  k.hooks.frameFilter.for('raw').tap('test', (o) => new RawFramer(o));
  void fallback.apply(k, { mounts });
  return k;
}

/** A broadcaster on `mount` whose frames carry `tag` in their first byte. */
function push(k: Kernel, mount: string, tag: number, s: ChannelSettings = settings) {
  const readable = new PassThrough();
  const attached = k.channels.attachSource(mount, s, { readable, describe: `test ${mount}`, close: () => readable.destroy() });
  assert.ok('channel' in attached, `attached to ${mount}`);
  return {
    channel: attached.channel,
    send: (n = 3) => { for (let i = 0; i < n; i++) readable.write(Buffer.alloc(SIZE, tag)); },
    drop: () => readable.end(),
  };
}

function listen(ch: Channel) {
  const socket = new FakeSocket();
  const l = ch.join(socket as unknown as net.Socket, { remoteAddress: '127.0.0.1', protocol: 'test' });
  return { socket, l, tags: () => [...new Set(Buffer.concat(socket.writes).filter((_, i) => i % SIZE === 0))] };
}

/** Polls until `done` holds (the switcher looks at a returning source every 40 ms). */
async function until(done: () => boolean, what: string, ms = 2000): Promise<void> {
  for (const end = Date.now() + ms; !done(); await sleep(10)) if (Date.now() > end) assert.fail(`${what} within ${ms} ms`);
}

test('a dropped broadcaster: listeners move to the fallback at once, joiners too, and all come back once it sends again', async () => {
  const k = kernel({ '/a': { fallback: '/b', fallbackOverride: true } });
  const b = push(k, '/b', 0xbb);
  b.send();
  const a = push(k, '/a', 0xaa);
  a.send();
  await sleep(10);
  const one = listen(a.channel);
  a.send();
  a.drop();
  await until(() => one.l.channel.mount === '/b', 'moved to /b');
  assert.equal(one.socket.destroyed, false, 'not disconnected');
  const two = listen(a.channel);
  await until(() => two.l.channel.mount === '/b', 'a joiner moved to /b');
  b.send();
  const again = push(k, '/a', 0xcc);
  assert.equal(again.channel, a.channel, 'the broadcaster resumed the channel in its grace period');
  await sleep(100);
  assert.equal(one.l.channel.mount, '/b', 'nobody moves back before the source has sent a frame');
  again.send();
  await until(() => one.l.channel.mount === '/a' && two.l.channel.mount === '/a', 'both back on /a');
  again.send();
  b.send();
  await sleep(20);
  assert.deepEqual(one.tags(), [0xaa, 0xbb, 0xcc], 'live, fallback, live again: whole frames');
  assert.deepEqual((k.stats().fallback as { listenersMoved: number; listenersReturned: number }), {
    listenersMoved: 2, listenersReturned: 2, formatMismatches: 0, displaced: [],
  });
  k.channels.closeAll();
});

test('without fallbackOverride, listeners stay on a live fallback when the source returns', async () => {
  const k = kernel({ '/a': { fallback: '/b', fallbackOverride: false } });
  const b = push(k, '/b', 0xbb);
  b.send();
  const a = push(k, '/a', 0xaa);
  a.send();
  await sleep(10);
  const one = listen(a.channel);
  a.drop();
  await until(() => one.l.channel.mount === '/b', 'moved to /b');
  const again = push(k, '/a', 0xcc);
  again.send();
  await sleep(150);
  assert.equal(one.l.channel.mount, '/b', 'still on /b');
  assert.deepEqual((k.stats().fallback as { displaced: unknown }).displaced, [{ mount: '/a', on: '/b', listeners: 1 }]);
  // The fallback goes down: back to the mount, which is live.
  b.drop();
  await until(() => one.l.channel.mount === '/a', 'back on /a when /b went down');
  k.channels.closeAll();
});

test('different raw frame filters do not mix; a mount that closes its source when idle keeps its listeners', async () => {
  const k = kernel({ '/a': { fallback: '/b', fallbackOverride: true }, '/idle': { fallback: '/b', fallbackOverride: true } });
  k.hooks.frameFilter.for('chunk').tap('test', (o) => new RawFramer(o));
  const b = push(k, '/b', 0xbb, { ...settings, filter: 'chunk' });
  b.send();
  const a = push(k, '/a', 0xaa);
  a.send();
  // A pulled source opened for the first listener.
  const idleSource = new PassThrough();
  k.hooks.sourceOpen.tap('test', (spec) => (spec.kind === 'test' ? { readable: idleSource, describe: 'test /idle', close: () => idleSource.destroy() } : undefined));
  const idle = k.channels.create('/idle', { ...settings, filter: 'chunk', closeIdle: true }, { kind: 'test' });
  await sleep(10);
  const one = listen(a.channel);
  const two = listen(idle);
  await until(() => idle.source.up, 'the close-idle source opened for its listener');
  idleSource.write(Buffer.alloc(SIZE, 0xdd));
  await sleep(10);
  a.drop();
  idleSource.end();
  await sleep(100);
  assert.equal(one.l.channel.mount, '/a', 'raw stays off a chunk fallback');
  assert.equal(two.l.channel.mount, '/idle', 'a close-idle mount keeps its listeners');
  assert.equal((k.stats().fallback as { formatMismatches: number }).formatMismatches, 1);
  k.channels.closeAll();
});
