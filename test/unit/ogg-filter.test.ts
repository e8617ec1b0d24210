import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MAX_HEADER_BYTES, OggFramer, sniffOgg } from '../../mods/filters/ogg.ts';
import { chop, rng } from '../helpers/random.ts';
import { oggCrcBitwise } from '../helpers/ogg-crc.ts';

// Pages are taken apart and made here from RFC 3533 alone (a bitwise CRC, the
// segment table), independently of the filter's own code.

const ffmpeg = spawnSync('ffmpeg', ['-hide_banner', '-encoders'], { encoding: 'utf8', timeout: 20_000 });
const encoders = ffmpeg.status === 0 ? ffmpeg.stdout : '';
const noFfmpeg = ffmpeg.status === 0 ? false : 'ffmpeg is not installed';
const skipUnless = (encoder: string) => noFfmpeg || (new RegExp(`\\b${encoder}\\b`).test(encoders) ? false : `this ffmpeg has no ${encoder} encoder`);

const crc = oggCrcBitwise;

interface PageSpec { flags?: number; granule?: bigint; serial: number; seq: number; lacing: number[]; body: Buffer }

function makePage(p: PageSpec): Buffer {
  const head = Buffer.alloc(27 + p.lacing.length);
  head.write('OggS', 0, 'latin1');
  head[5] = p.flags ?? 0;
  head.writeBigInt64LE(p.granule ?? 0n, 6);
  head.writeUInt32LE(p.serial, 14);
  head.writeUInt32LE(p.seq, 18);
  head[26] = p.lacing.length;
  p.lacing.forEach((v, i) => (head[27 + i] = v));
  const page = Buffer.concat([head, p.body]);
  page.writeUInt32LE(crc(page), 22);
  return page;
}

/** Lacing values for one whole packet of `n` bytes. */
function lace(n: number): number[] {
  return [...Array<number>(Math.floor(n / 255)).fill(255), n % 255];
}

interface Page { offset: number; bytes: Buffer; flags: number; granule: bigint; serial: number }

/** The pages of a well-formed file, in order. */
function pagesOf(file: Buffer): Page[] {
  const out: Page[] = [];
  for (let p = 0; p < file.length;) {
    assert.equal(file.toString('latin1', p, p + 4), 'OggS', `page at ${p}`);
    const n = file[p + 26]!;
    let len = 27 + n;
    for (let i = 0; i < n; i++) len += file[p + 27 + i]!;
    out.push({ offset: p, bytes: file.subarray(p, p + len), flags: file[p + 5]!, granule: file.readBigInt64LE(p + 6), serial: file.readUInt32LE(p + 14) });
    p += len;
  }
  return out;
}

/** Ffmpeg writes its header pages with granule 0 and its data pages with a positive one. */
function leadingHeaderPages(file: Buffer): Buffer {
  const pages = pagesOf(file);
  return Buffer.concat(pages.slice(0, pages.findIndex((p) => p.granule > 0n)).map((p) => p.bytes));
}

interface Out { frames: Buffer[]; ms: number[]; sync: boolean[]; headers: (Buffer | undefined)[]; framer: OggFramer; maxHeld: number }

function feed(chunks: Buffer[], frameBytes = 64, framer = new OggFramer({ frameBytes })): Out {
  const out: Out = { frames: [], ms: [], sync: [], headers: [], framer, maxHeld: 0 };
  for (const c of chunks) {
    framer.push(c, (fr, ms, sync) => {
      out.frames.push(Buffer.from(fr));
      out.ms.push(ms);
      out.sync.push(sync !== false);
      // The engine reads the header right after each emit.
      out.headers.push(framer.header);
    });
    out.maxHeld = Math.max(out.maxHeld, framer.heldBytes);
  }
  return out;
}

const total = (ms: number[]) => ms.reduce((a, b) => a + b, 0);

function assertSameFrames(a: Out, b: Out, what: string): void {
  assert.equal(a.frames.length, b.frames.length, `${what}: frame count`);
  for (let i = 0; i < a.frames.length; i++) {
    assert.ok(a.frames[i]!.equals(b.frames[i]!), `${what}: frame ${i} differs`);
    assert.equal(a.sync[i], b.sync[i], `${what}: sync of frame ${i}`);
    assert.equal(a.ms[i], b.ms[i], `${what}: duration of frame ${i}`);
    assert.ok(a.headers[i] === b.headers[i] || a.headers[i]!.equals(b.headers[i]!), `${what}: header at frame ${i}`);
  }
}

let dir = '';
const file = (name: string) => join(dir, name);

function encode(name: string, args: string[]): Buffer {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-y', ...args, file(name)], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `ffmpeg ${name}: ${r.stderr}`);
  return readFileSync(file(name));
}

/** ffmpeg's complaints decoding `bytes` (empty when it decodes cleanly). */
function decodeErrors(bytes: Buffer, name: string): string {
  writeFileSync(file(name), bytes);
  const r = spawnSync('ffmpeg', ['-v', 'error', '-i', file(name), '-f', 'null', '-'], { encoding: 'utf8', timeout: 60_000 });
  return r.status === 0 ? r.stderr : `exit ${r.status}: ${r.stderr}`;
}

/** Seconds of mono 8 kHz audio ffmpeg decodes from `bytes`. */
function decodedSeconds(bytes: Buffer, name: string): number {
  writeFileSync(file(name), bytes);
  const r = spawnSync('ffmpeg', ['-v', 'error', '-i', file(name), '-ac', '1', '-ar', '8000', '-f', 's16le', '-'], { timeout: 60_000, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, String(r.stderr));
  return r.stdout.length / 2 / 8000;
}

/** What a listener joining at the first sync point at or after frame `index` receives. */
function joinAt(out: Out, index: number): Buffer {
  const at = out.sync.findIndex((s, i) => s && i >= index);
  assert.ok(at >= 0, `a sync point at or after frame ${index}`);
  return Buffer.concat([out.headers[at]!, ...out.frames.slice(at)]);
}

/** What a listener joining at the first sync point after `fraction` of the frames' bytes receives. */
function lateJoin(out: Out, fraction: number): { at: number; bytes: Buffer } {
  const all = out.frames.reduce((n, f) => n + f.length, 0);
  let offset = 0;
  for (let i = 0; i < out.frames.length; i++) {
    if (offset >= fraction * all && out.sync[i]) return { at: i, bytes: Buffer.concat([out.headers[i]!, ...out.frames.slice(i)]) };
    offset += out.frames[i]!.length;
  }
  throw new Error(`no sync point after ${fraction * 100}% of the frames`);
}

interface Sample { name: string; skip: string | false; args: () => string[]; seconds: number; codec: string; contentType: string; bytes?: Buffer }

const SAMPLES: Sample[] = [
  { name: 'opus', skip: skipUnless('libopus'), args: () => ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '8', '-c:a', 'libopus', '-b:a', '64k', '-f', 'ogg'], seconds: 8, codec: 'opus', contentType: 'audio/ogg' },
  { name: 'vorbis', skip: skipUnless('libvorbis'), args: () => ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-ac', '2', '-t', '4', '-c:a', 'libvorbis', '-f', 'ogg'], seconds: 4, codec: 'vorbis', contentType: 'audio/ogg' },
  { name: 'flac', skip: skipUnless('flac'), args: () => ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', '3', '-c:a', 'flac', '-f', 'ogg'], seconds: 3, codec: 'flac', contentType: 'audio/ogg' },
  { name: 'speex', skip: skipUnless('libspeex'), args: () => ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=16000', '-t', '4', '-c:a', 'libspeex', '-f', 'ogg'], seconds: 4, codec: 'speex', contentType: 'audio/ogg' },
  {
    name: 'theora',
    skip: skipUnless('libtheora') || skipUnless('libvorbis'),
    args: () => ['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', '4', '-c:v', 'libtheora', '-g', '25', '-q:v', '5', '-c:a', 'libvorbis', '-f', 'ogg'],
    seconds: 4,
    codec: 'theora+vorbis',
    contentType: 'video/ogg',
  },
  {
    name: 'theora-only',
    skip: skipUnless('libtheora'),
    args: () => ['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=25', '-t', '2', '-c:v', 'libtheora', '-g', '20', '-q:v', '5', '-f', 'ogg'],
    seconds: 2,
    codec: 'theora',
    contentType: 'video/ogg',
  },
];

/** Two separately encoded Ogg/Vorbis files, different rates and channels, one after the other: a chained stream. */
const chain: { links: Buffer[]; bytes?: Buffer } = { links: [] };
const negatives: Record<string, Buffer> = {};

before(() => {
  if (noFfmpeg) return;
  dir = mkdtempSync(join(tmpdir(), 'streamserve-ogg-'));
  for (const s of SAMPLES) if (!s.skip) s.bytes = encode(`${s.name}.ogg`, s.args());
  if (!skipUnless('libvorbis')) {
    chain.links = [
      encode('link1.ogg', ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', '4', '-c:a', 'libvorbis', '-f', 'ogg']),
      encode('link2.ogg', ['-f', 'lavfi', '-i', 'sine=frequency=880:sample_rate=48000', '-ac', '2', '-t', '4', '-c:a', 'libvorbis', '-f', 'ogg']),
    ];
    chain.bytes = Buffer.concat(chain.links);
  }
  const tone = ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', '1'];
  if (!skipUnless('libmp3lame')) negatives.mp3 = encode('neg.mp3', [...tone, '-c:a', 'libmp3lame', '-f', 'mp3']);
  negatives.wav = encode('neg.wav', [...tone, '-f', 'wav']);
  negatives.flac = encode('neg.flac', [...tone, '-c:a', 'flac', '-f', 'flac']);
  negatives.adts = encode('neg.aac', [...tone, '-c:a', 'aac', '-f', 'adts']);
  if (!skipUnless('libopus')) negatives.webm = encode('neg.webm', [...tone, '-c:a', 'libopus', '-f', 'webm']);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ogg filter: real encoder output', () => {
  for (const s of SAMPLES) {
    it(`${s.name}: the same pages whatever the chunking; header + frames are the input`, { skip: s.skip }, () => {
      const input = s.bytes!;
      const whole = feed([input]);
      assert.equal(whole.framer.invalidBytes, 0);
      const header = leadingHeaderPages(input);
      assert.ok(whole.framer.header!.equals(header), 'the header is the BOS and header pages');
      assert.ok(Buffer.concat([whole.headers[0]!, ...whole.frames]).equals(input), 'header at the first frame + all frames = the input');
      assert.ok(whole.headers.every((h) => h === whole.headers[0]), 'one header for one link');
      assert.equal(whole.sync[0], true, 'the first data page is a sync point');
      assert.equal(whole.framer.format?.name, 'ogg');
      assert.equal(whole.framer.format?.codec, s.codec);
      assert.equal(whole.framer.contentType, s.contentType);
      for (const [max, seed] of [[1, 1], [7, 2], [300, 3], [5000, 4], [70_000, 5]] as const) {
        if (max === 1 && input.length > 30_000) continue;
        const chopped = feed(chop(input, max, seed));
        assertSameFrames(chopped, whole, `chunks up to ${max}`);
        assert.equal(chopped.framer.invalidBytes, 0);
        assert.ok(chopped.maxHeld <= 65307, `held ${chopped.maxHeld} bytes`);
      }
    });

    it(`${s.name}: a listener joining at a sync point after 40% decodes cleanly`, { skip: s.skip }, () => {
      const out = feed(chop(s.bytes!, 4096, 9));
      const { at, bytes } = lateJoin(out, 0.4);
      assert.ok(at > 1, 'the join is well after the start');
      assert.equal(decodeErrors(bytes, `${s.name}-late.ogg`), '');
      if (s.codec.startsWith('theora')) {
        const r = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_frames', '-read_intervals', '%+#1', '-show_entries', 'frame=key_frame', '-of', 'csv=p=0', file(`${s.name}-late.ogg`)], { encoding: 'utf8', timeout: 30_000 });
        assert.equal(r.stdout.trim(), '1', 'the first video frame decoded is a key frame');
      }
    });

    it(`${s.name}: durations add up to the media length`, { skip: s.skip }, () => {
      const out = feed([s.bytes!]);
      const seconds = total(out.ms) / 1000;
      assert.ok(Math.abs(seconds - s.seconds) < 0.05, `${s.name}: ${seconds} s, expected ${s.seconds}`);
      assert.ok(out.ms.every((ms) => ms >= 0 && ms < 2000), 'no page lasts longer than ffmpeg makes them');
    });
  }

  it('theora: the sync points are the key-frame pages of the video stream, and only they', { skip: SAMPLES[4]!.skip }, () => {
    const out = feed([SAMPLES[4]!.bytes!]);
    const videoSerial = pagesOf(SAMPLES[4]!.bytes!)[0]!.serial;
    const syncs = out.frames.filter((_, i) => out.sync[i]);
    // 4 s at 25 fps with a key frame every 25 frames.
    assert.equal(syncs.length, 4);
    for (const page of syncs) {
      assert.equal(page.readUInt32LE(14), videoSerial);
      const granule = page.readBigInt64LE(6);
      assert.equal(granule & 63n, 0n, 'granule position: no frame since the key frame (granule shift 6)');
    }
    assert.equal(out.framer.format?.params, '160x120, 25 fps; 44100 Hz, 1 channel');
    // Durations come from the audio stream only.
    const audioSerial = pagesOf(SAMPLES[4]!.bytes!)[1]!.serial;
    out.frames.forEach((f, i) => { if (f.readUInt32LE(14) !== audioSerial) assert.equal(out.ms[i], 0); });
  });

  it('vorbis: params name the rate and channels', { skip: SAMPLES[1]!.skip }, () => {
    assert.deepEqual(feed([SAMPLES[1]!.bytes!]).framer.format, { name: 'ogg', codec: 'vorbis', params: '44100 Hz, 2 channels' });
  });

  it('flac: a header count of 0 ("unknown") still ends the header at the last metadata block', { skip: SAMPLES[2]!.skip }, () => {
    const input = Buffer.from(SAMPLES[2]!.bytes!);
    const first = pagesOf(input)[0]!;
    const packet = 27 + first.bytes[26]!;
    assert.equal(input.toString('latin1', packet + 1, packet + 5), 'FLAC');
    input.writeUInt16BE(0, packet + 7);
    input.writeUInt32LE(0, 22);
    input.writeUInt32LE(crc(input.subarray(0, first.bytes.length)), 22);
    const out = feed([input]);
    assert.equal(out.framer.invalidBytes, 0);
    assert.ok(out.framer.header!.equals(leadingHeaderPages(input)), 'the same header pages');
    assert.equal(out.frames.length, pagesOf(input).length - 2);
  });
});

describe('ogg filter: chained streams', { skip: skipUnless('libvorbis') }, () => {
  it('switches the header when the second link has its headers, and emits that link\'s header pages in place', () => {
    const [a, b] = chain.links as [Buffer, Buffer];
    assert.notEqual(pagesOf(a)[0]!.serial, pagesOf(b)[0]!.serial, 'the links have different serials');
    const whole = feed([chain.bytes!]);
    const headerA = leadingHeaderPages(a);
    const headerB = leadingHeaderPages(b);
    assert.ok(!headerA.equals(headerB), 'the links have headers of their own');
    assert.equal(whole.framer.invalidBytes, 0);
    assert.ok(Buffer.concat([whole.headers[0]!, ...whole.frames]).equals(chain.bytes!), 'header + frames = the input: a listener from the start gets both links');
    const dataA = pagesOf(a).length - pagesOf(headerA).length;
    const headerPagesB = pagesOf(headerB).length;
    const firstDataB = dataA + headerPagesB;
    for (let i = 0; i < whole.frames.length; i++) {
      if (i >= dataA && i < firstDataB) {
        assert.equal(whole.sync[i], false, `frame ${i}: the new link's header page is no sync point`);
        assert.equal(whole.ms[i], 0);
        assert.ok(whole.frames[i]!.equals(pagesOf(headerB)[i - dataA]!.bytes), `frame ${i}: the new link's header page, in place`);
      }
      // The header switches at the new link's first data page: what comes before belongs to the old link.
      assert.equal(whole.headers[i], whole.headers[i < firstDataB ? 0 : whole.frames.length - 1], `frame ${i}: one Buffer per header`);
      assert.ok(whole.headers[i]!.equals(i < firstDataB ? headerA : headerB), `frame ${i}: the header of its own link`);
    }
    assert.equal(whole.sync[firstDataB], true, 'the new link starts with a sync point');
    assert.deepEqual(whole.framer.format, { name: 'ogg', codec: 'vorbis', params: '48000 Hz, 2 channels' });
    assert.ok(Math.abs(total(whole.ms) - 8000) < 50, `durations ${total(whole.ms)} ms for two links of 4 s`);
    for (const [max, seed] of [[1, 1], [333, 2], [10_000, 3]] as const) assertSameFrames(feed(chop(chain.bytes!, max, seed)), whole, `chain, chunks up to ${max}`);
  });

  it('a late joiner in the second link gets its header and decodes; one joining in the first link decodes both', () => {
    const [a, b] = chain.links as [Buffer, Buffer];
    const out = feed(chop(chain.bytes!, 2048, 4));
    const headerA = leadingHeaderPages(a);
    const headerB = leadingHeaderPages(b);
    const firstDataB = pagesOf(a).length - pagesOf(headerA).length + pagesOf(headerB).length;
    // The second link's second data page, and the first link's second (each link has a page a second).
    const late = joinAt(out, firstDataB + 1);
    assert.ok(late.subarray(0, headerB.length).equals(headerB), 'the late joiner gets the second link\'s header');
    assert.equal(decodeErrors(late, 'chain-late.ogg'), '');
    const seconds = decodedSeconds(late, 'chain-late.ogg');
    assert.ok(seconds > 1.5 && seconds < 3.5, `late joiner in link 2 decoded ${seconds} s`);

    const early = joinAt(out, 1);
    assert.ok(early.subarray(0, headerA.length).equals(headerA), 'the early joiner gets the first link\'s header');
    assert.equal(decodeErrors(early, 'chain-early.ogg'), '');
    const both = decodedSeconds(early, 'chain-early.ogg');
    assert.ok(both > 6 && both < 8, `a joiner in link 1 decoded ${both} s of the 8`);
  });

  it('a reopened relay sent the same stream\'s header pages again: not repeated to listeners, the header unchanged', () => {
    const a = chain.links[0]!;
    const header = leadingHeaderPages(a);
    const framer = new OggFramer({ frameBytes: 64 });
    const first = feed(chop(a, 3000, 1), 64, framer);
    framer.reset();
    const again = feed(chop(a, 3000, 2), 64, framer);
    const data = pagesOf(a).slice(pagesOf(header).length).map((p) => p.bytes);
    assert.ok(Buffer.concat(again.frames).equals(Buffer.concat(data)), 'only the data pages the second time');
    assert.equal(again.headers[0], first.headers[0], 'the very same header Buffer');
    assert.equal(again.sync[0], true);
    assert.equal(framer.invalidBytes, 0);
  });

  it('a source that starts mid-stream: pages of no known link are no sync points until a new link begins', { skip: SAMPLES[0]!.skip }, () => {
    const opus = SAMPLES[0]!.bytes!;
    const pages = pagesOf(opus);
    // From inside the third page: the rest of it is junk, then whole data pages without their headers.
    const midStream = opus.subarray(pages[3]!.offset + 100);
    const out = feed(chop(Buffer.concat([midStream, chain.links[0]!]), 1000, 8));
    const orphans = pages.length - 4;
    assert.equal(out.framer.invalidBytes, pages[3]!.bytes.length - 100);
    assert.ok(out.sync.slice(0, orphans).every((s) => !s), 'no sync point without a header');
    assert.ok(out.headers.slice(0, orphans).every((h) => h === undefined), 'no header yet');
    // The link that follows frames already sent has its header pages emitted too.
    const header = leadingHeaderPages(chain.links[0]!);
    assert.ok(Buffer.concat(out.frames.slice(orphans)).equals(chain.links[0]!), 'the new link whole, header pages included');
    assert.ok(out.framer.header!.equals(header), 'the new link\'s header');
    assert.equal(out.sync[orphans + pagesOf(header).length], true);
  });
});

/** Random bytes with no "O", so no capture pattern appears by chance. */
function noise(n: number, seed: number): Buffer {
  const r = rng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    const v = Math.floor(r() * 255);
    b[i] = v === 0x4f ? 0x4e : v;
  }
  return b;
}

describe('ogg filter: junk and resynchronisation', { skip: skipUnless('libvorbis') }, () => {
  it('skips and counts junk before, between and after pages, fake and damaged pages included', () => {
    const input = SAMPLES[1]!.bytes!;
    const pages = pagesOf(input);
    const fakeHeader = Buffer.concat([Buffer.from('OggS\0\0', 'latin1'), noise(21, 1)]); // a page header with a wrong CRC
    const bigClaim = Buffer.from(pages[3]!.bytes);
    bigClaim[27] = 255; // its first lacing value now claims more than the page has: the CRC no longer matches
    const flipped = Buffer.from(pages[4]!.bytes);
    flipped[flipped.length - 10]! ^= 0x40;
    const junk = [noise(300, 2), Buffer.concat([noise(20, 3), fakeHeader, Buffer.from('Ogg')]), Buffer.from('OggS'), noise(1, 4), bigClaim, flipped, Buffer.from('OggSOgg')];
    const spliced = Buffer.concat([
      junk[0]!, pages[0]!.bytes, junk[1]!, pages[1]!.bytes, pages[2]!.bytes, junk[2]!, pages[3]!.bytes, junk[3]!, junk[4]!,
      ...pages.slice(4, -1).map((p) => p.bytes), junk[5]!, pages.at(-1)!.bytes, junk[6]!,
    ]);
    const junkBytes = junk.reduce((n, j) => n + j.length, 0);
    const clean = feed([input]);
    for (const max of [spliced.length, 4096, 100, 3, 1]) {
      const out = feed(chop(spliced, max, max));
      assertSameFrames(out, clean, `junk, chunks up to ${max}`);
      out.framer.reset();
      assert.equal(out.framer.invalidBytes, junkBytes, `chunks up to ${max}: every junk byte counted once`);
    }
  });

  it('finds a page inside the span a damaged page claimed', () => {
    const pages = pagesOf(SAMPLES[1]!.bytes!);
    const damaged = Buffer.from(pages[2]!.bytes.subarray(0, 100)); // a page cut short: its declared length swallows the next page
    const input = Buffer.concat([pages[0]!.bytes, pages[1]!.bytes, damaged, ...pages.slice(2).map((p) => p.bytes)]);
    const out = feed(chop(input, 512, 5));
    assert.equal(out.frames.length, pages.length - 2);
    assert.equal(out.framer.invalidBytes, damaged.length);
  });
});

describe('ogg filter: hostile input', () => {
  const serial = 0x1234;
  const opusHead = Buffer.concat([Buffer.from('OpusHead', 'latin1'), Buffer.from([1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0])]);
  const opusTags = Buffer.concat([Buffer.from('OpusTags', 'latin1'), Buffer.from([4, 0, 0, 0]), Buffer.from('test'), Buffer.alloc(4)]);
  const packet = (seed: number, n = 100) => Buffer.concat([Buffer.from([0xfc]), noise(n - 1, seed)]); // TOC: 20 ms frames
  /** A small hand-made Ogg/Opus stream: head, tags, data pages, one packet spanning pages (a page with granule -1). */
  function smallOpus(): Buffer[] {
    const p = [
      makePage({ flags: 2, serial, seq: 0, lacing: lace(opusHead.length), body: opusHead }),
      makePage({ serial, seq: 1, lacing: lace(opusTags.length), body: opusTags }),
    ];
    let g = 0n;
    for (let i = 0; i < 4; i++) {
      const a = packet(i * 2);
      const b = packet(i * 2 + 1);
      g += 1920n;
      p.push(makePage({ serial, seq: p.length, granule: g, lacing: [...lace(a.length), ...lace(b.length)], body: Buffer.concat([a, b]) }));
    }
    const big = packet(99, 600);
    p.push(makePage({ serial, seq: p.length, granule: -1n, lacing: [255], body: big.subarray(0, 255) }));
    g += 960n;
    p.push(makePage({ flags: 1, serial, seq: p.length, granule: g, lacing: [255, 90], body: big.subarray(255) }));
    const last = packet(100);
    g += 960n;
    p.push(makePage({ flags: 4, serial, seq: p.length, granule: g, lacing: lace(last.length), body: last }));
    return p;
  }

  it('hand-made Opus: a page continuing a packet is no sync point, a page where none ends lasts 0, pre-skip is not time', () => {
    const pages = smallOpus();
    const out = feed([Buffer.concat(pages)]);
    assert.equal(out.framer.invalidBytes, 0);
    assert.ok(out.framer.header!.equals(Buffer.concat(pages.slice(0, 2))), 'OpusHead and OpusTags pages');
    assert.deepEqual(out.sync, [true, true, true, true, true, false, true]);
    // Pre-skip 312 samples (0x138): the first page lasts (1920 - 312) / 48 ms.
    assert.deepEqual(out.ms, [(1920 - 312) / 48, 40, 40, 40, 0, 20, 20]);
    assert.deepEqual(out.framer.format, { name: 'ogg', codec: 'opus', params: '48000 Hz, 2 channels' });
  });

  it('survives truncation at every position, emitting only whole pages and accounting for every byte', () => {
    const input = Buffer.concat(smallOpus());
    const pages = smallOpus();
    for (let cut = 0; cut <= input.length; cut++) {
      const out = feed([input.subarray(0, cut >> 1), input.subarray(cut >> 1, cut)]);
      const done = out.frames.length;
      for (let i = 0; i < done; i++) assert.ok(out.frames[i]!.equals(pages[i + 2]!), `cut ${cut}: frame ${i}`);
      out.framer.reset();
      const framed = out.frames.reduce((n, f) => n + f.length, 0);
      const header = out.framer.header?.length ?? 0;
      assert.equal(framed + header + out.framer.heldBytes + out.framer.invalidBytes, cut, `cut ${cut}: bytes accounted for`);
    }
  });

  it('random bytes: nothing emitted, all counted, in bounded time', () => {
    const r = rng(7);
    const junk = Buffer.alloc(4 << 20);
    for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(r() * 256);
    const started = performance.now();
    const out = feed(chop(junk, 65536, 3));
    out.framer.reset();
    assert.equal(out.frames.length, 0);
    assert.equal(out.framer.invalidBytes, junk.length);
    assert.ok(performance.now() - started < 5000, 'bounded time');
  });

  it('page headers that claim the largest page over and over: bounded memory and time', () => {
    // Every 300 bytes a capture pattern, version 0 and 255 lacing values of 255: each claims 65307 bytes, none has a good CRC.
    const fake = Buffer.concat([Buffer.from('OggS\0', 'latin1'), Buffer.alloc(21, 7), Buffer.from([255]), Buffer.alloc(255, 255)]);
    const unit = Buffer.concat([fake, noise(300 - fake.length, 1)]);
    const junk = Buffer.concat(Array<Buffer>(1024).fill(unit));
    const started = performance.now();
    const out = feed(chop(junk, 8192, 2));
    const ms = performance.now() - started;
    assert.equal(out.frames.length, 0);
    assert.ok(out.maxHeld <= 65307, `held ${out.maxHeld} bytes`);
    out.framer.reset();
    assert.equal(out.framer.invalidBytes, junk.length);
    assert.ok(ms < 5000, `${junk.length} bytes of fake headers took ${ms} ms`);
  });

  it('empty pages and pages with wrong CRCs of size 0', () => {
    const empty = makePage({ serial: 9, seq: 0, lacing: [], body: Buffer.alloc(0) });
    const zeroBad = Buffer.from(empty);
    zeroBad[22]! ^= 1;
    const pages = smallOpus();
    const input = Buffer.concat([zeroBad, ...pages.slice(0, 3), empty, ...pages.slice(3)]);
    const out = feed(chop(input, 50, 1));
    // An empty page with a good CRC is a page (of a stream no BOS named): passed on, nobody starts there.
    assert.equal(out.frames.length, pages.length - 1);
    assert.equal(out.sync[1], false);
    assert.equal(out.framer.invalidBytes, zeroBad.length);
  });

  it('a granule position that jumps gives no absurd duration', () => {
    const pages = smallOpus();
    const jump = makePage({ serial, seq: 7, granule: 1n << 50n, lacing: [100], body: packet(5) });
    const back = makePage({ serial, seq: 8, granule: 10n, lacing: [100], body: packet(6) });
    const out = feed([Buffer.concat([...pages.slice(0, -1), jump, back])]);
    assert.deepEqual(out.ms.slice(-2), [0, 0]);
  });

  it('headers that never end are given up at MAX_HEADER_BYTES; memory stays bounded', () => {
    const head = makePage({ flags: 2, serial, seq: 0, lacing: lace(opusHead.length), body: opusHead });
    const endless: Buffer[] = [head];
    // OpusTags that never ends: every page continues the packet.
    for (let seq = 1; seq < 100; seq++) endless.push(makePage({ flags: seq > 1 ? 1 : 0, granule: -1n, serial, seq, lacing: Array<number>(255).fill(255), body: Buffer.alloc(255 * 255, seq) }));
    const input = Buffer.concat(endless);
    const out = feed(chop(input, 65536, 1));
    assert.ok(out.maxHeld <= MAX_HEADER_BYTES + 65307, `held ${out.maxHeld}`);
    assert.equal(out.framer.header, undefined);
    // Once given up, the rest of the stream passes as frames nobody can start at.
    assert.ok(out.sync.every((s) => !s), 'no sync point');
    const dropped = out.framer.invalidBytes;
    assert.equal(dropped + out.frames.reduce((n, f) => n + f.length, 0), input.length);
    assert.ok(dropped > MAX_HEADER_BYTES - 65307 && dropped <= MAX_HEADER_BYTES + 65307, `dropped ${dropped}`);
  });

  it('refuses pages larger than frameBytes, counting them invalid', { skip: SAMPLES[0]!.skip }, () => {
    const opus = SAMPLES[0]!.bytes!;
    const pages = pagesOf(opus);
    const out = feed(chop(opus, 3000, 1), 4096);
    const big = pages.filter((p) => p.bytes.length > 4096);
    assert.ok(big.length > 5, 'ffmpeg\'s Opus pages are ~10 KB');
    assert.equal(out.frames.length, pages.length - 2 - big.length);
    assert.ok(out.maxHeld <= 4096, `held ${out.maxHeld}`);
    out.framer.reset();
    assert.equal(out.framer.invalidBytes, big.reduce((n, p) => n + p.bytes.length, 0));
    assert.equal(new OggFramer({ frameBytes: 64 }).maxPage, 65307, 'the default frame-bytes means the Ogg maximum');
  });
});

describe('ogg filter: re-paginated Opus (packets split across pages)', { skip: skipUnless('libopus') }, () => {
  /**
   * The stream's packets laced into pages of random sizes, splitting packets
   * across pages (only after a lacing value of 255: a packet of 255 bytes or
   * less cannot be split, hence the high bitrate).
   */
  function repaginate(input: Buffer, seed: number): Buffer {
    const r = rng(seed);
    let bodyMax = 300;
    const pages = pagesOf(input);
    const headerPages = pages.slice(0, 2);
    const packets: Buffer[] = [];
    for (const p of pages.slice(2)) {
      const n = p.bytes[26]!;
      let at = 27 + n;
      let len = 0;
      for (let i = 0; i < n; i++) {
        len += p.bytes[27 + i]!;
        if (p.bytes[27 + i]! < 255) {
          packets.push(p.bytes.subarray(at, at + len));
          at += len;
          len = 0;
        }
      }
    }
    const serial = headerPages[0]!.serial;
    const lastGranule = pages.at(-1)!.granule;
    const out = headerPages.map((p) => p.bytes);
    let lacing: number[] = [];
    let body: Buffer[] = [];
    let size = 0;
    /** The page being filled begins with the rest of a packet. */
    let continued = false;
    let granule = -1n;
    const flush = (eos: boolean) => {
      out.push(makePage({ flags: (continued ? 1 : 0) | (eos ? 4 : 0), granule, serial, seq: out.length, lacing, body: Buffer.concat(body) }));
      lacing = [];
      body = [];
      size = 0;
      granule = -1n;
      bodyMax = 200 + Math.floor(r() * 1000);
    };
    packets.forEach((pkt, k) => {
      const values = lace(pkt.length);
      let from = 0;
      values.forEach((v, i) => {
        if (lacing.length && (size + v > bodyMax || lacing.length === 255)) {
          flush(false);
          continued = i > 0;
        }
        lacing.push(v);
        body.push(pkt.subarray(from, from + v));
        from += v;
        size += v;
      });
      // 20 ms packets; the last page carries the encoder's end trimming.
      granule = k === packets.length - 1 ? lastGranule : BigInt((k + 1) * 960);
    });
    flush(true);
    return Buffer.concat(out);
  }

  it('sync points only where a packet starts, durations still add up, a late joiner decodes', () => {
    const input = repaginate(encode('opus-256k.ogg', ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '4', '-c:a', 'libopus', '-b:a', '256k', '-f', 'ogg']), 5);
    assert.equal(decodeErrors(input, 'repaged.ogg'), '', 'the test\'s own pagination is valid Ogg');
    const out = feed(chop(input, 1500, 3));
    assert.equal(out.framer.invalidBytes, 0);
    const continued = out.frames.filter((f) => f[5]! & 1).length;
    const noEnd = out.frames.filter((f) => f.readBigInt64LE(6) === -1n).length;
    assert.ok(continued > 50 && noEnd > 10 && continued < out.frames.length - 50, `${continued} continuation pages, ${noEnd} without a packet end, of ${out.frames.length}`);
    out.frames.forEach((f, i) => {
      assert.equal(out.sync[i], (f[5]! & 1) === 0, `page ${i}: sync exactly when it starts with a new packet`);
      if (f.readBigInt64LE(6) === -1n) assert.equal(out.ms[i], 0);
    });
    assert.ok(Math.abs(total(out.ms) - 4000) < 20, `${total(out.ms)} ms`);
    assert.equal(decodeErrors(lateJoin(out, 0.4).bytes, 'repaged-late.ogg'), '');
  });
});

describe('ogg filter: sniffing', () => {
  it('recognises every Ogg sample, from the start and from mid-stream', { skip: noFfmpeg }, () => {
    for (const s of SAMPLES) {
      if (s.skip) continue;
      assert.ok(sniffOgg(s.bytes!.subarray(0, 65536)), `${s.name} from the start`);
      const mid = s.bytes!.subarray(Math.floor(s.bytes!.length / 2));
      assert.ok(sniffOgg(mid.subarray(0, 65536)), `${s.name} from the middle`);
    }
    if (chain.bytes) assert.ok(sniffOgg(chain.bytes.subarray(chain.links[0]!.length - 500, chain.links[0]!.length + 4000)), 'across a chain boundary');
  });

  it('recognises a head that ends inside its first page', { skip: SAMPLES[0]!.skip }, () => {
    const pages = pagesOf(SAMPLES[0]!.bytes!);
    assert.ok(sniffOgg(Buffer.concat([noise(100, 1), pages[3]!.bytes.subarray(0, 2000)])), 'junk, then part of a page');
  });

  it('rejects other formats and random bytes', { skip: noFfmpeg }, () => {
    assert.ok(Object.keys(negatives).length >= 4, 'negative samples were made');
    for (const [name, bytes] of Object.entries(negatives)) assert.equal(sniffOgg(bytes.subarray(0, 65536)), false, name);
    const r = rng(3);
    const random = Buffer.alloc(65536);
    for (let i = 0; i < random.length; i++) random[i] = Math.floor(r() * 256);
    assert.equal(sniffOgg(random), false);
    assert.equal(sniffOgg(Buffer.alloc(0)), false);
    assert.equal(sniffOgg(Buffer.from('OggS\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0', 'latin1')), false, 'version 1');
  });
});
