/**
 * Timed ID3 metadata in TS segments, as Apple's "Timed Metadata for HTTP Live
 * Streaming" lays it out (and hls.js and ffmpeg read it): the PMT lists one
 * more elementary stream, of stream_type 0x15 with a metadata_descriptor
 * naming ID3, and a private_stream_1 PES on that PID carries an ID3v2.4 tag,
 * timed by its PTS to the segment's first media PES.
 */
import { crc32Mpeg, PACKET, parsePat, parsePmt, pesTimestamp, SectionReader } from '../filters/index.ts';
import { id3Tag, textFrame } from './id3.ts';

const METADATA_STREAM_TYPE = 0x15;
const PRIVATE_STREAM_1 = 0xbd;
const ID3 = Buffer.from('ID3 ', 'latin1');

/** metadata_application_format 0xFFFF and metadata_format 0xFF: both then named by the 'ID3 ' identifier. */
const FORMAT = Buffer.concat([Buffer.from([0xff, 0xff]), ID3, Buffer.from([0xff]), ID3, Buffer.from([0])]);

/** metadata_descriptor (ISO/IEC 13818-1 2.6.60): decoder_config_flags 0, DSM-CC_flag 0, reserved bits set. */
const METADATA_DESCRIPTOR = Buffer.concat([Buffer.from([0x26, FORMAT.length + 1]), FORMAT, Buffer.from([0x0f])]);

/** metadata_pointer_descriptor (2.6.58): Apple's spec puts it in the program-info loop; the metadata is in this program. */
function pointerDescriptor(program: number): Buffer {
  const tail = Buffer.from([0x1f, program >> 8, program & 0xff]);
  return Buffer.concat([Buffer.from([0x25, FORMAT.length + tail.length]), FORMAT, tail]);
}

export interface MetadataHeader {
  /** The stream header with the first program's PMT rewritten to list the metadata stream. */
  header: Buffer;
  pid: number;
  /** PIDs of the program's elementary streams, where the first media PES is looked for. */
  mediaPids: Set<number>;
}

function pidOf(packet: Buffer): number {
  return ((packet[1]! & 0x1f) << 8) | packet[2]!;
}

/** Where a packet's payload starts, past its adaptation field. */
function payloadStart(packet: Buffer): number {
  return packet[3]! & 0x20 ? 5 + packet[4]! : 4;
}

function packetsOf(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0; p + PACKET <= buf.length; p += PACKET) out.push(buf.subarray(p, p + PACKET));
  return out;
}

/** The PMT section with one more ES entry and the pointer descriptor, its lengths and CRC made anew. */
function withMetadataStream(s: Buffer, program: number, pid: number): Buffer {
  const infoLength = s.readUInt16BE(10) & 0xfff;
  const infoEnd = 12 + infoLength;
  const pointer = pointerDescriptor(program);
  const es = Buffer.from([METADATA_STREAM_TYPE, 0xe0 | (pid >> 8), pid & 0xff, 0xf0, METADATA_DESCRIPTOR.length]);
  const body = Buffer.concat([
    s.subarray(0, 10), Buffer.from([0xf0 | ((infoLength + pointer.length) >> 8), (infoLength + pointer.length) & 0xff]),
    s.subarray(12, infoEnd), pointer, s.subarray(infoEnd, s.length - 4), es, METADATA_DESCRIPTOR, Buffer.alloc(4),
  ]);
  body.writeUInt16BE((body.readUInt16BE(1) & 0xf000) | (body.length - 3), 1);
  body.writeUInt32BE(crc32Mpeg(body, 0, body.length - 4), body.length - 4);
  return body;
}

/**
 * Splits a PSI section into packets on `pid`. The counters end on `lastCc`,
 * the original's last, so the source's own table packets after the header
 * still follow on without a continuity error.
 */
function sectionPackets(section: Buffer, pid: number, lastCc: number): Buffer[] {
  const data = Buffer.concat([Buffer.from([0]), section]);
  const count = Math.ceil(data.length / (PACKET - 4));
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const packet = Buffer.alloc(PACKET, 0xff);
    const cc = (lastCc - (count - 1 - i) + 16 * count) & 0xf;
    packet[0] = 0x47;
    packet[1] = (i === 0 ? 0x40 : 0) | (pid >> 8);
    packet[2] = pid & 0xff;
    packet[3] = 0x10 | cc;
    data.copy(packet, 4, i * (PACKET - 4), (i + 1) * (PACKET - 4));
    out.push(packet);
  }
  return out;
}

/**
 * The header with the metadata stream added to its first program, or
 * undefined when it has no readable PAT/PMT, or the program already carries a
 * metadata stream of its own (the source's timed metadata is left alone).
 */
export function addMetadataStream(header: Buffer): MetadataHeader | undefined {
  const packets = packetsOf(header);
  let programs: Array<{ program: number; pid: number }> | undefined;
  const pat = new SectionReader();
  for (const packet of packets) {
    if (pidOf(packet) !== 0) continue;
    pat.feed(packet, payloadStart(packet), (packet[1]! & 0x40) !== 0, (s) => { programs ??= parsePat(s)?.programs; });
  }
  const first = programs?.[0];
  if (!programs || !first) return undefined;
  const used = new Set<number>([0, ...programs.map((p) => p.pid)]);
  let target: { section: Buffer; packets: Buffer[] } | undefined;
  let mediaPids = new Set<number>();
  for (const { pid } of programs) {
    const reader = new SectionReader();
    for (const packet of packets) {
      if (pidOf(packet) !== pid) continue;
      reader.feed(packet, payloadStart(packet), (packet[1]! & 0x40) !== 0, (section, carried) => {
        const map = parsePmt(section);
        if (!map) return;
        used.add(section.readUInt16BE(8) & 0x1fff); // the PCR PID
        for (const s of map.streams) used.add(s.pid);
        if (pid === first.pid && !target) {
          target = { section: Buffer.from(section), packets: carried };
          mediaPids = new Set(map.streams.map((s) => s.pid));
        }
      });
    }
  }
  if (!target || parsePmt(target.section)!.streams.some((s) => s.type === METADATA_STREAM_TYPE)) return undefined;
  // The first PID above the program's streams, where a muxer like ffmpeg's leaves room; else any free one.
  let pid = Math.max(0x100, ...mediaPids) + 1;
  while (used.has(pid) && pid < 0x1ffe) pid++;
  if (used.has(pid) || pid > 0x1ffe) for (pid = 0x20; used.has(pid); pid++);
  const section = withMetadataStream(target.section, first.program, pid);
  const old = new Set(target.packets);
  const lastCc = target.packets.at(-1)![3]! & 0xf;
  const out: Buffer[] = [];
  let placed = false;
  for (const packet of packets) {
    if (!old.has(packet)) out.push(packet);
    else if (!placed) {
      out.push(...sectionPackets(section, first.pid, lastCc));
      placed = true;
    }
  }
  return { header: Buffer.concat(out), pid, mediaPids };
}

/** The PTS of the first PES in `parts` on one of `pids`; undefined when none is there whole. */
export function firstPts(parts: Buffer[], pids: Set<number>): number | undefined {
  for (const part of parts) {
    for (let p = 0; p + PACKET <= part.length; p += PACKET) {
      const packet = part.subarray(p, p + PACKET);
      if (!(packet[1]! & 0x40) || !pids.has(pidOf(packet)) || !(packet[3]! & 0x10)) continue;
      const at = payloadStart(packet);
      if (at + 14 > PACKET || packet[at] !== 0 || packet[at + 1] !== 0 || packet[at + 2] !== 1) continue;
      if ((packet[at + 6]! & 0xc0) !== 0x80 || !(packet[at + 7]! & 0x80)) continue;
      return pesTimestamp(packet, at + 9);
    }
  }
  return undefined;
}

/** A PTS in the 5-byte form with marker bits, '0010' prefixed: PTS only. */
function writeTimestamp(ts: number): Buffer {
  const hi = Math.floor(ts / 2 ** 30) & 7;
  const mid = Math.floor(ts / 2 ** 15) & 0x7fff;
  const lo = ts % 2 ** 15;
  return Buffer.from([0x21 | (hi << 1), mid >> 7, ((mid & 0x7f) << 1) | 1, lo >> 7, ((lo & 0x7f) << 1) | 1]);
}

/** The title's ID3 tag in a private_stream_1 PES, data-aligned, timed by `pts`. */
export function id3Pes(title: string, pts: number): Buffer {
  const tag = id3Tag([textFrame('TIT2', title)]);
  const pes = Buffer.concat([Buffer.from([0, 0, 1, PRIVATE_STREAM_1, 0, 0, 0x84, 0x80, 5]), writeTimestamp(pts), tag]);
  pes.writeUInt16BE(pes.length - 6, 4);
  return pes;
}

/**
 * A PES split into packets on `pid`, the last one padded by adaptation-field
 * stuffing (PES data may not be padded with 0xFF as sections are). Counters
 * start at `cc`; returns the packets and the counter the next packet takes.
 */
export function pesPackets(pes: Buffer, pid: number, cc: number): { packets: Buffer; nextCc: number } {
  const out: Buffer[] = [];
  for (let at = 0; at < pes.length; cc = (cc + 1) & 0xf) {
    const packet = Buffer.alloc(PACKET, 0xff);
    packet[0] = 0x47;
    packet[1] = (at === 0 ? 0x40 : 0) | (pid >> 8);
    packet[2] = pid & 0xff;
    const left = pes.length - at;
    if (left >= PACKET - 4) {
      packet[3] = 0x10 | cc;
      pes.copy(packet, 4, at, at + PACKET - 4);
      at += PACKET - 4;
    } else {
      const field = PACKET - 4 - left; // adaptation_field_length + its own length byte
      packet[3] = 0x30 | cc;
      packet[4] = field - 1;
      if (field > 1) packet[5] = 0; // no flags; the rest stays 0xFF stuffing
      pes.copy(packet, 4 + field, at);
      at += left;
    }
    out.push(packet);
  }
  return { packets: Buffer.concat(out), nextCc: cc };
}
