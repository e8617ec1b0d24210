/** Content types of MPEG audio as encoders announce them (`audio/mpeg` is the standard one). */
const MPEG_AUDIO = new Set(['audio/mpeg', 'audio/mp3', 'audio/mpeg3', 'audio/x-mpeg', 'audio/x-mp3', 'audio/mpg']);

/** `audio/mpeg; charset=x` → `audio/mpeg`; undefined when it is no `type/subtype`. */
export function mediaType(contentType: string): string | undefined {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/.test(type) ? type : undefined;
}

/**
 * The frame filter for a source's Content-Type: `auto`, which takes the type
 * as its first hint and checks it against the bytes (ffmpeg declares
 * `audio/mpeg` for anything unless told otherwise), so listeners join and skip
 * at sync points of whatever the source sends. Without `auto`, mp3 frames for
 * MPEG audio and anything else in chunks as received (`chunk`), or in
 * fixed-size pieces (`raw`).
 */
export function filterFor(type: string, available: readonly string[]): string {
  if (available.includes('auto')) return 'auto';
  if (MPEG_AUDIO.has(type) && available.includes('mp3')) return 'mp3';
  return available.includes('chunk') ? 'chunk' : 'raw';
}
