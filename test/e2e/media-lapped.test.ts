// A listener lapped by the ring, with real H.264, raw and in MPEG-TS: ffmpeg
// loops a high-bitrate sample into the real CLI with a small ring; a listener
// stops reading long enough to be lapped, resumes, and its recording from its
// first byte, across the skip, still decodes. Every picture of the sample is
// different, so the recording's slices, looked up in the sample, show exactly
// where it skipped.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Server } from '../helpers/server.ts';
import { Client } from './streamserve-lib.ts';
import { decode, firstVideoFrame, FORMATS, makeSample, mediaDir, nalUnits, noFfmpeg, run, serveLoop, sourceStatus, sourceUpFor } from './media-lib.ts';

/** Noise in every picture: about 20 Mbit/s, so a paused listener soon falls behind by more than the ring and the socket buffers hold. */
const NOISY = ['-vf', 'noise=alls=80:allf=t', '-b:v', '20M', '-maxrate', '20M', '-bufsize', '4M'];
/** Pictures in the ring: about 3 MB of this stream. */
const RING = 32;
/** Longer than any skip here (the pause ends within 6 s: 150 pictures), so a picture of the sample names one place in the stream. */
const SECONDS = 10;

/** H.264 NAL unit type. */
const typeOf = (es: Buffer, nal: { payload: number }) => es[nal.payload]! & 0x1f;
const isSlice = (type: number) => type === 1 || type === 5;
const sliceKey = (es: Buffer, nal: { payload: number; end: number }) => createHash('sha1').update(es.subarray(nal.payload, nal.end)).digest('hex');

/** The H.264 elementary stream of `file` (ffmpeg copies it out of a container; raw H.264 as it is). */
async function videoStream(file: string, dir: string, demuxer?: string): Promise<{ es: Buffer; errors: string }> {
  if (demuxer === 'h264') return { es: readFileSync(file), errors: '' };
  const out = join(dir, `${file.split('/').at(-1)}.h264`);
  const r = await run('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-i', file, '-map', '0:v', '-c', 'copy', '-f', 'h264', '-y', out]);
  assert.equal(r.code, 0, r.stderr);
  return { es: readFileSync(out), errors: r.stderr.trim() };
}

/** Every picture of the sample, by its slice (the source writes each loop of the sample slice for slice). */
async function picturesOf(sample: string, dir: string): Promise<Map<string, number>> {
  const { es } = await videoStream(sample, dir);
  const pictures = new Map<string, number>();
  for (const nal of nalUnits(es)) if (isSlice(typeOf(es, nal))) pictures.set(sliceKey(es, nal), pictures.size);
  assert.equal(pictures.size, SECONDS * 25, 'one slice per picture, every picture different');
  return pictures;
}

/**
 * Joins, reads a while, stops reading until more has flowed than the ring and
 * the loopback socket buffers hold (4 MB here, maybe 10 MB elsewhere; 6 s at most), reads
 * again, and stops the server a while after the skip: the recording, and the
 * frames_skipped /status.json reported.
 */
async function lappedRecording(server: Server): Promise<{ rec: Buffer; skipped: number }> {
  await sourceUpFor(server, 1500);
  const listener = new Client(server.port, '/');
  await listener.waitBytes(1_000_000, 5000);
  listener.pause();
  const pausedAt = listener.length;
  const readAtPause = (await sourceStatus(server.port))!.bytes_in;
  const pauseEnds = Date.now() + 6000;
  while ((await sourceStatus(server.port))!.bytes_in - readAtPause < 14e6 && Date.now() < pauseEnds) await sleep(100);
  assert.ok(listener.length - pausedAt < 1 << 20, 'it really stopped reading');
  listener.resume();
  // The server counts the skip when it next writes the listener, once the sockets have drained.
  const until = Date.now() + 8000;
  while (!((await sourceStatus(server.port))?.frames_skipped) && Date.now() < until) await sleep(100);
  assert.ok((await sourceStatus(server.port))!.frames_skipped > 0, 'frames_skipped in /status.json counts a skip');
  // Some of the stream after the skip.
  await sleep(1500);
  const skipped = (await sourceStatus(server.port))!.frames_skipped;
  await server.stop();
  await listener.closed;
  return { rec: listener.bytes(), skipped };
}

/**
 * Walks the recording's pictures: each one whole and the sample's, in order but
 * for skips, which land on IDR pictures and miss as many pictures as the server
 * counted. Returns where the last skip resumes: the byte in the elementary
 * stream, and the how-manieth picture of the recording it is.
 */
function checkSkips(t: TestContext, es: Buffer, pictures: Map<string, number>, skipped: number): { at: number; picture: number } {
  const nals = nalUnits(es);
  const resumes: number[] = [];
  let resumePicture = -1;
  let previous = -1;
  let slices = 0;
  let missed = 0;
  let after = 0;
  for (let i = 0; i < nals.length; i++) {
    const type = typeOf(es, nals[i]!);
    if (!isSlice(type)) continue;
    const picture = pictures.get(sliceKey(es, nals[i]!));
    assert.ok(picture !== undefined, `slice ${slices} (at byte ${nals[i]!.at}) is a slice of the sample, whole and untouched`);
    if (slices === 0) assert.equal(type, 5, 'the recording starts with an IDR picture');
    else if (picture !== (previous + 1) % pictures.size) {
      assert.equal(type, 5, `after the skip from picture ${previous} to ${picture} comes an IDR picture`);
      t.diagnostic(`skipped from picture ${previous} to ${picture} at byte ${nals[i]!.at} of ${es.length} of video`);
      resumes.push(i);
      resumePicture = slices;
      missed += (picture - previous - 1 + pictures.size) % pictures.size;
      after = 0;
    }
    after++;
    previous = picture;
    slices++;
  }
  assert.ok(skipped < pictures.size, `the skip (${skipped} frames) is shorter than the sample, so the sample's pictures show it`);
  assert.ok(resumes.length >= 1, 'the recording skips forward');
  assert.ok(after > 25, `and goes on for a while after the skip (${after} pictures)`);
  assert.equal(missed, skipped, 'frames_skipped counts the pictures the listener missed (a frame is an access unit)');
  // The part after the skip begins with the parameter sets in front of its IDR picture.
  let from = resumes.at(-1)!;
  while (from > 0 && [6, 7, 8, 9].includes(typeOf(es, nals[from - 1]!))) from--;
  return { at: nals[from]!.at, picture: resumePicture };
}

/** Offsets of the TS packets that start a video PES (stream_id 0xE0–0xEF): ffmpeg's muxer puts one picture in each. */
function videoPesStarts(ts: Buffer): number[] {
  const out: number[] = [];
  for (let p = 0; p + 188 <= ts.length; p += 188) {
    assert.equal(ts[p], 0x47, `a sync byte at ${p}`);
    if (!(ts[p + 1]! & 0x40)) continue;
    const adaptation = (ts[p + 3]! >> 4) & 2 ? 1 + ts[p + 4]! : 0;
    const pes = p + 4 + adaptation;
    if (ts.readUIntBE(pes, 3) === 1 && (ts[pes + 3]! & 0xf0) === 0xe0) out.push(p);
  }
  return out;
}

describe('a lapped listener', { skip: noFfmpeg, timeout: 55_000 }, () => {
  const tmp = mediaDir();
  after(() => tmp.cleanup());

  describe('of raw H.264', () => {
    let sample: string;
    let pictures: Map<string, number>;
    before(async () => {
      sample = await makeSample(tmp.dir, { ...FORMATS.h264, seconds: SECONDS }, NOISY, 'noisy.mkv');
      pictures = await picturesOf(sample, tmp.dir);
    });

    test('resumes at a key frame, and its whole recording decodes', { timeout: 30_000 }, async (t) => {
      const server = await serveLoop(sample, 'h264', 'h264', [], RING);
      let lapped: Awaited<ReturnType<typeof lappedRecording>>;
      try {
        lapped = await lappedRecording(server);
      } finally {
        await server.stop();
      }
      const { rec, skipped } = lapped;
      assert.equal(FORMATS.h264.badStart(rec), undefined);
      const resume = checkSkips(t, rec, pictures, skipped);
      const tail = join(tmp.dir, 'after-skip.h264');
      writeFileSync(tail, rec.subarray(resume.at));
      assert.equal((await decode(tail, 'h264')).errors, '', 'the part after the skip decodes without a complaint');
      assert.ok((await firstVideoFrame(tail, 'h264'))?.key, 'from a key frame');
      const file = join(tmp.dir, 'lapped.h264');
      writeFileSync(file, rec);
      assert.equal((await decode(file, 'h264')).errors, '', 'the whole recording, across the skip, decodes without a complaint');
    });
  });

  describe('of MPEG-TS (H.264 and MP2)', () => {
    let sample: string;
    let pictures: Map<string, number>;
    before(async () => {
      sample = await makeSample(tmp.dir, { ...FORMATS.mpegts, seconds: SECONDS }, NOISY, 'noisy.ts');
      pictures = await picturesOf(sample, tmp.dir);
    });

    test('resumes at a key frame, and its whole recording decodes', { timeout: 30_000 }, async (t) => {
      const server = await serveLoop(sample, 'mpegts', 'mpegts', [], RING);
      let lapped: Awaited<ReturnType<typeof lappedRecording>>;
      try {
        lapped = await lappedRecording(server);
      } finally {
        await server.stop();
      }
      const { rec, skipped } = lapped;
      assert.equal(FORMATS.mpegts.badStart(rec), undefined);
      const file = join(tmp.dir, 'lapped.ts');
      writeFileSync(file, rec);
      const video = await videoStream(file, tmp.dir);
      const resume = checkSkips(t, video.es, pictures, skipped);
      // The listener resumes at the packet that starts the picture's PES. The header (PAT and PMT) is not
      // sent again, as it has not changed; a demuxer starting afresh there needs it, from the recording's start.
      const starts = videoPesStarts(rec);
      const tail = join(tmp.dir, 'after-skip.ts');
      writeFileSync(tail, Buffer.concat([rec.subarray(0, starts[0]), rec.subarray(starts[resume.picture])]));
      assert.equal((await decode(tail)).errors, '', 'the part after the skip, after the header, decodes without a complaint');
      assert.ok((await firstVideoFrame(tail))?.key, 'from a key frame');
      assert.equal((await decode(file)).errors, '', 'the whole recording, across the skip, decodes without a complaint');
    });
  });
});
