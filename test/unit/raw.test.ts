import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHooks } from '../../core/kernel/hooks.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import filters from '../../mods/filters/index.ts';
import { Mp3Framer } from '../../mods/filters/mp3.ts';
import { RawFramer } from '../../mods/filters/raw.ts';
import { chop, rng } from '../helpers/random.ts';

function bytes(n: number, seed: number): Buffer {
  const r = rng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

function run(framer: RawFramer, chunks: Buffer[]): { frames: Buffer[]; durations: number[] } {
  const frames: Buffer[] = [];
  const durations: number[] = [];
  for (const c of chunks) framer.push(c, (f, ms) => { frames.push(f); durations.push(ms); });
  return { frames, durations };
}

/** True when `frame` is a view into `chunk`'s memory rather than a copy. */
function sharesMemory(frame: Buffer, chunk: Buffer): boolean {
  return frame.buffer === chunk.buffer && frame.byteOffset >= chunk.byteOffset && frame.byteOffset + frame.length <= chunk.byteOffset + chunk.length;
}

describe('raw filter', () => {
  it('cuts any chunking into exact frames, in order, with nothing lost', () => {
    const input = bytes(100_003, 1);
    for (const frameBytes of [1, 7, 64, 1000, 4096, 65536]) {
      for (const max of [1, 13, 64, 5000, 70_000]) {
        if (max === 1 && frameBytes > 64) continue; // byte-by-byte is covered by the small sizes; keeps the test quick
        const framer = new RawFramer({ frameBytes });
        const { frames, durations } = run(framer, chop(input, max, frameBytes * 31 + max));
        const whole = Math.floor(input.length / frameBytes);
        assert.equal(frames.length, whole, `frameBytes ${frameBytes}, chunks up to ${max}`);
        assert.ok(frames.every((f) => f.length === frameBytes));
        assert.ok(Buffer.concat(frames).equals(input.subarray(0, whole * frameBytes)));
        assert.ok(durations.every((d) => d === 0));
        assert.equal(framer.invalidBytes, 0);
      }
    }
  });

  it('emits frames that lie inside one chunk as views of it, and copies only those straddling chunks', () => {
    const framer = new RawFramer({ frameBytes: 100 });
    const a = bytes(350, 2);
    const b = bytes(250, 3);
    const got: Buffer[] = [];
    framer.push(a, (f) => got.push(f));
    framer.push(b, (f) => got.push(f));
    assert.equal(got.length, 6);
    for (let i = 0; i < 3; i++) {
      assert.ok(sharesMemory(got[i]!, a), `frame ${i} is a view of the first chunk`);
      assert.equal(got[i]!.byteOffset, a.byteOffset + i * 100);
    }
    // 50 bytes of a + 50 of b: neither chunk holds it whole.
    assert.ok(!sharesMemory(got[3]!, a) && !sharesMemory(got[3]!, b));
    assert.ok(got[3]!.equals(Buffer.concat([a.subarray(300), b.subarray(0, 50)])));
    assert.ok(sharesMemory(got[4]!, b) && sharesMemory(got[5]!, b));
  });

  it('passes 64 KiB chunks through untouched when frameBytes is 65536 (the firehose case)', () => {
    const framer = new RawFramer({ frameBytes: 65536 });
    const chunk = bytes(65536, 4);
    let frames = 0;
    const started = performance.now();
    for (let i = 0; i < 16_384; i++) {
      // 1 GiB in all; each frame must be the chunk itself, so nothing is copied.
      framer.push(chunk, (f) => {
        frames++;
        assert.ok(f.buffer === chunk.buffer && f.byteOffset === chunk.byteOffset && f.length === chunk.length);
      });
    }
    assert.equal(frames, 16_384);
    // Copying 1 GiB would take far longer; this bound only catches a copy slipping in.
    assert.ok(performance.now() - started < 2000, `took ${performance.now() - started} ms`);
  });

  it('forgets a partial frame on reset and never counts bytes invalid', () => {
    const framer = new RawFramer({ frameBytes: 10 });
    const got: Buffer[] = [];
    framer.push(Buffer.from('abcdefg'), (f) => got.push(f));
    framer.reset();
    framer.push(Buffer.from('0123456789xyz'), (f) => got.push(f));
    assert.deepEqual(got.map(String), ['0123456789']);
    framer.push(Buffer.from('uvwxyzA'), (f) => got.push(f));
    assert.deepEqual(got.map(String), ['0123456789', 'xyzuvwxyzA']);
    assert.equal(framer.invalidBytes, 0);
  });

  it('refuses a frame size that is not a positive integer', () => {
    assert.throws(() => new RawFramer({ frameBytes: 0 }), /positive integer/);
    assert.throws(() => new RawFramer({ frameBytes: 1.5 }), /positive integer/);
  });
});

describe('filters module', () => {
  it('registers the raw and mp3 filters on the frameFilter hook map', () => {
    const hooks = createHooks();
    void filters.apply({ hooks } as unknown as Kernel, undefined);
    const raw = hooks.frameFilter.get('raw')?.call({ frameBytes: 64 });
    const mp3 = hooks.frameFilter.get('mp3')?.call({ frameBytes: 300 });
    assert.ok(raw instanceof RawFramer);
    assert.ok(mp3 instanceof Mp3Framer);
    assert.equal(mp3.maxFrame, 300);
    // Each call is a fresh framer: channels must not share partial input.
    assert.notEqual(hooks.frameFilter.get('raw')?.call({ frameBytes: 64 }), raw);
  });
});
