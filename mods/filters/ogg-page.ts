/**
 * Ogg pages (RFC 3533): capture pattern, checksum and the packets laced into
 * them. Pure functions over a buffer and an offset, so the framer can look at
 * pages inside a source chunk without copying them.
 *
 *  0  "OggS"           4  version (0)      5  header type (flags below)
 *  6  granule (int64 LE)                  14  serial (LE)
 * 18  sequence number (LE)                22  CRC-32 (LE)
 * 26  segment count n  27  n lacing values, then the body (their sum)
 */

/** 27 header bytes, 255 lacing values, 255 segments of 255 bytes. */
export const OGG_MAX_PAGE = 27 + 255 + 255 * 255;

export const CAPTURE = Buffer.from('OggS', 'latin1');

/** Header type bits. */
export const CONTINUED = 0x01;
export const BOS = 0x02;
export const EOS = 0x04;

/**
 * Ogg's CRC-32: polynomial 0x04c11db7, most significant bit first, initial
 * value 0, no final xor (not the zlib one). Four tables: four bytes per step.
 */
const T0 = new Int32Array(256);
const T1 = new Int32Array(256);
const T2 = new Int32Array(256);
const T3 = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let r = n << 24;
  for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
  T0[n] = r;
}
for (let n = 0; n < 256; n++) {
  T1[n] = (T0[n]! << 8) ^ T0[T0[n]! >>> 24]!;
  T2[n] = (T1[n]! << 8) ^ T0[T1[n]! >>> 24]!;
  T3[n] = (T2[n]! << 8) ^ T0[T2[n]! >>> 24]!;
}

/** Continues `crc` over data[start, end). */
function crcUpdate(crc: number, data: Uint8Array, start: number, end: number): number {
  let i = start;
  for (; end - i >= 4; i += 4) {
    crc ^= (data[i]! << 24) | (data[i + 1]! << 16) | (data[i + 2]! << 8) | data[i + 3]!;
    crc = T3[crc >>> 24]! ^ T2[(crc >>> 16) & 0xff]! ^ T1[(crc >>> 8) & 0xff]! ^ T0[crc & 0xff]!;
  }
  for (; i < end; i++) crc = (crc << 8) ^ T0[((crc >>> 24) ^ data[i]!) & 0xff]!;
  return crc;
}

/** The checksum of data[start, end), unsigned. */
export function oggCrc(data: Uint8Array, start = 0, end = data.length): number {
  return crcUpdate(0, data, start, end) >>> 0;
}

/** The checksum a page at `pos` of `len` bytes should carry: computed with its own CRC field as zeros. */
export function pageCrc(data: Uint8Array, pos: number, len: number): number {
  let crc = crcUpdate(0, data, pos, pos + 22);
  // Four zero bytes in place of the field.
  crc = T3[crc >>> 24]! ^ T2[(crc >>> 16) & 0xff]! ^ T1[(crc >>> 8) & 0xff]! ^ T0[crc & 0xff]!;
  return crcUpdate(crc, data, pos + 26, pos + len) >>> 0;
}

/** What `examinePage` found: not a page. */
export const NOT_A_PAGE = 0;

/**
 * Looks at the bytes from `pos` (which start with "OggS" or, at the end of
 * `data`, a prefix of it) up to `end`. Returns the page's length when a whole
 * page with a good checksum of at most `limit` bytes is there; minus the number
 * of bytes (counted from `pos`) needed to decide; NOT_A_PAGE otherwise.
 */
export function examinePage(data: Uint8Array, pos: number, end: number, limit: number): number {
  const avail = end - pos;
  for (let i = 0; i < 4 && i < avail; i++) if (data[pos + i] !== CAPTURE[i]) return NOT_A_PAGE;
  if (avail < 27) return avail >= 5 && data[pos + 4] !== 0 ? NOT_A_PAGE : -27;
  if (data[pos + 4] !== 0) return NOT_A_PAGE;
  const segments = data[pos + 26]!;
  const head = 27 + segments;
  if (head > limit) return NOT_A_PAGE;
  if (avail < head) return -head;
  let len = head;
  for (let i = pos + 27; i < pos + head; i++) len += data[i]!;
  if (len > limit) return NOT_A_PAGE;
  if (avail < len) return -len;
  return pageCrc(data, pos, len) === readCrc(data, pos) ? len : NOT_A_PAGE;
}

function readCrc(data: Uint8Array, pos: number): number {
  return (data[pos + 22]! | (data[pos + 23]! << 8) | (data[pos + 24]! << 16) | (data[pos + 25]! << 24)) >>> 0;
}

/** The fields of a page the framer acts on (`page` is exactly one checked page). */
export interface PageHeader {
  flags: number;
  /** Granule position; -1 when no packet ends on the page, or when it is negative or beyond 2^53 (unusable). */
  granule: number;
  serial: number;
  /** Offset of the segment table and of the body within the page. */
  segments: number;
  body: number;
}

export function pageHeader(page: Uint8Array): PageHeader {
  const lo = (page[6]! | (page[7]! << 8) | (page[8]! << 16) | (page[9]! << 24)) >>> 0;
  const hi = (page[10]! | (page[11]! << 8) | (page[12]! << 16) | (page[13]! << 24)) >>> 0;
  const serial = (page[14]! | (page[15]! << 8) | (page[16]! << 16) | (page[17]! << 24)) >>> 0;
  const n = page[26]!;
  return { flags: page[5]!, granule: hi < 0x200000 ? hi * 2 ** 32 + lo : -1, serial, segments: n, body: 27 + n };
}

/** One packet or piece of a packet laced into a page. */
export interface PacketPiece {
  /** Offset of its first byte within the page. */
  start: number;
  length: number;
  /** It is the packet's beginning (not the continuation of one from an earlier page). */
  begins: boolean;
  /** It is the packet's end (a later page does not continue it). */
  ends: boolean;
}

/** The packets (or pieces of packets) laced into `page`, in order. */
export function pagePackets(page: Uint8Array): PacketPiece[] {
  const { flags, segments, body } = pageHeader(page);
  const out: PacketPiece[] = [];
  let start = body;
  let length = 0;
  let begins = (flags & CONTINUED) === 0;
  for (let i = 0; i < segments; i++) {
    const lacing = page[27 + i]!;
    length += lacing;
    if (lacing < 255) {
      out.push({ start, length, begins, ends: true });
      start += length;
      length = 0;
      begins = true;
    }
  }
  if (segments > 0 && page[27 + segments - 1] === 255) out.push({ start, length, begins, ends: false });
  return out;
}

/** How many packets end on `page`. */
export function packetsEnding(page: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < page[26]!; i++) if (page[27 + i]! < 255) n++;
  return n;
}
