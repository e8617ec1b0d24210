import { UNCHANGED_BLOCK, type MetadataBlocks } from './metadata-block.ts';

/**
 * A listener's transform: passes audio through and inserts a metadata block
 * after every `metaint` bytes of it, wherever the payloads happen to split.
 *
 * Payloads are shared with other listeners and are never written to; a payload
 * that holds no block boundary is returned as it is, so most writes cost nothing.
 * `currentTitle` is read only at block boundaries; a block repeats the title
 * only when it changed since this listener's previous block.
 *
 * `alreadySent` counts audio bytes the listener got outside the transform (a
 * stream header written before it), which the first interval includes.
 */
export function createIcyInserter(
  metaint: number,
  currentTitle: () => string,
  blocks: MetadataBlocks,
  alreadySent = 0,
): (payload: Buffer) => Buffer {
  if (!Number.isInteger(metaint) || metaint < 1) throw new RangeError(`ICY metaint must be a positive integer, got ${metaint}`);
  if (alreadySent >= metaint) throw new RangeError(`ICY: ${alreadySent} bytes already sent do not fit in an interval of ${metaint}`);
  let untilBlock = metaint - alreadySent;
  // A player shows no title until it receives one, so an unset title needs no block.
  let sentTitle = '';
  return (payload) => {
    if (payload.length < untilBlock) {
      untilBlock -= payload.length;
      return payload;
    }
    const parts: Buffer[] = [];
    let pos = 0;
    while (payload.length - pos >= untilBlock) {
      parts.push(payload.subarray(pos, pos + untilBlock));
      pos += untilBlock;
      const title = currentTitle();
      if (title === sentTitle) parts.push(UNCHANGED_BLOCK);
      else {
        parts.push(blocks.for(title));
        sentTitle = title;
      }
      untilBlock = metaint;
    }
    if (pos < payload.length) {
      parts.push(payload.subarray(pos));
      untilBlock -= payload.length - pos;
    }
    return Buffer.concat(parts);
  };
}
