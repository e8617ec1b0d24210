/** What `/admin/metadata?mount=…&mode=updinfo&song=…` asks for. */
export type MetadataQuery = { ok: true; mount: string; title: string } | { ok: false; reason: string };

/** Titles longer than this are cut: an ICY block holds at most 4080 bytes anyway. */
const MAX_TITLE_CHARS = 4096;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const LATIN1 = /^(iso-?8859-1|latin-?1|l1|us-ascii|ascii|windows-1252|cp1252)$/i;

/** `%XX` escapes (and `+` as a space) to the bytes they stand for; anything else as its UTF-8 bytes. */
export function percentBytes(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '%' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c === '+') bytes.push(0x20);
    else bytes.push(...Buffer.from(c, 'utf8'));
  }
  return Buffer.from(bytes);
}

/**
 * Query values as text. Clients encode titles in UTF-8 or, as Icecast assumes
 * for MP3 without `charset=`, Latin-1: an explicit Latin-1 charset wins,
 * otherwise bytes that are valid UTF-8 are read as UTF-8 and others as Latin-1.
 */
function decodeValue(bytes: Buffer, charset: string | undefined): string {
  if (charset && LATIN1.test(charset)) return bytes.toString('latin1');
  try {
    return utf8.decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

function rawParams(target: string): Map<string, Buffer> {
  const params = new Map<string, Buffer>();
  const q = target.indexOf('?');
  if (q < 0) return params;
  for (const pair of target.slice(q + 1).split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const key = percentBytes(eq < 0 ? pair : pair.slice(0, eq)).toString('utf8').toLowerCase();
    if (!params.has(key)) params.set(key, percentBytes(eq < 0 ? '' : pair.slice(eq + 1)));
  }
  return params;
}

/**
 * Reads Icecast's metadata call from the raw request target: `mode=updinfo`,
 * `mount`, and `song` or `title` with `artist` (liquidsoap), in `charset`.
 */
export function parseMetadataQuery(target: string): MetadataQuery {
  const raw = rawParams(target);
  const charset = raw.get('charset')?.toString('latin1');
  const text = (key: string) => {
    const bytes = raw.get(key);
    return bytes === undefined ? undefined : decodeValue(bytes, charset);
  };
  const mode = text('mode');
  if (mode === undefined) return { ok: false, reason: 'missing mode (expected mode=updinfo)' };
  if (mode !== 'updinfo') return { ok: false, reason: `unsupported mode ${JSON.stringify(mode.slice(0, 40))} (expected updinfo)` };
  const mount = text('mount');
  if (!mount) return { ok: false, reason: 'missing mount' };
  if (!mount.startsWith('/')) return { ok: false, reason: `mount must start with /, got ${JSON.stringify(mount.slice(0, 80))}` };
  const song = text('song');
  const title = text('title');
  const artist = text('artist');
  let full: string;
  if (song !== undefined) full = song;
  else if (title !== undefined && artist) full = `${artist} - ${title}`;
  else if (title !== undefined || artist !== undefined) full = title ?? artist!;
  else return { ok: false, reason: 'missing song (or title and artist)' };
  return { ok: true, mount, title: full.trim().slice(0, MAX_TITLE_CHARS) };
}
