import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Channel } from '../../core/engine/channel.ts';
import { Ring } from '../../core/engine/ring.ts';
import { packedAudioTag } from '../../mods/hls/id3.ts';
import { renderPlaylist } from '../../mods/hls/playlist.ts';
import { parseHlsPath } from '../../mods/hls/routes.ts';
import { Segmenter } from '../../mods/hls/segmenter.ts';

/** Just what the segmenter reads of a channel: its ring, its source's format and its title. */
function fakeChannel(format: string, capacity = 64) {
  const ring = new Ring(capacity);
  const channel = { mount: '/m', ring, source: { format: { name: format } }, settings: { filter: 'auto' }, info: {} as { title?: string } };
  return { channel, ring, asChannel: channel as unknown as Channel };
}

const SETTINGS = { targetDurationMs: 2000, playlistSegments: 3, maxSegmentBytes: 1 << 20, pollMs: 1000 };

function frame(n: number, size = 100): Buffer {
  return Buffer.alloc(size, n & 0xff);
}

test('packed audio: segments start with the ID3 timestamp, reach the target, and the window slides', () => {
  const { channel, ring, asChannel } = fakeChannel('mp3');
  const seg = new Segmenter(asChannel, SETTINGS);
  try {
    channel.info.title = 'Song é';
    // 250 frames of 26 ms: segments of 77 frames (2002 ms), cut at the frame that reaches 2 s.
    for (let i = 0; i < 250; i++) {
      ring.push(frame(i), 26);
      if (i % 20 === 19) seg.poll();
    }
    seg.poll();
    assert.equal(seg.segmentsCut, 3, 'three whole segments of 77 frames in 250 frames');
    const [first, second] = seg.segments;
    assert.equal(first!.durationMs, 77 * 26);
    const tag0 = packedAudioTag(0, 'Song é');
    assert.deepEqual(first!.body.subarray(0, tag0.length), tag0, 'first segment: timestamp 0 and the title');
    assert.equal(first!.body.length, tag0.length + 77 * 100);
    // The second segment's timestamp is the first's duration in 90 kHz ticks.
    const tag1 = packedAudioTag(77 * 26 * 90, 'Song é');
    assert.deepEqual(second!.body.subarray(0, tag1.length), tag1);
    assert.equal(second!.body[tag1.length], 77, 'second segment starts at frame 77');
    assert.notEqual(first!.etag, second!.etag);
    assert.equal(seg.window().length, 3);

    for (let i = 250; i < 2000; i++) {
      ring.push(frame(i), 26);
      if (i % 20 === 19) seg.poll();
    }
    assert.ok(seg.segments.length <= SETTINGS.playlistSegments + 3, `memory is bounded: ${seg.segments.length} segments held`);
    assert.equal(seg.window().length, 3);
    const text = renderPlaylist({ epoch: seg.epoch, targetSeconds: seg.targetSeconds, discontinuitySequence: seg.discontinuitySequence, segments: seg.window() });
    const seqs = [...text.matchAll(/seg-[0-9a-z]+-(\d+)\.mp3/g)].map((m) => Number(m[1]));
    assert.equal(seqs.length, 3);
    assert.match(text, new RegExp(`#EXT-X-MEDIA-SEQUENCE:${seqs[0]}\n`));
    assert.deepEqual(seqs, [seqs[0]!, seqs[0]! + 1, seqs[0]! + 2], 'consecutive sequence numbers');
    assert.match(text, /^#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n/);
    assert.equal((text.match(/#EXT-X-PROGRAM-DATE-TIME:/g) ?? []).length, 3);
    assert.doesNotMatch(text, /DISCONTINUITY/);
  } finally {
    seg.stop();
  }
});

test('TS: segments start at sync points with the PAT/PMT header in force', () => {
  const { ring, asChannel } = fakeChannel('mpegts');
  const seg = new Segmenter(asChannel, SETTINGS);
  try {
    const header = Buffer.alloc(376, 0x47);
    // Key frames every 25 frames of 40 ms (1 s GOPs): cuts fall on every second one.
    for (let i = 0; i < 120; i++) {
      ring.push(frame(i, 188), 40, i % 25 === 3, header);
      if (i % 10 === 9) seg.poll();
    }
    seg.poll();
    assert.equal(seg.segmentsCut, 2);
    for (const s of seg.segments) {
      assert.deepEqual(s.body.subarray(0, 376), header, 'header first');
      assert.equal(s.body[376]! % 25, 3, 'then a key frame');
      assert.equal(s.durationMs, 2000);
      assert.equal(s.kind.extension, 'ts');
    }
  } finally {
    seg.stop();
  }
});

test('a lapped segmenter and a new source run both mark a discontinuity', () => {
  const { ring, asChannel } = fakeChannel('adts', 16);
  const seg = new Segmenter(asChannel, SETTINGS);
  try {
    const feed = (n: number) => { for (let i = 0; i < n; i++) { ring.push(frame(i), 100); if (i % 5 === 4) seg.poll(); } };
    feed(60);
    const before = seg.segmentsCut;
    assert.ok(before >= 2, `segments cut: ${before}`);
    // 40 frames without a poll: the 16-frame ring wraps past the segmenter's cursor.
    for (let i = 0; i < 40; i++) ring.push(frame(i), 100);
    seg.poll();
    assert.ok(seg.framesMissed > 0, 'frames missed counted');
    feed(60);
    const afterLap = seg.segments.find((s) => s.discontinuity);
    assert.ok(afterLap, 'a discontinuity after the lap');
    seg.sourceRunStarted();
    feed(60);
    const flagged = seg.segments.filter((s) => s.discontinuity).length;
    assert.ok(flagged >= 1, 'discontinuities flagged');
    assert.equal(seg.segments.at(-1)!.kind.extension, 'aac');
    const text = renderPlaylist({ epoch: seg.epoch, targetSeconds: seg.targetSeconds, discontinuitySequence: seg.discontinuitySequence, segments: seg.window() });
    assert.equal((text.match(/#EXT-X-DISCONTINUITY\n/g) ?? []).length, seg.window().filter((s) => s.discontinuity).length);
  } finally {
    seg.stop();
  }
});

test('a format HLS cannot carry is named, and gets no segments', () => {
  const { ring, asChannel } = fakeChannel('ogg');
  const seg = new Segmenter(asChannel, SETTINGS);
  try {
    for (let i = 0; i < 100; i++) ring.push(frame(i), 100);
    seg.poll();
    assert.equal(seg.unsupported, 'ogg');
    assert.equal(seg.segmentsCut, 0);
  } finally {
    seg.stop();
  }
});

test('HLS paths: playlists and segments of a mount, / at the root', () => {
  assert.deepEqual(parseHlsPath('/index.m3u8'), { kind: 'playlist', mount: '/' });
  assert.deepEqual(parseHlsPath('/radio/live/index.m3u8'), { kind: 'playlist', mount: '/radio/live' });
  assert.deepEqual(parseHlsPath('/radio/seg-abc12-42.aac'), { kind: 'segment', mount: '/radio', epoch: 'abc12', sequence: 42, extension: 'aac' });
  assert.deepEqual(parseHlsPath('/seg-abc12-0.ts'), { kind: 'segment', mount: '/', epoch: 'abc12', sequence: 0, extension: 'ts' });
  assert.equal(parseHlsPath('/radio'), undefined);
  assert.equal(parseHlsPath('/radio/seg-abc-1.ogg'), undefined);
  assert.equal(parseHlsPath('/radio/seg-ABC-1.mp3'), undefined);
});

test('the ID3 timestamp is 33 bits, big-endian, in a PRIV frame of the Apple owner', () => {
  const ticks = 2 ** 33 - 5;
  const tag = packedAudioTag(ticks, undefined);
  assert.equal(tag.subarray(0, 3).toString('latin1'), 'ID3');
  assert.equal(tag[3], 4, 'ID3v2.4');
  const size = (tag[6]! << 21) | (tag[7]! << 14) | (tag[8]! << 7) | tag[9]!;
  assert.equal(size, tag.length - 10, 'synchsafe size covers the frames');
  assert.equal(tag.subarray(10, 14).toString('latin1'), 'PRIV');
  const owner = 'com.apple.streaming.transportStreamTimestamp\0';
  assert.equal(tag.subarray(20, 20 + owner.length).toString('latin1'), owner);
  const data = tag.subarray(20 + owner.length);
  assert.equal(data.length, 8);
  assert.equal(data.readUInt32BE(0) * 2 ** 32 + data.readUInt32BE(4), ticks);
});

test('a format change starts a new segment after a discontinuity, without repeating frames', () => {
  const { channel, ring, asChannel } = fakeChannel('mp3');
  const seg = new Segmenter(asChannel, SETTINGS);
  try {
    let n = 0;
    const feed = (count: number) => { for (let i = 0; i < count; i++) { ring.push(frame(n++), 100); if (n % 5 === 0) seg.poll(); } };
    feed(50);
    channel.source.format = { name: 'adts' };
    feed(50);
    seg.poll();
    const kinds = seg.segments.map((s) => s.kind.extension);
    assert.ok(kinds.includes('mp3') && kinds.includes('aac'), `both kinds cut: ${kinds.join(',')}`);
    const firstAac = seg.segments.find((s) => s.kind.extension === 'aac')!;
    assert.ok(firstAac.discontinuity, 'the first AAC segment follows a discontinuity');
    // Each frame's bytes are its number: no number may appear in two segments.
    const seen = new Set<number>();
    for (const s of seg.segments) {
      const tagSize = 10 + ((s.body[6]! << 21) | (s.body[7]! << 14) | (s.body[8]! << 7) | s.body[9]!);
      for (let at = tagSize; at < s.body.length; at += 100) {
        assert.ok(!seen.has(s.body[at]!), `frame ${s.body[at]} is in one segment only`);
        seen.add(s.body[at]!);
      }
    }
  } finally {
    seg.stop();
  }
});
