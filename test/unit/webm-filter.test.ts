import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sniffWebm, WEBM_HEADER_CAP, WebmFramer } from '../../mods/filters/webm.ts';
import { chop, rng } from '../helpers/random.ts';

// Samples are written by ffmpeg to a pipe, as a live encoder would; the test
// reads their layout with its own small EBML walker, independent of the filter's.

const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0 && spawnSync('ffprobe', ['-version']).status === 0;
const skip = hasFfmpeg ? false : 'ffmpeg/ffprobe are not installed';

const CLUSTER = 0x1f43b675;
const EBML = 0x1a45dfa3;
const SEGMENT = 0x18538067;
const INFO = 0x1549a966;
const TRACKS = 0x1654ae6b;
const SEGMENT_UNKNOWN = Buffer.from('18538067' + '01ffffffffffffff', 'hex');
/** ffmpeg numbers tracks in input order: the video stream comes first in the samples with video. */
const VIDEO_TRACK = 1;

interface Element { id: number; start: number; data: number; end: number }

function vint(b: Buffer, p: number, keepMarker: boolean): { value: number; length: number; unknown: boolean } {
  let length = 1;
  while (length <= 8 && !(b[p]! & (0x80 >> (length - 1)))) length++;
  let value = keepMarker ? b[p]! : b[p]! & (0xff >> length);
  let ones = value === 0xff >> length;
  for (let i = 1; i < length; i++) {
    value = value * 256 + b[p + i]!;
    ones &&= b[p + i] === 0xff;
  }
  return { value, length, unknown: !keepMarker && ones };
}

function elementAt(b: Buffer, p: number): Element {
  const id = vint(b, p, true);
  const size = vint(b, p + id.length, false);
  const data = p + id.length + size.length;
  return { id: id.value, start: p, data, end: size.unknown ? -1 : data + size.value };
}

/** The elements between `start` and `end`, all of known size (as ffmpeg writes them below the Segment). */
function children(b: Buffer, start: number, end: number): Element[] {
  const out: Element[] = [];
  for (let p = start; p < end;) {
    const e = elementAt(b, p);
    assert.ok(e.end >= 0, 'the sample has known sizes below the Segment');
    out.push(e);
    p = e.end;
  }
  return out;
}

interface Layout {
  header: Buffer;
  clusters: Buffer[];
  /** The clusters as the frames carry them: with the size written as unknown. */
  unsized: Buffer[];
  /** Bytes before the first cluster: the header's elements and those left out of it. */
  headerBytes: number;
}

const CLUSTER_UNKNOWN = Buffer.from('1f43b675' + '01ffffffffffffff', 'hex');

function unsize(c: Buffer): Buffer {
  const e = elementAt(c, 0);
  return Buffer.concat([CLUSTER_UNKNOWN, c.subarray(e.data)]);
}

/** What the filter should make of a sample: its header (EBML + unknown-size Segment + Info + Tracks) and the clusters. */
function layout(b: Buffer): Layout {
  const ebml = elementAt(b, 0);
  assert.equal(ebml.id, EBML);
  const segment = elementAt(b, ebml.end);
  assert.equal(segment.id, SEGMENT);
  const level1 = children(b, segment.data, b.length);
  const pick = (id: number) => {
    const e = level1.find((x) => x.id === id)!;
    return b.subarray(e.start, e.end);
  };
  const clusters = level1.filter((e) => e.id === CLUSTER).map((e) => b.subarray(e.start, e.end));
  assert.ok(level1.findIndex((e) => e.id === CLUSTER) === level1.length - clusters.length, 'only clusters after the first cluster');
  const headerBytes = b.length - clusters.reduce((n, c) => n + c.length, 0);
  return { header: Buffer.concat([b.subarray(0, ebml.end), SEGMENT_UNKNOWN, pick(INFO), pick(TRACKS)]), clusters, unsized: clusters.map(unsize), headerBytes };
}

/** The same stream with every Cluster's size written as unknown, as browsers' MediaRecorder and GStreamer do. */
function unknownSizeClusters(b: Buffer): Buffer {
  const l = layout(b);
  return Buffer.concat([b.subarray(0, l.headerBytes), ...l.unsized]);
}

/** How many bytes of the source `frames` stand for: the frames opening a cluster had a shorter size field there. */
function sourceBytes(frames: Frame[], l: Layout): number {
  const opening = new Map(l.unsized.map((u, i) => [u.subarray(0, 64).toString('hex'), u.length - l.clusters[i]!.length]));
  return frames.reduce((n, f) => n + f.bytes.length - (opening.get(f.bytes.subarray(0, 64).toString('hex')) ?? 0), 0);
}

interface Frame { bytes: Buffer; ms: number; sync: boolean; header: Buffer | undefined }
interface Run { frames: Frame[]; framer: WebmFramer; maxHeld: number }

/**
 * Pushes `chunks` through a framer. With `overwrite`, each chunk is scribbled
 * over once pushed (as a reused slab would be) and frames are copied as they
 * come; without, frames are kept as the views they are, so a framer writing
 * into memory it already emitted from would show.
 */
function run(chunks: Buffer[], opts: { frameBytes?: number; overwrite?: boolean } = {}): Run {
  const framer = new WebmFramer({ frameBytes: opts.frameBytes ?? 64 });
  const frames: Frame[] = [];
  let maxHeld = 0;
  for (const c of chunks) {
    const chunk = opts.overwrite ? Buffer.from(c) : c;
    framer.push(chunk, (bytes, ms, sync) => frames.push({ bytes: opts.overwrite ? Buffer.from(bytes) : bytes, ms, sync: sync !== false, header: framer.header }));
    if (opts.overwrite) chunk.fill(0xa3);
    maxHeld = Math.max(maxHeld, framer.held);
  }
  return { frames, framer, maxHeld };
}

function assertSameFrames(got: Frame[], want: Frame[], what: string): void {
  assert.equal(got.length, want.length, `${what}: frame count`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(got[i]!.bytes.equals(want[i]!.bytes), `${what}: frame ${i} differs`);
    assert.equal(got[i]!.ms, want[i]!.ms, `${what}: frame ${i} duration`);
    assert.equal(got[i]!.sync, want[i]!.sync, `${what}: frame ${i} sync`);
  }
}

/** Header + frames from the first sync point after `fraction` of the stream, as a listener joining then gets them. */
function lateJoin(frames: Frame[], fraction: number): { bytes: Buffer; index: number } {
  const total = frames.reduce((n, f) => n + f.bytes.length, 0);
  let seen = 0;
  for (let i = 0; i < frames.length; i++) {
    if (seen >= total * fraction && frames[i]!.sync) return { bytes: Buffer.concat([frames[i]!.header!, ...frames.slice(i).map((f) => f.bytes)]), index: i };
    seen += frames[i]!.bytes.length;
  }
  throw new Error(`no sync point after ${fraction * 100}%`);
}

let dir = '';
function decodeErrors(bytes: Buffer, name: string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  const r = spawnSync('ffmpeg', ['-hide_banner', '-v', 'error', '-i', path, '-f', 'null', '-'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `ffmpeg decodes ${name}: ${r.stderr}`);
  return r.stdout + r.stderr;
}

function firstVideoFrameIsKey(bytes: Buffer, name: string): boolean {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  const r = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_frames', '-read_intervals', '%+#1', '-show_entries', 'frame=key_frame', '-of', 'csv=p=0', path], { encoding: 'utf8', timeout: 60_000 });
  return r.stdout.trim().split('\n')[0] === '1';
}

function ffmpeg(args: string[]): Buffer {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-v', 'error', ...args, 'pipe:1'], { maxBuffer: 64 << 20, timeout: 120_000 });
  assert.equal(r.status, 0, `ffmpeg ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const SINE = ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'];
const TESTSRC = ['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25'];
interface Sample { name: string; bytes: Buffer; video: boolean; codec: string; contentType: string; ext: string }
const samples: Sample[] = [];
let mp3: Buffer = Buffer.alloc(0);
let ogg: Buffer = Buffer.alloc(0);
let ts: Buffer = Buffer.alloc(0);

function noise(n: number, seed: number): Buffer {
  const r = rng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/** Junk with lookalikes of every anchor the filter resyncs on, none of them well-formed beyond the ID. */
function junk(n: number, seed: number): Buffer {
  const j = noise(n, seed);
  for (let i = 0; i + 16 < n; i += 61) {
    const k = (i / 61) % 3;
    // Cluster with a child that is no Timecode; EBML header far larger than any header; Segment with a Timecode as child.
    const fake = k === 0 ? '1f43b675' + '83' + 'a30100' : k === 1 ? '1a45dfa3' + '10ffffff' + '4286' : '18538067' + '83' + 'e70100';
    Buffer.from(fake, 'hex').copy(j, i);
  }
  return j;
}

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'streamserve-webm-'));
  samples.push(
    { name: 'opus in webm', ext: 'webm', video: false, codec: 'opus', contentType: 'audio/webm', bytes: ffmpeg([...SINE, '-t', '8', '-c:a', 'libopus', '-f', 'webm']) },
    { name: 'vp8+opus in webm', ext: 'webm', video: true, codec: 'vp8+opus', contentType: 'video/webm', bytes: ffmpeg([...TESTSRC, ...SINE, '-t', '8', '-c:v', 'libvpx', '-g', '25', '-deadline', 'realtime', '-b:v', '300k', '-c:a', 'libopus', '-f', 'webm']) },
    { name: 'h264+aac in matroska', ext: 'mkv', video: true, codec: 'h264+aac', contentType: 'video/x-matroska', bytes: ffmpeg([...TESTSRC, ...SINE, '-t', '8', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-c:a', 'aac', '-f', 'matroska']) },
  );
  mp3 = ffmpeg([...SINE, '-t', '2', '-c:a', 'libmp3lame', '-f', 'mp3']);
  ogg = ffmpeg([...SINE, '-t', '2', '-c:a', 'libopus', '-f', 'ogg']);
  ts = ffmpeg([...TESTSRC, '-t', '1', '-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'mpegts']);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('webm filter: ffmpeg output', { skip }, () => {
  it('cuts any chunking into the same frames: the clusters, block by block, with the header apart', () => {
    for (const s of samples) {
      const l = layout(s.bytes);
      const whole = run([s.bytes]);
      assert.equal(whole.framer.invalidBytes, 0, `${s.name}: nothing invalid`);
      assert.ok(whole.framer.header!.equals(l.header), `${s.name}: header is EBML + unknown-size Segment + Info + Tracks`);
      assert.ok(Buffer.concat(whole.frames.map((f) => f.bytes)).equals(Buffer.concat(l.unsized)), `${s.name}: frames are the clusters, whole, of unknown size`);
      assert.ok(whole.frames.length > 5 * l.clusters.length, `${s.name}: frames are blocks, not clusters`);
      assert.ok(whole.frames.every((f) => f.header === whole.framer.header), `${s.name}: the header is known from the first frame`);
      assert.deepEqual(whole.framer.format?.name, 'webm');
      assert.equal(whole.framer.format?.codec, s.codec);
      assert.equal(whole.framer.contentType, s.contentType);
      for (const [max, seed] of [[1, 1], [7, 2], [1500, 3], [70_000, 4]] as const) {
        assertSameFrames(run(chop(s.bytes, max, seed), { overwrite: true }).frames, whole.frames, `${s.name}, chunks up to ${max}, slabs reused`);
        assertSameFrames(run(chop(s.bytes, max, seed + 10)).frames, whole.frames, `${s.name}, chunks up to ${max}, frames kept as views`);
      }
    }
  });

  it('emits frames lying inside one chunk as views of it, but for the cluster openings it rewrites', () => {
    const chunk = samples[1]!.bytes;
    const { frames } = run([chunk]);
    assert.ok(frames.every((f) => (f.bytes.buffer === chunk.buffer) !== f.bytes.subarray(0, 12).equals(CLUSTER_UNKNOWN)));
  });

  it('marks cluster starts as sync points: audio only, every one; with video, those opening on a key frame', () => {
    for (const s of samples) {
      const { frames } = run([s.bytes]);
      const starts = frames.filter((f) => f.bytes.readUInt32BE(0) === CLUSTER);
      assert.equal(starts.length, layout(s.bytes).clusters.length, `${s.name}: one frame opens each cluster`);
      assert.ok(frames.filter((f) => f.sync).every((f) => f.bytes.readUInt32BE(0) === CLUSTER), `${s.name}: only cluster starts are sync points`);
      assert.ok(frames[0]!.sync, `${s.name}: the first cluster starts on a key frame`);
      if (!s.video) {
        assert.ok(starts.every((f) => f.sync), `${s.name}: every cluster of audio is a sync point`);
        continue;
      }
      for (const f of starts) {
        // The opening frame runs to the cluster's first video block, which decides.
        const blocks = children(f.bytes, vint(f.bytes, 4, false).length + 4, f.bytes.length).filter((e) => e.id === 0xa3);
        const last = blocks.at(-1)!;
        assert.equal(f.bytes[last.data]! & 0x7f, VIDEO_TRACK, `${s.name}: the opening frame ends with the first video block`);
        assert.ok(blocks.slice(0, -1).every((b) => (f.bytes[b.data]! & 0x7f) !== VIDEO_TRACK));
        assert.equal(f.sync, (f.bytes[last.data + 3]! & 0x80) !== 0, `${s.name}: sync exactly when that block is a key frame`);
      }
      assert.ok(starts.filter((f) => f.sync).length >= 3, `${s.name}: several sync points`);
    }
  });

  it('lets a listener join at a sync point after 40%: it decodes cleanly, video from a key frame', () => {
    for (const s of samples) {
      const { frames } = run(chop(s.bytes, 4096, 5));
      const all = Buffer.concat([frames[0]!.header!, ...frames.map((f) => f.bytes)]);
      assert.equal(decodeErrors(all, `all.${s.ext}`), '', `${s.name}: header + every frame decodes`);
      const late = lateJoin(frames, 0.4);
      assert.ok(late.index > frames.length * 0.3, `${s.name}: the join is well after the start`);
      assert.equal(decodeErrors(late.bytes, `late.${s.ext}`), '', `${s.name}: the late join decodes`);
      if (s.video) assert.ok(firstVideoFrameIsKey(late.bytes, `late-probe.${s.ext}`), `${s.name}: the first video frame is a key frame`);
    }
  });

  it('handles clusters of unknown size, ending each at the next cluster', () => {
    for (const s of samples.slice(1)) {
      const input = unknownSizeClusters(s.bytes);
      const { frames, framer } = run(chop(input, 3000, 6));
      assert.equal(framer.invalidBytes, 0);
      assertSameFrames(frames, run([s.bytes]).frames, `${s.name}: the frames of the stream with known sizes`);
      const late = lateJoin(frames, 0.4);
      assert.equal(decodeErrors(late.bytes, `late-unknown.${s.ext}`), '', `${s.name}: a late join into unknown-size clusters decodes`);
      assert.ok(firstVideoFrameIsKey(late.bytes, `late-unknown-probe.${s.ext}`));
    }
  });

  it('lets a lapped listener skip from inside a cluster to a later sync point and still decode cleanly', () => {
    for (const s of samples) {
      const { frames } = run([s.bytes]);
      const syncs = frames.flatMap((f, i) => (f.sync ? [i] : []));
      // Some twenty frames into the second synced cluster, then on from the last sync point: what the engine's skip gives.
      let upTo = syncs[1]! + 20;
      while (frames[upTo]!.bytes.readUInt32BE(0) === CLUSTER) upTo++;
      assert.ok(upTo < syncs.at(-1)!);
      const skipped = Buffer.concat([frames[0]!.header!, ...frames.slice(0, upTo).map((f) => f.bytes), ...frames.slice(syncs.at(-1)!).map((f) => f.bytes)]);
      assert.equal(decodeErrors(skipped, `skipped.${s.ext}`), '', `${s.name}: decodes after the skip`);
    }
  });

  it('gives durations that sum to the media length', () => {
    for (const s of samples) {
      const { frames } = run([s.bytes]);
      const sum = frames.reduce((n, f) => n + f.ms, 0);
      assert.ok(Math.abs(sum - 8000) <= 60, `${s.name}: durations sum to ${sum} ms, about 8 s`);
      const steps = frames.map((f) => f.ms).filter((ms) => ms > 0);
      // The lead track's frame duration: 40 ms per video frame at 25 fps, 20 ms per Opus packet.
      const typical = s.video ? 40 : 20;
      assert.ok(steps.filter((ms) => Math.abs(ms - typical) < 1.5).length > steps.length * 0.9, `${s.name}: steps of ${typical} ms`);
    }
  });

  it('follows a new stream (EBML header) after the first, learning its header and format', () => {
    const [audio, video] = [samples[0]!, samples[1]!];
    const { frames, framer } = run(chop(Buffer.concat([video.bytes, audio.bytes]), 5000, 7));
    assert.equal(framer.invalidBytes, 0);
    const first = run([video.bytes]).frames.length;
    assert.ok(frames.slice(0, first).every((f) => f.header!.equals(layout(video.bytes).header)));
    assert.ok(frames.slice(first).every((f) => f.header!.equals(layout(audio.bytes).header)));
    assert.ok(frames[first]!.sync, 'the new stream starts at a sync point');
    assert.equal(framer.format?.codec, 'opus');
    assert.equal(framer.contentType, 'audio/webm');
  });

  it('starts mid-stream at the next cluster, without a header', () => {
    const s = samples[1]!;
    const l = layout(s.bytes);
    const cut = 40_000;
    const { frames, framer } = run(chop(s.bytes.subarray(cut), 2000, 8));
    let next = 0;
    for (next = l.headerBytes; next < cut; l.unsized.shift()) next += l.clusters.shift()!.length;
    assert.equal(framer.invalidBytes, next - cut, 'the bytes before the next cluster are invalid');
    assert.ok(Buffer.concat(frames.map((f) => f.bytes)).equals(Buffer.concat(l.unsized)));
    assert.equal(framer.header, undefined);
  });
});

describe('webm filter: junk and resynchronisation', { skip }, () => {
  it('skips junk before the start and between elements, counting every byte once', () => {
    for (const s of samples) {
      const l = layout(s.bytes);
      // Junk before the EBML header, between the header and the first cluster, and between clusters.
      const parts: Buffer[] = [junk(333, 1), s.bytes.subarray(0, l.headerBytes), junk(100, 2)];
      let junkBytes = 433;
      l.clusters.forEach((c, i) => {
        parts.push(c);
        if (i % 2 === 0) {
          const j = junk(50 + i * 37, 10 + i);
          parts.push(j);
          junkBytes += j.length;
        }
      });
      const input = Buffer.concat(parts);
      const clean = run([s.bytes]);
      for (const max of [input.length, 4096, 13]) {
        const { frames, framer, maxHeld } = run(chop(input, max, max));
        assertSameFrames(frames, clean.frames, `${s.name}, chunks up to ${max}`);
        framer.reset();
        assert.equal(framer.invalidBytes, junkBytes, `${s.name}, chunks up to ${max}: every junk byte counted once`);
        assert.ok(framer.header!.equals(l.header));
        assert.ok(maxHeld < 70_000, 'no more than a frame held');
      }
    }
  });

  it('drops the rest of a cluster after junk between its blocks and resumes at the next cluster; no torn frame', () => {
    for (const s of samples) {
      const l = layout(s.bytes);
      const clean = run([s.bytes]).frames;
      const cleanSet = new Set(clean.map((f) => f.bytes.toString('hex')));
      // Junk after the third cluster's tenth frame.
      const starts = clean.flatMap((f, i) => (f.bytes.readUInt32BE(0) === CLUSTER ? [i] : []));
      const cut = l.headerBytes + sourceBytes(clean.slice(0, starts[2]! + 10), l);
      const input = Buffer.concat([s.bytes.subarray(0, cut), junk(200, 3), s.bytes.subarray(cut)]);
      const { frames, framer } = run(chop(input, 1000, 9));
      framer.reset();
      assert.ok(frames.every((f) => cleanSet.has(f.bytes.toString('hex'))), `${s.name}: every frame emitted is a whole frame of the clean stream`);
      assert.equal(sourceBytes(frames, l) + framer.invalidBytes + l.headerBytes, input.length, `${s.name}: every byte is a frame, header or invalid`);
      assert.equal(framer.invalidBytes, 200 + l.clusters[2]!.length - (cut - l.headerBytes - l.clusters[0]!.length - l.clusters[1]!.length), `${s.name}: the junk and the rest of its cluster are lost`);
      assertSameFrames(frames.slice(0, starts[2]! + 10), clean.slice(0, starts[2]! + 10), `${s.name}: everything before the junk`);
      // The first frame after the loss carries the lead track's whole step, over the frames lost too.
      const lostMs = clean.slice(starts[2]! + 10, starts[3]! + 1).reduce((n, f) => n + f.ms, 0);
      const resumed = clean.slice(starts[3]!).map((f, i) => (i === 0 ? { ...f, ms: lostMs } : f));
      assertSameFrames(frames.slice(starts[2]! + 10), resumed, `${s.name}: everything from the next cluster`);
    }
  });

  it('ends a cluster whose size lies at the next cluster, whatever its size said', () => {
    const s = samples[1]!;
    const l = layout(s.bytes);
    // The second cluster cut short after ten frames (a muxer restarted mid-cluster): its size claims more.
    const clean = run([s.bytes]).frames;
    const starts = clean.flatMap((f, i) => (f.bytes.readUInt32BE(0) === CLUSTER ? [i] : []));
    const kept = clean.slice(starts[1]!, starts[1]! + 10);
    const input = Buffer.concat([s.bytes.subarray(0, l.headerBytes), l.clusters[0]!, l.clusters[1]!.subarray(0, sourceBytes(kept, l)), ...l.clusters.slice(2)]);
    const { frames, framer } = run(chop(input, 2000, 11));
    assert.equal(framer.invalidBytes, 0);
    // The lead track's step into the third cluster spans the frames cut.
    const cutMs = clean.slice(starts[1]! + 10, starts[2]! + 1).reduce((n, f) => n + f.ms, 0);
    const want = [...clean.slice(0, starts[1]! + 10), ...clean.slice(starts[2]!).map((f, i) => (i === 0 ? { ...f, ms: cutMs } : f))];
    assertSameFrames(frames, want, 'the cut cluster, then the others');
    const all = Buffer.concat([frames[0]!.header!, ...frames.map((f) => f.bytes)]);
    assert.equal(decodeErrors(all, 'cut-cluster.webm'), '', 'the clusters of unknown size in the frames end cleanly at the next');
  });
});

/** A small stream by hand: EBML header, Segment, Info, Tracks (video 1, audio 2), clusters of SimpleBlocks. */
function element(id: string, body: Buffer | string): Buffer {
  const data = typeof body === 'string' ? Buffer.from(body, 'hex') : body;
  assert.ok(data.length < 2 ** 28);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(0x10000000 | data.length);
  return Buffer.concat([Buffer.from(id, 'hex'), size, data]);
}
function simpleBlock(track: number, relative: number, key: boolean, payload: number): Buffer {
  const b = Buffer.alloc(4 + payload, 0x55);
  b[0] = 0x80 | track;
  b.writeInt16BE(relative, 1);
  b[3] = key ? 0x80 : 0;
  return element('a3', b);
}
function cluster(ms: number, blocks: Buffer[]): Buffer {
  const tc = Buffer.alloc(2);
  tc.writeUInt16BE(ms);
  return element('1f43b675', Buffer.concat([element('e7', tc), ...blocks]));
}
const HAND_EBML = element('1a45dfa3', Buffer.concat([element('4286', '01'), element('4282', Buffer.from('webm'))]));
const HAND_TRACKS = element('1654ae6b', Buffer.concat([
  element('ae', Buffer.concat([element('d7', '01'), element('83', '01'), element('86', Buffer.from('V_VP8')), element('e0', Buffer.concat([element('b0', '0140'), element('ba', 'f0')]))])),
  element('ae', Buffer.concat([element('d7', '02'), element('83', '02'), element('86', Buffer.from('A_OPUS')), element('e1', Buffer.concat([element('b5', '40e7700000000000'), element('9f', '02')]))])),
]));
const HAND_HEAD = Buffer.concat([HAND_EBML, SEGMENT_UNKNOWN, element('1549a966', element('2ad7b1', '0f4240')), HAND_TRACKS]);
function handStream(): Buffer {
  return Buffer.concat([
    HAND_HEAD,
    cluster(0, [simpleBlock(2, 0, true, 30), simpleBlock(1, 0, true, 200), simpleBlock(2, 20, true, 30), simpleBlock(1, 40, false, 50)]),
    cluster(80, [simpleBlock(1, 0, false, 60), simpleBlock(2, 0, true, 30)]),
    cluster(120, [simpleBlock(1, 0, true, 180), simpleBlock(1, 40, false, 40)]),
  ]);
}

/** A BlockGroup header (ID + 4-byte size) for `size` bytes of children. */
function nestedHeader(size: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = 0xa0;
  b.writeUInt32BE(0x10000000 | size, 1);
  return b;
}

describe('webm filter: hostile input', () => {
  it('reads a hand-made stream: frames, sync points, durations and format', () => {
    const { frames, framer } = run([handStream()]);
    assert.equal(framer.invalidBytes, 0);
    assert.deepEqual(frames.map((f) => f.sync), [true, false, false, false, false, true, false]);
    assert.deepEqual(frames.map((f) => f.ms), [0, 0, 40, 40, 0, 40, 40]);
    assert.ok(framer.header!.equals(HAND_HEAD));
    assert.deepEqual(framer.format, { name: 'webm', codec: 'vp8+opus', params: 'vp8 320x240, opus 48000Hz 2ch' });
    assert.equal(framer.contentType, 'video/webm');
  });

  it('survives truncation at every position, emitting only whole frames', () => {
    const input = handStream();
    const full = run([input]).frames;
    for (let cut = 0; cut <= input.length; cut++) {
      const { frames, framer } = run([input.subarray(0, cut)]);
      framer.reset();
      assertSameFrames(frames, full.slice(0, frames.length), `cut at ${cut}`);
      // Each cluster opening grows by 4 bytes: the hand-made clusters have 4-byte sizes, rewritten as 8-byte unknown.
      const emitted = frames.reduce((n, f) => n + f.bytes.length - (f.bytes.readUInt32BE(0) === CLUSTER ? 4 : 0), 0);
      const header = cut >= HAND_HEAD.length ? HAND_HEAD.length : 0;
      assert.ok(emitted + framer.invalidBytes + header <= cut, `cut at ${cut}: no byte counted twice`);
    }
  });

  it('survives random bytes in random chunks quickly, holding little', () => {
    const input = noise(2_000_000, 42);
    const started = performance.now();
    const { frames, framer, maxHeld } = run(chop(input, 9000, 43));
    assert.ok(performance.now() - started < 5000, 'bounded time');
    assert.equal(frames.length, 0);
    assert.ok(maxHeld < 1024, `held ${maxHeld} bytes`);
    framer.reset();
    assert.equal(framer.invalidBytes, input.length);
  });

  it('refuses sizes that lie, unknown where not allowed, zero or absurd, without holding them', () => {
    const cases: [string, Buffer][] = [
      ['a block declaring 2^56 bytes', Buffer.from('1f43b675' + '01ffffffffffffff' + 'e78100' + 'a3' + '01fffffffffffffe' + '81000080', 'hex')],
      ['a block of unknown size', Buffer.from('1f43b675' + '01ffffffffffffff' + 'e78100' + 'a3' + 'ff' + '81000080', 'hex')],
      ['a zero-size block', Buffer.from('1f43b675' + '01ffffffffffffff' + 'e78100' + 'a380', 'hex')],
      ['a block larger than its cluster', Buffer.from('1f43b675' + '86' + 'e78100' + 'a38a' + '81000080', 'hex')],
      ['Void of unknown size at Segment level', Buffer.from('ec' + '01ffffffffffffff', 'hex')],
      ['Tags larger than the frame limit', Buffer.from('1254c367' + '1f000000', 'hex')],
      ['an EBML header over the header cap', Buffer.concat([Buffer.from('1a45dfa3', 'hex'), Buffer.from([0x10 | ((WEBM_HEADER_CAP + 1) >>> 24), (WEBM_HEADER_CAP + 1) >>> 16 & 0xff, (WEBM_HEADER_CAP + 1) >>> 8 & 0xff, (WEBM_HEADER_CAP + 1) & 0xff]), Buffer.from('4286', 'hex')])],
      ['Tracks over the header cap', Buffer.from('1654ae6b' + '0880000000', 'hex')],
      ['a Timecode of 9 bytes', Buffer.from('1f43b675' + '01ffffffffffffff' + 'e789' + '000000000000000000', 'hex')],
      ['an ID longer than 4 bytes', Buffer.from('0812345678' + '81' + '00', 'hex')],
      ['BlockGroups nested 10,000 deep', Buffer.concat([Buffer.from('1f43b675' + '01ffffffffffffff' + 'e78100', 'hex'), ...Array.from({ length: 10_000 }, (_, i) => nestedHeader((10_000 - i - 1) * 5))])],
    ];
    const after = handStream();
    const want = run([after]).frames;
    for (const [name, bad] of cases) {
      for (const max of [bad.length + after.length, 5, 1]) {
        const { frames, framer, maxHeld } = run(chop(Buffer.concat([bad, after]), max, 1), { frameBytes: 100_000 });
        assert.ok(maxHeld <= 100_000, `${name}: held ${maxHeld} bytes`);
        assertSameFrames(frames, want, `${name}, chunks up to ${max}: the stream after it is read`);
        assert.ok(framer.invalidBytes >= 1 && framer.invalidBytes <= bad.length, `${name}: ${framer.invalidBytes} invalid bytes`);
      }
    }
  });

  it('respects the frame limit: a larger block is discarded, the stream resumes at the next cluster', () => {
    const big = cluster(0, [simpleBlock(1, 0, true, 5000), simpleBlock(1, 40, false, 100)]);
    const input = Buffer.concat([HAND_HEAD, big, handStream().subarray(HAND_HEAD.length)]);
    const { frames, framer, maxHeld } = run(chop(input, 700, 2), { frameBytes: 4096 });
    assert.ok(frames.every((f) => f.bytes.length <= 4096));
    assert.ok(maxHeld <= 4096, `held ${maxHeld}`);
    assertSameFrames(frames, run([handStream()]).frames, 'the clusters after the large block');
    assert.equal(framer.invalidBytes, big.length);
  });

  it('does not hold audio back for more than a second waiting for a cluster\'s first video block', () => {
    const audio = Array.from({ length: 100 }, (_, i) => simpleBlock(2, i * 20, true, 40));
    const { frames } = run([Buffer.concat([HAND_HEAD, cluster(0, audio)])]);
    // 0 … 1000 ms may wait; the block at 1020 ms (the 52nd) releases them all, after which each block is a frame.
    assert.equal(frames.length, 1 + 100 - 52);
    assert.ok(frames.every((f) => !f.sync));
  });

  it('splits a hand-made stream anywhere', () => {
    const input = handStream();
    const want = run([input]).frames;
    for (let cut = 0; cut <= input.length; cut++) assertSameFrames(run([input.subarray(0, cut), input.subarray(cut)]).frames, want, `cut at ${cut}`);
    assertSameFrames(run([...input].map((b) => Buffer.from([b]))).frames, want, 'byte by byte');
  });
});

describe('webm filter: sniffing', { skip }, () => {
  it('recognises WebM and Matroska from the start and mid-stream', () => {
    for (const s of samples) {
      assert.ok(sniffWebm(s.bytes.subarray(0, 65536)), `${s.name} from the start`);
      assert.ok(sniffWebm(s.bytes.subarray(0, 40)), `${s.name}: the EBML magic alone at the start`);
      assert.ok(sniffWebm(Buffer.concat([noise(100, 1), s.bytes.subarray(0, 65536)])), `${s.name} after junk`);
      assert.ok(sniffWebm(s.bytes.subarray(30_000, 30_000 + 65536)), `${s.name} mid-stream`);
    }
  });

  it('rejects other formats and random bytes', () => {
    assert.ok(!sniffWebm(mp3.subarray(0, 65536)), 'mp3');
    assert.ok(!sniffWebm(ogg.subarray(0, 65536)), 'ogg');
    assert.ok(!sniffWebm(ts.subarray(0, 65536)), 'mpegts');
    for (let seed = 1; seed <= 20; seed++) assert.ok(!sniffWebm(noise(65536, seed)), `random bytes, seed ${seed}`);
    assert.ok(!sniffWebm(junk(65536, 5)), 'junk with anchor lookalikes');
    assert.ok(!sniffWebm(Buffer.alloc(0)));
  });
});
