import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { channelDefaults } from '../../core/contracts/channel-settings.ts';
import { Kernel } from '../../core/kernel/kernel.ts';
import { createChannels } from '../../core/engine/channels.ts';
import { Ring } from '../../core/engine/ring.ts';
import { hold, release, slabCounters, SlabPool, slabOf, SlabWriter } from '../../core/engine/slab.ts';
import { openFileReader } from '../../mods/source/file-reader.ts';
import { root } from '../helpers/server.ts';

test('a released slab is handed out again; one still held is not', () => {
  const pool = new SlabPool(1000);
  const a = pool.take();
  const view = a.buf.subarray(0, 10);
  assert.equal(slabOf(view), a, 'a view knows its slab');
  assert.equal(slabOf(Buffer.alloc(10)), undefined, 'an ordinary buffer has none');
  hold(view);
  release(view);
  assert.equal(pool.freeCount, 0, 'the taker still holds it');
  const b = pool.take();
  assert.notEqual(b, a, 'a held slab is not handed out');
  release(view);
  assert.equal(pool.freeCount, 1);
  assert.equal(pool.take(), a, 'released: reused');
});

test('releasing more than was held retires the slab instead of reusing memory someone may still read', () => {
  const pool = new SlabPool(64);
  const a = pool.take();
  const before = slabCounters.overReleased;
  release(a.buf);
  release(a.buf);
  assert.equal(slabCounters.overReleased, before + 1);
  assert.equal(a.poisoned, true);
  assert.equal(pool.freeCount, 0);
  hold(a.buf);
  release(a.buf);
  assert.equal(pool.freeCount, 0, 'never handed out again');
});

test('a pool keeps a bounded number of free slabs', () => {
  const pool = new SlabPool(8 << 20);
  const slabs = Array.from({ length: 10 }, () => pool.take());
  for (const s of slabs) release(s.buf);
  assert.equal(pool.freeCount, 4, '16 MiB of free 8 MiB slabs, but at least 4');
});

test('SlabWriter copies chunks into slabs, splitting at a slab end; each view carries a hold', () => {
  const pool = new SlabPool(10);
  const w = new SlabWriter(pool);
  const views: Buffer[] = [];
  w.copy(Buffer.from('abcdef'), (v) => views.push(v));
  w.copy(Buffer.from('ghijklmn'), (v) => views.push(v));
  assert.deepEqual(views.map(String), ['abcdef', 'ghij', 'klmn']);
  assert.equal(slabOf(views[0]!), slabOf(views[1]!), 'packed into one slab');
  assert.notEqual(slabOf(views[1]!), slabOf(views[2]!));
  const first = slabOf(views[0]!)!;
  release(views[0]!);
  release(views[1]!);
  assert.equal(pool.freeCount, 1, 'the full slab is free once its views are released');
  w.close();
  release(views[2]!);
  assert.equal(pool.freeCount, 2);
  assert.equal(pool.take(), slabOf(views[2]!) ?? first);
});

test('the ring holds a frame\'s slab until the frame falls out', () => {
  const pool = new SlabPool(100);
  const slab = pool.take();
  const ring = new Ring(3);
  ring.push(slab.buf.subarray(0, 10), 0);
  ring.push(slab.buf.subarray(10, 20), 0);
  release(slab.buf); // the reader is done with it
  assert.equal(pool.freeCount, 0);
  ring.push(Buffer.alloc(10), 0);
  ring.push(Buffer.alloc(10), 0);
  assert.equal(pool.freeCount, 0, 'one frame of it is still in the ring');
  ring.push(Buffer.alloc(10), 0);
  assert.equal(pool.freeCount, 1, 'both frames gone: the slab is free');
});

test('a slab written to a socket that is not reading stays held until the socket is closed', async () => {
  const k = new Kernel({ channels: createChannels, log: pino({ level: 'silent' }), settings: {}, packageRoot: root });
  const ch = k.channels.create('/slab', { ...channelDefaults, burstBytes: 0, sourceBuffer: 4, frameBytes: 4096 });
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted: net.Socket[] = [];
  server.on('connection', (s) => accepted.push(s));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.pause();
  await once(client, 'connect');
  while (accepted.length < 1) await sleep(1);
  const side = accepted[0]!;
  ch.join(side, { remoteAddress: 'stalled', protocol: 'test' });

  const pool = new SlabPool(64 * 1024);
  const taken = new Set<unknown>();
  // Push frames cut from slabs until the socket queues a write: kernel buffers fill first.
  for (let i = 0; i < 4000 && side.writableLength === 0; i++) {
    const slab = pool.take();
    taken.add(slab);
    for (let f = 0; f < 16; f++) ch.pushFrame(slab.buf.subarray(f * 4096, (f + 1) * 4096), 0);
    release(slab.buf);
    await new Promise((r) => setImmediate(r));
  }
  assert.ok(side.writableLength > 0, 'the socket is queueing');
  // Flush the ring with ordinary frames: only the socket's queue refers to the slabs now.
  for (let i = 0; i < 8; i++) ch.pushFrame(Buffer.alloc(4096), 0);
  await new Promise((r) => setImmediate(r));
  const freeWhileQueued = pool.freeCount;
  assert.ok(freeWhileQueued < taken.size, 'a slab the socket still queues is not free');
  client.destroy();
  side.destroy();
  await sleep(50);
  assert.ok(pool.freeCount > freeWhileQueued, `released once the socket closed (${pool.freeCount} free of ${taken.size})`);
  ch.close();
  server.close();
});

test('the file reader reads into slabs, packs short reads, and hands over every byte in order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'streamserve-slab-'));
  try {
    const file = join(dir, 'data');
    const data = Buffer.alloc(100_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    writeFileSync(file, data);
    const reader = await openFileReader(file, 16 * 1024);
    const got: Buffer[] = [];
    reader.on('data', (chunk: Buffer) => {
      assert.ok(slabOf(chunk), 'a slab view');
      got.push(Buffer.from(chunk));
      release(chunk);
    });
    await once(reader, 'end');
    assert.deepEqual(Buffer.concat(got), data);
    reader.destroy();
    await once(reader, 'close');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
