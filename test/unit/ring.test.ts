import assert from 'node:assert/strict';
import { test } from 'node:test';
import { payloadBytes, Ring } from '../../core/engine/ring.ts';

const frame = (n: number, size = 4) => Buffer.alloc(size, n);

test('a ring must hold more than two frames', () => {
  assert.throws(() => new Ring(2), /ring capacity must be an integer > 2, got 2/);
  assert.throws(() => new Ring(0), RangeError);
  assert.throws(() => new Ring(3.5), RangeError);
  assert.equal(new Ring(3).capacity, 3);
});

test('frames get increasing sequence numbers; the oldest ones fall out', () => {
  const ring = new Ring(4);
  assert.equal(ring.head, 0);
  assert.equal(ring.oldest, 0);
  for (let i = 0; i < 6; i++) assert.equal(ring.push(frame(i), 0), i);
  assert.equal(ring.head, 6);
  assert.equal(ring.oldest, 2);
  assert.equal(ring.get(1), undefined, 'lapped frame is gone');
  assert.equal(ring.get(6), undefined, 'future frame is not there');
  for (let i = 2; i < 6; i++) assert.deepEqual(ring.get(i), frame(i));
});

test('bytes counts only the frames still held', () => {
  const ring = new Ring(3);
  ring.push(frame(0, 10), 0);
  ring.push(frame(1, 20), 0);
  ring.push(frame(2, 30), 0);
  assert.equal(ring.bytes, 60);
  ring.push(frame(3, 5), 0);
  assert.equal(ring.bytes, 55);
});

test('concat of one frame returns it without copying; of several, in order', () => {
  const ring = new Ring(5);
  const frames = [0, 1, 2, 3].map((i) => frame(i, 3));
  for (const f of frames) ring.push(f, 0);
  assert.equal(ring.concat(2, 3), frames[2], 'same buffer, no copy');
  assert.deepEqual(ring.concat(1), Buffer.concat(frames.slice(1)));
  assert.deepEqual(ring.concat(0, 2), Buffer.concat(frames.slice(0, 2)));
});

test('concat never reaches before the oldest frame held (a lapped cursor)', () => {
  const ring = new Ring(3);
  for (let i = 0; i < 7; i++) ring.push(frame(i, 2), 0);
  assert.deepEqual(ring.concat(0), Buffer.concat([frame(4, 2), frame(5, 2), frame(6, 2)]));
});

test('concat across the wrap point keeps sequence order', () => {
  const ring = new Ring(4);
  for (let i = 0; i < 10; i++) ring.push(frame(i, 1), 0);
  assert.deepEqual([...ring.concat(6, 10)], [6, 7, 8, 9]);
});

test('burstStart by bytes: enough recent frames to cover the burst, from a frame boundary', () => {
  const ring = new Ring(10);
  assert.equal(ring.burstStart(2000, 100), -1, 'empty ring: nothing to start at yet');
  for (let i = 0; i < 8; i++) ring.push(frame(i, 100), 0);
  assert.equal(ring.burstStart(2000, 100), 7, 'one frame covers 100 bytes');
  assert.equal(ring.burstStart(2000, 250), 5, 'three frames cover 250 bytes');
  assert.equal(ring.burstStart(2000, 1_000_000), 0, 'never before the oldest frame');
  assert.equal(ring.burstStart(2000, 0), 7, 'zero burst is the live edge: the newest complete frame');
});

test('burstStart by media time when frames know their duration', () => {
  const ring = new Ring(100);
  for (let i = 0; i < 50; i++) ring.push(frame(i, 400), 26.122);
  // 2 s of 26.122 ms frames is 77 frames, more than held: start at the oldest.
  assert.equal(ring.burstStart(2000, 10), 0);
  // 500 ms: 20 frames (19 × 26.122 = 496 < 500).
  assert.equal(ring.burstStart(500, 10), 30);
  assert.equal(ring.burstStart(0, 1_000_000), 49, 'zero burst is the live edge');
});

test('burstStart after the ring wrapped stays within the frames held', () => {
  const ring = new Ring(4);
  for (let i = 0; i < 20; i++) ring.push(frame(i, 10), 0);
  assert.equal(ring.burstStart(0, 1000), 16);
  assert.equal(ring.burstStart(0, 15), 18);
});

test('durationOf reports each frame\'s media time', () => {
  const ring = new Ring(3);
  ring.push(frame(0), 24);
  ring.push(frame(1), 26.122);
  assert.equal(ring.durationOf(0), 24);
  assert.equal(ring.durationOf(1), 26.122);
});

test('payload: frames cut from one read come back as one view, others copied or listed, bytes always in order', () => {
  const ring = new Ring(8);
  const read = Buffer.from('aaaabbbbcccc');
  ring.push(read.subarray(0, 4), 0);
  ring.push(read.subarray(4, 8), 0);
  ring.push(read.subarray(8, 12), 0);
  const view = ring.payload(0, 3) as Buffer;
  assert.ok(!Array.isArray(view));
  assert.equal(view.buffer, read.buffer, 'no copy: a view of the read buffer');
  assert.equal(view.toString(), 'aaaabbbbcccc');
  ring.push(Buffer.from('dddd'), 0);
  const copied = ring.payload(2, 4) as Buffer;
  assert.equal(copied.toString(), 'ccccdddd');
  const big = new Ring(4);
  big.push(Buffer.alloc(40_000, 1), 0);
  big.push(Buffer.alloc(40_000, 2), 0);
  const listed = big.payload(0, 2);
  assert.ok(Array.isArray(listed), 'large separate frames are written as a list, not copied');
  assert.equal(payloadBytes(listed), 80_000);
});
