import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Channel } from '../../core/engine/channel.ts';
import { Ring } from '../../core/engine/ring.ts';
import { crc32Mpeg, parsePmt } from '../../mods/filters/mpegts-psi.ts';
import { Segmenter } from '../../mods/hls/segmenter.ts';
import { addMetadataStream } from '../../mods/hls/ts-metadata.ts';

/** A PSI section in one packet on `pid`, its CRC filled in. */
function psiPacket(pid: number, body: number[], cc: number): Buffer {
  const s = Buffer.from([...body, 0, 0, 0, 0]);
  s.writeUInt16BE(0xb000 | (s.length - 3), 1);
  s.writeUInt32BE(crc32Mpeg(s, 0, s.length - 4), s.length - 4);
  const p = Buffer.alloc(188, 0xff);
  p.set([0x47, 0x40 | (pid >> 8), pid & 0xff, 0x10 | cc, 0], 0);
  s.copy(p, 5);
  return p;
}

const PAT = psiPacket(0, [0x00, 0, 0, 0x00, 0x01, 0xc1, 0, 0, 0x00, 0x01, 0xf0, 0x00], 3);
// Program 1: AAC on PID 0x100, which is also the PCR PID.
const PMT = psiPacket(0x1000, [0x02, 0, 0, 0x00, 0x01, 0xc1, 0, 0, 0xe1, 0x00, 0xf0, 0x00, 0x0f, 0xe1, 0x00, 0xf0, 0x00], 7);
const HEADER = Buffer.concat([PAT, PMT]);

/** An audio PES start on PID 0x100 with the given PTS. */
function audioPacket(pts: number, cc: number): Buffer {
  const p = Buffer.alloc(188, 0xaa);
  const hi = Math.floor(pts / 2 ** 30) & 7, mid = Math.floor(pts / 2 ** 15) & 0x7fff, lo = pts % 2 ** 15;
  p.set([0x47, 0x41, 0x00, 0x10 | cc, 0, 0, 1, 0xc0, 0, 0, 0x80, 0x80, 5,
    0x21 | (hi << 1), mid >> 7, ((mid & 0x7f) << 1) | 1, lo >> 7, ((lo & 0x7f) << 1) | 1], 0);
  return p;
}

function section(packet: Buffer): Buffer {
  const start = 5 + packet[4]!;
  return packet.subarray(start, start + 3 + (packet.readUInt16BE(start + 1) & 0xfff));
}

function readPts(b: Buffer, p: number): number {
  return ((b[p]! >> 1) & 7) * 2 ** 30 + ((b[p + 1]! << 7) | (b[p + 2]! >> 1)) * 2 ** 15 + ((b[p + 3]! << 7) | (b[p + 4]! >> 1));
}

function segmentsOf(title: string | undefined) {
  const ring = new Ring(64);
  const channel = { mount: '/m', ring, source: { format: { name: 'mpegts' } }, settings: { filter: 'auto' }, info: { title } };
  const seg = new Segmenter(channel as unknown as Channel, { targetDurationMs: 1000, playlistSegments: 3, maxSegmentBytes: 1 << 20, pollMs: 1000 });
  try {
    const pts0 = 2 ** 32 + 12_345; // above 32 bits: the top PTS bit must survive
    for (let i = 0; i < 100; i++) {
      ring.push(audioPacket(pts0 + i * 3600, i & 0xf), 40, i % 25 === 0, HEADER);
      if (i % 10 === 9) seg.poll();
    }
    seg.poll();
    return { segments: [...seg.segments], pts0 };
  } finally {
    seg.stop();
  }
}

test('the rewritten PMT lists a timed ID3 stream, with a valid CRC', () => {
  const meta = addMetadataStream(HEADER);
  assert.ok(meta, 'the header is rewritten');
  assert.deepEqual(meta.header.subarray(0, 188), PAT, 'the PAT is kept');
  const pmt = meta.header.subarray(188, 376);
  assert.equal(pmt[3]! & 0xf, 7, 'the PMT packet keeps its continuity counter');
  const s = section(pmt);
  assert.equal(crc32Mpeg(s), 0, 'CRC over the section and its CRC is 0');
  const map = parsePmt(s);
  assert.ok(map, 'the PMT parses');
  assert.deepEqual(map.streams.map((e) => [e.pid, e.type]), [[0x100, 0x0f], [0x101, 0x15]], 'AAC, then the metadata stream');
  assert.equal(meta.pid, 0x101);
  assert.ok(s.includes(Buffer.from([0x26, 13, 0xff, 0xff, ...Buffer.from('ID3 '), 0xff, ...Buffer.from('ID3 '), 0, 0x0f])), 'the metadata_descriptor');
  assert.ok(s.includes(Buffer.from([0x25, 15, 0xff, 0xff])), 'the metadata_pointer_descriptor');
});

test('a TS segment with a title carries an ID3 PES timed by its first media PES', () => {
  const { segments, pts0 } = segmentsOf('Song é');
  assert.ok(segments.length >= 2, `segments cut: ${segments.length}`);
  const ccs: number[] = [];
  for (const [n, seg] of segments.entries()) {
    const pes = seg.body.subarray(376, 564);
    assert.equal(pes[0], 0x47, 'a packet');
    assert.equal(((pes[1]! & 0x1f) << 8) | pes[2]!, 0x101, 'on the metadata PID');
    assert.ok(pes[1]! & 0x40, 'payload_unit_start set');
    assert.equal(pes[3]! & 0x30, 0x30, 'adaptation field stuffing before the payload');
    ccs.push(pes[3]! & 0xf);
    const at = 5 + pes[4]!;
    assert.deepEqual([...pes.subarray(at, at + 4)], [0, 0, 1, 0xbd], 'a PES start code, private_stream_1');
    assert.equal(pes.readUInt16BE(at + 4), 188 - at - 6, 'PES_packet_length covers the rest');
    assert.ok(pes[at + 6]! & 0x04, 'data_alignment_indicator');
    assert.equal(readPts(pes, at + 9), pts0 + n * 25 * 3600, 'PTS of the segment\'s first media PES');
    const id3 = pes.subarray(at + 14);
    assert.equal(id3.subarray(0, 4).toString('latin1'), 'ID3\x04', 'an ID3v2.4 tag');
    assert.ok(id3.includes(Buffer.concat([Buffer.from('TIT2'), Buffer.from([0, 0, 0, 9, 0, 0, 3]), Buffer.from('Song é\0')])), 'TIT2 with the title');
    assert.equal(seg.body[564 + 1], 0x41, 'then the media');
  }
  assert.deepEqual(ccs, ccs.map((_, i) => i & 0xf), 'the continuity counter runs on across segments');
});

test('without a title, TS segments are the header and the packets, unchanged', () => {
  const { segments } = segmentsOf(undefined);
  assert.ok(segments.length >= 2, `segments cut: ${segments.length}`);
  for (const seg of segments) {
    assert.deepEqual(seg.body.subarray(0, 376), HEADER, 'the header as the source sent it');
    assert.equal(seg.body.length, 376 + 25 * 188, 'no packet added');
  }
});
