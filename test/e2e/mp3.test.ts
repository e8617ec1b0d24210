// The mp3 filter end to end: a real encoder's file with junk spliced between its
// frames, written into a fifo that the real CLI serves (-path, as streamserve is
// used with arecord | lame), read by an HTTP listener and checked by ffmpeg.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { httpGet, startServer, type Server } from '../helpers/server.ts';
import { rng } from '../helpers/random.ts';

const has = (program: string) => spawnSync('which', [program]).status === 0;
const missing = ['lame', 'ffmpeg', 'mkfifo'].filter((p) => !has(p));
const skip = missing.length ? `needs ${missing.join(', ')} (not installed)` : false;

const dir = mkdtempSync(join(tmpdir(), 'streamserve-mp3-e2e-'));
const servers: Server[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

/** Frame boundaries of a CBR MPEG-1 layer III file (what lame writes here), read from its headers. */
function layer3Frames(file: Buffer): Buffer[] {
  const kbps = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
  const hz = [44100, 48000, 32000];
  const out: Buffer[] = [];
  for (let p = 0; p < file.length;) {
    assert.ok(file[p] === 0xff && (file[p + 1]! & 0xfe) === 0xfa, `an MPEG-1 layer III header at ${p}`);
    const size = Math.floor((144 * kbps[file[p + 2]! >> 4]! * 1000) / hz[(file[p + 2]! >> 2) & 3]!) + ((file[p + 2]! >> 1) & 1);
    out.push(file.subarray(p, p + size));
    p += size;
  }
  return out;
}

/**
 * Junk as a broken pipe or a bad splice leaves it: random bytes with fake sync
 * words (0xFF 0xFx …) inside. It never starts with 0xFF: at a frame boundary,
 * in sync, a valid header is taken at its word (that is the low-latency rule).
 */
function junk(r: () => number): Buffer {
  const b = Buffer.alloc(1 + Math.floor(r() * 100));
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
  b[0] = b[0] === 0xff ? 0 : b[0]!;
  for (let k = 0; k < 3; k++) {
    const at = 1 + Math.floor(r() * (b.length - 2));
    if (at + 1 < b.length) {
      b[at] = 0xff;
      b[at + 1] = 0xf0 | Math.floor(r() * 16);
    }
  }
  return b;
}

/**
 * Opens a fifo's write end once something reads it. A plain blocking open would
 * hang the test process for good if the server never opened the read end.
 */
async function openWriter(fifo: string, ms: number): Promise<FileHandle> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const probe = await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      // A reader is there: a blocking handle now opens at once, and writes wait for the reader instead of failing.
      const writer = await open(fifo, 'w');
      await probe.close();
      return writer;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
      if (Date.now() > deadline) throw new Error(`nothing opened ${fifo} for reading within ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

test('an mp3 with junk spliced between its frames reaches a listener as the clean mp3; the junk is counted', { skip, timeout: 60_000 }, async () => {
  // 4 s of a chord as 16-bit stereo PCM; lame writes an Info frame first (an ordinary frame to the filter).
  const seconds = 4;
  const pcm = Buffer.alloc(44100 * seconds * 4);
  for (let i = 0; i < 44100 * seconds; i++) {
    const t = i / 44100;
    const v = Math.round(6000 * (Math.sin(2 * Math.PI * 220 * t) + Math.sin(2 * Math.PI * 277.18 * t) + Math.sin(2 * Math.PI * 329.63 * t)) / 2);
    pcm.writeInt16LE(v, i * 4);
    pcm.writeInt16LE(v, i * 4 + 2);
  }
  const cleanPath = join(dir, 'clean.mp3');
  const enc = spawnSync('lame', ['--quiet', '-r', '-s', '44.1', '--bitwidth', '16', '-b', '128', '-', cleanPath], { input: pcm, timeout: 30_000 });
  assert.equal(enc.status, 0, `lame failed: ${enc.stderr}`);
  const clean = readFileSync(cleanPath);
  const frames = layer3Frames(clean);
  assert.ok(frames.length > 100);

  // Junk before the first frame and before every 5th: a frame right after junk is believed
  // only on the next frame's header, so junk regions are kept at least two frames apart.
  const r = rng(20261121);
  const parts: Buffer[] = [];
  let junkBytes = 0;
  frames.forEach((frame, i) => {
    if (i % 5 === 0 && i < frames.length - 2) {
      const j = junk(r);
      junkBytes += j.length;
      parts.push(j);
    }
    parts.push(frame);
  });
  const dirty = Buffer.concat(parts);
  assert.equal(dirty.length, clean.length + junkBytes);
  // ffmpeg itself complains about the dirty file: the junk matters.
  const dirtyPath = join(dir, 'dirty.mp3');
  writeFileSync(dirtyPath, dirty);
  assert.notEqual(spawnSync('ffmpeg', ['-v', 'error', '-i', dirtyPath, '-f', 'null', '-'], { encoding: 'utf8', timeout: 30_000 }).stderr, '');

  const fifo = join(dir, 'source.fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  // -close-idle: the source opens when the listener arrives, so it hears the stream from its first byte;
  // a ring larger than the file means the listener never skips.
  const server = await startServer([
    '-frame-filter', 'mp3', '-content-type', 'audio/mpeg', '-path', fifo, '-reopen=false', '-close-idle',
    '-source-buffer', '100000', '-stat-log-interval', '20ms',
  ]);
  servers.push(server);

  const response = httpGet(server.port, '/', { ms: 30_000 });
  // The server opens the read end for the listener (-close-idle).
  const writer = await openWriter(fifo, 10_000);
  await writer.write(dirty);
  // The source is still open, so the stats now hold the final count; no frame is held back (the file ends with one).
  const stats = await server.waitLog((l) => l.msg === 'source stats' && l.bytesIn === dirty.length && l.invalidBytes === junkBytes, 10_000)
    .catch((err) => assert.fail(`${err.message}; stats lines: ${JSON.stringify(server.logs.filter((l) => l.msg === 'source stats').slice(-3))}`));
  assert.equal(stats.invalidBytes, junkBytes);
  await writer.close();

  const res = await response;
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'audio/mpeg');
  assert.equal(res.body.length, clean.length, 'the listener got every frame and no junk');
  assert.ok(res.body.equals(clean), 'byte for byte the encoder output');

  const bodyPath = join(dir, 'body.mp3');
  writeFileSync(bodyPath, res.body);
  const dec = spawnSync('ffmpeg', ['-v', 'error', '-i', bodyPath, '-f', 'null', '-'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(dec.status, 0);
  assert.equal(dec.stdout + dec.stderr, '', 'ffmpeg decodes it without a complaint');
});
