import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FlacFramer, sniffFlac } from '../../mods/filters/flac.ts';
import { chop, rng } from '../helpers/random.ts';

const ffmpeg = spawnSync('ffmpeg', ['-version']).status === 0;
const skip = ffmpeg ? false : 'ffmpeg is not installed';

// ---- FLAC written from the specification (RFC 9639), independently of the filter's code ----

function crc8(b: Buffer): number {
  let crc = 0;
  for (const byte of b) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

function crc16(b: Buffer): number {
  let crc = 0;
  for (const byte of b) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x8005) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** FLAC's UTF-8-like coding of frame and sample numbers. */
function codedNumber(n: number): number[] {
  if (n < 0x80) return [n];
  let count = 2;
  while (n >= 2 ** (count === 7 ? 36 : 5 * count + 1)) count++;
  const out = [((0xff << (8 - count)) & 0xff) | Math.floor(n / 64 ** (count - 1))];
  for (let k = count - 2; k >= 0; k--) out.push(0x80 | (Math.floor(n / 64 ** k) % 64));
  return out;
}

interface HeaderSpec {
  blocking?: 0 | 1;
  number: number;
  blockSize: number;
  /** 9 is 44.1 kHz, 0 leaves the rate to STREAMINFO. */
  rateCode?: number;
  channels?: number;
  /** 4 is 16 bits, 0 leaves them to STREAMINFO. */
  bitsCode?: number;
}

function frameHeader(s: HeaderSpec): Buffer {
  const size = s.blockSize - 1;
  const h = Buffer.from([
    0xff, 0xf8 | (s.blocking ?? 0), (7 << 4) | (s.rateCode ?? 9), (((s.channels ?? 2) - 1) << 4) | ((s.bitsCode ?? 4) << 1),
    ...codedNumber(s.number), size >> 8, size & 0xff,
  ]);
  return Buffer.concat([h, Buffer.from([crc8(h)])]);
}

function frame(s: HeaderSpec, bodyBytes: number, seed: number): Buffer {
  const r = rng(seed);
  const body = Buffer.alloc(bodyBytes);
  for (let i = 0; i < bodyBytes; i++) body[i] = Math.floor(r() * 256);
  const f = Buffer.concat([frameHeader(s), body, Buffer.alloc(2)]);
  f.writeUInt16BE(crc16(f.subarray(0, -2)), f.length - 2);
  return f;
}

interface Info { minBlock?: number; maxBlock?: number; maxFrame?: number; rate?: number; channels?: number; bits?: number }

function metadataBlock(type: number, body: Buffer, last: boolean): Buffer {
  const h = Buffer.alloc(4);
  h[0] = (last ? 0x80 : 0) | type;
  h.writeUIntBE(body.length, 1, 3);
  return Buffer.concat([h, body]);
}

function streamInfo(i: Info, total = 123456, md5 = 0xab): Buffer {
  const b = Buffer.alloc(34, md5);
  b.writeUInt16BE(i.minBlock ?? 1024, 0);
  b.writeUInt16BE(i.maxBlock ?? 1024, 2);
  b.writeUIntBE(0, 4, 3);
  b.writeUIntBE(i.maxFrame ?? 0, 7, 3);
  const rate = i.rate ?? 44100;
  const bits = (i.bits ?? 16) - 1;
  b.writeUIntBE((rate << 4) | (((i.channels ?? 2) - 1) << 1) | (bits >> 4), 10, 3);
  b[13] = ((bits & 15) << 4) | Math.floor(total / 2 ** 32);
  b.writeUInt32BE(total % 2 ** 32, 14);
  return b;
}

/** `count` frames of a fixed-blocksize 44.1 kHz 16-bit stereo stream, numbered from `first`. */
function frames(count: number, first = 0, seed = 1, spec: Partial<HeaderSpec> = {}): Buffer[] {
  return Array.from({ length: count }, (_, k) => frame({ number: first + k, blockSize: 1024, ...spec }, 100 + ((k * 37) % 200), seed * 1000 + k));
}

/** Random bytes, with CRC-8-valid frame headers planted in them whose numbers follow `after`. */
function junk(n: number, seed: number, after = 0): Buffer {
  const r = rng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  for (let at = 1 + Math.floor(r() * 40); at + 20 < n; at += 20 + Math.floor(r() * 200)) {
    frameHeader({ number: after + 1 + Math.floor(r() * 2), blockSize: 1024 }).copy(b, at);
  }
  return b;
}

// ---- Running the filter ----

interface Out { frames: Buffer[]; durations: number[]; headers: (Buffer | undefined)[]; framer: FlacFramer }

function feed(chunks: Buffer[], frameBytes = 64, framer = new FlacFramer({ frameBytes })): Out {
  const out: Out = { frames: [], durations: [], headers: [], framer };
  for (const c of chunks) framer.push(c, (fr, ms, sync) => {
    assert.notEqual(sync, false, 'every FLAC frame is a sync point');
    out.frames.push(Buffer.from(fr));
    out.durations.push(ms);
    out.headers.push(framer.header);
  });
  return out;
}

function assertFrames(got: Buffer[], want: Buffer[], what: string): void {
  assert.equal(got.length, want.length, `${what}: frame count`);
  for (let i = 0; i < want.length; i++) assert.ok(got[i]!.equals(want[i]!), `${what}: frame ${i} differs`);
}

const sum = (list: Buffer[]) => list.reduce((n, b) => n + b.length, 0);

// ---- ffmpeg samples ----

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
  dir = mkdtempSync(join(tmpdir(), 'streamserve-flac-'));
  const tone = (hz: number, s: number) => ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${hz}`, '-t', String(s)];
  encode('cd.flac', [...tone(44100, 4), '-ac', '2', '-c:a', 'flac', '-f', 'flac']);
  encode('hd.flac', [...tone(48000, 3), '-ac', '2', '-c:a', 'flac', '-sample_fmt', 's32', '-bits_per_raw_sample', '24', '-f', 'flac']);
  encode('tone.mp3', [...tone(44100, 2), '-c:a', 'libmp3lame', '-f', 'mp3']);
  encode('tone.aac', [...tone(44100, 2), '-c:a', 'aac', '-f', 'adts']);
  encode('tone.oga', [...tone(44100, 2), '-c:a', 'flac', '-f', 'ogg']);
  encode('tone.mkv', [...tone(44100, 2), '-c:a', 'flac', '-f', 'matroska']);
  // FLAC in MP4 is still "experimental" to this ffmpeg; its frames lie back to back in mdat.
  encode('tone.mp4', [...tone(44100, 2), '-c:a', 'flac', '-strict', '-2', '-f', 'mp4']);
  encode('tone.wav', [...tone(44100, 1), '-f', 'wav']);
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A native FLAC file's metadata blocks, read by the specification. */
function metadataBlocks(file: Buffer): { blocks: Buffer[]; end: number } {
  assert.equal(file.subarray(0, 4).toString(), 'fLaC');
  const blocks: Buffer[] = [];
  let p = 4;
  for (;;) {
    const length = file.readUIntBE(p + 1, 3);
    blocks.push(file.subarray(p, p + 4 + length));
    p += 4 + length;
    if (file[p - 4 - length]! & 0x80) return { blocks, end: p };
  }
}

function packets(name: string): number {
  const r = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-count_packets', '-show_entries', 'stream=nb_read_packets', '-of', 'csv=p=0', join(dir, name)], { encoding: 'utf8', timeout: 60_000 });
  return Number(r.stdout.trim());
}

function decodeErrors(data: Buffer, name: string): string {
  const file = join(dir, name);
  writeFileSync(file, data);
  const r = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'], { encoding: 'utf8', timeout: 60_000 });
  return `${r.stdout}${r.stderr}${r.status === 0 ? '' : `exit ${r.status}`}`;
}

function probe(data: Buffer, name: string): string {
  const file = join(dir, name);
  writeFileSync(file, data);
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,sample_rate,channels,bits_per_raw_sample', '-of', 'csv=p=0', file], { encoding: 'utf8', timeout: 60_000 });
  return r.stdout.trim();
}

/** Header + frames from the first frame starting after 40% of the input. */
function lateJoin(out: Out, skipped: number): Buffer {
  let at = 0;
  for (let offset = skipped; offset < (skipped + sum(out.frames)) * 0.4; offset += out.frames[at++]!.length);
  assert.ok(at > 0 && at < out.frames.length - 2);
  return Buffer.concat([out.headers[at]!, ...out.frames.slice(at)]);
}

const FILES = [
  ['cd.flac', '44100Hz 2ch 16bit', 4, 44100],
  ['hd.flac', '48000Hz 2ch 24bit', 3, 48000],
] as const;

describe('flac filter: ffmpeg output', { skip }, () => {
  it('cuts 44.1 kHz 16-bit and 48 kHz 24-bit streams at every frame, whole or in random chunks', () => {
    for (const [name, params] of FILES) {
      const file = samples[name]!;
      const { end } = metadataBlocks(file);
      const whole = feed([file]);
      // The last frame has no next header to end it: it waits for more input.
      assert.equal(whole.frames.length, packets(name) - 1, `${name}: every frame but the last`);
      const framed = sum(whole.frames);
      assert.ok(Buffer.concat(whole.frames).equals(file.subarray(end, end + framed)), `${name}: the frames are the input after the metadata`);
      const last = file.subarray(end + framed);
      assert.ok(last[0] === 0xff && last[1] === 0xf8 && last.length < 20000, `${name}: what is held back is the last frame`);
      assert.deepEqual(whole.framer.format, { name: 'flac', codec: 'flac', params });
      assert.equal(whole.framer.contentType, 'audio/flac');
      assert.equal(whole.framer.invalidBytes, 0);
      for (const [max, seed] of [[1, 1], [9, 2], [1000, 3], [70000, 4]]) {
        const { frames, framer } = feed(chop(file, max, seed));
        assertFrames(frames, whole.frames, `${name} in chunks up to ${max}`);
        framer.reset();
        assert.equal(framer.invalidBytes, last.length, `${name} in chunks up to ${max}: only the unfinished last frame is lost`);
      }
    }
  });

  it('keeps "fLaC", STREAMINFO (totals and MD5 cleared) and the comments as the header; padding goes', () => {
    for (const [name] of FILES) {
      const file = samples[name]!;
      const kept = metadataBlocks(file).blocks.filter((b) => (b[0]! & 0x7f) !== 1).map((b) => Buffer.from(b));
      assert.deepEqual(kept.map((b) => b[0]! & 0x7f), [0, 4], 'ffmpeg writes STREAMINFO, VORBIS_COMMENT (and PADDING)');
      kept.forEach((b, i) => { b[0] = (b[0]! & 0x7f) | (i === kept.length - 1 ? 0x80 : 0); });
      kept[0]![4 + 13] = kept[0]![4 + 13]! & 0xf0;
      kept[0]!.fill(0, 4 + 14, 4 + 34);
      const { headers } = feed(chop(file, 3000, 1));
      assert.ok(headers[0]!.equals(Buffer.concat([Buffer.from('fLaC'), ...kept])), `${name}: header`);
      assert.ok(headers.every((h) => h === headers[0]), 'the same header object throughout');
    }
  });

  it('keeps nothing of a chunk past the next push, and never changes a frame it handed out', () => {
    const file = samples['cd.flac']!;
    const want = feed([file]).frames;
    for (const max of [1, 700, 9000]) {
      // The engine may reuse a chunk's memory once the next push has begun: scribbled over here.
      const framer = new FlacFramer({ frameBytes: 64 });
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
      const again = new FlacFramer({ frameBytes: 64 });
      for (const c of chop(file, max, 12)) again.push(c, (fr) => views.push(fr));
      assertFrames(views, want, `views from chunks up to ${max}`);
    }
  });

  it('gives each frame its duration: block size over sample rate', () => {
    for (const [name, , seconds, rate] of FILES) {
      const { durations } = feed([samples[name]!]);
      for (const ms of durations.slice(0, -1)) assert.ok(Math.abs(ms - (4608 * 1000) / rate) < 1e-9, `${name}: ${ms} ms`);
      const total = durations.reduce((a, b) => a + b, 0) / 1000;
      assert.ok(total > seconds - 4608 / rate - 0.01 && total <= seconds, `${name}: ${total} s of ${seconds} s`);
    }
  });

  it('a listener joining after 40% decodes cleanly with the header, as one there from the start does', () => {
    for (const [name] of FILES) {
      const file = samples[name]!;
      const out = feed(chop(file, 4096, 7));
      const late = lateJoin(out, metadataBlocks(file).end);
      assert.equal(decodeErrors(late, `late-${name}`), '', `${name}: late join`);
      assert.equal(decodeErrors(Buffer.concat([out.headers[0]!, ...out.frames]), `all-${name}`), '', `${name}: from the start`);
    }
    assert.equal(probe(lateJoin(feed([samples['hd.flac']!]), metadataBlocks(samples['hd.flac']!).end), 'late-hd-probe.flac'), 'flac,48000,2,24');
  });

  it('joins a source mid-stream: frames are found and a STREAMINFO made from their headers lets players start', () => {
    for (const [name, params] of FILES) {
      const file = samples[name]!;
      const from = Math.floor(file.length / 3);
      const out = feed(chop(file.subarray(from), 2000, 3));
      assert.ok(out.frames.length > 5);
      const header = out.headers[0]!;
      assert.equal(header.subarray(0, 4).toString(), 'fLaC');
      assert.equal(header.length, 4 + 4 + 34, 'fLaC and a STREAMINFO, flagged last');
      assert.equal(header[4], 0x80);
      assert.equal(out.framer.format?.params, params);
      assert.ok(out.framer.invalidBytes < 20000, 'the partial frame before the first found is dropped');
      assert.ok(file.includes(Buffer.concat(out.frames)), 'the frames are a contiguous stretch of the input');
      const late = lateJoin(out, from);
      assert.equal(decodeErrors(late, `mid-${name}`), '', `${name}: decodes from a sync point`);
      assert.equal(probe(late, `mid-probe-${name}`), `flac,${params.replace(/Hz |ch |bit/g, (m) => (m === 'bit' ? '' : ','))}`);
    }
  });

  it('follows one file into the next: the last frame before "fLaC" ends there, the header changes at the new stream', () => {
    const a = samples['cd.flac']!;
    const b = samples['hd.flac']!;
    const out = feed(chop(Buffer.concat([a, b]), 5000, 2));
    const alone = [feed([a]), feed([b])];
    const framesA = alone[0]!.frames.length + 1;
    assert.equal(out.frames.length, framesA + alone[1]!.frames.length, 'every frame of the first file, and of the second but its last');
    assert.ok(out.frames[framesA - 1]!.equals(a.subarray(a.length - out.frames[framesA - 1]!.length)), 'the first file\'s last frame');
    assert.ok(out.headers[framesA - 1] === out.headers[0]);
    assert.ok(out.headers[framesA]!.equals(alone[1]!.headers[0]!), 'the second file\'s header from its first frame on');
    assert.equal(out.framer.invalidBytes, 0, 'metadata is not junk');
    assert.equal(out.framer.format?.params, '48000Hz 2ch 24bit');
  });

  it('recognises FLAC from its start, mid-stream and after junk, and no other format', () => {
    for (const [name] of FILES) {
      const file = samples[name]!;
      assert.ok(sniffFlac(file.subarray(0, 65536)), `${name} from its start`);
      assert.ok(sniffFlac(file.subarray(20011, 20011 + 65536)), `${name} mid-stream`);
      assert.ok(sniffFlac(Buffer.concat([junk(3000, 5), file.subarray(9000, 40000)])), `${name} after junk`);
    }
    for (const name of ['tone.mp3', 'tone.aac', 'tone.oga', 'tone.mkv', 'tone.mp4', 'tone.wav']) {
      const file = samples[name]!;
      assert.equal(sniffFlac(file.subarray(0, 65536)), false, `${name} is not native FLAC`);
      // The inside of an MP4's mdat is native FLAC frames, byte for byte: only its start tells.
      if (name === 'tone.mp4') continue;
      assert.equal(sniffFlac(file.subarray(3001, 3001 + 65536)), false, `${name} from its middle is not native FLAC`);
    }
    assert.equal(sniffFlac(junk(65536, 6)), false, 'random bytes with frame headers in them');
  });
});

describe('flac filter: frames made by the specification', () => {
  const header = Buffer.concat([Buffer.from('fLaC'), metadataBlock(0, streamInfo({}), true)]);

  it('confirms each frame by the next header and its CRC-16, across any chunking', () => {
    const want = frames(30);
    const input = Buffer.concat([header, ...want]);
    for (const [max, seed] of [[1, 1], [3, 2], [50, 3], [100000, 4]]) {
      const out = feed(chop(input, max, seed));
      assertFrames(out.frames, want.slice(0, -1), `chunks up to ${max}`);
      out.durations.forEach((ms) => assert.ok(Math.abs(ms - (1024 * 1000) / 44100) < 1e-9));
      assert.equal(out.framer.invalidBytes, 0);
    }
  });

  it('follows variable block sizes by sample number', () => {
    const sizes = [4096, 1152, 4608, 192, 2000, 65535, 16, 4096];
    let sample = 2 ** 33; // a large number: a 7-byte coded number for the next ones
    const want = sizes.map((blockSize, k) => {
      const f = frame({ blocking: 1, number: sample, blockSize }, 50 + k, k);
      sample += blockSize;
      return f;
    });
    const out = feed(chop(Buffer.concat(want), 20, 1));
    assertFrames(out.frames, want.slice(0, -1), 'variable block sizes');
    out.durations.forEach((ms, k) => assert.ok(Math.abs(ms - (sizes[k]! * 1000) / 44100) < 1e-9, `frame ${k}: ${ms} ms`));
    // Sample numbers that do not follow do not confirm.
    const gap = [want[0]!, frame({ blocking: 1, number: 2 ** 33 + 4095, blockSize: 1152 }, 50, 1), want[2]!];
    assert.equal(feed([Buffer.concat(gap)]).frames.length, 0);
  });

  it('takes rate and bits from STREAMINFO where frame headers leave them to it', () => {
    const info = metadataBlock(0, streamInfo({ rate: 32000, bits: 20 }), true);
    const want = frames(6, 0, 2, { rateCode: 0, bitsCode: 0 });
    const out = feed([Buffer.concat([Buffer.from('fLaC'), info, ...want])]);
    assertFrames(out.frames, want.slice(0, -1), 'frames deferring to STREAMINFO');
    out.durations.forEach((ms) => assert.ok(Math.abs(ms - 32) < 1e-9));
    assert.equal(out.framer.format?.params, '32000Hz 2ch 20bit');
    // Joined mid-stream, nothing tells their rate: frames still, no duration, no header to make up.
    const mid = feed([Buffer.concat(want)]);
    assertFrames(mid.frames, want.slice(0, -1), 'mid-stream');
    assert.ok(mid.durations.every((ms) => ms === 0));
    assert.ok(mid.headers.every((h) => h === undefined));
  });

  it('takes frames that disagree with STREAMINFO yet confirm one another as a changed stream', () => {
    const info = metadataBlock(0, streamInfo({ channels: 1 }), true);
    const stereo = frames(10);
    const out = feed([Buffer.concat([Buffer.from('fLaC'), info, ...stereo])]);
    // Confirmed by CRC-16 and numbering they are frames of a stream that changed without a new "fLaC".
    assertFrames(out.frames, stereo.slice(0, -1), 'frames of a changed stream');
    assert.equal(out.headers[0]!.length, 42);
    assert.equal((out.headers[0]![4 + 4 + 12]! >> 1) & 7, 1, 'the header now says stereo');
    // STREAMINFO's maximum frame size bounds the frames that agree with it.
    const small = metadataBlock(0, streamInfo({ maxFrame: 120 }), true);
    const big = frames(10, 0, 3);
    const limited = feed([Buffer.concat([Buffer.from('fLaC'), small, ...big])]);
    assertFrames(limited.frames, big.slice(0, -1).filter((f) => f.length <= 120), 'frames within STREAMINFO\'s maximum');
  });

  it('skips junk before and between frames; the frame before junk is lost, as FLAC frames tell no length', () => {
    const want = frames(60, 0, 4);
    const parts: Buffer[] = [junk(5000, 1), header];
    let lost = 5000;
    const expected: Buffer[] = [];
    want.forEach((f, k) => {
      parts.push(f);
      if (k % 9 === 4) {
        const j = junk(1 + k * 13, k, k);
        parts.push(j);
        lost += j.length + f.length;
      } else if (k < want.length - 1) expected.push(f);
    });
    const input = Buffer.concat(parts);
    // The last frame waits for a next header that never comes.
    lost += want[want.length - 1]!.length;
    for (const [max, seed] of [[1, 1], [77, 2], [100000, 3]]) {
      const out = feed(chop(input, max, seed));
      assertFrames(out.frames, expected, `chunks up to ${max}`);
      out.framer.reset();
      assert.equal(out.framer.invalidBytes, lost, `chunks up to ${max}: junk and the frames before it`);
    }
  });

  it('bounds memory and time on random bytes and on floods of valid-looking headers', () => {
    const r = rng(9);
    const noise = Buffer.alloc(1 << 21);
    for (let i = 0; i < noise.length; i++) noise[i] = r() < 0.1 ? 0xff : Math.floor(r() * 256);
    // Headers with valid CRC-8 back to back, each "following" the ones before, none ending a frame.
    const flood = Buffer.concat(Array.from({ length: 60000 }, (_, k) => frameHeader({ number: k % 3, blockSize: 1024 })));
    for (const [what, input, frameBytes] of [['noise', noise, 64], ['header flood', flood, 64], ['header flood, 16 MiB limit', flood, 16 << 20]] as const) {
      const framer = new FlacFramer({ frameBytes });
      const limit = frameBytes === 64 ? 1 << 20 : frameBytes;
      let emitted = 0;
      const start = process.hrtime.bigint();
      for (const c of chop(input, 65536, 1)) framer.push(c, (f) => { emitted += f.length; });
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      assert.equal(emitted, 0, `${what}: no frame`);
      assert.ok(input.length - framer.invalidBytes <= limit + 64, `${what}: ${input.length - framer.invalidBytes} bytes held back`);
      assert.ok(ms < 5000, `${what}: ${ms} ms`);
      // Real frames after it are found.
      const after = feed(frames(5, 0, 9), 64, framer);
      assert.equal(after.frames.length, 4, `${what}: frames after it`);
    }
  });

  it('survives truncation at every position, emitting only whole frames', () => {
    const want = frames(6, 0, 5);
    const input = Buffer.concat([header, ...want]);
    for (let cut = 0; cut <= input.length; cut++) {
      const out = feed([input.subarray(0, cut)]);
      out.frames.forEach((f, k) => assert.ok(f.equals(want[k]!), `cut ${cut}: frame ${k} is whole`));
      out.framer.reset();
      // "fLaC" and STREAMINFO are taken whole or not at all.
      const metadata = cut >= header.length ? header.length : 0;
      assert.equal(sum(out.frames) + out.framer.invalidBytes + metadata, cut, `cut ${cut}: every byte accounted for`);
    }
  });

  it('respects the operator frame limit: larger frames are discarded', () => {
    const want = frames(40, 0, 6);
    const out = feed(chop(Buffer.concat([header, ...want]), 500, 1), 200);
    assertFrames(out.frames, want.slice(0, -1).filter((f) => f.length <= 200), 'frames within 200 bytes');
    assert.ok(out.frames.length > 5 && out.frames.length < 35);
  });

  it('reads metadata whatever its size: large blocks are skipped without being held, small ones kept', () => {
    const comment = metadataBlock(4, Buffer.alloc(1000, 0x41), false);
    const picture = metadataBlock(6, Buffer.alloc(3 << 20, 0x42), false);
    const bigComment = metadataBlock(4, Buffer.alloc(70000, 0x43), false);
    const padding = metadataBlock(1, Buffer.alloc(5000), true);
    const want = frames(8, 0, 7);
    const input = Buffer.concat([Buffer.from('fLaC'), metadataBlock(0, streamInfo({}), false), comment, picture, bigComment, padding, ...want]);
    // A megabyte into the picture, nothing of it is held: a reset finds nothing unaccounted for.
    const partial = new FlacFramer({ frameBytes: 64 });
    for (const c of chop(input.subarray(0, 4 + 38 + comment.length + (1 << 20)), 30000, 2)) partial.push(c, () => {});
    partial.reset();
    assert.equal(partial.invalidBytes, 0);
    const framer = new FlacFramer({ frameBytes: 64 });
    let emitted = 0;
    for (const c of chop(input, 30000, 2)) framer.push(c, () => emitted++);
    assert.equal(emitted, 7);
    assert.equal(framer.invalidBytes, 0);
    const h = framer.header!;
    assert.equal(h.length, 4 + 38 + comment.length, 'STREAMINFO and the small comment; picture, big comment and padding dropped');
    assert.equal(h[4 + 38]! & 0x80, 0x80, 'the comment is flagged last');
    assert.equal(h[4]! & 0x80, 0);
    // A block type no metadata may have ends the metadata where the last flag lied.
    const lying = Buffer.concat([Buffer.from('fLaC'), metadataBlock(0, streamInfo({}), false), ...want]);
    assert.equal(feed(chop(lying, 100, 1)).frames.length, 7);
  });

  it('forgets what a source said when it is reset', () => {
    const framer = new FlacFramer({ frameBytes: 64 });
    feed([Buffer.concat([header, ...frames(3)])], 64, framer);
    assert.ok(framer.header);
    framer.reset();
    assert.equal(framer.header, undefined);
    const mono = frames(4, 0, 8, { channels: 1 });
    const out = feed([Buffer.concat(mono)], 64, framer);
    assertFrames(out.frames, mono.slice(0, -1), 'the next source\'s frames');
    assert.equal(out.framer.format?.params, '44100Hz 1ch 16bit');
  });
});
