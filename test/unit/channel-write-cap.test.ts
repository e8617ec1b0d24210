import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { channelDefaults } from '../../core/contracts/channel-settings.ts';
import { Kernel } from '../../core/kernel/kernel.ts';
import { createChannels } from '../../core/engine/channels.ts';
import { root } from '../helpers/server.ts';

/** Records what each write (or corked group of writes, one writev) carried; `writableLength` is set by the test. */
class FakeSocket extends EventEmitter {
  writes: Buffer[] = [];
  writableLength = 0;
  destroyed = false;
  writableEnded = false;
  private corked = 0;
  private group: Buffer[] = [];
  cork() {
    this.corked++;
  }
  uncork() {
    if (--this.corked === 0 && this.group.length) this.writes.push(Buffer.concat(this.group.splice(0)));
  }
  write(data: Buffer | string) {
    if (this.corked) this.group.push(Buffer.from(data));
    else this.writes.push(Buffer.from(data));
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
}

const FRAME = 64 * 1024;

function frame(n: number): Buffer {
  const b = Buffer.alloc(FRAME, n & 0xff);
  b.writeUInt32BE(n, 0);
  return b;
}

test('a listener far behind is written at most about 1 MiB per round, and catches up over further rounds without new frames', async () => {
  const k = new Kernel({ channels: createChannels, log: pino({ level: 'silent' }), settings: {}, packageRoot: root });
  const ch = k.channels.create('/cap', { ...channelDefaults, burstBytes: 0, sourceBuffer: 64, frameBytes: FRAME });
  const socket = new FakeSocket();
  ch.join(socket as unknown as net.Socket, { remoteAddress: '127.0.0.1', protocol: 'test' });
  ch.pushFrame(frame(0), 0);
  await sleep(5);
  socket.writableLength = 1 << 30; // its peer stopped reading
  for (let i = 1; i <= 40; i++) ch.pushFrame(frame(i), 0);
  await sleep(5);
  const before = socket.writes.length;
  socket.writableLength = 0;
  socket.emit('drain');
  // No new frame arrives: the rounds that follow happen because the listener is still owed frames.
  for (let t = 0; t < 100 && Buffer.concat(socket.writes).length < 41 * FRAME; t++) await sleep(5);
  const after = socket.writes.slice(before);
  assert.ok(after.length >= 3, `2.5 MB owed went out in several writes, not ${after.length}`);
  for (const w of after) assert.ok(w.length <= 1 << 20, `one write of ${w.length} bytes`);
  const all = Buffer.concat(socket.writes);
  assert.equal(all.length, 41 * FRAME, 'every frame owed arrived');
  for (let i = 0; i <= 40; i++) assert.equal(all.readUInt32BE(i * FRAME), i, `frame ${i} in order`);
  k.channels.closeAll();
});

test('the last round of a closing channel still sends a listener everything it is owed', async () => {
  const k = new Kernel({ channels: createChannels, log: pino({ level: 'silent' }), settings: {}, packageRoot: root });
  const ch = k.channels.create('/cap-close', { ...channelDefaults, burstBytes: 0, sourceBuffer: 64, frameBytes: FRAME });
  const socket = new FakeSocket();
  ch.join(socket as unknown as net.Socket, { remoteAddress: '127.0.0.1', protocol: 'test' });
  ch.pushFrame(frame(0), 0);
  await sleep(5);
  socket.writableLength = 1 << 30;
  for (let i = 1; i <= 40; i++) ch.pushFrame(frame(i), 0);
  socket.writableLength = 0;
  ch.close();
  assert.equal(Buffer.concat(socket.writes).length, 41 * FRAME);
  k.channels.closeAll();
});
