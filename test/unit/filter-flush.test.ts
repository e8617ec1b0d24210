/**
 * Filters that end a unit only where the next one starts (Annex B access
 * units, MPEG-TS packet runs) give the last one when the source ends: no
 * frame a source produced is lost at its end.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Framer } from '../../core/contracts/frame.ts';
import { FlacFramer } from '../../mods/filters/flac.ts';
import { H264Framer } from '../../mods/filters/h264.ts';
import { HevcFramer } from '../../mods/filters/hevc.ts';
import { MpegTsFramer } from '../../mods/filters/mpegts.ts';

const skip = spawnSync('sh', ['-c', 'command -v ffmpeg'], { stdio: 'ignore' }).status === 0 ? false : 'ffmpeg is missing (apt-get install ffmpeg)';
const dir = mkdtempSync(join(tmpdir(), 'filter-flush-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function sample(name: string, args: string[]): Buffer {
  const file = join(dir, name);
  const input = name === 'flac' ? 'sine=frequency=440:sample_rate=44100' : 'testsrc=size=160x120:rate=25';
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', input, '-t', '1', ...args, file]);
  assert.equal(r.status, 0, r.stderr.toString());
  return readFileSync(file);
}

const cases: [string, () => Framer, string[]][] = [
  ['h264', () => new H264Framer({ frameBytes: 64 }), ['-c:v', 'libx264', '-g', '10', '-f', 'h264']],
  ['hevc', () => new HevcFramer({ frameBytes: 64 }), ['-c:v', 'libx265', '-x265-params', 'log-level=error', '-g', '10', '-f', 'hevc']],
  ['mpegts', () => new MpegTsFramer({ frameBytes: 64 }), ['-c:v', 'libx264', '-g', '10', '-f', 'mpegts']],
  ['flac', () => new FlacFramer({ frameBytes: 64 }), ['-c:a', 'flac', '-f', 'flac']],
];

for (const [name, make, args] of cases) {
  test(`${name}: the unit under way when the source ends is emitted by flush`, { skip, timeout: 30_000 }, () => {
    const input = sample(name, args);
    const framer = make();
    const frames: Buffer[] = [];
    framer.push(input, (f) => frames.push(Buffer.from(f)));
    const before = frames.length;
    framer.flush!((f) => frames.push(Buffer.from(f)));
    // An MPEG-TS packet is only passed on once the next one's sync byte is seen: the last may start a unit of its own.
    assert.ok(frames.length > before, 'the last unit(s) at the end');
    // FLAC's metadata is the stream header, not frames.
    const framed = name === 'flac' ? input.subarray(input.length - Buffer.concat(frames).length) : input;
    assert.ok(Buffer.concat(frames).equals(framed), `${name}: every byte of the source is in a frame`);
    const all = frames.length;
    framer.flush!((f) => frames.push(f));
    assert.equal(frames.length, all, 'a second flush has nothing more');
  });
}
