import { crc8 } from './flac-crc.ts';

/** The fields of a FLAC frame header (RFC 9639, 9.1) the framer needs. */
export interface FrameHeader {
  /** Header bytes, CRC-8 included. */
  length: number;
  /** 1 for variable block sizes: `number` is then the first sample's number, else the frame's. */
  blocking: 0 | 1;
  number: number;
  blockSize: number;
  /** Hz, or 0 when the header leaves it to STREAMINFO. */
  rate: number;
  channels: number;
  /** Bits per sample, or 0 when the header leaves it to STREAMINFO. */
  bits: number;
}

/** What STREAMINFO says that frames must agree with. */
export interface StreamInfo {
  minBlock: number;
  maxBlock: number;
  /** Largest frame in bytes; 0 when unknown (an encoder writing to a pipe cannot tell). */
  maxFrame: number;
  rate: number;
  channels: number;
  bits: number;
}

const RATES = [0, 88200, 176400, 192000, 8000, 16000, 22050, 24000, 32000, 44100, 48000, 96000];
/** Index 3 is reserved; 7 (32 bits) is RFC 9639's addition. */
const BITS = [0, 8, 12, -1, 16, 20, 24, 32];

/** Returned when the bytes end before a header can be judged. */
export const MORE = 'more';

/**
 * The frame header starting at `p`, undefined when none starts there (bad
 * sync, reserved values, bad coded number, wrong CRC-8), MORE when `end`
 * comes first.
 */
export function parseFrameHeader(data: Buffer, p: number, end: number): FrameHeader | undefined | typeof MORE {
  if (data[p] !== 0xff) return undefined;
  if (end - p < 2) return MORE;
  if ((data[p + 1]! & 0xfe) !== 0xf8) return undefined;
  if (end - p < 5) return MORE;
  const blocking = (data[p + 1]! & 1) as 0 | 1;
  const sizeCode = data[p + 2]! >> 4;
  const rateCode = data[p + 2]! & 15;
  const channelCode = data[p + 3]! >> 4;
  const bits = BITS[(data[p + 3]! >> 1) & 7]!;
  if (sizeCode === 0 || rateCode === 15 || channelCode > 10 || bits < 0 || data[p + 3]! & 1) return undefined;

  // The coded number is UTF-8-like: a lead byte telling the count, then 10xxxxxx bytes.
  let q = p + 4;
  const lead = data[q]!;
  let extra = 0;
  while (extra < 8 && (lead << extra) & 0x80) extra++;
  if (extra === 1 || extra > (blocking ? 7 : 6)) return undefined;
  const count = extra === 0 ? 1 : extra;
  const tail = (sizeCode === 6 ? 1 : sizeCode === 7 ? 2 : 0) + (rateCode === 12 ? 1 : rateCode > 12 ? 2 : 0);
  const length = 4 + count + tail + 1;
  if (end - p < length) return MORE;
  let number = extra === 0 ? lead : lead & (0x7f >> extra);
  for (let i = 1; i < count; i++) {
    const b = data[q + i]!;
    if ((b & 0xc0) !== 0x80) return undefined;
    number = number * 64 + (b & 0x3f);
  }
  q += count;

  let blockSize: number;
  if (sizeCode === 1) blockSize = 192;
  else if (sizeCode <= 5) blockSize = 576 << (sizeCode - 2);
  else if (sizeCode === 6) blockSize = data[q++]! + 1;
  else if (sizeCode === 7) {
    blockSize = data.readUInt16BE(q) + 1;
    q += 2;
  } else blockSize = 256 << (sizeCode - 8);
  // STREAMINFO's 16 bits cannot describe 65536.
  if (blockSize > 65535) return undefined;

  let rate = RATES[rateCode] ?? 0;
  if (rateCode === 12) rate = data[q++]! * 1000;
  else if (rateCode === 13 || rateCode === 14) {
    rate = data.readUInt16BE(q) * (rateCode === 14 ? 10 : 1);
    q += 2;
  }
  if (rateCode >= 12 && rate === 0) return undefined;

  if (crc8(data, p, q) !== data[q]) return undefined;
  return { length, blocking, number, blockSize, rate, channels: channelCode <= 7 ? channelCode + 1 : 2, bits };
}

/** STREAMINFO's block header: type 0, 34 bytes long (the last-block flag is masked off). */
const STREAMINFO_LENGTH = 34;
/** "fLaC", the STREAMINFO block header and its body. */
export const STREAM_START = 4 + 4 + STREAMINFO_LENGTH;
const MAGIC = Buffer.from('fLaC');

/**
 * The STREAMINFO of a native FLAC stream starting at `p` ("fLaC" followed
 * by a sane STREAMINFO block), undefined when none starts there, MORE when
 * `end` comes first. Eight fixed bytes and a plausible body make a false
 * match inside audio data practically impossible.
 */
export function parseStreamStart(data: Buffer, p: number, end: number): StreamInfo | undefined | typeof MORE {
  const want = [0x66, 0x4c, 0x61, 0x43, -1, 0, 0, STREAMINFO_LENGTH];
  for (let i = 0; i < want.length; i++) {
    if (p + i >= end) return MORE;
    const b = data[p + i]!;
    if (i === 4 ? (b & 0x7f) !== 0 : b !== want[i]) return undefined;
  }
  if (end - p < STREAM_START) return MORE;
  const s = p + 8;
  const info: StreamInfo = {
    minBlock: data.readUInt16BE(s),
    maxBlock: data.readUInt16BE(s + 2),
    maxFrame: data.readUIntBE(s + 7, 3),
    rate: data.readUIntBE(s + 10, 3) >> 4,
    channels: ((data[s + 12]! >> 1) & 7) + 1,
    bits: (((data[s + 12]! & 1) << 4) | (data[s + 13]! >> 4)) + 1,
  };
  const minFrame = data.readUIntBE(s + 4, 3);
  const sane = info.maxBlock >= 16 && info.minBlock <= info.maxBlock && info.rate > 0 && info.bits >= 4 &&
    (info.maxFrame === 0 || minFrame <= info.maxFrame);
  return sane ? info : undefined;
}

export const BLOCK_STREAMINFO = 0;
export const BLOCK_PADDING = 1;
export const BLOCK_SEEKTABLE = 3;
/** 127 is forbidden as a block type: where a block header would have it, metadata has ended. */
export const BLOCK_INVALID = 127;

/**
 * "fLaC" and the kept metadata blocks as one stream header, the last-block
 * flag on the last of them only. STREAMINFO's total sample count and MD5 are
 * cleared (0 means unknown): a listener joining mid-stream decodes neither
 * the whole count nor audio that would match the signature, and a decoder
 * checking it would report an error.
 */
export function streamHeader(blocks: Buffer[]): Buffer {
  const header = Buffer.concat([MAGIC, ...blocks]);
  let at = MAGIC.length;
  for (let i = 0; i < blocks.length; i++) {
    header[at] = (header[at]! & 0x7f) | (i === blocks.length - 1 ? 0x80 : 0);
    if ((header[at]! & 0x7f) === BLOCK_STREAMINFO) {
      const s = at + 4;
      header[s + 13] = header[s + 13]! & 0xf0;
      header.fill(0, s + 14, s + STREAMINFO_LENGTH);
    }
    at += blocks[i]!.length;
  }
  return header;
}

/**
 * A STREAMINFO block for frames met without one (a source joined mid-stream):
 * what a frame header says, everything else unknown. Block sizes are bounded
 * by the frame's own for a fixed-size stream (as encoders write them), by the
 * legal range for a variable one.
 */
export function streamInfoFromFrame(h: FrameHeader): Buffer {
  const block = Buffer.alloc(4 + STREAMINFO_LENGTH);
  block.writeUIntBE(STREAMINFO_LENGTH, 1, 3);
  const s = 4;
  // Decoders refuse a maximum under 16 (a stream's short last block may be all they saw).
  const size = Math.max(16, h.blockSize);
  block.writeUInt16BE(h.blocking ? 16 : size, s);
  block.writeUInt16BE(h.blocking ? 65535 : size, s + 2);
  block.writeUIntBE((h.rate << 4) | ((h.channels - 1) << 1) | ((h.bits - 1) >> 4), s + 10, 3);
  block[s + 13] = ((h.bits - 1) & 15) << 4;
  return block;
}
