/**
 * The two CRCs of a FLAC frame (RFC 9639, 9.1.8 and 9.3): CRC-8 (polynomial
 * 0x07) over the frame header and CRC-16 (polynomial 0x8005) over the whole
 * frame, both MSB first, starting from 0, without a final XOR. So the CRC-16
 * of a frame including its own footer is 0.
 */

const CRC8 = new Uint8Array(256);
const CRC16 = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let c8 = i;
  let c16 = i << 8;
  for (let bit = 0; bit < 8; bit++) {
    c8 = c8 & 0x80 ? ((c8 << 1) ^ 0x07) & 0xff : (c8 << 1) & 0xff;
    c16 = c16 & 0x8000 ? ((c16 << 1) ^ 0x8005) & 0xffff : (c16 << 1) & 0xffff;
  }
  CRC8[i] = c8;
  CRC16[i] = c16;
}

export function crc8(data: Buffer, from: number, to: number): number {
  let crc = 0;
  for (let i = from; i < to; i++) crc = CRC8[crc ^ data[i]!]!;
  return crc;
}

/** The CRC-16 state after `data[from, to)`, from state `crc`. */
export function crc16(crc: number, data: Buffer, from: number, to: number): number {
  for (let i = from; i < to; i++) crc = ((crc << 8) & 0xffff) ^ CRC16[(crc >> 8) ^ data[i]!]!;
  return crc;
}

/** a·b modulo the CRC-16 polynomial x^16 + x^15 + x^2 + 1, in GF(2)[x]. */
function mulmod(a: number, b: number): number {
  let r = 0;
  for (let i = 15; i >= 0; i--) {
    r <<= 1;
    if (r & 0x10000) r ^= 0x18005;
    if ((b >> i) & 1) r ^= a;
  }
  return r;
}

/** x^(8·2^k) modulo the polynomial: what passing 2^k bytes does to a state. */
const SHIFT = new Uint16Array(40);
SHIFT[0] = 0x100;
for (let k = 1; k < SHIFT.length; k++) SHIFT[k] = mulmod(SHIFT[k - 1]!, SHIFT[k - 1]!);

/**
 * The state `crc` becomes after `bytes` zero bytes, in O(log bytes). With it,
 * the CRC-16 of any stretch follows from the running state at both of its
 * ends: crc(a..b) = state(b) xor advance(state(a), b - a), so a frame
 * boundary can be tested without reading the frame again.
 */
export function crc16Advance(crc: number, bytes: number): number {
  for (let k = 0; bytes > 0; k++, bytes = Math.floor(bytes / 2)) {
    if (bytes % 2) crc = mulmod(crc, SHIFT[k]!);
  }
  return crc;
}
