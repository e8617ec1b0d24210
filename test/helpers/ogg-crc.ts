/** The Ogg page checksum from RFC 3533 alone, bit by bit: independent of the filter's table-driven one. */
export function oggCrcBitwise(page: Buffer): number {
  let r = 0;
  for (const byte of page) {
    r ^= byte << 24;
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
  }
  return r >>> 0;
}
