// The MP3 playlist's timeline, checked on the bytes: each packed-audio segment's
// ID3 timestamp is exactly where the frames before it end, and the segments
// played one after the other decode without an error. ffmpeg reading the
// playlist itself reports one repeated dts at some segment boundaries: its MP3
// demuxer reads 1024-byte chunks, so its HLS demuxer applies the next
// segment's timestamp a frame or two after that segment's first frame. The
// timestamps checked here are the ones it misplaces.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { noFfmpeg, parsePlaylist, run, SOURCES, startHlsServer, type HlsServer } from './hls-lib.ts';

const BITRATES = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];

/** The ID3 timestamp (90 kHz) of a packed-audio segment, and the MPEG-1 layer III frames after its tag. */
function readSegment(b: Buffer): { ticks: number; frames: number; audio: Buffer } {
  assert.equal(b.toString('latin1', 0, 3), 'ID3', 'a packed-audio segment starts with its ID3 tag');
  const tagEnd = 10 + ((b[6]! << 21) | (b[7]! << 14) | (b[8]! << 7) | b[9]!);
  const owner = b.indexOf('com.apple.streaming.transportStreamTimestamp\0', 0, 'latin1');
  assert.ok(owner > 0 && owner < tagEnd, 'the tag holds the HLS timestamp PRIV frame');
  const at = owner + 45;
  const ticks = b.readUInt32BE(at) * 2 ** 32 + b.readUInt32BE(at + 4);
  let pos = tagEnd;
  let frames = 0;
  while (pos + 4 <= b.length) {
    assert.equal(b[pos], 0xff, `an MP3 frame header at byte ${pos}`);
    const rate = BITRATES[b[pos + 2]! >> 4]!;
    pos += Math.floor((144_000 * rate) / 44_100) + ((b[pos + 2]! >> 1) & 1);
    frames++;
  }
  assert.equal(pos, b.length, 'the segment holds whole frames only');
  return { ticks, frames, audio: b.subarray(tagEnd) };
}

describe('HLS of a live MP3 channel: the timeline on the bytes', { skip: noFfmpeg, timeout: 60_000 }, () => {
  let hls: HlsServer;
  before(async () => {
    hls = await startHlsServer({ mp3: SOURCES.mp3 });
  });
  after(async () => { await hls?.stop(); });

  test('segment timestamps follow the frames exactly, and the segments decode as one stream', { timeout: 40_000 }, async () => {
    const seen = new Map<number, Buffer>();
    const deadline = Date.now() + 30_000;
    // Five consecutive segments, fetched as a player would while they are listed.
    while (seen.size < 5 && Date.now() < deadline) {
      const p = parsePlaylist(await (await fetch(`${hls.base}/mp3/index.m3u8`)).text());
      for (const s of p.segments) {
        if (seen.has(s.sequence)) continue;
        const res = await fetch(`${hls.base}/mp3/${s.uri}`);
        assert.equal(res.status, 200, `segment ${s.uri}`);
        seen.set(s.sequence, Buffer.from(await res.arrayBuffer()));
      }
      await sleep(500);
    }
    const sequences = [...seen.keys()].sort((a, b) => a - b);
    assert.ok(sequences.length >= 5, `five segments fetched, got ${sequences.length}`);
    const segments = sequences.map((n) => readSegment(seen.get(n)!));
    let frames = 0;
    for (const [i, s] of segments.entries()) {
      assert.ok(s.frames > 0, `segment ${sequences[i]} has frames`);
      if (i > 0) {
        assert.equal(sequences[i], sequences[i - 1]! + 1, 'consecutive segments');
        // 1152 samples per frame at 44.1 kHz, in 90 kHz ticks, rounded once per segment.
        const expected = segments[0]!.ticks + (frames * 1152 * 90_000) / 44_100;
        assert.ok(Math.abs(s.ticks - expected) <= 1, `segment ${sequences[i]} starts at ${s.ticks}, where the frames before it end (${expected.toFixed(1)})`);
      }
      frames += s.frames;
    }
    const file = join(hls.dir, 'segments.mp3');
    writeFileSync(file, Buffer.concat(segments.map((s) => s.audio)));
    const r = await run('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'], 20_000);
    assert.equal(r.code, 0, `ffmpeg exit ${r.code}: ${r.stderr}`);
    assert.equal(r.stderr, '', 'the segments played one after the other decode with no error');
  });
});
