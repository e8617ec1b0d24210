import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createHooks } from '../../core/kernel/hooks.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import type { Framer, FramerOptions } from '../../core/contracts/frame.ts';
import filters from '../../mods/filters/index.ts';
import { filterForContentType } from '../../mods/filters/auto.ts';
import { chop, rng } from '../helpers/random.ts';
import { root } from '../helpers/server.ts';

const hasFfmpeg = () => spawnSync('sh', ['-c', 'command -v ffmpeg'], { stdio: 'ignore' }).status === 0;
const demo = readFileSync(join(root, 'mods', 'demo', 'demo.mp3'));

function auto(contentType?: string): Framer & { filterName?: string } {
  const hooks = createHooks();
  filters.apply({ hooks, framer: (n: string, o: FramerOptions) => hooks.frameFilter.get(n)?.call(o) } as unknown as Kernel, {});
  return hooks.frameFilter.get('auto')!.call({ frameBytes: 64, contentType })! as Framer & { filterName?: string };
}

function noise(n: number, seed: number): Buffer {
  const r = rng(seed);
  return Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
}

function feed(f: Framer, chunks: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) f.push(c, (frame) => out.push(Buffer.from(frame)));
  return out;
}

test('auto finds mp3 in any chunking and gives the mp3 filter every byte from the first', () => {
  const hooks = createHooks();
  filters.apply({ hooks, framer: (n: string, o: FramerOptions) => hooks.frameFilter.get(n)?.call(o) } as unknown as Kernel, {});
  const direct: Buffer[] = [];
  hooks.frameFilter.get('mp3')!.call({ frameBytes: 64 })!.push(demo, (f) => direct.push(Buffer.from(f)));
  for (const max of [100, 5000, 70_000]) {
    const f = auto();
    const frames = feed(f, chop(demo, max, max));
    assert.equal(f.filterName, 'mp3');
    assert.equal(f.format?.name, 'mp3');
    assert.equal(frames.length, direct.length, `chunks up to ${max}`);
    assert.ok(Buffer.concat(frames).equals(Buffer.concat(direct)));
  }
});

test('a stream of no known format passes through in chunks after the sniffing window, nothing lost', () => {
  const f = auto();
  const input = noise(100_000, 3);
  const frames = feed(f, chop(input, 3000, 1));
  assert.equal(f.filterName, 'chunk');
  assert.equal(f.format, undefined);
  assert.ok(Buffer.concat(frames).equals(input.subarray(0, Buffer.concat(frames).length)));
  f.flush!((frame) => frames.push(Buffer.from(frame)));
  assert.ok(Buffer.concat(frames).equals(input), 'the end of the stream lets go of what was held');
});

test('a tiny stream is held only until settle', () => {
  const f = auto();
  const frames = feed(f, [Buffer.from('hello')]);
  assert.equal(frames.length, 0);
  assert.equal(f.holding, true);
  f.settle!((frame) => frames.push(Buffer.from(frame)));
  assert.equal(f.holding, false);
  assert.deepEqual(frames.map(String), ['hello']);
  assert.deepEqual(feed(f, [Buffer.from(' world')]).map(String), [' world']);
});

test('the declared Content-Type is kept while the data agrees, replaced when it does not', () => {
  const agreeing = auto('audio/mpeg');
  assert.equal(agreeing.contentType, 'audio/mpeg', 'before any byte, the declared type');
  feed(agreeing, [demo]);
  assert.equal(agreeing.filterName, 'mp3');
  assert.equal(agreeing.contentType, 'audio/mpeg');
  const unknown = auto('audio/ogg');
  feed(unknown, [demo]);
  assert.equal(unknown.filterName, 'mp3', 'the bytes decide');
  assert.equal(filterForContentType('Audio/MPEG; charset=x'), 'mp3');
  assert.equal(filterForContentType('text/plain'), undefined);
});

test('a new source run is sniffed anew; invalid bytes of earlier runs still count', () => {
  const f = auto();
  feed(f, [Buffer.concat([noise(500, 9), demo])]);
  assert.equal(f.filterName, 'mp3');
  const invalid = f.invalidBytes;
  assert.ok(invalid >= 500);
  f.reset();
  assert.equal(f.filterName, undefined);
  feed(f, [noise(70_000, 4)]);
  assert.equal(f.filterName, 'chunk');
  assert.ok(f.invalidBytes >= invalid);
});

test('every media filter is found by auto in ffmpeg\'s output, and none is mistaken for another', { skip: hasFfmpeg() ? false : 'ffmpeg is missing (apt-get install ffmpeg)', timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'auto-filter-'));
  try {
    const samples: [string, string[]][] = [
      ['mp3', ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', '2', '-c:a', 'libmp3lame', '-f', 'mp3']],
      ['adts', ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', '2', '-c:a', 'aac', '-f', 'adts']],
      ['flac', ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', '2', '-c:a', 'flac', '-f', 'flac']],
      ['ogg', ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '2', '-c:a', 'libopus', '-page_duration', '100000', '-f', 'ogg']],
      ['webm', ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '2', '-c:a', 'libopus', '-f', 'webm']],
      ['mpegts', ['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=25', '-t', '2', '-c:v', 'libx264', '-g', '25', '-f', 'mpegts']],
      ['h264', ['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=25', '-t', '2', '-c:v', 'libx264', '-g', '25', '-f', 'h264']],
      ['hevc', ['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=25', '-t', '2', '-c:v', 'libx265', '-x265-params', 'log-level=error', '-f', 'hevc']],
    ];
    for (const [want, args] of samples) {
      const file = join(dir, want);
      const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args, file]);
      assert.equal(r.status, 0, r.stderr.toString());
      const data = readFileSync(file);
      // A WebM joined mid-cluster has nothing to be told by until its next Cluster (seconds away): from the start only.
      for (const at of want === 'webm' ? [0] : [0, Math.floor(data.length / 3)]) {
        const f = auto();
        const frames = feed(f, chop(data.subarray(at), 8192, 5));
        f.flush!((frame) => frames.push(frame));
        assert.equal(f.filterName, want, `${want} from byte ${at}`);
        assert.ok(frames.length > 10, `${want}: ${frames.length} frames`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an MP3 that opens with a large ID3 tag (cover art) is still taken for MP3', () => {
  const tag = Buffer.alloc(10 + 200_000);
  tag.write('ID3', 0, 'latin1');
  tag[3] = 3;
  const size = 200_000;
  tag[6] = (size >> 21) & 0x7f;
  tag[7] = (size >> 14) & 0x7f;
  tag[8] = (size >> 7) & 0x7f;
  tag[9] = size & 0x7f;
  const f = auto('audio/mpeg');
  const frames = feed(f, chop(Buffer.concat([tag, demo]), 8192, 2));
  assert.equal(f.filterName, 'mp3');
  assert.ok(frames.length > 100, `${frames.length} frames`);
});

test('bytes that are not the declared format pass through as they are, under the declared type', () => {
  const f = auto('audio/ogg');
  const input = noise(70_000, 11);
  const frames = feed(f, [input]);
  assert.equal(f.filterName, 'chunk');
  assert.equal(f.contentType, undefined, 'the source\'s declared type stands (the source runner reports it)');
  assert.ok(Buffer.concat(frames).equals(input));
});
