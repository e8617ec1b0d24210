import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MAX_MPEG_FRAME, Mp3Framer } from '../../mods/filters/mp3.ts';
import { chop, rng } from '../helpers/random.ts';

// Frames are synthesised from the specification here, independently of the
// filter's own tables: a header plus payload (the filter never decodes audio).

type Version = 1 | 2 | 2.5;
interface Format { version: Version; layer: 1 | 2 | 3; kbps: number; hz: number; mono?: boolean }

const VERSION_BITS: Record<Version, number> = { 1: 3, 2: 2, 2.5: 0 };
const RATES: Record<Version, number[]> = { 1: [44100, 48000, 32000], 2: [22050, 24000, 16000], 2.5: [11025, 12000, 8000] };
const V1_KBPS = { 1: [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448], 2: [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384], 3: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320] };
const V2_KBPS = { 1: [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256], 2: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160], 3: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160] };

function header(f: Format, pad: 0 | 1, overrides: { bitrateIndex?: number; rateIndex?: number } = {}): Buffer {
  const table = f.version === 1 ? V1_KBPS : V2_KBPS;
  const bitrateIndex = overrides.bitrateIndex ?? table[f.layer].indexOf(f.kbps);
  const rateIndex = overrides.rateIndex ?? RATES[f.version].indexOf(f.hz);
  assert.ok(bitrateIndex >= 0 && rateIndex >= 0, `test format ${JSON.stringify(f)} is valid`);
  return Buffer.from([
    0xff,
    0xe0 | (VERSION_BITS[f.version] << 3) | ((4 - f.layer) << 1) | 1, // no CRC
    (bitrateIndex << 4) | (rateIndex << 2) | (pad << 1),
    (f.mono ? 3 : 1) << 6, // mono or joint stereo
  ]);
}

function frameSize(f: Format, pad: 0 | 1): number {
  const bps = f.kbps * 1000;
  if (f.layer === 1) return (Math.floor((12 * bps) / f.hz) + pad) * 4;
  if (f.layer === 3 && f.version !== 1) return Math.floor((72 * bps) / f.hz) + pad;
  return Math.floor((144 * bps) / f.hz) + pad;
}

function samplesPerFrame(f: Format): number {
  if (f.layer === 1) return 384;
  return f.layer === 3 && f.version !== 1 ? 576 : 1152;
}

/** Random bytes; without 0xFF unless asked, so no sync word can appear by chance. */
function noise(n: number, seed: number, allowFF = false): Buffer {
  const r = rng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * (allowFF ? 256 : 255));
  return b;
}

/** Size of the frame a 4-byte header announces, from the specification (0: no frame header). */
function headerFrameSize(b: Buffer, at = 0): number {
  if (at + 4 > b.length || b[at] !== 0xff || (b[at + 1]! & 0xe0) !== 0xe0) return 0;
  const versionBits = (b[at + 1]! >> 3) & 3;
  const layer = 4 - ((b[at + 1]! >> 1) & 3);
  const bitrateIndex = b[at + 2]! >> 4;
  const rateIndex = (b[at + 2]! >> 2) & 3;
  if (versionBits === 1 || layer === 4 || bitrateIndex === 0 || bitrateIndex === 15 || rateIndex === 3 || (b[at + 3]! & 3) === 2) return 0;
  const version: Version = versionBits === 3 ? 1 : versionBits === 2 ? 2 : 2.5;
  const table = version === 1 ? V1_KBPS : V2_KBPS;
  const f: Format = { version, layer: layer as 1 | 2 | 3, kbps: table[layer as 1 | 2 | 3][bitrateIndex]!, hz: RATES[version][rateIndex]! };
  return frameSize(f, ((b[at + 2]! >> 1) & 1) as 0 | 1);
}

/** Version, layer, sample rate and mono or not: what a header shares with every frame of its stream. */
function streamOf(b: Buffer, at = 0): string {
  return `${b[at + 1]! & 0xfe}/${b[at + 2]! & 0x0c}/${(b[at + 3]! >> 6) === 3}`;
}

function frame(f: Format, pad: 0 | 1, seed: number, payload?: (body: Buffer) => void): Buffer {
  const size = frameSize(f, pad);
  const body = noise(size - 4, seed);
  payload?.(body);
  return Buffer.concat([header(f, pad), body]);
}

/** `count` frames of format `f`, padding varying as an encoder's would. */
function frames(f: Format, count: number, seed = 1): Buffer[] {
  return Array.from({ length: count }, (_, i) => frame(f, (i % 3 === 1 ? 1 : 0) as 0 | 1, seed * 1000 + i));
}

interface Out { frames: Buffer[]; durations: number[]; framer: Mp3Framer }

function feed(chunks: Buffer[], frameBytes = 2881, framer = new Mp3Framer({ frameBytes })): Out {
  const out: Out = { frames: [], durations: [], framer };
  for (const c of chunks) framer.push(c, (fr, ms) => { out.frames.push(Buffer.from(fr)); out.durations.push(ms); });
  return out;
}

function assertFrames(got: Buffer[], want: Buffer[], what: string): void {
  assert.equal(got.length, want.length, `${what}: frame count`);
  for (let i = 0; i < want.length; i++) assert.ok(got[i]!.equals(want[i]!), `${what}: frame ${i} differs`);
}

const MPEG1_L3: Format = { version: 1, layer: 3, kbps: 128, hz: 44100 };
const FORMATS: [string, Format, number, number][] = [
  // name, format, unpadded size, duration ms
  ['MPEG-1 layer III 128k 44.1 kHz', MPEG1_L3, 417, (1152 / 44100) * 1000],
  ['MPEG-1 layer III 64k mono 44.1 kHz', { version: 1, layer: 3, kbps: 64, hz: 44100, mono: true }, 208, (1152 / 44100) * 1000],
  ['MPEG-1 layer III 320k 32 kHz', { version: 1, layer: 3, kbps: 320, hz: 32000 }, 1440, 36],
  ['MPEG-2 layer III 64k 22.05 kHz', { version: 2, layer: 3, kbps: 64, hz: 22050 }, 208, (576 / 22050) * 1000],
  ['MPEG-2 layer III 8k 24 kHz', { version: 2, layer: 3, kbps: 8, hz: 24000, mono: true }, 24, 24],
  ['MPEG-2.5 layer III 32k 8 kHz', { version: 2.5, layer: 3, kbps: 32, hz: 8000, mono: true }, 288, 72],
  ['MPEG-2.5 layer III 64k 11.025 kHz', { version: 2.5, layer: 3, kbps: 64, hz: 11025 }, 417, (576 / 11025) * 1000],
  ['MPEG-1 layer I 384k 48 kHz', { version: 1, layer: 1, kbps: 384, hz: 48000 }, 384, 8],
  ['MPEG-1 layer I 448k 32 kHz', { version: 1, layer: 1, kbps: 448, hz: 32000 }, 672, 12],
  ['MPEG-2 layer I 256k 16 kHz', { version: 2, layer: 1, kbps: 256, hz: 16000 }, 768, 24],
  ['MPEG-1 layer II 192k 48 kHz', { version: 1, layer: 2, kbps: 192, hz: 48000 }, 576, 24],
  ['MPEG-2 layer II 160k 22.05 kHz', { version: 2, layer: 2, kbps: 160, hz: 22050 }, 1044, (1152 / 22050) * 1000],
  ['MPEG-2.5 layer II 160k 8 kHz (the largest frame)', { version: 2.5, layer: 2, kbps: 160, hz: 8000 }, 2880, 144],
];

describe('mp3 filter: frames and durations', () => {
  for (const [name, f, size, ms] of FORMATS) {
    it(name, () => {
      assert.equal(frameSize(f, 0), size, 'test table agrees with the specification');
      assert.equal(samplesPerFrame(f) * 1000 / f.hz, ms);
      const want = frames(f, 7);
      const { frames: got, durations, framer } = feed([Buffer.concat(want)]);
      assertFrames(got, want, name);
      assert.equal(framer.invalidBytes, 0);
      for (const d of durations) assert.ok(Math.abs(d - ms) < 1e-9, `${name}: duration ${d} ms, expected ${ms}`);
    });
  }

  it('the largest legal frame is 2881 bytes and passes with the default limit', () => {
    const f: Format = { version: 2.5, layer: 2, kbps: 160, hz: 8000 };
    assert.equal(frameSize(f, 1), MAX_MPEG_FRAME);
    const want = [frame(f, 1, 1), frame(f, 1, 2), frame(f, 0, 3)];
    const { frames: got, framer } = feed([Buffer.concat(want)], 64);
    assertFrames(got, want, 'largest frames');
    assert.equal(framer.invalidBytes, 0);
  });
});

describe('mp3 filter: chunk boundaries', () => {
  const formats = [MPEG1_L3, { version: 2, layer: 3, kbps: 32, hz: 16000 } as Format, { version: 1, layer: 1, kbps: 64, hz: 48000 } as Format];
  for (const f of formats) {
    it(`splits anywhere: MPEG-${f.version} layer ${f.layer}, every single cut and byte by byte`, () => {
      const want = frames(f, 4, 7);
      const input = Buffer.concat(want);
      for (let cut = 0; cut <= input.length; cut++) {
        const { frames: got, framer } = feed([input.subarray(0, cut), input.subarray(cut)]);
        assertFrames(got, want, `cut at ${cut}`);
        assert.equal(framer.invalidBytes, 0);
      }
      const bytewise = feed([...input].map((b) => Buffer.from([b])));
      assertFrames(bytewise.frames, want, 'byte by byte');
    });
  }

  it('emits a frame as soon as it is complete, without waiting for the next header', () => {
    const want = frames(MPEG1_L3, 4);
    const seen: number[] = [];
    const framer = new Mp3Framer({ frameBytes: 2881 });
    // At the very start of a source nothing speaks against a lone frame: out with its last byte.
    framer.push(want[0]!, () => seen.push(1));
    assert.equal(seen.length, 1);
    framer.push(want[1]!.subarray(0, 4), () => seen.push(2));
    assert.equal(seen.length, 1);
    framer.push(want[1]!.subarray(4), () => seen.push(2));
    assert.deepEqual(seen, [1, 2], 'the second frame came out with its own last byte');
    framer.push(want[2]!, () => seen.push(3));
    assert.deepEqual(seen, [1, 2, 3]);
  });

  it('emits frames lying inside one chunk as views of it', () => {
    const want = frames(MPEG1_L3, 5);
    const chunk = Buffer.concat(want);
    const views: Buffer[] = [];
    new Mp3Framer({ frameBytes: 2881 }).push(chunk, (fr) => views.push(fr));
    assert.equal(views.length, 5);
    assert.ok(views.every((v) => v.buffer === chunk.buffer));
  });
});

describe('mp3 filter: junk and resynchronisation', () => {
  it('counts junk before, between and after frames exactly, with fake sync words inside the junk', () => {
    const f = MPEG1_L3;
    const fake = (seed: number) => {
      // Junk that looks like frame headers: valid-looking syncs, a bad bitrate, a reserved version.
      const j = noise(50 + (seed % 97), seed);
      header(f, 0).copy(j, 5);
      header({ version: 2, layer: 3, kbps: 64, hz: 22050 }, 1).copy(j, 20);
      Buffer.from([0xff, 0xfb, 0xf0, 0x00]).copy(j, 30);
      Buffer.from([0xff, 0xe9, 0x90, 0x00]).copy(j, 40);
      return j;
    };
    const fs = frames(f, 12, 3);
    // The fake headers (of the stream and of another) would end inside the frame after the junk.
    const junk = [fake(1), fake(2), fake(3), fake(4), noise(3, 5)];
    const input = Buffer.concat([junk[0]!, fs[0]!, fs[1]!, fs[2]!, junk[1]!, fs[3]!, fs[4]!, junk[2]!, fs[5]!, fs[6]!, fs[7]!, junk[3]!, fs[8]!, fs[9]!, fs[10]!, fs[11]!, junk[4]!]);
    const junkBytes = junk.reduce((n, j) => n + j.length, 0);
    for (const max of [input.length, 1000, 100, 7, 1]) {
      const { frames: got, framer } = feed(chop(input, max, max));
      assertFrames(got, fs, `chunks up to ${max}`);
      // The source ends: the last junk bytes, too few to rule out a header, are dropped then.
      framer.reset();
      assert.equal(framer.invalidBytes, junkBytes, `chunks up to ${max}: every junk byte counted once`);
    }
  });

  it('finds no frame at a sync word inside audio data when it starts mid-frame', () => {
    const f = MPEG1_L3;
    // The tail of a frame whose payload holds a perfect header (417 bytes long, like the real ones).
    const tail = noise(100, 9);
    header(f, 0).copy(tail, 10);
    const want = frames(f, 5, 4);
    const input = Buffer.concat([tail, ...want]);
    // The fake one would end at 10 + 417 = 427, inside the second real frame (which spans 517..934).
    const { frames: got, framer } = feed([input]);
    assertFrames(got, want, 'mid-frame start');
    assert.equal(framer.invalidBytes, tail.length);
  });

  it('finds no frame in the tail of a frame cut off by the start, even one that would end inside the tail', () => {
    // A 24-byte MPEG-2 layer III header inside audio data, with all of its "frame" before the real frames.
    const tail = noise(120, 10);
    header({ version: 2, layer: 3, kbps: 8, hz: 24000, mono: true }, 0).copy(tail, 30);
    const want = frames(MPEG1_L3, 4, 5);
    for (const max of [1e6, 64, 1]) {
      const { frames: got, framer } = feed(chop(Buffer.concat([tail, ...want]), max, 4));
      assertFrames(got, want, `mid-frame start, chunks up to ${max}`);
      assert.equal(framer.invalidBytes, tail.length);
    }
  });

  it('passes frames whose payload is full of sync words once in sync', () => {
    const f = MPEG1_L3;
    const want = Array.from({ length: 6 }, (_, i) =>
      frame(f, 0, i, (body) => {
        for (let p = 0; p + 4 <= body.length; p += 37) header(f, 1).copy(body, p);
      }));
    for (const max of [1e6, 50, 1]) {
      const { frames: got, framer } = feed(chop(Buffer.concat(want), max, 3));
      assertFrames(got, want, `payload with syncs, chunks up to ${max}`);
      assert.equal(framer.invalidBytes, 0);
    }
  });

  it('drops free-format, bad-bitrate and reserved headers as invalid bytes', () => {
    const f = MPEG1_L3;
    const fs = frames(f, 8, 6);
    const freeFormat = Buffer.concat([header(f, 0, { bitrateIndex: 0 }), noise(100, 1)]);
    const badBitrate = Buffer.concat([header(f, 0, { bitrateIndex: 15 }), noise(60, 2)]);
    const reservedRate = Buffer.concat([header(f, 0, { rateIndex: 3 }), noise(30, 3)]);
    const reservedEmphasis = Buffer.concat([header(f, 0), noise(20, 4)]);
    reservedEmphasis[3] = reservedEmphasis[3]! | 2;
    const input = Buffer.concat([fs[0]!, fs[1]!, freeFormat, fs[2]!, fs[3]!, badBitrate, fs[4]!, fs[5]!, reservedRate, reservedEmphasis, fs[6]!, fs[7]!]);
    const { frames: got, framer } = feed([input]);
    assertFrames(got, fs, 'around bad headers');
    assert.equal(framer.invalidBytes, freeFormat.length + badBitrate.length + reservedRate.length + reservedEmphasis.length);
  });

  it('follows a change of stream (sample rate, version) without losing frames', () => {
    const a = frames(MPEG1_L3, 4, 1);
    const b = frames({ version: 2, layer: 3, kbps: 32, hz: 22050 }, 4, 2);
    const c = frames({ version: 1, layer: 3, kbps: 64, hz: 44100, mono: true }, 3, 3);
    const want = [...a, ...b, ...c];
    const { frames: got, durations, framer } = feed(chop(Buffer.concat(want), 300, 1));
    assertFrames(got, want, 'stream changes');
    assert.equal(framer.invalidBytes, 0);
    assert.ok(Math.abs(durations[5]! - (576 / 22050) * 1000) < 1e-9);
  });

  it('keeps junk from piling up: at most a maximal frame is held back, and junk is scanned in linear time', () => {
    const framer = new Mp3Framer({ frameBytes: 2881 });
    // Worst case for a naive scanner: every few bytes a plausible header of the largest size.
    const unit = Buffer.concat([header({ version: 2.5, layer: 2, kbps: 160, hz: 8000 }, 1), noise(3, 1)]);
    const junk = Buffer.alloc(4 << 20);
    for (let p = 0; p < junk.length; p += unit.length) unit.copy(junk, p);
    const started = performance.now();
    let emitted = 0;
    for (let p = 0; p < junk.length; p += 4096) framer.push(junk.subarray(p, p + 4096), () => emitted++);
    const ms = performance.now() - started;
    assert.equal(emitted, 0);
    assert.ok(framer.invalidBytes >= junk.length - (MAX_MPEG_FRAME + 4), `held back ${junk.length - framer.invalidBytes} bytes`);
    assert.ok(ms < 5000, `4 MiB of fake headers took ${ms} ms`);
    framer.reset();
    assert.equal(framer.invalidBytes, junk.length, 'what was held back is counted when dropped');
  });

  it('counts a frame cut short by reset as invalid and starts afresh', () => {
    const want = frames(MPEG1_L3, 3);
    const framer = new Mp3Framer({ frameBytes: 2881 });
    const got: Buffer[] = [];
    framer.push(Buffer.concat([want[0]!, want[1]!, want[2]!.subarray(0, 100)]), (fr) => got.push(Buffer.from(fr)));
    framer.reset();
    assert.equal(framer.invalidBytes, 100);
    framer.push(Buffer.concat(want), (fr) => got.push(Buffer.from(fr)));
    assertFrames(got, [want[0]!, want[1]!, ...want], 'after reset');
  });
});

describe('mp3 filter: tags', () => {
  function id3v2(body: number, version = 3, footer = false): Buffer {
    const size = Buffer.from([(body >> 21) & 0x7f, (body >> 14) & 0x7f, (body >> 7) & 0x7f, body & 0x7f]);
    const head = Buffer.concat([Buffer.from('ID3'), Buffer.from([version, 0, footer ? 0x10 : 0]), size]);
    // The tag's body may hold anything, sync words included (pictures do).
    const content = noise(body, body, true);
    header(MPEG1_L3, 0).copy(content, 0);
    return Buffer.concat([head, content, footer ? Buffer.concat([Buffer.from('3DI'), head.subarray(3)]) : Buffer.alloc(0)]);
  }

  it('skips ID3v2 tags (v2.3, v2.4 with footer, large ones) without counting them invalid', () => {
    const fs = frames(MPEG1_L3, 6, 2);
    const tags = [id3v2(1000), id3v2(300, 4, true), id3v2(70_000, 4)];
    const input = Buffer.concat([tags[0]!, fs[0]!, fs[1]!, fs[2]!, tags[1]!, fs[3]!, fs[4]!, tags[2]!, fs[5]!]);
    for (const max of [input.length, 4096, 333, 5]) {
      const { frames: got, framer } = feed(chop(input, max, max));
      // The last frame follows a tag and nothing follows it: it resumes the stream, so it is out at once.
      assertFrames(got, fs, `tags, chunks up to ${max}`);
      assert.equal(framer.invalidBytes, 0, `tags, chunks up to ${max}`);
    }
    const bytewise = feed([...Buffer.concat([tags[1]!, fs[0]!, fs[1]!])].map((b) => Buffer.from([b])));
    assertFrames(bytewise.frames, fs.slice(0, 2), 'tag byte by byte');
    assert.equal(bytewise.framer.invalidBytes, 0);
  });

  it('counts an ID3v1 tag between files as invalid, all 128 bytes', () => {
    const fs = frames(MPEG1_L3, 6, 5);
    const tag = Buffer.alloc(128);
    tag.write('TAGtitle');
    tag[127] = 0xff; // "no genre", a sync-word lookalike right before the next frame
    const input = Buffer.concat([fs[0]!, fs[1]!, fs[2]!, tag, fs[3]!, fs[4]!, fs[5]!, tag]);
    const { frames: got, framer } = feed(chop(input, 500, 2));
    assertFrames(got, fs, 'around ID3v1');
    framer.reset();
    assert.equal(framer.invalidBytes, 256);
  });
});

describe('mp3 filter: largest frame allowed (frameBytes)', () => {
  const mono64: Format = { version: 1, layer: 3, kbps: 64, hz: 44100, mono: true };

  it("passes streamserve's documented -frame-bytes 300 with 64 kbit/s mono", () => {
    const want = frames(mono64, 10);
    const { frames: got, framer } = feed([Buffer.concat(want)], 300);
    assertFrames(got, want, 'frame-bytes 300');
    assert.equal(framer.invalidBytes, 0);
  });

  it('refuses frames larger than frameBytes and counts them invalid', () => {
    const want = frames(MPEG1_L3, 10); // 417/418 bytes
    const input = Buffer.concat(want);
    const { frames: got, framer } = feed([input], 300);
    assert.equal(got.length, 0);
    assert.equal(framer.invalidBytes, input.length);
    assert.equal(new Mp3Framer({ frameBytes: 417 }).maxFrame, 417);
  });

  it('reads a frameBytes too small for any MPEG-1 layer II/III frame (the default 64) as the legal maximum', () => {
    assert.equal(new Mp3Framer({ frameBytes: 64 }).maxFrame, MAX_MPEG_FRAME);
    assert.equal(new Mp3Framer({ frameBytes: 95 }).maxFrame, MAX_MPEG_FRAME);
    assert.equal(new Mp3Framer({ frameBytes: 96 }).maxFrame, 96);
    assert.equal(new Mp3Framer({ frameBytes: 1 << 20 }).maxFrame, MAX_MPEG_FRAME);
    const want = frames(MPEG1_L3, 5);
    assertFrames(feed([Buffer.concat(want)], 64).frames, want, 'default frame-bytes');
  });
});

describe('mp3 filter: real files', () => {
  const demo = fileURLToPath(new URL('../../mods/demo/demo.mp3', import.meta.url));

  it('splits the demo asset into frames with no invalid byte', () => {
    const file = readFileSync(demo);
    for (const max of [file.length, 65536, 1000, 17]) {
      const { frames: got, durations, framer } = feed(chop(file, max, 11), 300);
      framer.reset();
      assert.equal(framer.invalidBytes, 0, `chunks up to ${max}`);
      assert.equal(got.reduce((n, fr) => n + fr.length, 0), file.length, 'every byte is in a frame');
      assert.ok(got.every((fr) => fr.length === 208 || fr.length === 209), '64 kbit/s mono 44.1 kHz frames');
      const seconds = durations.reduce((a, b) => a + b, 0) / 1000;
      assert.ok(seconds > 20 && seconds < 30, `demo lasts ${seconds} s`);
    }
  });

  const lame = spawnSync('which', ['lame']).status === 0;
  it('splits lame output with ID3v2, Info frame and ID3v1 tags', { skip: lame ? false : 'lame is not installed' }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'streamserve-mp3-'));
    try {
      const out = join(dir, 'tone.mp3');
      // 3 s of a 440 Hz tone as raw 16-bit stereo PCM; lame adds both tags because of --add-id3v2.
      const pcm = Buffer.alloc(44100 * 3 * 4);
      for (let i = 0; i < 44100 * 3; i++) {
        const v = Math.round(Math.sin((2 * Math.PI * 440 * i) / 44100) * 8000);
        pcm.writeInt16LE(v, i * 4);
        pcm.writeInt16LE(v, i * 4 + 2);
      }
      const r = spawnSync('lame', ['--quiet', '-r', '-s', '44.1', '--bitwidth', '16', '-b', '128', '--add-id3v2', '--tt', 'streamserve test', '-', out], { input: pcm, timeout: 30_000 });
      assert.equal(r.status, 0, `lame failed: ${r.stderr}`);
      const file = readFileSync(out);
      assert.equal(file.subarray(0, 3).toString(), 'ID3');
      assert.equal(file.subarray(-128, -125).toString(), 'TAG');
      const { frames: got, framer } = feed(chop(file, 4096, 5), 64);
      framer.reset();
      const tagBytes = 10 + ((file[6]! << 21) | (file[7]! << 14) | (file[8]! << 7) | file[9]!);
      assert.equal(framer.invalidBytes, 128, 'the ID3v1 tag, nothing else');
      assert.equal(got.reduce((n, fr) => n + fr.length, 0), file.length - tagBytes - 128);
      assert.ok(got.length > 110, `${got.length} frames for 3 s`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// filter_mp3_test.go of Go streamserve, byte for byte: its shouldFilter pads a
// header (given as three bytes) with zeros to the frame size; the two lame
// vectors are lame's first bytes followed by 0x55.
const v1bits = 3 << 3;
const v2bits = 2 << 3;
const v25bits = 0;
const lIbits = 3 << 1;
const lIIbits = 2 << 1;
const lIIIbits = 1 << 1;
const brShift = 4;
const srShift = 2;
const padShift = 1;

function goFrame(size: number, bytes: number[], fill = 0, fillFrom = bytes.length): Buffer {
  const b = Buffer.alloc(size);
  Buffer.from(bytes).copy(b);
  b.fill(fill, fillFrom);
  return b;
}

const GO_VECTORS: { name: string; frame: Buffer; ms: number }[] = [
  {
    name: 'TestMp3FilterVersion1LayerI',
    frame: goFrame((Math.floor((12 * 128000) / 48000) + 1) * 4, [0o377, 0o340 | v1bits | lIbits, (4 << brShift) | (1 << srShift) | (1 << padShift)]),
    ms: (384 / 48000) * 1000,
  },
  {
    name: 'TestMp3FilterVersion2LayerIII',
    frame: goFrame(Math.floor((72 * 160000) / 24000) + 1, [0o377, 0o340 | v2bits | lIIIbits, (14 << brShift) | (1 << srShift) | (1 << padShift)]),
    ms: (576 / 24000) * 1000,
  },
  {
    name: 'TestMp3FilterVersion25LayerII',
    frame: goFrame(Math.floor((144 * 144000) / 11025), [0o377, 0o340 | v25bits | lIIbits, (13 << brShift) | (0 << srShift) | (0 << padShift)]),
    ms: (1152 / 11025) * 1000,
  },
  {
    name: 'TestMp3FilterLame128k44100', // `</dev/zero lame -r -b 128 - -`
    frame: goFrame(418, [
      0xff, 0xfb, 0x92, 0x64, 0x40, 0x8f, 0xf0, 0,
      0, 0x69, 0, 0, 0, 0x08, 0, 0,
      0x0d, 0x20, 0, 0, 0x01, 0, 0, 1,
      0xa4, 0, 0, 0, 0x20, 0, 0, 0x34,
      0x80, 0, 0, 4,
    ], 0x55, 36),
    ms: (1152 / 44100) * 1000,
  },
  {
    name: 'TestMp3FilterLame40k16000', // `</dev/zero lame -r -b 40 - -`
    frame: goFrame(180, [
      0xff, 0xf3, 0x58, 0x64, 0x60, 0, 0, 1,
      0xa4, 0, 0, 0, 0, 0, 0, 3,
      0x48, 0, 0, 0, 0,
    ], 0x55, 21),
    ms: (576 / 16000) * 1000,
  },
];

/**
 * Junk for lone frames: random bytes with sync-word lookalikes (bad bitrate,
 * reserved version, reserved sample rate) and a real MPEG-1 layer III header
 * whose frame would end inside the next frame. No other valid header: a whole
 * frame inside the junk would be as much a frame as the vectors themselves.
 */
function vectorJunk(seed: number): Buffer {
  const r = rng(seed);
  const b = noise(150 + Math.floor(r() * 400), seed, true);
  for (let i = 0; i < b.length; i++) if (headerFrameSize(b, i)) b[i] = 0;
  const lookalikes = [[0xff, 0xfb, 0xf0, 0x00], [0xff, 0xe9, 0x90, 0x00], [0xff, 0xfa, 0x9c, 0x40]];
  lookalikes.forEach((word, k) => Buffer.from(word).copy(b, 10 + k * 30));
  header(MPEG1_L3, 0).copy(b, b.length - 4 - Math.floor(r() * 60));
  return b;
}

describe("mp3 filter: Go streamserve's test vectors (filter_mp3_test.go)", () => {
  for (const { name, frame: v, ms } of GO_VECTORS) {
    it(`${name}: ${v.length} bytes; one byte more leaves the byte; one byte less is no frame yet`, () => {
      for (const frameBytes of [2048, 64]) {
        const alone = feed([v], frameBytes);
        assertFrames(alone.frames, [v], `${name} alone`);
        assert.ok(Math.abs(alone.durations[0]! - ms) < 1e-9, `${name}: duration ${alone.durations[0]} ms, expected ${ms}`);
        assert.equal(alone.framer.invalidBytes, 0);

        const longer = feed([Buffer.concat([v, Buffer.from([0])])], frameBytes);
        assertFrames(longer.frames, [v], `${name} + 1 byte`);
        longer.framer.reset();
        assert.equal(longer.framer.invalidBytes, 1, 'the byte after it was left, not taken');

        const short = feed([v.subarray(0, v.length - 1)], frameBytes);
        assert.equal(short.frames.length, 0, `${name} minus 1 byte`);
        assert.equal(short.framer.invalidBytes, 0, 'a short frame is held, not dropped');
      }
    });
  }

  it('the five vectors, each alone between junk, are exactly five frames (-frame-bytes 2048)', () => {
    const want = GO_VECTORS.map((g) => g.frame);
    const junk = want.map((_, i) => vectorJunk(100 + i));
    const input = Buffer.concat(want.flatMap((v, i) => [v, junk[i]!]));
    const junkBytes = junk.reduce((n, j) => n + j.length, 0);
    for (const max of [input.length, 1000, 97, 1]) {
      const { frames: got, framer } = feed(chop(input, max, max), 2048);
      assertFrames(got, want, `chunks up to ${max}`);
      framer.reset();
      assert.equal(framer.invalidBytes, junkBytes, `chunks up to ${max}: the junk, all of it, nothing else`);
    }
  });
});

describe('mp3 filter: frames next to junk', () => {
  const mono22: Format = { version: 2, layer: 3, kbps: 32, hz: 22050, mono: true };

  it('a lone frame followed by junk is a frame, out as soon as it is complete', () => {
    const [a] = frames(MPEG1_L3, 1, 8);
    const seen: Buffer[] = [];
    const framer = new Mp3Framer({ frameBytes: 2881 });
    framer.push(Buffer.concat([a!, noise(40, 1)]), (fr) => seen.push(Buffer.from(fr)));
    assertFrames(seen, [a!], 'lone frame');
  });

  it('a frame resuming the stream between junk on both sides is a frame; one of another stream there is junk', () => {
    const fs = frames(MPEG1_L3, 6, 9);
    const other = frame(mono22, 0, 77);
    const j = (seed: number) => noise(30 + seed, seed);
    const input = Buffer.concat([fs[0]!, fs[1]!, j(1), fs[2]!, j(2), other, j(3), fs[3]!, j(4), fs[4]!, fs[5]!]);
    for (const max of [input.length, 100, 1]) {
      const { frames: got, framer } = feed(chop(input, max, 6));
      assertFrames(got, fs, `chunks up to ${max}`);
      assert.equal(framer.invalidBytes, 31 + 32 + other.length + 33 + 34);
    }
  });

  it('after a single frame, a lone frame of another stream is a frame (as the vectors are)', () => {
    const a = frame(MPEG1_L3, 0, 1);
    const b = frame(mono22, 1, 2);
    const { frames: got } = feed([Buffer.concat([a, noise(50, 3), b, noise(50, 4)])]);
    assertFrames(got, [a, b], 'lone frames of two streams');
  });

  it('junk full of headers of another stream, overlapping each other, costs linear time and yields nothing', () => {
    const fs = frames(MPEG1_L3, 6, 10);
    // Largest frames (2881 bytes) announced every 5 bytes: each would be searched whole for the running stream.
    const unit = Buffer.concat([header({ version: 2.5, layer: 2, kbps: 160, hz: 8000 }, 1), noise(1, 2)]);
    const soup = Buffer.alloc(1 << 20);
    for (let p = 0; p < soup.length; p += unit.length) unit.copy(soup, p);
    const input = Buffer.concat([fs[0]!, fs[1]!, fs[2]!, soup, fs[3]!, fs[4]!, fs[5]!]);
    const started = performance.now();
    const { frames: got, framer } = feed(chop(input, 65536, 1));
    const ms = performance.now() - started;
    assertFrames(got, fs, 'around the soup');
    assert.equal(framer.invalidBytes, soup.length);
    // About 0.1 s here; searching each candidate's whole frame anew took 2.4 s.
    assert.ok(ms < 1000, `1 MiB of overlapping headers took ${ms} ms`);
  });
});

describe('mp3 filter: lame output with junk spliced between frames', () => {
  const lame = spawnSync('which', ['lame']).status === 0;
  let clean: Buffer[] = [];

  before(() => {
    if (!lame) return;
    const dir = mkdtempSync(join(tmpdir(), 'streamserve-mp3-'));
    try {
      // 3 s of a two-note chord, 16-bit stereo PCM, to 128 kbit/s CBR (no tags: frames only).
      const pcm = Buffer.alloc(44100 * 3 * 4);
      for (let i = 0; i < 44100 * 3; i++) {
        const t = i / 44100;
        const v = Math.round(7000 * (Math.sin(2 * Math.PI * 330 * t) + Math.sin(2 * Math.PI * 495 * t)) / 2);
        pcm.writeInt16LE(v, i * 4);
        pcm.writeInt16LE(-v, i * 4 + 2);
      }
      const out = join(dir, 'tone.mp3');
      const r = spawnSync('lame', ['--quiet', '-r', '-s', '44.1', '--bitwidth', '16', '-b', '128', '-', out], { input: pcm, timeout: 30_000 });
      assert.equal(r.status, 0, `lame failed: ${r.stderr}`);
      const file = readFileSync(out);
      for (let p = 0; p < file.length;) {
        const size = headerFrameSize(file, p);
        assert.ok(size > 0, `a frame header at ${p} of lame's output`);
        clean.push(file.subarray(p, p + size));
        p += size;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives exactly the encoder\'s frames, in order, none torn, and counts every junk byte', { skip: lame ? false : 'lame is not installed' }, () => {
    assert.ok(clean.length > 100, `${clean.length} frames`);
    const stream = streamOf(clean[1]!);
    const r = rng(20261202);
    const junkAt = new Set<number>();
    // Junk in about one gap of three, from the third frame on (a stream runs), and in two
    // gaps in a row (a frame with junk on both sides); none in the last 8 frames: at the end
    // of a source, up to a largest frame may still wait for what follows it.
    for (let i = 2; i < clean.length - 8; i++) if (r() < 0.35) junkAt.add(i);
    junkAt.add(20).add(21);
    const parts: Buffer[] = [];
    let junkBytes = 0;
    clean.forEach((f, i) => {
      if (junkAt.has(i)) {
        const j = splicedJunk(r, clean[i - 1]!, stream);
        junkBytes += j.length;
        parts.push(j);
      }
      parts.push(f);
    });
    const input = Buffer.concat(parts);
    for (const max of [input.length, 4096, 333, 7]) {
      const { frames: got, framer } = feed(chop(input, max, max), 2048);
      assertFrames(got, clean, `chunks up to ${max}`);
      framer.reset();
      assert.equal(framer.invalidBytes, junkBytes, `chunks up to ${max}`);
    }
  });
});

/**
 * Junk as a bad splice leaves it: random bytes, sync words with random bits
 * after them, a header of another stream, and a copy of the previous frame's
 * header whose frame would run into the next frame. Left out, as nothing tells
 * them from frames: a header of the stream at the junk's first byte, or one
 * whose whole frame lies inside the junk.
 */
function splicedJunk(r: () => number, previous: Buffer, stream: string): Buffer {
  const b = Buffer.alloc(1 + Math.floor(r() * 400));
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
  for (let k = 0; k < 3 && b.length > 4; k++) {
    const at = 1 + Math.floor(r() * (b.length - 4));
    b[at] = 0xff;
    b[at + 1] = 0xe0 | Math.floor(r() * 32);
  }
  if (b.length > 40) header({ version: 2, layer: 2, kbps: 64, hz: 24000 }, 0).copy(b, 1 + Math.floor(r() * (b.length - 40)));
  if (b.length > 8) previous.copy(b, b.length - 4 - Math.floor(r() * Math.min(b.length - 5, 100)), 0, 4);
  for (let i = 0; i < b.length; i++) {
    const size = headerFrameSize(b, i);
    if (size && streamOf(b, i) === stream && (i === 0 || i + size <= b.length)) b[i] = 0;
  }
  return b;
}

describe('mp3 filter memory', () => {
  it('keeps no view of a chunk past the next push: bytes held for more input are its own copy', () => {
    const demo = readFileSync(fileURLToPath(new URL('../../mods/demo/demo.mp3', import.meta.url)));
    const want: Buffer[] = [];
    new Mp3Framer({ frameBytes: 0 }).push(demo, (f) => want.push(Buffer.from(f)));
    const got: Buffer[] = [];
    const framer = new Mp3Framer({ frameBytes: 0 });
    // Tiny chunks, each scribbled over once the next push is done: what the source runner's slabs allow.
    let previous: Buffer | undefined;
    for (let at = 0; at < demo.length; at += 7) {
      const chunk = Buffer.from(demo.subarray(at, at + 7));
      framer.push(chunk, (f) => got.push(Buffer.from(f)));
      previous?.fill(0xaa);
      previous = chunk;
    }
    assert.equal(got.length, want.length);
    assert.ok(Buffer.concat(got).equals(Buffer.concat(want)), 'no frame is made of reused memory');
  });
});

describe('mp3 filter format', () => {
  it('reports version, layer, rate and mode of the stream it locked on', () => {
    const demo = readFileSync(fileURLToPath(new URL('../../mods/demo/demo.mp3', import.meta.url)));
    const framer = new Mp3Framer({ frameBytes: 0 });
    assert.deepEqual(framer.format, { name: 'mp3' }, 'nothing known before the first frame');
    framer.push(demo, () => {});
    assert.equal(framer.format.name, 'mp3');
    assert.match(framer.format.params ?? '', /^MPEG-(1|2|2\.5) layer (I|II|III) \d+ Hz (mono|stereo)$/);
    assert.equal(framer.contentType, 'audio/mpeg');
  });
});
