/**
 * Reading EBML (RFC 8794), the binary layout of Matroska and WebM: element IDs
 * and data sizes are variable-length integers (vints) whose first byte's
 * leading zeros give their length.
 */

/** `readHeader` outcomes. */
export const NEED_MORE = 0;
export const BAD = -1;
export const OK = 1;

/** The data size of an element whose size field is all ones: it runs until something that cannot be its child. */
export const UNKNOWN_SIZE = -1;

/** An element's ID, data size (or UNKNOWN_SIZE) and the length of ID plus size field. */
export interface ElementHeader {
  id: number;
  size: number;
  length: number;
}

/** The length of the vint starting with byte `first`: 1 to 8, or 9 for 0x00, which starts no vint. */
export function vintLength(first: number): number {
  return Math.clz32(first) - 23;
}

/**
 * Reads the element header at `p` into `out`. NEED_MORE when `data` ends
 * inside it; BAD when the bytes cannot be one (an ID longer than 4 bytes or
 * with reserved all-zero / all-one bits, a size longer than 8 bytes).
 */
export function readHeader(data: Buffer, p: number, out: ElementHeader): number {
  const end = data.length;
  if (p >= end) return NEED_MORE;
  const idLen = vintLength(data[p]!);
  if (idLen > 4) return BAD;
  if (end - p < idLen + 1) return NEED_MORE;
  let id = 0;
  for (let i = 0; i < idLen; i++) id = id * 256 + data[p + i]!;
  const idBits = 2 ** (7 * idLen) - 1;
  const idValue = id % (idBits + 1);
  if (idValue === 0 || idValue === idBits) return BAD;
  const s = p + idLen;
  const sizeLen = vintLength(data[s]!);
  if (sizeLen > 8) return BAD;
  if (end - s < sizeLen) return NEED_MORE;
  const firstBits = 0xff >> sizeLen;
  let size = data[s]! & firstBits;
  let allOnes = size === firstBits;
  for (let i = 1; i < sizeLen; i++) {
    const b = data[s + i]!;
    size = size * 256 + b;
    allOnes &&= b === 0xff;
  }
  out.id = id;
  out.size = allOnes ? UNKNOWN_SIZE : size;
  out.length = idLen + sizeLen;
  return OK;
}

/** An unsigned integer element's value (0 for an empty one, as EBML says); NaN when longer than 8 bytes. */
export function readUint(data: Buffer, start: number, end: number): number {
  if (end - start > 8) return NaN;
  let v = 0;
  for (let i = start; i < end; i++) v = v * 256 + data[i]!;
  return v;
}

/** A float element's value: 0, 4 or 8 bytes; NaN otherwise. */
export function readFloat(data: Buffer, start: number, end: number): number {
  const n = end - start;
  if (n === 0) return 0;
  if (n === 4) return data.readFloatBE(start);
  if (n === 8) return data.readDoubleBE(start);
  return NaN;
}

/** A string element's value, without the NUL padding EBML allows. */
export function readString(data: Buffer, start: number, end: number): string {
  return data.toString('latin1', start, end).replace(/\0+$/, '');
}

/**
 * Calls `visit` for each child of the element whose data spans [start, end)
 * of `data`, which must hold all of it. Stops at the first child that is
 * malformed, of unknown size or overruns its parent: what follows it cannot
 * be trusted.
 */
export function forEachChild(data: Buffer, start: number, end: number, visit: (id: number, start: number, end: number) => void): void {
  const h: ElementHeader = { id: 0, size: 0, length: 0 };
  const view = data.subarray(0, end);
  for (let p = start; p < end;) {
    if (readHeader(view, p, h) !== OK || h.size === UNKNOWN_SIZE) return;
    const s = p + h.length;
    if (h.size > end - s) return;
    visit(h.id, s, s + h.size);
    p = s + h.size;
  }
}

/** The span of an element's data, for a buffer holding exactly that element; undefined when it does not. */
export function elementData(el: Buffer): { id: number; start: number; end: number } | undefined {
  const h: ElementHeader = { id: 0, size: 0, length: 0 };
  if (readHeader(el, 0, h) !== OK || h.size === UNKNOWN_SIZE || h.length + h.size !== el.length) return undefined;
  return { id: h.id, start: h.length, end: el.length };
}
