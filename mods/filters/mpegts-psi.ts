/**
 * MPEG-TS program-specific information: reassembling PSI sections from packets
 * and reading the two tables a demuxer needs first, the PAT (which PIDs carry
 * the programs' maps) and the PMT (which elementary streams a program has).
 */

export const PACKET = 188;

/** PAT and PMT sections are at most 1024 bytes (section_length ≤ 1021, ISO/IEC 13818-1 2.4.4.3). */
const MAX_SECTION = 1024;

const CRC_TABLE = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  let c = i << 24;
  for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
  CRC_TABLE[i] = c;
}

/** CRC-32/MPEG-2 of `buf` (polynomial 0x04C11DB7, not reflected, no final xor): 0 over a section and its own CRC. */
export function crc32Mpeg(buf: Buffer, start = 0, end = buf.length): number {
  let crc = -1;
  for (let i = start; i < end; i++) crc = (crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ buf[i]!) & 0xff]!;
  return crc >>> 0;
}

/**
 * Turns one PID's packets back into the sections they carry, each with copies
 * of the packets that carried it (the stream header replays those). A section
 * whose CRC fails, or that is cut short by the next section's start, is dropped.
 */
export class SectionReader {
  private readonly buf = Buffer.alloc(MAX_SECTION);
  private filled = 0;
  /** Length of the section being read; 0 until its 3-byte header is in; -1 when none is being read. */
  private want = -1;
  private packets: Buffer[] = [];

  /**
   * Feeds one packet (a private copy: it may be kept) whose payload starts at
   * `payload`; calls `onSection` for every complete, intact section it ends.
   */
  feed(packet: Buffer, payload: number, unitStart: boolean, onSection: (section: Buffer, packets: Buffer[]) => void): void {
    let p = payload;
    if (!unitStart) {
      if (this.want < 0) return;
      this.packets.push(packet);
      this.append(packet, p, PACKET, onSection);
      return;
    }
    const pointer = packet[p]!;
    p++;
    if (p + pointer > PACKET) {
      this.drop();
      return;
    }
    if (this.want >= 0) {
      // The pointer field says how many bytes finish the section in progress.
      this.packets.push(packet);
      this.append(packet, p, p + pointer, onSection);
      this.drop(); // cut short if that did not complete it
    }
    p += pointer;
    // Several sections may follow one another in a packet; 0xFF starts the stuffing after the last.
    while (p < PACKET && packet[p] !== 0xff) {
      this.want = 0;
      this.filled = 0;
      this.packets = [packet];
      p = this.append(packet, p, PACKET, onSection);
      if (this.want >= 0) return; // continues in the next packet
    }
  }

  reset(): void {
    this.drop();
  }

  private drop(): void {
    this.want = -1;
    this.filled = 0;
    this.packets = [];
  }

  /** Takes bytes [from, to) into the section in progress; returns where the section ended, or `to`. */
  private append(src: Buffer, from: number, to: number, onSection: (section: Buffer, packets: Buffer[]) => void): number {
    let p = from;
    while (p < to && this.want >= 0) {
      const limit = this.want === 0 ? 3 : this.want;
      const n = Math.min(to - p, limit - this.filled);
      src.copy(this.buf, this.filled, p, p + n);
      this.filled += n;
      p += n;
      if (this.filled < limit) return to;
      if (this.want === 0) {
        const length = 3 + (this.buf.readUInt16BE(1) & 0xfff);
        // Shorter than a syntax header plus CRC, or longer than PAT/PMT may be: not ours, or garbage.
        if (length < 12 || length > MAX_SECTION) {
          this.drop();
          return to;
        }
        this.want = length;
        continue;
      }
      const section = this.buf.subarray(0, this.want);
      const packets = this.packets;
      this.drop();
      // Long-form sections only (section_syntax_indicator), and only intact ones.
      if (section[1]! & 0x80 && crc32Mpeg(section) === 0) onSection(section, packets);
    }
    return p;
  }
}

export interface PatSection {
  version: number;
  section: number;
  lastSection: number;
  /** program_number → PMT PID, in the table's order; program 0 (the network PID) left out. */
  programs: Array<{ program: number; pid: number }>;
}

/** Reads a PAT section that applies now; undefined for anything else. */
export function parsePat(s: Buffer): PatSection | undefined {
  if (s[0] !== 0x00 || !(s[5]! & 1)) return undefined;
  const end = s.length - 4;
  const programs: PatSection['programs'] = [];
  for (let p = 8; p + 4 <= end; p += 4) {
    const program = s.readUInt16BE(p);
    const pid = s.readUInt16BE(p + 2) & 0x1fff;
    if (program !== 0) programs.push({ program, pid });
  }
  return { version: (s[5]! >> 1) & 0x1f, section: s[6]!, lastSection: s[7]!, programs };
}

export type StreamKind = 'video' | 'audio' | 'other';

export interface ElementaryStream {
  pid: number;
  type: number;
  kind: StreamKind;
  /** Short codec name (`h264`, `aac`, …); undefined for streams this filter does not name. */
  codec?: string;
}

export interface ProgramMap {
  program: number;
  version: number;
  streams: ElementaryStream[];
}

/** Reads a PMT section that applies now; undefined for anything else. */
export function parsePmt(s: Buffer): ProgramMap | undefined {
  if (s[0] !== 0x02 || !(s[5]! & 1) || s.length < 16) return undefined;
  const end = s.length - 4;
  let p = 12 + (s.readUInt16BE(10) & 0xfff);
  const streams: ElementaryStream[] = [];
  while (p + 5 <= end) {
    const type = s[p]!;
    const pid = s.readUInt16BE(p + 1) & 0x1fff;
    const infoEnd = p + 5 + (s.readUInt16BE(p + 3) & 0xfff);
    if (infoEnd > end) break; // a length that lies: keep what was read intact
    streams.push({ pid, type, ...classify(type, s, p + 5, infoEnd) });
    p = infoEnd;
  }
  return { program: s.readUInt16BE(3), version: (s[5]! >> 1) & 0x1f, streams };
}

type Kind = { kind: StreamKind; codec?: string };

const BY_TYPE: Record<number, Kind> = {
  0x01: { kind: 'video', codec: 'mpeg1video' },
  0x02: { kind: 'video', codec: 'mpeg2video' },
  0x03: { kind: 'audio', codec: 'mpeg-audio' },
  0x04: { kind: 'audio', codec: 'mpeg-audio' },
  0x0f: { kind: 'audio', codec: 'aac' },
  0x10: { kind: 'video', codec: 'mpeg4' },
  0x11: { kind: 'audio', codec: 'aac-latm' },
  0x1b: { kind: 'video', codec: 'h264' },
  0x24: { kind: 'video', codec: 'hevc' },
  0x33: { kind: 'video', codec: 'vvc' },
  0x42: { kind: 'video', codec: 'cavs' },
  0x81: { kind: 'audio', codec: 'ac3' },
  0x87: { kind: 'audio', codec: 'eac3' },
  0xd1: { kind: 'video', codec: 'dirac' },
  0xea: { kind: 'video', codec: 'vc1' },
};

/** Registration descriptor format identifiers (SMPTE-RA) seen on private (0x06) streams. */
const BY_REGISTRATION: Record<string, Kind> = {
  'Opus': { kind: 'audio', codec: 'opus' },
  'AC-3': { kind: 'audio', codec: 'ac3' },
  'EAC3': { kind: 'audio', codec: 'eac3' },
  'DTS1': { kind: 'audio', codec: 'dts' },
  'DTS2': { kind: 'audio', codec: 'dts' },
  'DTS3': { kind: 'audio', codec: 'dts' },
  'BSSD': { kind: 'audio', codec: 's302m' },
  'HEVC': { kind: 'video', codec: 'hevc' },
  'VC-1': { kind: 'video', codec: 'vc1' },
};

/** DVB descriptor tags that name the codec of a private (0x06) stream (ETSI EN 300 468). */
const BY_DESCRIPTOR: Record<number, Kind> = {
  0x6a: { kind: 'audio', codec: 'ac3' },
  0x7a: { kind: 'audio', codec: 'eac3' },
  0x7b: { kind: 'audio', codec: 'dts' },
  0x7c: { kind: 'audio', codec: 'aac' },
};

function classify(type: number, s: Buffer, from: number, to: number): Kind {
  const known = BY_TYPE[type];
  if (known) return known;
  if (type !== 0x06) return { kind: 'other' };
  for (let p = from; p + 2 <= to;) {
    const tag = s[p]!;
    const len = s[p + 1]!;
    if (p + 2 + len > to) break;
    if (tag === 0x05 && len >= 4) {
      const reg = BY_REGISTRATION[s.toString('latin1', p + 2, p + 6)];
      if (reg) return reg;
    }
    const dvb = BY_DESCRIPTOR[tag];
    if (dvb) return dvb;
    p += 2 + len;
  }
  return { kind: 'other' };
}
