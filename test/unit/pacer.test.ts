import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Pacer } from '../../core/engine/pacer.ts';

/** Waits until `cond` holds (timers may run late on a loaded machine; the assertions check lower bounds). */
async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error('timed out');
    await sleep(5);
  }
}

test('releases the first item at once and the next ones on the clock', async () => {
  const released: [number, number][] = [];
  const t0 = performance.now();
  const pacer = new Pacer<number>((n) => released.push([n, performance.now() - t0]), () => {});
  for (let i = 0; i < 5; i++) pacer.add(i, 50);
  assert.deepEqual(released.map(([n]) => n), [0], 'the first is released synchronously');
  await until(() => released.length === 5);
  assert.deepEqual(released.map(([n]) => n), [0, 1, 2, 3, 4], 'in order');
  for (let i = 1; i < 5; i++) {
    const at = released[i]![1];
    assert.ok(at >= i * 50 - 5, `item ${i} released at ${at.toFixed(1)} ms, expected about ${i * 50}`);
    assert.ok(at < i * 50 + 1000, `item ${i} released at ${at.toFixed(1)} ms, too late`);
  }
  pacer.clear();
});

test('in a process younger than the catch-up allowance the first items do not burst out', (t) => {
  // performance.now() counts from process start: a server opening its source 100 ms after start.
  t.mock.method(performance, 'now', () => 100);
  const released: number[] = [];
  const pacer = new Pacer<number>((n) => released.push(n), () => {});
  for (let i = 0; i < 4; i++) pacer.add(i, 50);
  assert.deepEqual(released, [0]);
  pacer.clear();
});

test('pauses its owner when it is ahead by more than aheadMs, resumes below half of it', async () => {
  const states: boolean[] = [];
  const pacer = new Pacer<number>(() => {}, (p) => states.push(p), 100);
  const t0 = performance.now();
  for (let i = 0; i < 10; i++) pacer.add(i, 20); // 200 ms queued
  assert.deepEqual(states, [true]);
  await until(() => states.length === 2);
  assert.deepEqual(states, [true, false]);
  assert.ok(performance.now() - t0 >= 100, 'resumed only once the queue fell below half of aheadMs');
  pacer.clear();
});

test('a starved source restarts the clock instead of bursting to catch up', async () => {
  const released: number[] = [];
  const pacer = new Pacer<number>(() => released.push(performance.now()), () => {});
  pacer.add(0, 20);
  await sleep(400); // longer than the 200 ms catch-up allowance
  const t = performance.now();
  for (let i = 1; i <= 5; i++) pacer.add(i, 20);
  const atOnce = released.filter((at) => at >= t && at - t < 5).length;
  assert.equal(atOnce, 1, 'only one item is released at once after a starvation');
  await until(() => released.length === 6);
  assert.ok(released[5]! - t >= 75, 'the rest follow on the clock');
  pacer.clear();
});

test('clear drops the queue, stops the timer and unpauses', async () => {
  const released: number[] = [];
  const states: boolean[] = [];
  const pacer = new Pacer<number>((n) => released.push(n), (p) => states.push(p), 50);
  for (let i = 0; i < 10; i++) pacer.add(i, 20);
  pacer.clear();
  assert.deepEqual(states, [true, false]);
  await sleep(80);
  assert.deepEqual(released, [0]);
  // Usable again after clear.
  pacer.add(42, 10);
  assert.deepEqual(released, [0, 42]);
  pacer.clear();
});

test('a released item is not kept alive by the queue (source buffers must be freed at the stream rate)', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const released: string[] = [];
  const pacer = new Pacer<{ name: string; payload: Buffer }>((item) => released.push(item.name), () => {});
  const refs = new Map<string, WeakRef<object>>();
  (() => {
    // a is released at once, b 10 ms later, c only after b's 10 s: the queue holds c, so it is not compacted.
    for (const [name, cost] of [['a', 10], ['b', 10_000], ['c', 1]] as const) {
      const item = { name, payload: Buffer.alloc(1 << 20) };
      refs.set(name, new WeakRef(item));
      pacer.add(item, cost);
    }
  })();
  while (!released.includes('b')) await sleep(5);
  gc();
  await sleep(0);
  gc();
  assert.deepEqual(released, ['a', 'b']);
  assert.equal(refs.get('b')!.deref(), undefined, 'the released item was collected');
  assert.notEqual(refs.get('c')!.deref(), undefined, 'the pending one is still held');
  pacer.clear();
});

test('keeps an average rate over many small items (byte pacing)', async () => {
  let bytes = 0;
  const rate = 100_000; // bytes/s
  const pacer = new Pacer<number>((n) => { bytes += n; }, () => {});
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) pacer.add(1000, (1000 / rate) * 1000); // 2 s worth
  await sleep(500);
  const elapsed = (performance.now() - t0) / 1000;
  const expected = rate * elapsed;
  assert.ok(bytes >= expected * 0.7 && bytes <= expected * 1.2 + 1000, `released ${bytes} bytes in ${elapsed.toFixed(2)} s, expected about ${expected.toFixed(0)}`);
  pacer.clear();
});
