/**
 * The engine's use of the frame contract (`core/contracts/frame.ts`): listeners start,
 * burst and resume after a skip only at sync points, get the stream header in
 * force where they start and again when it changes, and a ring smaller than
 * one source read never laps a listener that keeps up.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { Channel } from '../../core/engine/channel.ts';
import { channelDefaults, type ChannelSettings } from '../../core/contracts/channel-settings.ts';
import { Kernel } from '../../core/kernel/kernel.ts';
import { createChannels } from '../../core/engine/channels.ts';
import { Ring } from '../../core/engine/ring.ts';
import { FakeSocket } from '../helpers/fake-socket.ts';
import { root } from '../helpers/server.ts';

function channel(settings: Partial<ChannelSettings> = {}): { k: Kernel; ch: Channel } {
  const k = new Kernel({ channels: createChannels, log: pino({ level: 'silent' }), settings: {}, packageRoot: root });
  return { k, ch: k.channels.create('/test', { ...channelDefaults, ...settings }) };
}

function join(ch: Channel, opts: { noBurst?: boolean } = {}) {
  const socket = new FakeSocket();
  const l = ch.join(socket as unknown as net.Socket, { remoteAddress: '127.0.0.1', protocol: 'test', ...opts });
  return { socket, l };
}

const flushed = () => sleep(5);
/** Frame `n` as text: `K` marks a key frame (sync point), `d` a delta frame. */
const label = (n: number, key: boolean) => `${key ? 'K' : 'd'}${String(n).padStart(3, '0')};`;

/** Pushes frames `from`..`to`-1; every `gop`-th is a sync point; `header` goes with each. */
function push(ch: Channel, from: number, to: number, gop: number, header?: Buffer, ms = 0): void {
  for (let n = from; n < to; n++) ch.pushFrame(Buffer.from(label(n, n % gop === 0)), ms, n % gop === 0, header);
}

test('ring: sync point search, bursts back to a sync point, header breaks', () => {
  const ring = new Ring(10);
  assert.equal(ring.burstStart(0, 0), -1, 'an empty ring has no start point');
  const h1 = Buffer.from('H1');
  const h2 = Buffer.from('H2');
  for (let n = 0; n < 14; n++) ring.push(Buffer.from('x'), 0, n % 4 === 0, n < 12 ? h1 : h2);
  // Held: 4..13; sync points 4, 8, 12.
  assert.equal(ring.nextSync(0), 4, 'never before the oldest frame');
  assert.equal(ring.nextSync(9), 12);
  assert.equal(ring.nextSync(13), -1);
  assert.equal(ring.prevSync(11), 8);
  assert.equal(ring.prevSync(7), 4);
  assert.equal(ring.prevSync(7, 5), -1, 'not before the floor');
  assert.equal(ring.burstStart(0, 1), 12, 'one byte of burst: back to the newest sync point');
  assert.equal(ring.burstStart(0, 3), 8, 'three frames back is 11: the sync point before it is 8');
  assert.equal(ring.burstStart(0, 0), 12, 'the live edge is the newest sync point');
  assert.equal(ring.burstStart(0, 100, 9), 12, 'none between the floor and 11: forward to the next');
  assert.equal(ring.headerAt(11), h1);
  assert.equal(ring.headerAt(12), h2);
  assert.equal(ring.headerBreak(8, 14), 12);
  assert.equal(ring.headerBreak(12, 14), 14);
});

test('a new listener gets the header in force and starts at a sync point, the burst reaching back to one', async () => {
  const { k, ch } = channel({ burstBytes: 15, sourceBuffer: 50 });
  const h = Buffer.from('[HDR]');
  push(ch, 0, 13, 5, h);
  const { socket } = join(ch);
  // 15 bytes is three frames back (frame 10), which is a sync point.
  assert.equal(socket.text, '[HDR]K010;d011;d012;');
  push(ch, 13, 14, 5, h);
  await flushed();
  assert.equal(socket.text, '[HDR]K010;d011;d012;d013;', 'the header is not repeated while it stays the same');
  const late = join(ch, { noBurst: true });
  assert.equal(late.socket.text, '[HDR]K010;d011;d012;d013;', 'the live edge of a GOP stream is its newest sync point');
  k.channels.closeAll();
});

test('a listener joining before any sync point waits for one; frames before it are not sent', async () => {
  const { k, ch } = channel({ burstBytes: 0 });
  const h = Buffer.from('[H]');
  for (let n = 1; n < 4; n++) ch.pushFrame(Buffer.from(label(n, false)), 0, false, h);
  const { socket, l } = join(ch);
  assert.equal(socket.text, '');
  ch.pushFrame(Buffer.from(label(4, false)), 0, false, h);
  await flushed();
  assert.equal(socket.text, '', 'still no sync point');
  ch.pushFrame(Buffer.from(label(5, true)), 0, true, h);
  ch.pushFrame(Buffer.from(label(6, false)), 0, false, h);
  await flushed();
  assert.equal(socket.text, '[H]K005;d006;');
  assert.equal(l.framesSkipped, 0, 'waiting to start is not skipping');
  k.channels.closeAll();
});

test('a lapped listener resumes at a sync point, with the header again only when it changed', async () => {
  const { k, ch } = channel({ burstBytes: 0, sourceBuffer: 8 });
  const h1 = Buffer.from('[H1]');
  const h2 = Buffer.from('[H2]');
  const same = join(ch);
  const changed = join(ch);
  push(ch, 0, 3, 4, h1);
  await flushed();
  same.socket.writableLength = changed.socket.writableLength = 1 << 20; // their peers stopped reading
  push(ch, 3, 20, 4, h1);
  await flushed();
  same.socket.writableLength = 0;
  same.socket.emit('drain');
  await flushed();
  // Held: 12..19; the newest sync point is 16.
  assert.equal(same.socket.text, '[H1]K000;d001;d002;K016;d017;d018;d019;');
  assert.equal(same.l.framesSkipped, 13);
  push(ch, 20, 30, 4, h2);
  await flushed();
  changed.socket.writableLength = 0;
  changed.socket.emit('drain');
  await flushed();
  assert.equal(changed.socket.text, '[H1]K000;d001;d002;[H2]K028;d029;');
  assert.ok(same.socket.text.endsWith('d019;[H2]K020;d021;d022;d023;K024;d025;d026;d027;K028;d029;'), 'a listener that keeps up gets the new header where it changes');
  k.channels.closeAll();
});

test('a ring smaller than one read never laps a listener that keeps up; one that does not keep up is lapped', async () => {
  const { k, ch } = channel({ burstBytes: 0, sourceBuffer: 4 });
  const fast = join(ch);
  const stuck = join(ch);
  ch.pushFrame(Buffer.from(label(0, true)), 0);
  await flushed();
  stuck.socket.writableLength = 1 << 20;
  // One source read's worth of frames arrives in one go, with no turn of the event loop between them.
  for (let n = 1; n < 40; n++) ch.pushFrame(Buffer.from(label(n, true)), 0);
  await flushed();
  assert.equal(fast.socket.text, Array.from({ length: 40 }, (_, n) => label(n, true)).join(''));
  assert.equal(fast.l.framesSkipped, 0);
  stuck.socket.writableLength = 0;
  stuck.socket.emit('drain');
  await flushed();
  assert.equal(stuck.socket.text, `${label(0, true)}${label(39, true)}`);
  assert.equal(stuck.l.framesSkipped, 38);
  k.channels.closeAll();
});

test('the burst is media time back to a sync point when frames know their duration', () => {
  const { k, ch } = channel({ burst: 100, sourceBuffer: 100 });
  push(ch, 0, 40, 10, undefined, 20);
  const { socket } = join(ch);
  // 100 ms is five 20 ms frames back (frame 35); the sync point at or before it is 30.
  assert.ok(socket.text.startsWith('K030;'), socket.text.slice(0, 20));
  k.channels.closeAll();
});

test('a listener moved to another channel stays connected and goes on at its newest sync point, its header first', async () => {
  const k = new Kernel({ channels: createChannels, log: pino({ level: 'silent' }), settings: {}, packageRoot: root });
  const a = k.channels.create('/a', { ...channelDefaults, burstBytes: 0 });
  const b = k.channels.create('/b', { ...channelDefaults, burstBytes: 0 });
  const { socket, l } = join(a);
  push(a, 0, 3, 1, Buffer.from('[HA]'));
  await flushed();
  push(b, 0, 8, 3, Buffer.from('[HB]'));
  assert.equal(a.moveListener(l, b), true);
  assert.equal(a.moveListener(l, b), false, 'it is no longer a listener of /a');
  assert.equal(l.channel, b);
  assert.deepEqual([a.listeners.length, b.listeners.length], [0, 1]);
  await flushed();
  assert.equal(socket.text, '[HA]K000;K001;K002;[HB]K006;d007;');
  assert.equal(socket.destroyed, false);
  socket.destroy();
  assert.equal(b.listeners.length, 0, 'closing its socket takes it out of the channel it is in now');
  k.channels.closeAll();
});
