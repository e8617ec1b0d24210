import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MpegTsFramer, sniffMpegTs } from '../../mods/filters/mpegts.ts';
import { chop, rng } from '../helpers/random.ts';

const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0 && spawnSync('ffprobe', ['-version']).status === 0;
const needsFfmpeg = hasFfmpeg ? false : 'ffmpeg/ffprobe are not installed';

const P = 188;

interface Frame { data: Buffer; ms: number; sync: boolean; header: Buffer | undefined }
interface Run { frames: Frame[]; framer: MpegTsFramer; emitted: number }

function feed(chunks: Buffer[], frameBytes = 64, framer = new MpegTsFramer({ frameBytes })): Run {
  const run: Run = { frames: [], framer, emitted: 0 };
  for (const c of chunks) {
    framer.push(c, (data, ms, sync) => {
      run.frames.push({ data: Buffer.from(data), ms, sync: sync !== false, header: framer.header });
      run.emitted += data.length;
    });
  }
  return run;
}

function assertSameFrames(got: Frame[], want: Frame[], what: string): void {
  assert.equal(got.length, want.length, `${what}: frame count`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    assert.ok(g.data.equals(w.data), `${what}: frame ${i} differs`);
    assert.equal(g.ms, w.ms, `${what}: frame ${i} duration`);
    assert.equal(g.sync, w.sync, `${what}: frame ${i} sync`);
    assert.ok(g.header === w.header || (g.header !== undefined && w.header !== undefined && g.header.equals(w.header)), `${what}: frame ${i} header`);
  }
}

const pid = (pkt: Buffer, at = 0): number => ((pkt[at + 1]! & 0x1f) << 8) | pkt[at + 2]!;
const unitStart = (pkt: Buffer, at = 0): boolean => (pkt[at + 1]! & 0x40) !== 0;
const randomAccess = (pkt: Buffer): boolean => (pkt[3]! & 0x20) !== 0 && pkt[4]! > 0 && (pkt[5]! & 0x40) !== 0;
const packetsOf = (b: Buffer): Buffer[] => Array.from({ length: b.length / P }, (_, i) => b.subarray(i * P, (i + 1) * P));

function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `ffmpeg ${args.join(' ')}: ${r.stderr}`);
}

function probe(file: string, args: string[]): string {
  const r = spawnSync('ffprobe', ['-v', 'error', ...args, '-of', 'csv=p=0', file], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** What `ffmpeg -v error` says decoding `file` completely: nothing, when it decodes cleanly. */
function decodeErrors(file: string): string {
  const r = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-i', file, '-f', 'null', '-'], { encoding: 'utf8', timeout: 60_000 });
  return `${r.status === 0 ? '' : `exit ${r.status} `}${r.stderr}`;
}

const keyFlags = (file: string): string[] => probe(file, ['-select_streams', 'v:0', '-show_frames', '-show_entries', 'frame=key_frame']).trim().split('\n').map((l) => l.split(',')[0]!);
const decodedVideoFrames = (file: string): number => Number(probe(file, ['-select_streams', 'v:0', '-count_frames', '-show_entries', 'stream=nb_read_frames']).trim().split('\n')[0]);

describe('mpegts filter: ffmpeg output', { skip: needsFfmpeg }, () => {
  let dir = '';
  const sample: Record<'av' | 'audio' | 'hevc' | 'mp3' | 'adts' | 'h264', Buffer> = {} as never;
  const whole: Record<'av' | 'audio' | 'hevc', Run> = {} as never;

  before(() => {
    if (!hasFfmpeg) return;
    dir = mkdtempSync(join(tmpdir(), 'mpegts-test-'));
    const video = ['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25'];
    const sine = ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'];
    ffmpeg([...video, ...sine, '-t', '6', '-c:v', 'libx264', '-g', '25', '-c:a', 'aac', '-f', 'mpegts', join(dir, 'av.ts')]);
    ffmpeg([...sine, '-t', '6', '-c:a', 'aac', '-f', 'mpegts', join(dir, 'audio.ts')]);
    ffmpeg([...video, '-t', '4', '-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error', '-g', '25', '-f', 'mpegts', join(dir, 'hevc.ts')]);
    ffmpeg([...sine, '-t', '2', '-c:a', 'libmp3lame', '-f', 'mp3', join(dir, 'a.mp3')]);
    ffmpeg([...sine, '-t', '2', '-c:a', 'aac', '-f', 'adts', join(dir, 'a.aac')]);
    ffmpeg([...video, '-t', '2', '-c:v', 'libx264', '-f', 'h264', join(dir, 'v.h264')]);
    for (const [k, f] of [['av', 'av.ts'], ['audio', 'audio.ts'], ['hevc', 'hevc.ts'], ['mp3', 'a.mp3'], ['adts', 'a.aac'], ['h264', 'v.h264']] as const) sample[k] = readFileSync(join(dir, f));
    for (const k of ['av', 'audio', 'hevc'] as const) whole[k] = feed([sample[k]]);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('cuts h264+aac into runs of whole packets, one per video access unit, the same however the input is chunked', () => {
    const input = sample.av;
    const { frames, framer, emitted } = whole.av;
    assert.deepEqual(framer.format, { name: 'mpegts', codec: 'h264+aac', params: 'program 1: 0x100 h264, 0x101 aac' });
    assert.equal(framer.contentType, 'video/mp2t');
    assert.equal(framer.invalidBytes, 0);
    assert.equal(Buffer.concat(frames.map((f) => f.data)).compare(input, 0, emitted), 0, 'the frames are the input, in order');
    // The last access unit is whole only when the next would start: it is held, and dropped by a reset.
    framer.reset();
    assert.equal(framer.invalidBytes, input.length - emitted);
    assert.ok(input.length - emitted < 64 * 1024);
    assert.equal(frames.length, 150, 'the tables, then 150 video frames but the last, held back');
    for (const [i, f] of frames.entries()) {
      assert.equal(f.data.length % P, 0);
      if (i > 0) assert.ok(pid(f.data) === 0x100 && unitStart(f.data), `frame ${i} starts a video PES`);
    }
    for (const [max, seed] of [[1, 1], [187, 2], [189, 3], [1000, 4], [7000, 5], [100_000, 6]] as const) {
      const part = max === 1 ? input.subarray(0, 30_000) : input;
      const want = max === 1 ? feed([part]).frames : frames;
      assertSameFrames(feed(chop(part, max, seed)).frames, want, `chunks up to ${max}`);
    }
  });

  it('keeps nothing of a chunk past its push, and emits frames inside one chunk as views of it', () => {
    // Chunks read into one buffer that is overwritten after each push, as the engine's slabs are reused.
    const reused = Buffer.alloc(10_000);
    const framer = new MpegTsFramer({ frameBytes: 64 });
    const frames: Frame[] = [];
    for (const c of chop(sample.av, 10_000, 13)) {
      const chunk = reused.subarray(0, c.copy(reused));
      framer.push(chunk, (data, ms, sync) => frames.push({ data: Buffer.from(data), ms, sync: sync !== false, header: framer.header }));
      reused.fill(0xaa);
    }
    assertSameFrames(frames, whole.av.frames, 'reused chunk memory');
    const input = Buffer.from(sample.av);
    let views = 0;
    new MpegTsFramer({ frameBytes: 64 }).push(input, (data) => (views += data.buffer === input.buffer ? 1 : 0));
    assert.ok(views > 140, `${views} frames are views of the chunk`);
  });

  it('marks each IDR access unit a sync point, and carries the latest PAT and PMT as the header', () => {
    const { frames } = whole.av;
    const file = join(dir, 'av.ts');
    const keys = keyFlags(file).filter((k) => k === '1').length;
    assert.ok(keys >= 6);
    assert.equal(frames.filter((f) => f.sync).length, keys, 'as many sync points as key frames');
    assert.equal(frames[0]!.sync, false, 'the frame before the PMT is known');
    let lastPat: Buffer | undefined;
    let lastPmt: Buffer | undefined;
    for (const [i, f] of frames.entries()) {
      if (f.sync) {
        assert.ok(randomAccess(f.data), `frame ${i}: ffmpeg flagged it random access too`);
        assert.ok(lastPat && lastPmt && f.header?.equals(Buffer.concat([lastPat, lastPmt])), `frame ${i}: header is the latest PAT + PMT before it`);
      } else if (i > 0) {
        assert.ok(!randomAccess(f.data), `frame ${i} is no key frame`);
      }
      for (const pkt of packetsOf(f.data)) {
        if (pid(pkt) === 0) lastPat = pkt;
        if (pid(pkt) === 0x1000) lastPmt = pkt;
      }
    }
  });

  for (const kind of ['av', 'audio', 'hevc'] as const) {
    it(`late join (${kind}): header + frames from a sync point after 40% decode cleanly, starting with a key frame`, () => {
      const { frames } = whole[kind];
      const at = frames.findIndex((f, i) => f.sync && i > frames.length * 0.4);
      assert.ok(at > 0);
      const file = join(dir, `late-${kind}.ts`);
      writeFileSync(file, Buffer.concat([frames[at]!.header!, ...frames.slice(at).map((f) => f.data)]));
      assert.equal(decodeErrors(file), '');
      if (kind === 'audio') return;
      assert.equal(keyFlags(file)[0], '1', 'the first decoded video frame is a key frame');
      const units = frames.length - at;
      const decoded = decodedVideoFrames(file);
      // An HEVC CRA may be followed by leading pictures that refer to frames before it: a decoder skips those.
      if (kind === 'av') assert.equal(decoded, units, 'every access unit from the sync point decodes');
      else assert.ok(decoded <= units && decoded >= units - 8, `${decoded} of ${units} decoded`);
    });
  }

  it('a listener from the first frame decodes the whole stream cleanly', () => {
    const { frames } = whole.av;
    const file = join(dir, 'from-start.ts');
    writeFileSync(file, Buffer.concat([...(frames[0]!.header ? [frames[0]!.header] : []), ...frames.map((f) => f.data)]));
    assert.equal(decodeErrors(file), '');
    assert.equal(decodedVideoFrames(file), 149);
  });

  it('audio only: every audio PES starts a sync frame; hevc: CRA/IDR frames are sync points', () => {
    const a = whole.audio;
    assert.equal(a.framer.format?.codec, 'aac');
    assert.ok(a.frames.length > 10);
    assert.ok(a.frames.slice(1).every((f) => f.sync && pid(f.data) === 0x100 && unitStart(f.data)));
    const h = whole.hevc;
    assert.equal(h.framer.format?.codec, 'hevc');
    const keys = keyFlags(join(dir, 'hevc.ts')).filter((k) => k === '1').length;
    assert.ok(keys >= 4);
    assert.equal(h.frames.filter((f) => f.sync).length, keys);
  });

  it('durations: the DTS steps, adding up to the media length', () => {
    const v = whole.av.frames;
    assert.equal(v[0]!.ms, 0);
    assert.ok(v.slice(1).every((f) => Math.abs(f.ms - 40) < 1e-9), 'every video frame lasts 40 ms (DTS, not reordered PTS)');
    const sum = (fs: Frame[]) => fs.reduce((n, f) => n + f.ms, 0);
    assert.ok(Math.abs(sum(v) - (6000 - 40)) < 1e-6, `video: ${sum(v)} ms`);
    // Audio PES hold about 0.3 s each; the last is held back.
    const a = sum(whole.audio.frames);
    assert.ok(a > 6000 - 700 && a <= 6000, `audio: ${a} ms`);
  });

  it('skips junk before and between packets, counting it exactly; the frames after it are the same', () => {
    const input = sample.av;
    const r = rng(11);
    const parts: Buffer[] = [];
    let junkBytes = 0;
    const junk = (n: number): Buffer => {
      const j = Buffer.alloc(n);
      // No sync byte but those placed: a junk 0x47 with another a packet further on would be a packet to anyone.
      for (let i = 0; i < n; i++) {
        const v = Math.floor(r() * 256);
        j[i] = v === 0x47 ? 0x46 : v;
      }
      // Sync bytes a packet apart, too few to lock onto, and one right at the start; never in phase with the
      // packets after the junk, which would make them a run long enough to lock onto (as in any stream).
      if (n % P !== 0) j[0] = 0x47;
      if (n % P !== 1) for (let k = 0; k < 3 && 1 + k * P < n; k++) j[1 + k * P] = 0x47;
      junkBytes += n;
      return j;
    };
    parts.push(junk(1000));
    for (let p = 0; p < input.length; p += P) {
      parts.push(input.subarray(p, p + P));
      if (r() < 0.02) parts.push(junk(1 + Math.floor(r() * 900)));
    }
    const dirty = Buffer.concat(parts);
    for (const max of [dirty.length, 4000, 200]) {
      const run = feed(chop(dirty, max, max));
      assertSameFrames(run.frames, whole.av.frames, `junk, chunks up to ${max}`);
      run.framer.reset();
      assert.equal(run.framer.invalidBytes, junkBytes + (input.length - whole.av.emitted));
    }
  });

  it('never emits a torn packet: one cut short is dropped, the next is found', () => {
    const input = sample.av;
    const originals = new Set(packetsOf(input).map((p) => p.toString('latin1')));
    const parts: Buffer[] = [];
    let torn = 0;
    for (let p = 0, i = 0; p < input.length; p += P, i++) {
      const keep = i % 97 === 50 ? 1 + ((i * 37) % 186) : P;
      parts.push(input.subarray(p, p + keep));
      if (keep < P) torn += keep;
    }
    const run = feed(chop(Buffer.concat(parts), 3000, 8));
    for (const f of run.frames) for (const pkt of packetsOf(f.data)) assert.ok(originals.has(pkt.toString('latin1')), 'only whole original packets');
    const total = Buffer.concat(parts).length;
    run.framer.reset();
    assert.equal(run.framer.invalidBytes, total - run.emitted);
    assert.ok(run.framer.invalidBytes >= torn);
    assert.ok(run.frames.filter((f) => f.sync).length >= 5, 'sync points found after the tears');
  });

  it('survives truncation at every position of the start of a stream', () => {
    const small = sample.av.subarray(0, 40 * P);
    const full = feed([small]).frames;
    for (let n = 0; n <= small.length; n++) {
      const got = feed([small.subarray(0, n >> 1), small.subarray(n >> 1, n)]).frames;
      assert.ok(got.length <= full.length);
      for (let i = 0; i < got.length; i++) assert.ok(got[i]!.data.equals(full[i]!.data), `truncated at ${n}: frame ${i}`);
    }
  });

  it('drops frames larger than the limit, and only those', () => {
    const limit = 3300;
    const { frames } = whole.av;
    const big = frames.filter((f) => f.data.length > limit);
    assert.ok(big.length >= 10 && big.some((f) => f.sync), 'frames with an audio PES, some of them key frames, are larger than the limit');
    const run = feed(chop(sample.av, 5000, 9), limit);
    assert.equal(run.framer.maxFrame, limit);
    assert.ok(run.frames.every((f) => f.data.length <= limit));
    const small = frames.filter((f) => f.data.length <= limit);
    assert.deepEqual(run.frames.map((f) => f.data.toString('base64')), small.map((f) => f.data.toString('base64')));
    run.framer.reset();
    assert.equal(run.framer.invalidBytes, sample.av.length - run.emitted);
  });

  it('sniffs transport streams, from the start, mid-packet or after junk, and nothing else', () => {
    const head = (b: Buffer, from = 0) => b.subarray(from, from + 64 * 1024);
    assert.ok(sniffMpegTs(head(sample.av)));
    assert.ok(sniffMpegTs(head(sample.av, 10_001)), 'mid-stream');
    assert.ok(sniffMpegTs(Buffer.concat([Buffer.alloc(777, 0x47), head(sample.audio)])), 'after junk');
    assert.ok(sniffMpegTs(head(sample.hevc)));
    assert.ok(!sniffMpegTs(sample.av.subarray(0, 4 * P)), 'four packets are too few to tell');
    for (const k of ['mp3', 'adts', 'h264'] as const) assert.ok(!sniffMpegTs(head(sample[k])), k);
    const r = rng(12);
    const noise = Buffer.alloc(64 * 1024);
    for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(r() * 256);
    assert.ok(!sniffMpegTs(noise), 'random bytes');
    assert.ok(!sniffMpegTs(Buffer.alloc(0)));
  });
});

// Streams made by hand from the specification (ISO/IEC 13818-1), independently of the filter's code.

function crc32(buf: Buffer): number {
  let crc = 0xffffffff;
  for (const b of buf) {
    crc ^= b << 24;
    for (let k = 0; k < 8; k++) crc = crc & 0x80000000 ? ((crc << 1) ^ 0x04c11db7) >>> 0 : (crc << 1) >>> 0;
  }
  return crc >>> 0;
}

function section(tableId: number, ext: number, version: number, body: Buffer): Buffer {
  const length = 5 + body.length + 4;
  const s = Buffer.concat([Buffer.from([tableId, 0xb0 | (length >> 8), length & 0xff, ext >> 8, ext & 0xff, 0xc1 | (version << 1), 0, 0]), body, Buffer.alloc(4)]);
  s.writeUInt32BE(crc32(s.subarray(0, s.length - 4)), s.length - 4);
  return s;
}

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);

function pat(programs: Array<[number, number]>, version = 0): Buffer {
  return section(0x00, 1, version, Buffer.concat(programs.map(([n, p]) => Buffer.concat([u16(n), u16(0xe000 | p)]))));
}

interface Es { type: number; pid: number; descriptors?: Buffer }
function pmt(program: number, streams: Es[], version = 0): Buffer {
  const loop = streams.map((s) => Buffer.concat([Buffer.from([s.type]), u16(0xe000 | s.pid), u16(0xf000 | (s.descriptors?.length ?? 0)), s.descriptors ?? Buffer.alloc(0)]));
  return section(0x02, program, version, Buffer.concat([u16(0xe000 | streams[0]!.pid), u16(0xf000), ...loop]));
}

class Mux {
  private readonly cc = new Map<number, number>();

  packet(id: number, start: boolean, payload: Buffer, rai = false): Buffer {
    assert.ok(payload.length <= (rai ? 182 : 184));
    const cc = this.cc.get(id) ?? 0;
    this.cc.set(id, (cc + 1) & 15);
    const b = Buffer.alloc(P, 0xff);
    b[0] = 0x47;
    b[1] = (start ? 0x40 : 0) | (id >> 8);
    b[2] = id & 0xff;
    if (payload.length === 184) {
      b[3] = 0x10 | cc;
      payload.copy(b, 4);
    } else {
      const af = 183 - payload.length;
      b[3] = 0x30 | cc;
      b[4] = af;
      if (af > 0) b[5] = rai ? 0x40 : 0;
      payload.copy(b, 5 + af);
    }
    return b;
  }

  /** Sections back to back on `id`, pointer fields where one starts mid-packet, 0xFF stuffing after the last. */
  psi(id: number, sections: Buffer[]): Buffer[] {
    const data = Buffer.concat(sections);
    const starts: number[] = [];
    sections.reduce((at, s) => (starts.push(at), at + s.length), 0);
    const out: Buffer[] = [];
    for (let pos = 0; pos < data.length;) {
      const first = starts.find((s) => s >= pos && s < pos + 183);
      const n = first === undefined ? 184 : 183;
      const body = Buffer.alloc(184, 0xff);
      if (first === undefined) data.copy(body, 0, pos, pos + n);
      else {
        body[0] = first - pos;
        data.copy(body, 1, pos, pos + n);
      }
      out.push(this.packet(id, first !== undefined, body));
      pos += n;
    }
    return out;
  }

  pes(id: number, es: Buffer, dts: number, opts: { rai?: boolean; audio?: boolean } = {}): Buffer[] {
    const ts = (prefix: number, t: number) => Buffer.from([(prefix << 4) | ((Math.floor(t / 2 ** 30) & 7) << 1) | 1, (Math.floor(t / 2 ** 22) & 0xff), ((Math.floor(t / 2 ** 15) & 0x7f) << 1) | 1, (Math.floor(t / 2 ** 7) & 0xff), ((t & 0x7f) << 1) | 1]);
    const head = opts.audio
      ? Buffer.concat([Buffer.from([0, 0, 1, 0xc0]), u16(3 + 5 + es.length), Buffer.from([0x80, 0x80, 5]), ts(2, dts)])
      : Buffer.concat([Buffer.from([0, 0, 1, 0xe0, 0, 0, 0x80, 0xc0, 10]), ts(3, (dts + 7200) % 2 ** 33), ts(1, dts)]);
    const data = Buffer.concat([head, es]);
    const out: Buffer[] = [];
    for (let pos = 0; pos < data.length;) {
      const n = Math.min(pos === 0 && opts.rai ? 182 : 184, data.length - pos);
      out.push(this.packet(id, pos === 0, data.subarray(pos, pos + n), pos === 0 && opts.rai));
      pos += n;
    }
    return out;
  }
}

/** NAL unit bytes that can hold no start code. */
function body(n: number, seed: number): Buffer {
  const r = rng(seed);
  return Buffer.from(Array.from({ length: n }, () => 2 + Math.floor(r() * 254)));
}
const AUD = Buffer.from([0, 0, 0, 1, 0x09, 0xf0]);
const nal = (header: number, n: number, seed: number) => Buffer.concat([Buffer.from([0, 0, 1, header]), body(n, seed)]);
const idr = (seed: number, sei = 20) => Buffer.concat([AUD, nal(0x67, 12, seed), nal(0x68, 4, seed + 1), nal(0x06, sei, seed + 2), nal(0x65, 600, seed + 3)]);
const pFrame = (seed: number) => Buffer.concat([AUD, nal(0x41, 300, seed)]);

const V = 0x100;
const A = 0x101;
const PMT_PID = 0x1000;

function concat(...parts: Array<Buffer | Buffer[]>): Buffer {
  return Buffer.concat(parts.flat());
}

describe('mpegts filter: tables', () => {
  it('reads a PMT spanning packets, sections that start mid-packet, and names the codecs', () => {
    const mux = new Mux();
    const streams: Es[] = [
      { type: 0x1b, pid: V, descriptors: Buffer.concat([Buffer.from([0x05, 4]), Buffer.from('HDMV'), Buffer.from([0x80, 250]), Buffer.alloc(250, 7)]) },
      { type: 0x06, pid: A, descriptors: Buffer.concat([Buffer.from([0x05, 4]), Buffer.from('Opus')]) },
      { type: 0x81, pid: 0x102 },
      { type: 0x0f, pid: 0x103 },
      { type: 0x06, pid: 0x104, descriptors: Buffer.from([0x6a, 1, 0]) },
      { type: 0x06, pid: 0x105, descriptors: Buffer.from([0x59, 0]) },
    ];
    const table = pmt(1, streams);
    assert.ok(table.length > 183 && table.length < 2 * 183);
    const patPackets = mux.psi(0, [pat([[1, PMT_PID]])]);
    const pmtPackets = mux.psi(PMT_PID, [table, table]);
    assert.equal(pmtPackets.length, 4);
    assert.ok(unitStart(pmtPackets[1]!) && pmtPackets[1]![4]! > 0, 'the second section starts after a pointer field');
    const input = concat(patPackets, pmtPackets, mux.pes(V, idr(1), 0), mux.pes(V, pFrame(2), 3600), mux.pes(V, pFrame(3), 7200));
    const run = feed([input]);
    assert.equal(run.framer.format?.codec, 'h264+opus+ac3+aac');
    assert.equal(run.framer.format?.params, 'program 1: 0x100 h264, 0x101 opus, 0x102 ac3, 0x103 aac, 0x104 ac3');
    assert.deepEqual(run.frames.map((f) => f.sync), [false, true, false]);
    assert.equal(run.frames[0]!.header, undefined, 'no tables were known when the first frame started');
    assert.ok(run.frames[1]!.header?.equals(concat(patPackets, pmtPackets.slice(1))), 'header: the PAT and the packets of the last PMT');
  });

  it('ignores tables whose CRC fails, and follows a new PMT version', () => {
    const mux = new Mux();
    const h264 = pmt(1, [{ type: 0x1b, pid: V }, { type: 0x0f, pid: A }]);
    const hevc = pmt(1, [{ type: 0x24, pid: V }, { type: 0x0f, pid: A }], 1);
    const broken = Buffer.from(hevc);
    broken[broken.length - 1]! ^= 1;
    const badPat = pat([[1, 0x1234]], 1);
    badPat[10]! ^= 0x10;
    const framer = new MpegTsFramer({ frameBytes: 64 });
    const step = (...parts: Array<Buffer | Buffer[]>) => feed([concat(...parts)], 64, framer);
    step(mux.psi(0, [pat([[1, PMT_PID]])]), mux.psi(PMT_PID, [h264]), mux.pes(V, idr(1), 0), mux.pes(V, pFrame(2), 3600));
    assert.equal(framer.format?.codec, 'h264+aac');
    step(mux.psi(0, [badPat]), mux.psi(PMT_PID, [broken]), mux.pes(V, pFrame(3), 7200), mux.pes(V, pFrame(4), 10800));
    assert.equal(framer.format?.codec, 'h264+aac', 'a PMT with a bad CRC changes nothing');
    step(mux.psi(PMT_PID, [hevc]), mux.pes(V, pFrame(5), 14400), mux.pes(V, pFrame(6), 18000));
    assert.equal(framer.format?.codec, 'hevc+aac');
  });
});

describe('mpegts filter: tables that lie', () => {
  it('reads intact tables whose inner lengths lie, and ignores sections too long for a PAT or PMT', () => {
    const mux = new Mux();
    // program_info_length 0xFFF: no stream can be read.
    const noStreams = pmt(1, [{ type: 0x1b, pid: V }]);
    noStreams[10] = 0xff;
    noStreams[11] = 0xff;
    noStreams.writeUInt32BE(crc32(noStreams.subarray(0, noStreams.length - 4)), noStreams.length - 4);
    // The second stream's ES_info_length runs past the section: only the first is read.
    const overrun = pmt(1, [{ type: 0x0f, pid: A }, { type: 0x1b, pid: V, descriptors: Buffer.from([0x05, 4, 0x41, 0x42, 0x43, 0x44]) }], 1);
    overrun.writeUInt16BE(0xf000 | 0x200, overrun.length - 4 - 8);
    overrun.writeUInt32BE(crc32(overrun.subarray(0, overrun.length - 4)), overrun.length - 4);
    // section_length 0xFFF (4098 bytes with its header): more than any PAT may have.
    const huge = Buffer.concat([Buffer.from([0x00, 0xbf, 0xff]), Buffer.alloc(181, 0)]);
    const badPointer = mux.packet(0, true, Buffer.concat([Buffer.from([200]), Buffer.alloc(183, 0)]));
    const framer = new MpegTsFramer({ frameBytes: 64 });
    const step = (...parts: Array<Buffer | Buffer[]>) => feed([concat(...parts)], 64, framer);
    step(mux.psi(0, [huge]), badPointer, mux.psi(0, [pat([[1, PMT_PID]])]), mux.psi(PMT_PID, [noStreams]), mux.pes(V, idr(1), 0), mux.pes(V, idr(2), 3600));
    assert.equal(framer.format?.name, 'mpegts');
    assert.equal(framer.format?.codec, undefined, 'no stream could be read');
    const run = step(mux.psi(PMT_PID, [overrun]), mux.pes(A, body(300, 1), 7200, { audio: true }), mux.pes(A, body(300, 2), 9000, { audio: true }), mux.pes(A, body(300, 3), 10800, { audio: true }));
    assert.equal(framer.format?.codec, 'aac');
    assert.ok(run.frames.at(-1)!.sync);
  });

  it('two programs: the header carries both PMTs, the lead and codecs come from the first with media', () => {
    const mux = new Mux();
    const tables = concat(
      mux.psi(0, [pat([[1, PMT_PID], [2, PMT_PID + 1]])]),
      mux.psi(PMT_PID, [pmt(1, [{ type: 0x1b, pid: V }, { type: 0x03, pid: A }])]),
      mux.psi(PMT_PID + 1, [pmt(2, [{ type: 0x24, pid: 0x200 }])]),
    );
    const run = feed([concat(tables, mux.pes(V, idr(1), 0), mux.pes(0x200, idr(2), 0), mux.pes(V, pFrame(3), 3600), mux.pes(V, pFrame(4), 7200))]);
    assert.equal(run.framer.format?.codec, 'h264+mpeg-audio');
    assert.ok(run.frames[1]!.header?.equals(tables));
    assert.deepEqual(run.frames.map((f) => [f.sync, f.ms]), [[false, 0], [true, 40], [false, 40]], 'program 2 video rides along in the frames');
  });

  it('a consumer that throws gets its error back once the push is done, and no frame is lost or repeated', () => {
    const mux = new Mux();
    const input = concat(mux.psi(0, [pat([[1, PMT_PID]])]), mux.psi(PMT_PID, [pmt(1, [{ type: 0x1b, pid: V }])]), ...Array.from({ length: 8 }, (_, i) => mux.pes(V, pFrame(i), i * 3600)));
    const want = feed([input]).frames.map((f) => f.data.toString('hex'));
    const framer = new MpegTsFramer({ frameBytes: 64 });
    const got: string[] = [];
    const boom = new Error('consumer failed');
    assert.throws(() => framer.push(input.subarray(0, 3000), (f) => {
      got.push(f.toString('hex'));
      if (got.length === 2) throw boom;
    }), (e) => e === boom);
    framer.push(input.subarray(3000), (f) => got.push(f.toString('hex')));
    assert.deepEqual(got, want);
  });

  it('reset forgets the stream: tables, header, format and the partial frame', () => {
    const mux = new Mux();
    const framer = new MpegTsFramer({ frameBytes: 64 });
    const run = feed([concat(mux.psi(0, [pat([[1, PMT_PID]])]), mux.psi(PMT_PID, [pmt(1, [{ type: 0x1b, pid: V }])]), mux.pes(V, idr(1), 0), mux.pes(V, idr(2), 3600))], 64, framer);
    assert.equal(run.frames.length, 2);
    assert.ok(framer.header);
    const pending = framer.heldBytes;
    assert.ok(pending > 0);
    framer.reset();
    assert.equal(framer.invalidBytes, pending);
    assert.deepEqual([framer.header, framer.format], [undefined, undefined], 'nothing learned from the last source holds');
    assert.equal(framer.heldBytes, 0);
    // Key frames of the next source before its tables are no sync points.
    const tables = concat(mux.psi(0, [pat([[1, PMT_PID]])]), mux.psi(PMT_PID, [pmt(1, [{ type: 0x1b, pid: V }, { type: 0x0f, pid: A }])]));
    const next = feed([concat(mux.pes(V, idr(3), 0), mux.pes(V, idr(4), 3600), tables, mux.pes(V, idr(5), 7200), mux.pes(V, idr(6), 10800))], 64, framer);
    assert.deepEqual(next.frames.map((f) => f.sync), [false, false, true]);
    assert.ok(next.frames[2]!.header?.equals(tables));
    assert.equal(framer.format?.codec, 'h264+aac');
  });
});

describe('mpegts filter: sync points and durations from hand-made streams', () => {
  it('finds the IDR slice even when its start code straddles packets; the random_access_indicator alone does not decide', () => {
    const mux = new Mux();
    // PES header 19 bytes, so 165 ES bytes fit the first packet: AUD (6) + SEI (4 + 153) leaves "00 00" there, "01 65" in the next.
    const straddling = Buffer.concat([AUD, nal(0x06, 153, 1), nal(0x65, 500, 2)]);
    const early = mux.pes(V, idr(3), 0); // before any table: not a sync point
    const input = concat(
      early, mux.psi(0, [pat([[1, PMT_PID]])]), mux.psi(PMT_PID, [pmt(1, [{ type: 0x1b, pid: V }])]),
      mux.pes(V, straddling, 3600),
      mux.pes(V, pFrame(4), 7200, { rai: true }),
      mux.pes(V, idr(5), 10800),
      mux.pes(V, pFrame(6), 14400),
      mux.pes(V, pFrame(7), 18000),
    );
    for (const max of [input.length, 50, 1]) {
      const { frames } = feed(chop(input, max, 21));
      assert.deepEqual(frames.map((f) => f.sync), [false, true, false, true, false], `chunks up to ${max}`);
      assert.deepEqual(frames.map((f) => f.ms), [0, 40, 40, 40, 40]);
    }
  });

  it('durations run on across the 33-bit wrap; jumps of more than 10 s and steps back count 0', () => {
    const mux = new Mux();
    const wrap = 2 ** 33;
    const dts = [wrap - 7200, wrap - 3600, 0, 3600, 3600 + 20 * 90_000, 3600 + 20 * 90_000 + 1800, 1000, 4600];
    const input = concat(
      mux.psi(0, [pat([[1, PMT_PID]])]), mux.psi(PMT_PID, [pmt(1, [{ type: 0x0f, pid: A }])]),
      ...dts.map((t, i) => mux.pes(A, body(400, i), t, { audio: true })),
    );
    const { frames, framer } = feed([input]);
    assert.equal(framer.format?.codec, 'aac');
    assert.deepEqual(frames.map((f) => f.ms), [0, 40, 40, 40, 0, 20, 0, 40]);
    assert.deepEqual(frames.map((f) => f.sync), [false, true, true, true, true, true, true, true], 'every audio PES is a sync point');
  });
});

describe('mpegts filter: hostile input', () => {
  it('random bytes: no throw, no frame, bounded time and memory, every byte counted', () => {
    const r = rng(31);
    const noise = Buffer.alloc(2 << 20);
    for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(r() * 256);
    const t0 = performance.now();
    const run = feed(chop(noise, 70_000, 32));
    assert.ok(performance.now() - t0 < 5000);
    assert.equal(run.frames.length, 0);
    assert.ok(run.framer.heldBytes < 2000);
    run.framer.reset();
    assert.equal(run.framer.invalidBytes, noise.length);
  });

  it('random packets (valid sync, garbage headers, tables with lying lengths and pointers): no throw, whole packets only', () => {
    const r = rng(41);
    const mux = new Mux();
    const pkts: Buffer[] = [...mux.psi(0, [pat([[1, 0x30], [2, 0x31]])])];
    for (let i = 0; i < 6000; i++) {
      const b = Buffer.alloc(P);
      for (let k = 0; k < P; k++) b[k] = Math.floor(r() * 256);
      b[0] = 0x47;
      // Mostly the table and PES PIDs, so the parsers see garbage sections and PES headers.
      if (r() < 0.8) {
        const ids = [0, 0x30, 0x31, 0x100];
        const id = ids[Math.floor(r() * ids.length)]!;
        b[1] = (b[1]! & 0xe0) | (id >> 8);
        b[2] = id & 0xff;
        if (r() < 0.3) {
          // A PES start code where a payload without adaptation field begins.
          b[3] = 0x10 | (b[3]! & 0xcf);
          b[4] = b[5] = 0;
          b[6] = 1;
        }
      }
      pkts.push(b);
    }
    const input = Buffer.concat(pkts);
    const originals = new Set(pkts.map((p) => p.toString('latin1')));
    const run = feed(chop(input, 5000, 42), 20_000);
    assert.ok(run.frames.length > 10);
    for (const f of run.frames) {
      assert.ok(f.data.length % P === 0 && f.data.length <= 20_000);
      for (const pkt of packetsOf(f.data)) assert.ok(originals.has(pkt.toString('latin1')), 'whole packets of the input only');
    }
    run.framer.reset();
    assert.equal(run.framer.invalidBytes, input.length - run.emitted);
  });

  it('a stream ending inside a packet whose length nothing confirmed counts each byte once', () => {
    const mux = new Mux();
    const packets = concat(mux.psi(0, [pat([[1, PMT_PID]])]), mux.psi(PMT_PID, [pmt(1, [{ type: 0x1b, pid: V }])]), mux.pes(V, idr(1), 0), mux.pes(V, pFrame(2), 3600));
    // The last packet holds a 0x47 that might start a lock, and the junk after it is too short to tell.
    packets[packets.length - 80] = 0x47;
    for (const junk of [0, 1, 50, 300]) {
      const input = Buffer.concat([packets, Buffer.alloc(junk, 0x11)]);
      for (const max of [input.length, 1, 100]) {
        const run = feed(chop(input, max, junk + max));
        run.framer.reset();
        assert.equal(run.framer.invalidBytes, input.length - run.emitted, `junk ${junk}, chunks up to ${max}`);
      }
    }
  });

  it('a PES that never ends is dropped at the limit without holding more, and framing resumes at the next', () => {
    const mux = new Mux();
    const limit = 100_000;
    const framer = new MpegTsFramer({ frameBytes: limit });
    const frames: Frame[] = [];
    const push = (b: Buffer) => framer.push(b, (data, ms, sync) => frames.push({ data: Buffer.from(data), ms, sync: sync !== false, header: framer.header }));
    push(concat(mux.psi(0, [pat([[1, PMT_PID]])]), mux.psi(PMT_PID, [pmt(1, [{ type: 0x1b, pid: V }])]), mux.pes(V, idr(1), 0)));
    const endless = mux.pes(V, idr(2), 3600);
    const continuation = endless.slice(1, 2);
    let maxHeld = 0;
    for (let i = 0; i < 5000; i++) {
      push(i === 0 ? concat(endless) : mux.packet(V, false, continuation[0]!.subarray(4)));
      maxHeld = Math.max(maxHeld, framer.heldBytes);
    }
    assert.ok(maxHeld <= limit + 2000, `held at most ${maxHeld}`);
    const dropped = framer.invalidBytes;
    assert.ok(dropped > 5000 * P - limit - 2000, 'the oversized frame counted as invalid');
    push(concat(mux.pes(V, idr(3), 7200), mux.pes(V, pFrame(4), 10800), mux.pes(V, pFrame(5), 14400)));
    assert.deepEqual(frames.map((f) => f.sync), [false, true, true, false], 'the frames after the oversized one');
    assert.ok(frames.every((f) => f.data.length <= limit));
  });
});
