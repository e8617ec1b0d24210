import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AdtsFramer, sniffAdts } from '../../mods/filters/adts.ts';
import { Mp3Framer } from '../../mods/filters/mp3.ts';
import { chop, rng } from '../helpers/random.ts';

const ffmpeg = spawnSync('ffmpeg', ['-version']).status === 0;
const skip = ffmpeg ? false : 'ffmpeg is not installed';
const RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

let dir = '';
const samples: Record<string, Buffer> = {};

function encode(name: string, args: string[]): void {
  const out = join(dir, name);
  const r = spawnSync('ffmpeg', ['-v', 'error', '-y', ...args, out], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `ffmpeg ${name}: ${r.stderr}`);
  samples[name] = readFileSync(out);
}

before(() => {
  if (!ffmpeg) return;
  dir = mkdtempSync(join(tmpdir(), 'streamserve-adts-'));
  const tone = (hz: number, s: number) => ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${hz}`, '-t', String(s)];
  encode('stereo.aac', [...tone(44100, 8), '-ac', '2', '-c:a', 'aac', '-b:a', '96k', '-f', 'adts']);
  encode('mono.aac', [...tone(22050, 4), '-ac', '1', '-c:a', 'aac', '-b:a', '32k', '-f', 'adts']);
  encode('tone.mp3', [...tone(44100, 3), '-c:a', 'libmp3lame', '-b:a', '128k', '-f', 'mp3']);
  encode('tone.ts', [...tone(44100, 3), '-c:a', 'aac', '-b:a', '96k', '-f', 'mpegts']);
  encode('tone.flac', [...tone(44100, 2), '-c:a', 'flac', '-f', 'flac']);
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Frames as the specification delimits them: each header's 13-bit frame_length. */
function frameList(file: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0; p < file.length;) {
    assert.ok(file[p] === 0xff && (file[p + 1]! & 0xf6) === 0xf0, `an ADTS header at ${p}`);
    const size = ((file[p + 3]! & 3) << 11) | (file[p + 4]! << 3) | (file[p + 5]! >> 5);
    out.push(file.subarray(p, p + size));
    p += size;
  }
  return out;
}

interface Out { frames: Buffer[]; durations: number[]; framer: AdtsFramer }

function feed(chunks: Buffer[], frameBytes = 64, framer = new AdtsFramer({ frameBytes })): Out {
  const out: Out = { frames: [], durations: [], framer };
  for (const c of chunks) framer.push(c, (fr, ms, sync) => {
    assert.notEqual(sync, false, 'every ADTS frame is a sync point');
    out.frames.push(Buffer.from(fr));
    out.durations.push(ms);
  });
  return out;
}

function assertFrames(got: Buffer[], want: Buffer[], what: string): void {
  assert.equal(got.length, want.length, `${what}: frame count`);
  for (let i = 0; i < want.length; i++) assert.ok(got[i]!.equals(want[i]!), `${what}: frame ${i} differs`);
}

/** What ffmpeg says decoding `data`: nothing when it decodes cleanly. */
function decodeErrors(data: Buffer, name: string): string {
  const file = join(dir, name);
  writeFileSync(file, data);
  const r = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'], { encoding: 'utf8', timeout: 60_000 });
  return `${r.stdout}${r.stderr}${r.status === 0 ? '' : `exit ${r.status}`}`;
}

/** Random bytes that never start with 0xFF (in sync, a header there would be taken at its word), with fake sync words inside. */
function junk(n: number, seed: number): Buffer {
  const r = rng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  if (b[0] === 0xff) b[0] = 0;
  for (let k = 0; k < n / 20; k++) {
    const at = 1 + Math.floor(r() * (n - 8));
    if (at + 7 > n) continue;
    // An ADTS-looking header with a random length, or an mp3 one.
    b[at] = 0xff;
    b[at + 1] = r() < 0.5 ? 0xf1 : 0xfb;
  }
  return b;
}

describe('adts filter: ffmpeg output', { skip }, () => {
  it('cuts stereo 44.1 kHz and mono 22.05 kHz AAC at every frame, whole or in random chunks', () => {
    for (const [name, params] of [['stereo.aac', '44100Hz 2ch LC'], ['mono.aac', '22050Hz 1ch LC']] as const) {
      const file = samples[name]!;
      const want = frameList(file);
      const whole = feed([file]);
      assertFrames(whole.frames, want, `${name} whole`);
      assert.deepEqual(whole.framer.format, { name: 'adts', codec: 'aac', params });
      assert.equal(whole.framer.contentType, 'audio/aac');
      assert.equal(whole.framer.header, undefined, 'ADTS has no stream header');
      for (const [max, seed] of [[1, 1], [7, 2], [300, 3], [5000, 4], [70000, 5]]) {
        const { frames, framer } = feed(chop(file, max, seed));
        assertFrames(frames, want, `${name} in chunks up to ${max}`);
        assert.ok(Buffer.concat(frames).equals(file), 'the frames are the input');
        framer.reset();
        assert.equal(framer.invalidBytes, 0, `${name} in chunks up to ${max}: nothing discarded`);
      }
    }
  });

  it('keeps nothing of a chunk past the next push, and never changes a frame it handed out', () => {
    const file = samples['stereo.aac']!;
    const want = frameList(file);
    for (const max of [1, 700, 9000]) {
      // The engine may reuse a chunk's memory once the next push has begun: scribbled over here.
      const framer = new AdtsFramer({ frameBytes: 64 });
      const copies: Buffer[] = [];
      let previous: Buffer | undefined;
      for (const c of chop(file, max, 11)) {
        const chunk = Buffer.from(c);
        framer.push(chunk, (fr) => copies.push(Buffer.from(fr)));
        previous?.fill(0x55);
        previous = chunk;
      }
      assertFrames(copies, want, `scribbled chunks up to ${max}`);
      // Frames kept as views, as the ring keeps them, still hold their bytes at the end.
      const views: Buffer[] = [];
      const again = new AdtsFramer({ frameBytes: 64 });
      for (const c of chop(file, max, 12)) again.push(c, (fr) => views.push(fr));
      assertFrames(views, want, `views from chunks up to ${max}`);
    }
  });

  it('gives each frame its duration: 1024 samples per raw data block', () => {
    for (const [name, seconds, rate] of [['stereo.aac', 8, 44100], ['mono.aac', 4, 22050]] as const) {
      const { durations } = feed([samples[name]!]);
      for (const ms of durations) assert.ok(Math.abs(ms - (1024 * 1000) / rate) < 1e-9);
      const total = durations.reduce((a, b) => a + b, 0) / 1000;
      // The encoder adds a priming frame and pads the last one.
      assert.ok(total >= seconds && total < seconds + 0.15, `${name}: ${total} s`);
    }
  });

  it('a listener joining after 40% decodes cleanly, as one there from the start does', () => {
    for (const name of ['stereo.aac', 'mono.aac']) {
      const file = samples[name]!;
      const { frames, framer } = feed(chop(file, 4096, 9));
      assert.equal(framer.header, undefined);
      let at = 0;
      let offset = 0;
      while (offset < file.length * 0.4) offset += frames[at++]!.length;
      assert.equal(decodeErrors(Buffer.concat(frames.slice(at)), `late-${name}`), '', `${name} from frame ${at}`);
      assert.equal(decodeErrors(Buffer.concat(frames), `all-${name}`), '');
    }
  });

  it('recognises the samples, also from mid-frame, and no other format', () => {
    for (const name of ['stereo.aac', 'mono.aac']) {
      const file = samples[name]!;
      assert.ok(sniffAdts(file.subarray(0, 65536)), `${name} from its start`);
      assert.ok(sniffAdts(file.subarray(12345, 12345 + 65536)), `${name} from mid-frame`);
      assert.ok(sniffAdts(Buffer.concat([junk(500, 3), file.subarray(0, 4000)])), `${name} after junk`);
    }
    for (const name of ['tone.mp3', 'tone.ts', 'tone.flac']) {
      assert.equal(sniffAdts(samples[name]!.subarray(0, 65536)), false, `${name} is not ADTS`);
      assert.equal(sniffAdts(samples[name]!.subarray(5000, 5000 + 65536)), false, `${name} from its middle is not ADTS`);
    }
    assert.equal(sniffAdts(junk(65536, 4)), false, 'random bytes with sync words');
    assert.equal(sniffAdts(Buffer.alloc(65536, 0xff)), false, 'all ones');
  });

  it('is never mistaken for MPEG audio, nor MPEG audio for it', () => {
    const mp3 = feed([samples['tone.mp3']!]);
    assert.equal(mp3.frames.length, 0, 'not one mp3 frame taken for ADTS');
    for (const name of ['stereo.aac', 'mono.aac']) {
      let frames = 0;
      new Mp3Framer({ frameBytes: 64 }).push(samples[name]!, () => frames++);
      assert.equal(frames, 0, `the mp3 filter finds no frame in ${name}`);
    }
  });
});

describe('adts filter: junk and changes', { skip }, () => {
  it('skips junk before, between and after frames, counting it exactly; no frame is torn', () => {
    const want = frameList(samples['stereo.aac']!).slice(0, 120);
    const parts: Buffer[] = [junk(3000, 1)];
    let junkBytes = 3000;
    want.forEach((fr, i) => {
      parts.push(fr);
      // A fake header in junk may claim up to 8191 bytes: it is judged once that many have come, so real frames end the input.
      if (i % 17 === 5 && i < 80) {
        const j = junk(1 + (i % 300), i);
        parts.push(j);
        junkBytes += j.length;
      }
    });
    parts.push(junk(40, 99));
    junkBytes += 40;
    const input = Buffer.concat(parts);
    for (const [max, seed] of [[1, 1], [100, 2], [100000, 3]]) {
      const { frames, framer } = feed(chop(input, max, seed));
      framer.reset();
      // A frame followed by junk was confirmed in sync already: it is kept; the one after the junk is found again.
      assertFrames(frames, want, `chunks up to ${max}`);
      assert.equal(framer.invalidBytes, junkBytes, `chunks up to ${max}: the junk and nothing else`);
    }
  });

  it('follows a change of stream (rate, channels) at a frame boundary', () => {
    const a = frameList(samples['stereo.aac']!).slice(0, 30);
    const b = frameList(samples['mono.aac']!).slice(0, 30);
    const formats: string[] = [];
    const framer = new AdtsFramer({ frameBytes: 64 });
    const got: Buffer[] = [];
    for (const c of chop(Buffer.concat([...a, ...b]), 999, 4)) {
      framer.push(c, (fr) => {
        got.push(Buffer.from(fr));
        formats.push(framer.format!.params!);
      });
    }
    assertFrames(got, [...a, ...b], 'both streams');
    assert.equal(framer.invalidBytes, 0);
    assert.deepEqual([...new Set(formats)], ['44100Hz 2ch LC', '22050Hz 1ch LC']);
    assert.equal(formats.indexOf('22050Hz 1ch LC'), 30, 'the format changes with the first frame of the new stream');
  });

  it('takes frames with a CRC (9-byte headers) and several raw data blocks', () => {
    // ffmpeg writes neither: made from its frames by the specification's layout.
    const src = frameList(samples['mono.aac']!).slice(0, 20);
    const want = src.map((fr, i) => {
      const out = Buffer.concat([fr.subarray(0, 7), Buffer.from([0x12, 0x34]), fr.subarray(7)]);
      out[1] = out[1]! & 0xfe; // protection_absent = 0
      const length = out.length;
      out[3] = (out[3]! & 0xfc) | (length >> 11);
      out[4] = (length >> 3) & 0xff;
      out[5] = ((length & 7) << 5) | (out[5]! & 0x1f);
      out[6] = (out[6]! & 0xfc) | (i % 4); // number_of_raw_data_blocks_in_frame
      return out;
    });
    const { frames, durations, framer } = feed(chop(Buffer.concat(want), 50, 3));
    assertFrames(frames, want, 'protected frames');
    assert.equal(framer.invalidBytes, 0);
    durations.forEach((ms, i) => assert.ok(Math.abs(ms - ((i % 4) + 1) * 1024 * 1000 / 22050) < 1e-9, `frame ${i}: ${ms} ms`));
  });
});

describe('adts filter: hostile input', { skip }, () => {
  it('survives truncation at every position, emitting only whole frames', () => {
    const want = frameList(samples['mono.aac']!).slice(0, 12);
    const input = Buffer.concat(want);
    for (let cut = 0; cut <= input.length; cut++) {
      const { frames, framer } = feed([input.subarray(0, cut)]);
      frames.forEach((fr, i) => assert.ok(fr.equals(want[i]!), `cut ${cut}: frame ${i} is whole`));
      framer.reset();
      const emitted = frames.reduce((n, fr) => n + fr.length, 0);
      assert.equal(emitted + framer.invalidBytes, cut, `cut ${cut}: every byte emitted or counted`);
    }
  });

  it('takes random bytes in linear time, holding back no more than a frame', () => {
    const framer = new AdtsFramer({ frameBytes: 64 });
    const r = rng(5);
    let pushed = 0;
    let emitted = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < 64; i++) {
      const b = Buffer.alloc(32768);
      for (let k = 0; k < b.length; k++) b[k] = r() < 0.2 ? 0xff : Math.floor(r() * 256);
      framer.push(b, (fr) => { emitted += fr.length; });
      pushed += b.length;
      assert.ok(pushed - emitted - framer.invalidBytes <= 8192 + 7, 'held back at most a frame and a header');
    }
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    assert.ok(ms < 5000, `2 MiB of noise took ${ms} ms`);
  });

  it('refuses lengths that lie: too short, 0, or longer than what follows, holding back at most a frame', () => {
    // Enough frames after the liar for even an 8191-byte claim to be checked against the next header.
    const good = frameList(samples['mono.aac']!).slice(0, 60);
    const liar = (length: number) => {
      const h = Buffer.from(good[0]!.subarray(0, 7));
      h[3] = (h[3]! & 0xfc) | (length >> 11);
      h[4] = (length >> 3) & 0xff;
      h[5] = ((length & 7) << 5) | (h[5]! & 0x1f);
      return h;
    };
    for (const length of [0, 1, 6, 7, 8191]) {
      const input = Buffer.concat([liar(length), Buffer.alloc(100), ...good]);
      const { frames, framer } = feed(chop(input, 700, length));
      assertFrames(frames, good, `a header claiming ${length} bytes`);
      framer.reset();
      assert.equal(framer.invalidBytes, 107, `a header claiming ${length} bytes`);
    }
    // In sync, a header claiming 8191 bytes is waited for, and nothing more is held.
    const framer = new AdtsFramer({ frameBytes: 64 });
    let emitted = 0;
    const input = Buffer.concat([...good, liar(8191), Buffer.alloc(5000)]);
    framer.push(input, (fr) => { emitted += fr.length; });
    assert.equal(input.length - emitted - framer.invalidBytes, 5007, 'the claimed frame is held until it is complete');
    framer.reset();
    assert.equal(input.length - emitted, framer.invalidBytes, 'and counted when the source ends first');
  });

  it('respects the operator frame limit: longer frames are discarded', () => {
    const file = samples['stereo.aac']!;
    const all = frameList(file);
    const limit = 300;
    const { frames, framer } = feed(chop(file, 2000, 8), limit);
    assert.ok(frames.length > 10 && frames.length < all.length, `${frames.length} of ${all.length} frames kept`);
    assert.ok(frames.every((fr) => fr.length <= limit));
    framer.reset();
    const kept = frames.reduce((n, fr) => n + fr.length, 0);
    assert.equal(kept + framer.invalidBytes, file.length);
    // Every frame within the limit is kept (the last one only if in sync: out of sync it needs a next header).
    const within = all.filter((fr) => fr.length <= limit);
    assert.ok(frames.length >= within.length - 1);
    assertFrames(frames, within.slice(0, frames.length), 'frames within the limit');
  });
});

describe('adts filter: header fields', () => {
  it('describes the rates of the sampling frequency table', () => {
    // A single frame cannot be confirmed; three frames of each rate can.
    RATES.forEach((rate, index) => {
      const fr = Buffer.alloc(20);
      fr[0] = 0xff;
      fr[1] = 0xf1;
      fr[2] = (1 << 6) | (index << 2); // LC
      fr[3] = (2 << 6) | 0; // stereo
      fr[4] = 20 >> 3;
      fr[5] = (20 & 7) << 5;
      const { frames, durations, framer } = feed([fr, fr, fr]);
      assert.equal(frames.length, 3, `${rate} Hz`);
      assert.equal(framer.format?.params, `${rate}Hz 2ch LC`);
      assert.ok(Math.abs(durations[0]! - (1024 * 1000) / rate) < 1e-9);
    });
    const reserved = Buffer.from([0xff, 0xf1, (1 << 6) | (13 << 2), 2 << 6, 20 >> 3, (20 & 7) << 5, 0, ...Buffer.alloc(13)]);
    assert.equal(feed([reserved, reserved, reserved]).frames.length, 0, 'sampling frequency index 13 is reserved');
  });
});
