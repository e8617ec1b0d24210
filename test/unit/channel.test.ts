import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { Channel } from '../../core/engine/channel.ts';
import { channelDefaults, type ChannelSettings } from '../../core/contracts/channel-settings.ts';
import { Kernel } from '../../core/kernel/kernel.ts';
import { createChannels } from '../../core/engine/channels.ts';
import type { Listener } from '../../core/engine/listener.ts';
import { root } from '../helpers/server.ts';

/** Just enough of a net.Socket for the engine: records writes; `writableLength` is set by the test. */
class FakeSocket extends EventEmitter {
  writes: Buffer[] = [];
  writableLength = 0;
  destroyed = false;
  writableEnded = false;
  corked = 0;
  cork() { this.corked++; }
  uncork() { this.corked--; }
  write(data: Buffer | string) {
    this.writes.push(Buffer.from(data));
    return true;
  }
  end() {
    this.writableEnded = true;
  }
  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
  get bytes(): Buffer {
    return Buffer.concat(this.writes);
  }
}

function kernel(): Kernel {
  return new Kernel({ channels: createChannels, log: pino({ level: 'silent' }), settings: {}, packageRoot: root });
}

function channel(settings: Partial<ChannelSettings> = {}): { k: Kernel; ch: Channel } {
  const k = kernel();
  const ch = k.channels.create('/test', { ...channelDefaults, ...settings });
  return { k, ch };
}

function join(ch: Channel, opts: { noBurst?: boolean } = {}): { socket: FakeSocket; l: Listener } {
  const socket = new FakeSocket();
  const l = ch.join(socket as unknown as net.Socket, { remoteAddress: '127.0.0.1', protocol: 'test', ...opts });
  return { socket, l };
}

/** A frame of `size` bytes whose first 4 bytes are its number. */
function frame(n: number, size = 100): Buffer {
  const b = Buffer.alloc(size, n & 0xff);
  b.writeUInt32BE(n, 0);
  return b;
}

/** Frame numbers in a byte stream of `size`-byte frames; throws on a torn frame. */
function numbers(bytes: Buffer, size = 100): number[] {
  assert.equal(bytes.length % size, 0, `received ${bytes.length} bytes: not whole ${size}-byte frames`);
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    const n = bytes.readUInt32BE(i);
    assert.deepEqual(bytes.subarray(i + 4, i + size), frame(n, size).subarray(4), `frame ${n} is torn`);
    out.push(n);
  }
  return out;
}

/** Lets the engine's scheduled flush run. */
const flushed = () => sleep(5);

test('a listener gets the header first, then a burst from a frame boundary, then live frames in order', async () => {
  const { k, ch } = channel({ burstBytes: 250, sourceBuffer: 10 });
  ch.header = Buffer.from('HEADER');
  for (let i = 0; i < 6; i++) ch.pushFrame(frame(i), 0);
  const { socket, l } = join(ch);
  assert.equal(socket.writes[0]!.toString(), 'HEADER');
  // 250 bytes of burst: frames 3, 4, 5.
  assert.deepEqual(numbers(socket.bytes.subarray(6)), [3, 4, 5]);
  for (let i = 6; i < 9; i++) ch.pushFrame(frame(i), 0);
  await flushed();
  assert.deepEqual(numbers(socket.bytes.subarray(6)), [3, 4, 5, 6, 7, 8]);
  assert.equal(l.framesSent, 6);
  assert.equal(l.cursor, 9);
  assert.equal(l.bytesSent, 600, 'bytesSent counts frames, not the header');
  k.channels.closeAll();
});

test('burst 0 starts at the live edge: the newest complete frame (streamserve)', async () => {
  const { k, ch } = channel({ burstBytes: 0 });
  for (let i = 0; i < 5; i++) ch.pushFrame(frame(i), 0);
  const { socket } = join(ch);
  assert.deepEqual(numbers(socket.bytes), [4]);
  const late = join(ch, { noBurst: true });
  assert.deepEqual(numbers(late.socket.bytes), [4], 'noBurst also starts at the newest frame');
  k.channels.closeAll();
});

test('a listener joining an empty channel starts at the first frame', async () => {
  const { k, ch } = channel();
  const { socket } = join(ch);
  assert.equal(socket.writes.length, 0);
  ch.pushFrame(frame(0), 0);
  ch.pushFrame(frame(1), 0);
  await flushed();
  assert.deepEqual(numbers(socket.bytes), [0, 1]);
  k.channels.closeAll();
});

test('frames arriving between flushes are coalesced into one write shared by listeners at the same cursor', async () => {
  const { k, ch } = channel({ burstBytes: 0 });
  const a = join(ch);
  const b = join(ch);
  for (let i = 0; i < 4; i++) ch.pushFrame(frame(i), 0);
  await flushed();
  assert.equal(a.socket.writes.length, 1, 'one write for four frames');
  assert.equal(b.socket.writes.length, 1);
  assert.deepEqual(numbers(a.socket.bytes), [0, 1, 2, 3]);
  assert.deepEqual(a.socket.bytes, b.socket.bytes);
  assert.equal(ch.bytesOut, 800);
  k.channels.closeAll();
});

test('a listener with a full socket is skipped; once drained, a lapped one jumps to a recent frame and counts the skip', async () => {
  const { k, ch } = channel({ burstBytes: 0, sourceBuffer: 5 });
  const fast = join(ch);
  const slow = join(ch);
  ch.pushFrame(frame(0), 0);
  await flushed();
  slow.socket.writableLength = 1 << 20; // its peer stopped reading
  for (let i = 1; i < 20; i++) {
    ch.pushFrame(frame(i), 0);
    await flushed();
  }
  assert.deepEqual(numbers(slow.socket.bytes), [0], 'nothing more queued for a full socket');
  assert.deepEqual(numbers(fast.socket.bytes), Array.from({ length: 20 }, (_, i) => i));
  slow.socket.writableLength = 0; // drained
  ch.pushFrame(frame(20), 0);
  await flushed();
  const got = numbers(slow.socket.bytes);
  assert.equal(got[0], 0);
  assert.ok(got[1]! > 1, `skipped forward: ${got}`);
  assert.deepEqual(got.slice(1), Array.from({ length: got.length - 1 }, (_, i) => got[1]! + i), 'in order after the skip');
  assert.equal(got.at(-1), 20);
  assert.ok(slow.l.framesSkipped > 0);
  assert.equal(ch.framesSkipped, slow.l.framesSkipped);
  assert.equal(fast.l.framesSkipped, 0);
  k.channels.closeAll();
});

test('client-max-bytes: whole frames until the limit is reached, then the listener is ended', async () => {
  const { k, ch } = channel({ burstBytes: 0, clientMaxBytes: 2500, frameBytes: 1000 });
  const { socket, l } = join(ch);
  for (let i = 0; i < 10; i++) {
    ch.pushFrame(frame(i, 1000), 0);
    await flushed();
  }
  assert.equal(socket.bytes.length, 3000, '2500 rounded up to the end of the third frame');
  assert.deepEqual(numbers(socket.bytes, 1000), [0, 1, 2]);
  assert.equal(socket.writableEnded, true);
  assert.equal(l.closed, true);
  assert.equal(ch.listeners.length, 0);
  k.channels.closeAll();
});

test('client-max-bytes on a late joiner counts from the frame it starts at', async () => {
  const { k, ch } = channel({ burstBytes: 2000, clientMaxBytes: 2000, frameBytes: 1000, sourceBuffer: 20 });
  for (let i = 0; i < 10; i++) ch.pushFrame(frame(i, 1000), 0);
  const { socket } = join(ch);
  await flushed();
  assert.deepEqual(numbers(socket.bytes, 1000), [8, 9]);
  assert.equal(socket.writableEnded, true);
  k.channels.closeAll();
});

test('many listeners reaching client-max-bytes in the same round all end, and the channel keeps flowing', async () => {
  const { k, ch } = channel({ burstBytes: 0, clientMaxBytes: 250, sourceBuffer: 50 });
  const limited = Array.from({ length: 40 }, () => join(ch));
  for (let i = 0; i < 3; i++) ch.pushFrame(frame(i), 0);
  await flushed();
  for (const [i, { socket }] of limited.entries()) {
    assert.deepEqual(numbers(socket.bytes), [0, 1, 2], `listener ${i}`);
    assert.equal(socket.writableEnded, true, `listener ${i} ended`);
  }
  assert.equal(ch.listeners.length, 0);
  // Later listeners (joining after the mass ending) are served: the round did not get stuck.
  const later = Array.from({ length: 3 }, () => join(ch));
  for (let i = 3; i < 6; i++) ch.pushFrame(frame(i), 0);
  await flushed();
  // Each starts at the newest frame at join and, limited too, gets 300 bytes.
  for (const { socket } of later) assert.deepEqual(numbers(socket.bytes), [2, 3, 4]);
  k.channels.closeAll();
});

test('listeners ending mid-round beside unlimited ones: every listener is still written each round', async () => {
  const k = kernel();
  const ch = k.channels.create('/mixed', { ...channelDefaults, burstBytes: 0, sourceBuffer: 50 });
  const unlimited: FakeSocket[] = [];
  const limited: FakeSocket[] = [];
  for (let i = 0; i < 30; i++) {
    const socket = new FakeSocket();
    const maxBytes = i % 2 ? 150 : 0;
    ch.join(socket as unknown as net.Socket, { remoteAddress: '127.0.0.1', protocol: 'test', maxBytes });
    (maxBytes ? limited : unlimited).push(socket);
  }
  for (let i = 0; i < 5; i++) {
    ch.pushFrame(frame(i), 0);
    await flushed();
  }
  for (const s of unlimited) assert.deepEqual(numbers(s.bytes), [0, 1, 2, 3, 4]);
  for (const s of limited) assert.deepEqual(numbers(s.bytes), [0, 1]);
  assert.equal(ch.listeners.length, 15);
  k.channels.closeAll();
});

test('leaving keeps the others served (swap-remove) and fires listenerLeave', async () => {
  const { k, ch } = channel({ burstBytes: 0 });
  const left: number[] = [];
  k.hooks.listenerLeave.tap('test', (l) => { left.push(l.id); });
  const [a, b, c] = [join(ch), join(ch), join(ch)];
  b.socket.destroy();
  assert.deepEqual(left, [b.l.id]);
  assert.equal(ch.listeners.length, 2);
  for (const [i, l] of ch.listeners.entries()) assert.equal(l.slot, i);
  ch.pushFrame(frame(0), 0);
  await flushed();
  assert.deepEqual(numbers(a.socket.bytes), [0]);
  assert.deepEqual(numbers(c.socket.bytes), [0]);
  assert.equal(b.socket.writes.length, 0);
  assert.equal(ch.listenerPeak, 3);
  k.channels.closeAll();
});

test('no hook runs per frame: a thousand frames to ten listeners call none', async () => {
  const { k, ch } = channel({ burstBytes: 0, sourceBuffer: 2000 });
  const listeners = Array.from({ length: 10 }, () => join(ch));
  let calls = 0;
  for (const hook of Object.values(k.hooks)) {
    if ('intercept' in hook && !('for' in hook)) hook.intercept({ call: () => { calls++; } } as never);
  }
  for (let i = 0; i < 1000; i++) ch.pushFrame(frame(i), 0);
  // A round is cut into time slices, so give it until every listener has been reached.
  for (let t = 0; t < 100 && listeners.some(({ socket }) => socket.bytes.length < 100_000); t++) await flushed();
  assert.equal(calls, 0);
  for (const { socket } of listeners) assert.equal(numbers(socket.bytes).length, 1000);
  k.channels.closeAll();
});

test('closing the channel right after the last frames still delivers them (a source\'s final bytes before EOF)', async () => {
  const { k, ch } = channel({ burstBytes: 0 });
  const a = join(ch);
  const b = join(ch);
  for (let i = 0; i < 5; i++) ch.pushFrame(frame(i), 0);
  k.channels.closeAll(); // before the scheduled flush ran
  assert.deepEqual(numbers(a.socket.bytes), [0, 1, 2, 3, 4]);
  assert.deepEqual(numbers(b.socket.bytes), [0, 1, 2, 3, 4]);
  assert.equal(a.socket.writableEnded, true);
  await flushed(); // the flush scheduled before closing finds nothing left to do
  assert.equal(a.socket.writes.length, 1);
});

test('closing the channel ends every listener', async () => {
  const { k, ch } = channel();
  const a = join(ch);
  const b = join(ch);
  k.channels.closeAll();
  assert.equal(a.socket.writableEnded, true);
  assert.equal(b.socket.writableEnded, true);
  assert.equal(ch.listeners.length, 0);
  assert.equal(ch.closed, true);
});

test('over loopback: a peer that never reads holds at most the backlog cap plus one payload; a reading one gets every frame', async () => {
  const { k, ch } = channel({ burstBytes: 0, sourceBuffer: 16, frameBytes: 1000 });
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const accepted: net.Socket[] = [];
  server.on('connection', (s) => accepted.push(s));

  const stalled = net.connect(port, '127.0.0.1');
  stalled.pause();
  const reader = net.connect(port, '127.0.0.1');
  const got: Buffer[] = [];
  reader.on('data', (d) => got.push(d));
  await Promise.all([once(stalled, 'connect'), once(reader, 'connect')]);
  while (accepted.length < 2) await sleep(1);
  const [stalledSide, readerSide] = accepted as [net.Socket, net.Socket];
  const ls = ch.join(stalledSide, { remoteAddress: 'stalled', protocol: 'test' });
  ch.join(readerSide, { remoteAddress: 'reader', protocol: 'test' });

  let maxBacklog = 0;
  const total = 20_000; // 20 MB, more than loopback buffers hold
  for (let i = 0; i < total; i++) {
    ch.pushFrame(frame(i, 1000), 0);
    if (i % 50 === 49) {
      await sleep(0);
      await new Promise((r) => setImmediate(r));
      maxBacklog = Math.max(maxBacklog, stalledSide.writableLength);
    }
  }
  await sleep(200);
  maxBacklog = Math.max(maxBacklog, stalledSide.writableLength);
  assert.ok(maxBacklog <= 64 * 1024 + 16 * 1000, `stalled listener's backlog reached ${maxBacklog} bytes`);
  assert.ok(ls.framesSent < total, 'the stalled listener was not sent everything');

  const bytes = Buffer.concat(got);
  const seq = numbers(bytes, 1000);
  assert.ok(seq.length > 0);
  for (let i = 1; i < seq.length; i++) assert.ok(seq[i]! > seq[i - 1]!, 'strictly increasing');

  // The stalled one resumes reading: whole frames, in order, with a jump.
  stalled.resume();
  const sgot: Buffer[] = [];
  stalled.on('data', (d) => sgot.push(d));
  await sleep(100);
  for (let i = total; i < total + 50; i++) {
    ch.pushFrame(frame(i, 1000), 0);
    await sleep(1);
  }
  await sleep(100);
  const sseq = numbers(Buffer.concat(sgot), 1000);
  let jumps = 0;
  for (let i = 1; i < sseq.length; i++) {
    assert.ok(sseq[i]! > sseq[i - 1]!, 'strictly increasing');
    if (sseq[i]! > sseq[i - 1]! + 1) jumps++;
  }
  assert.ok(jumps >= 1, 'the stalled listener skipped');
  assert.equal(sseq.at(-1), total + 49, 'and caught up with the live edge');
  assert.ok(ls.framesSkipped > 0);

  stalled.destroy();
  reader.destroy();
  k.channels.closeAll();
  server.close();
});
