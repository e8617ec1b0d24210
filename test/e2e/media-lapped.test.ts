// A listener lapped by the ring, with real H.264: ffmpeg loops a high-bitrate
// sample into the real CLI with a small ring; a listener stops reading long
// enough to be lapped, resumes, and its recording from its first byte, across
// the skip, still decodes. Every picture of the sample is different, so the
// recording's slices, looked up in the sample, show exactly where it skipped.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from './streamserve-lib.ts';
import { decode, firstVideoFrame, FORMATS, makeSample, mediaDir, nalUnits, noFfmpeg, run, serveLoop, sourceStatus, sourceUpFor } from './media-lib.ts';

const tmp = mediaDir();
let sample: string;
/** The sample's pictures in order, by a hash of their slice. */
let pictures: Map<string, number>;

/** H.264 NAL unit type. */
const typeOf = (rec: Buffer, nal: { payload: number }) => rec[nal.payload]! & 0x1f;
const isSlice = (type: number) => type === 1 || type === 5;
const sliceKey = (rec: Buffer, nal: { payload: number; end: number }) => createHash('sha1').update(rec.subarray(nal.payload, nal.end)).digest('hex');

before(async () => {
  if (noFfmpeg) return;
  // Noise in every picture: about 20 Mbit/s, so a paused listener falls behind by more than
  // the ring (32 pictures) plus what loopback socket buffers hold (about 4 MB here) within seconds.
  sample = await makeSample(tmp.dir, FORMATS.h264, ['-vf', 'noise=alls=80:allf=t', '-b:v', '20M', '-maxrate', '20M', '-bufsize', '4M'], 'noisy.mkv');
  // The source writes each loop of the sample as this, slice for slice.
  const once = join(tmp.dir, 'once.h264');
  const r = await run('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-i', sample, '-c', 'copy', '-f', 'h264', '-y', once]);
  assert.equal(r.code, 0, r.stderr);
  const stream = readFileSync(once);
  pictures = new Map();
  for (const nal of nalUnits(stream)) if (isSlice(typeOf(stream, nal))) pictures.set(sliceKey(stream, nal), pictures.size);
  assert.equal(pictures.size, 100, 'one slice per picture, every picture different');
});
after(() => tmp.cleanup());

test('a lapped H.264 listener resumes at a key frame, and its whole recording decodes', { skip: noFfmpeg, timeout: 45_000 }, async (t) => {
  const server = await serveLoop(sample, 'h264', 'h264', [], 32);
  let rec: Buffer;
  let skipped = 0;
  try {
    await sourceUpFor(server, 1500);
    const listener = new Client(server.port, '/');
    await listener.waitBytes(1_000_000, 5000);
    listener.pause();
    const pausedAt = listener.length;
    // Paused until more has flowed than the ring (32 pictures, about 3 MB) and the loopback socket
    // buffers (4 MB here, maybe 10 MB elsewhere) hold: lapped once it drains what the sockets hold.
    const readAtPause = (await sourceStatus(server.port))!.bytes_in;
    const pauseEnds = Date.now() + 8000;
    while ((await sourceStatus(server.port))!.bytes_in - readAtPause < 14e6 && Date.now() < pauseEnds) await sleep(100);
    assert.ok(listener.length - pausedAt < 1 << 20, 'it really stopped reading');
    listener.resume();
    // The server counts the skip when it next writes the listener, once the sockets have drained.
    const until = Date.now() + 8000;
    while (!(skipped = (await sourceStatus(server.port))?.frames_skipped ?? 0) && Date.now() < until) await sleep(100);
    assert.ok(skipped > 0, 'frames_skipped in /status.json counts the skip');
    // Some of the stream after the skip.
    await sleep(1500);
    skipped = (await sourceStatus(server.port))!.frames_skipped;
    await server.stop();
    await listener.closed;
    rec = listener.bytes();
  } finally {
    await server.stop();
  }

  // Where the recording skipped: a slice that does not follow the one before it in the sample.
  const nals = nalUnits(rec);
  const resumes: number[] = [];
  let previous = -1;
  let slices = 0;
  let missed = 0;
  for (let i = 0; i < nals.length; i++) {
    const type = typeOf(rec, nals[i]!);
    if (!isSlice(type)) continue;
    const picture = pictures.get(sliceKey(rec, nals[i]!));
    assert.ok(picture !== undefined, `slice ${slices} (at byte ${nals[i]!.at}) is a slice of the sample, whole and untouched`);
    if (slices === 0) assert.equal(type, 5, 'the recording starts with an IDR picture');
    else if (picture !== (previous + 1) % pictures.size) {
      assert.equal(type, 5, `after the skip from picture ${previous} to ${picture} comes an IDR picture`);
      t.diagnostic(`skipped from picture ${previous} to ${picture} at byte ${nals[i]!.at} of ${rec.length}`);
      resumes.push(i);
      missed += (picture - previous - 1 + pictures.size) % pictures.size;
    }
    previous = picture;
    slices++;
  }
  assert.ok(resumes.length >= 1, 'the recording skips forward');
  assert.equal(missed, skipped, 'frames_skipped counts the pictures the listener missed (a frame is an access unit)');
  assert.ok(nals.length - resumes.at(-1)! > 25, 'and goes on for a while after the skip');

  const file = join(tmp.dir, 'lapped.h264');
  writeFileSync(file, rec);
  const whole = await decode(file, 'h264');
  // The part after the last skip on its own, from the parameter sets in front of its IDR picture.
  let from = resumes.at(-1)!;
  while (from > 0 && [6, 7, 8, 9].includes(typeOf(rec, nals[from - 1]!))) from--;
  const tail = join(tmp.dir, 'after-skip.h264');
  writeFileSync(tail, rec.subarray(nals[from]!.at));
  const afterSkip = await decode(tail, 'h264');
  assert.equal(afterSkip.errors, '', 'the part after the skip decodes without a complaint');
  assert.ok((await firstVideoFrame(tail, 'h264'))?.key, 'from a key frame');
  assert.equal(whole.errors, '', 'the whole recording, across the skip, decodes without a complaint');
});
