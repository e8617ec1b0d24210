/**
 * ICY metadata blocks: one length byte N, then N×16 bytes holding
 * `StreamTitle='…';` padded with NULs (Icecast's format_mp3.c, SHOUTcast).
 */

/** The length byte counts 16-byte units and is one byte wide. */
export const MAX_BLOCK_TEXT_BYTES = 255 * 16;

/** "Nothing changed since your last block": a block of length 0. */
export const UNCHANGED_BLOCK: Buffer = Buffer.from([0]);

const PREFIX = "StreamTitle='";
const SUFFIX = "';";
const TITLE_BUDGET = MAX_BLOCK_TEXT_BYTES - Buffer.byteLength(PREFIX + SUFFIX);

// C0, DEL and C1 controls: players print them raw, and a NUL would end the text early.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * The title as it goes between the quotes: control characters removed, `'` and
 * `\` backslash-escaped (players split fields at `';`), cut on a character
 * boundary so the whole text fits the 255×16 bytes a block can hold.
 */
export function streamTitleText(title: string): string {
  const clean = title.replace(CONTROL, '');
  let out = '';
  let used = 0;
  for (const ch of clean) {
    const piece = ch === "'" || ch === '\\' ? `\\${ch}` : ch;
    const bytes = Buffer.byteLength(piece);
    if (used + bytes > TITLE_BUDGET) break;
    out += piece;
    used += bytes;
  }
  return out;
}

/** The block announcing `title` (UTF-8, as VLC, mpv and browsers read it). */
export function metadataBlock(title: string): Buffer {
  const text = Buffer.from(PREFIX + streamTitleText(title) + SUFFIX, 'utf8');
  const units = Math.ceil(text.length / 16);
  const block = Buffer.alloc(1 + units * 16);
  block[0] = units;
  text.copy(block, 1);
  return block;
}

/**
 * Remembers the block for the latest title, so the listeners of a channel share
 * one buffer per title change instead of building one each.
 */
export class MetadataBlocks {
  private title: string | undefined;
  private block: Buffer = UNCHANGED_BLOCK;

  for(title: string): Buffer {
    if (title !== this.title) {
      this.block = metadataBlock(title);
      this.title = title;
    }
    return this.block;
  }
}
