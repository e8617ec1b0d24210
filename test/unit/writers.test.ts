/**
 * Writer threads (`core/engine/writers.ts`) against real loopback sockets: what they
 * write arrives byte for byte, a full socket gets the rest through Node's own
 * queue, and only plain sockets with nothing queued and bytes in slabs are
 * taken.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Listener } from '../../core/engine/listener.ts';
import { SlabPool } from '../../core/engine/slab.ts';
import { Writers } from '../../core/engine/writers.ts';
import { rng } from '../helpers/random.ts';

interface Pair {
  /** The server side, written to. */
  out: net.Socket;
  /** The client side, collecting what arrives. */
  got: Buffer[];
  client: net.Socket;
}

async function pairs(count: number): Promise<{ list: Pair[]; close(): void }> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => accepted.push(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const clients: net.Socket[] = [];
  // Half-open allowed: a client whose server side shut for writing stays open, so writes to it fail rather than find it gone.
  for (let i = 0; i < count; i++) clients.push(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  await Promise.all(clients.map((c) => once(c, 'connect')));
  while (accepted.length < count) await sleep(5);
  // Accept order is not connect order: match them by port.
  const list = clients.map((client) => {
    const out = accepted.find((s) => s.remotePort === client.localPort)!;
    const got: Buffer[] = [];
    client.on('data', (d: Buffer) => got.push(d));
    out.on('error', () => {});
    client.on('error', () => {});
    return { out, got, client };
  });
  return { list, close: () => { for (const p of list) { p.out.destroy(); p.client.destroy(); } server.close(); } };
}

/** The listener surface the writers use, with the socket's usual path for what they hand back. */
function listenerOf(socket: net.Socket, handedBack: Buffer[][]): Listener {
  return {
    fd: Writers.fdOf(socket),
    socket,
    settle() {},
    sendRest(bufs: Buffer[]) {
      handedBack.push(bufs);
      for (const b of bufs) socket.write(b);
    },
  } as unknown as Listener;
}

/** Waits for each client to have received what was sent to it, then compares byte for byte. */
async function expectArrived(list: Pair[], sent: Buffer[][], ms: number): Promise<void> {
  const want = sent.map((s) => Buffer.concat(s));
  for (let t = Date.now(); list.some((p, k) => Buffer.concat(p.got).length < want[k]!.length); await sleep(10)) {
    assert.ok(Date.now() - t < ms, 'not everything arrived');
  }
  list.forEach((p, k) => assert.ok(Buffer.concat(p.got).equals(want[k]!), `socket ${k}: bytes lost, doubled, reordered or changed`));
}

async function readyWriters(): Promise<Writers> {
  const w = new Writers(2);
  w.configure(2, { parallelAbove: 0 });
  // The threads start with the first batch; until they are ready the engine thread writes alone.
  const p = await pairs(1);
  const slab = new SlabPool(16).take();
  w.add(listenerOf(p.list[0]!.out, []), slab.buf);
  w.run();
  for (let t = Date.now(); w.threadsReady < 1; await sleep(5)) assert.ok(Date.now() - t < 5000, 'writer thread did not start');
  p.close();
  return w;
}

test('writer threads deliver every batch byte for byte, in order, to many sockets', async () => {
  const w = await readyWriters();
  const { list, close } = await pairs(24);
  try {
    const pool = new SlabPool(64 * 1024);
    const random = rng(7);
    const expected = list.map(() => [] as Buffer[]);
    const before = w.threadWrites;
    for (let round = 0; round < 60; round++) {
      // Each round: a fresh slab of random bytes, cut into views of varied sizes and offsets.
      const slab = pool.take();
      for (let i = 0; i < slab.buf.length; i++) slab.buf[i] = Math.floor(random() * 256);
      list.forEach((p, k) => {
        const at = (k * 997 + round * 131) % 60_000;
        const views = [slab.buf.subarray(at, at + 700 + k * 13), slab.buf.subarray(at + 2000, at + 2100)];
        const payload = k % 2 ? views : views[0]!;
        assert.equal(w.add(listenerOf(p.out, []), payload), true);
        for (const v of Array.isArray(payload) ? payload : [payload]) expected[k]!.push(Buffer.from(v));
      });
      w.run();
      // The batch is done when run returns: the slab may be rewritten at once, as the ring does.
      slab.buf.fill(0xee);
    }
    assert.ok(w.threadWrites > before, `the writer thread wrote none of the ${60 * 24} jobs`);
    await expectArrived(list, expected, 5000);
  } finally {
    close();
  }
});

test('a full socket gets the rest through its own queue, and nothing is lost or doubled', async () => {
  const w = await readyWriters();
  const { list, close } = await pairs(10);
  try {
    const stalled = list[0]!;
    stalled.client.pause();
    const pool = new SlabPool(1 << 20);
    const handedBack: Buffer[][] = [];
    const sent = list.map(() => [] as Buffer[]);
    for (let round = 0; round < 12; round++) {
      const slab = pool.take();
      slab.buf.fill(round + 1);
      list.forEach((p, k) => {
        // The stalled socket only takes what its kernel buffers hold; the rest is handed back.
        if (p.out.writableLength > 0) return;
        assert.equal(w.add(listenerOf(p.out, handedBack), slab.buf), true);
        sent[k]!.push(Buffer.from(slab.buf));
      });
      w.run();
    }
    assert.ok(handedBack.length > 0, 'a socket that does not read should have been handed a rest');
    assert.ok(stalled.out.writableLength > 0, 'the rest waits in the socket queue');
    stalled.client.resume();
    await expectArrived(list, sent, 10_000);
  } finally {
    close();
  }
});

test('a failed write is handed back to the socket, which reports the error and closes', async () => {
  const w = await readyWriters();
  const { list, close } = await pairs(9);
  try {
    const gone = list[3]!;
    // Shut for writing, the descriptor refuses every write (EPIPE) while the socket is still open.
    gone.out.end();
    await sleep(50);
    assert.equal(gone.out.destroyed, false);
    const slab = new SlabPool(4096).take();
    const handedBack: Buffer[][] = [];
    for (let i = 0; i < 3; i++) {
      for (const p of list) if (!p.out.destroyed && p.out.writableLength === 0) w.add(listenerOf(p.out, handedBack), slab.buf);
      w.run();
      await sleep(20);
    }
    assert.equal(handedBack.length, 1, 'the failed write was handed back, and only it');
    assert.equal(handedBack[0]![0]!.length, 4096, 'whole');
    await sleep(50);
    assert.ok(gone.out.destroyed, 'the socket reported the error and closed');
    for (const [k, p] of list.entries()) if (k !== 3) assert.equal(Buffer.concat(p.got).length, 3 * 4096, `socket ${k} got every write`);
  } finally {
    close();
  }
});

test('only plain sockets with nothing queued and payloads in slabs are taken', async () => {
  const single = new Writers(1);
  const w = new Writers(2);
  w.configure(2, { parallelAbove: 0 });
  const { list, close } = await pairs(2);
  try {
    const slab = new SlabPool(1024).take();
    const l = listenerOf(list[0]!.out, []);
    assert.equal(single.add(l, slab.buf), false, 'one thread: every write goes through the socket');
    assert.equal(w.add(l, Buffer.alloc(10)), false, 'an ordinary buffer cannot be shared with a thread');
    assert.equal(w.add(l, [slab.buf.subarray(0, 5), Buffer.alloc(5)]), false, 'nor a list with one in it');
    assert.equal(w.add({ ...l, fd: -1 } as Listener, slab.buf), false, 'a TLS socket or a transform (fd -1) is not taken');
    assert.equal(Writers.fdOf(Object.assign(new net.Socket(), { encrypted: true })), -1);
    list[1]!.client.pause();
    const big = new SlabPool(8 << 20).take();
    list[1]!.out.write(big.buf);
    assert.ok(list[1]!.out.writableLength > 0);
    assert.equal(w.add(listenerOf(list[1]!.out, []), slab.buf), false, 'a socket with bytes queued is not taken');
    assert.equal(w.add(l, slab.buf), true);
    w.run();
    const quiet = new Writers(2);
    quiet.configure(2, { parallelAbove: 0.75 });
    assert.equal(quiet.add(l, slab.buf), false, 'an engine thread that is not saturated writes alone');
    const now = performance.now();
    // 600 ms windows: a load window closes after 500 ms, and sums of clock readings are not exact.
    quiet.busy(500, now + 600);
    assert.equal(quiet.parallel, true, '83 % busy: writer threads help');
    quiet.busy(100, now + 1200);
    assert.equal(quiet.parallel, false, '17 % busy: back to the engine thread alone');
  } finally {
    close();
  }
});
