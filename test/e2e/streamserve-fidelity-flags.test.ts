/**
 * Fidelity and flags end to end on the real CLI, against Go streamserve's
 * behaviour: the mp3 filter passes its test vectors (each frame alone between
 * junk) and a real encoder's frames with junk spliced between them, exactly;
 * `-filter` is `-frame-filter` under another name, also when both are given;
 * `-path ''` is an error, as in streamserve.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { httpGet, runCli, startServer } from '../helpers/server.ts';
import { rng } from '../helpers/random.ts';
import { has, tempDir } from './streamserve-lib.ts';

const tmp = tempDir();
test.after(() => tmp.cleanup());

/**
 * Serves `file` once through `-exec` (the command outlives the file by a few
 * seconds, so a listener can join) with -reopen=false, and returns what a
 * listener got by the time the server ended the stream.
 */
async function listen(file: string, flags: string[]): Promise<Buffer> {
  const srv = await startServer([...flags, '-reopen=false', '-exec', 'sh', '-c', `cat '${file}'; sleep 3`]);
  try {
    const res = await httpGet(srv.port, '/', { ms: 15_000 });
    assert.equal(res.status, 200);
    return res.body;
  } finally {
    await srv.stop();
  }
}

// filter_mp3_test.go's five frames, byte for byte: shouldFilter pads a header
// (three bytes) with zeros; the lame ones are lame's first bytes, then 0x55.
function goFrame(size: number, bytes: number[], fill = 0, fillFrom = bytes.length): Buffer {
  const b = Buffer.alloc(size);
  Buffer.from(bytes).copy(b);
  b.fill(fill, fillFrom);
  return b;
}
const [v1, v2, v25, lI, lII, lIII] = [3 << 3, 2 << 3, 0, 3 << 1, 2 << 1, 1 << 1];
const VECTORS = [
  goFrame((Math.floor((12 * 128000) / 48000) + 1) * 4, [0o377, 0o340 | v1 | lI, (4 << 4) | (1 << 2) | (1 << 1)]),
  goFrame(Math.floor((72 * 160000) / 24000) + 1, [0o377, 0o340 | v2 | lIII, (14 << 4) | (1 << 2) | (1 << 1)]),
  goFrame(Math.floor((144 * 144000) / 11025), [0o377, 0o340 | v25 | lII, 13 << 4]),
  goFrame(418, [
    0xff, 0xfb, 0x92, 0x64, 0x40, 0x8f, 0xf0, 0, 0, 0x69, 0, 0, 0, 0x08, 0, 0, 0x0d, 0x20,
    0, 0, 0x01, 0, 0, 1, 0xa4, 0, 0, 0, 0x20, 0, 0, 0x34, 0x80, 0, 0, 4,
  ], 0x55, 36),
  goFrame(180, [0xff, 0xf3, 0x58, 0x64, 0x60, 0, 0, 1, 0xa4, 0, 0, 0, 0, 0, 0, 3, 0x48, 0, 0, 0, 0], 0x55, 21),
];

test("streamserve's mp3 test vectors, each alone between junk, reach a listener as exactly those five frames", async () => {
  assert.deepEqual(VECTORS.map((v) => v.length), [132, 481, 1880, 418, 180]);
  const r = rng(10);
  const junk = () => {
    // Random bytes with no sync word of their own, sync-word lookalikes (bad
    // bitrate, reserved version), and a real header whose frame would run into the next frame.
    const b = Buffer.alloc(200 + Math.floor(r() * 300));
    for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 255);
    Buffer.from([0xff, 0xfb, 0xf0, 0x00]).copy(b, 20);
    Buffer.from([0xff, 0xe9, 0x90, 0x00]).copy(b, 60);
    Buffer.from([0xff, 0xfb, 0x90, 0x64]).copy(b, b.length - 4 - Math.floor(r() * 50));
    return b;
  };
  const file = join(tmp.dir, 'vectors.mp3');
  writeFileSync(file, Buffer.concat(VECTORS.flatMap((v) => [v, junk()])));
  const body = await listen(file, ['-frame-filter', 'mp3', '-frame-bytes', '2048']);
  assert.equal(body.length, 132 + 481 + 1880 + 418 + 180, `${body.length} bytes: the five frames and nothing else`);
  assert.ok(body.equals(Buffer.concat(VECTORS)), 'byte for byte the five frames, in order');
});

/** The frames of a CBR MPEG-1 layer III file, from their headers. */
function layer3Frames(file: Buffer): Buffer[] {
  const kbps = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
  const out: Buffer[] = [];
  for (let p = 0; p < file.length;) {
    assert.ok(file[p] === 0xff && (file[p + 1]! & 0xfe) === 0xfa && (file[p + 2]! & 0x0c) === 0, `an MPEG-1 layer III 44.1 kHz header at ${p}`);
    const size = Math.floor((144 * kbps[file[p + 2]! >> 4]! * 1000) / 44100) + ((file[p + 2]! >> 1) & 1);
    out.push(file.subarray(p, p + size));
    p += size;
  }
  return out;
}

/** Size of the MPEG-1 layer III 44.1 kHz stereo frame whose header starts at `at`; 0 for anything else. */
function streamFrameAt(b: Buffer, at: number): number {
  if (at + 4 > b.length || b[at] !== 0xff || (b[at + 1]! & 0xfe) !== 0xfa || (b[at + 2]! & 0x0c) !== 0 || b[at + 3]! >> 6 === 3 || (b[at + 3]! & 3) === 2) return 0;
  const index = b[at + 2]! >> 4;
  if (index === 0 || index === 15) return 0;
  const kbps = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320][index]!;
  return Math.floor((144 * kbps * 1000) / 44100) + ((b[at + 2]! >> 1) & 1);
}

/**
 * An encoder's frames with junk spliced into about one gap in three: random
 * bytes, sync words with random bits after them, and a copy of the previous
 * frame's header whose frame would run into the next one. Left out of the
 * junk, as nothing tells them from frames: a header of the stream at its first
 * byte or with its whole frame inside it. No junk before the third frame (a
 * stream runs by then) or in the last eight (at the end of a source, a frame
 * after junk may still wait for what follows it).
 */
function spliceJunk(frames: Buffer[], seed: number): Buffer {
  const r = rng(seed);
  const parts: Buffer[] = [];
  frames.forEach((frame, i) => {
    if (i >= 2 && i < frames.length - 8 && (r() < 0.35 || i === 20 || i === 21)) {
      const b = Buffer.alloc(1 + Math.floor(r() * 400));
      for (let k = 0; k < b.length; k++) b[k] = Math.floor(r() * 256);
      for (let k = 0; k < 3 && b.length > 4; k++) {
        const at = 1 + Math.floor(r() * (b.length - 4));
        b[at] = 0xff;
        b[at + 1] = 0xe0 | Math.floor(r() * 32);
      }
      if (b.length > 8) frames[i - 1]!.copy(b, b.length - 4 - Math.floor(r() * Math.min(b.length - 5, 100)), 0, 4);
      for (let k = 0; k < b.length; k++) {
        const size = streamFrameAt(b, k);
        if (size && (k === 0 || k + size <= b.length)) b[k] = 0;
      }
      parts.push(b);
    }
    parts.push(frame);
  });
  return Buffer.concat(parts);
}

const ffmpeg = has('ffmpeg') ? false : 'ffmpeg is not installed';
let toneFrames: Buffer[] | undefined;
let junkyFile = '';

/** A 2 s libmp3lame tone (no ID3 tag) and the same with junk spliced in, made once. */
function junkyTone(): { frames: Buffer[]; file: string } {
  if (!toneFrames) {
    const clean = join(tmp.dir, 'tone.mp3');
    execFileSync('ffmpeg', ['-hide_banner', '-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=523:duration=2', '-ac', '2', '-ar', '44100',
      '-c:a', 'libmp3lame', '-b:a', '128k', '-id3v2_version', '0', '-f', 'mp3', '-y', clean]);
    toneFrames = layer3Frames(readFileSync(clean));
    junkyFile = join(tmp.dir, 'junky.mp3');
    writeFileSync(junkyFile, spliceJunk(toneFrames, 20261202));
  }
  return { frames: toneFrames, file: junkyFile };
}

// The ring holds the whole file and the burst reaches back to its start, so a
// listener gets every frame whether it joins before or after the file is read.
const WHOLE_FILE = ['-source-buffer', '400', '-burst', '10s'];

test('a libmp3lame tone with junk spliced between its frames reaches a listener as exactly its frames', { skip: ffmpeg }, async () => {
  const { frames, file } = junkyTone();
  assert.ok(frames.length > 70, `${frames.length} frames`);
  assert.ok(readFileSync(file).length > Buffer.concat(frames).length, 'there is junk');
  const body = await listen(file, ['-frame-filter', 'mp3', ...WHOLE_FILE]);
  const got = layer3Frames(body);
  assert.equal(got.length, frames.length, `${got.length} frames of ${frames.length}`);
  for (let i = 0; i < frames.length; i++) assert.ok(got[i]!.equals(frames[i]!), `frame ${i} is the encoder's frame ${i}`);
});

test('-filter is -frame-filter: every spelling, and the last of both given, serves the same frames', { skip: ffmpeg }, async () => {
  const { frames, file } = junkyTone();
  const spellings = [
    ['-filter', 'mp3'],
    ['-filter=mp3'],
    ['--filter', 'mp3'],
    ['-frame-filter', 'raw', '-filter', 'mp3'],
    // As with any repeated flag, the last one given wins, whichever name it has.
    ['-filter', 'mp3', '-frame-filter', 'raw', '-filter', 'mp3'],
  ];
  const bodies = await Promise.all(spellings.map((flags) => listen(file, [...flags, ...WHOLE_FILE])));
  const want = Buffer.concat(frames);
  for (const [i, body] of bodies.entries()) {
    assert.ok(body.equals(want), `${spellings[i]!.join(' ')}: the encoder's frames, junk removed (${body.length} bytes, want ${want.length})`);
  }
});

test("-path '' exits with status 2 and one line naming -path, as streamserve does", async () => {
  for (const args of [['-path', ''], ['-path=']]) {
    const r = await runCli(['-address', '127.0.0.1:0', ...args], { timeoutMs: 8000 });
    assert.equal(r.code, 2, `${JSON.stringify(args)}: exit status; stderr: ${r.stderr}`);
    const line = r.stderr.trim();
    assert.equal(line.split('\n').length, 1, `one line: ${line}`);
    assert.match(line, /-path\b/);
    assert.match(line, /empty/);
  }
});
