/** What an HLS request path names: a mount's playlist or one of its segments. */
export type HlsPath =
  | { kind: 'playlist'; mount: string }
  | { kind: 'segment'; mount: string; epoch: string; sequence: number; extension: string };

const PLAYLIST = '/index.m3u8';
const SEGMENT = /^(.*)\/seg-([0-9a-z]{1,20})-(\d{1,15})\.(aac|mp3|ts)$/;

/** `M/index.m3u8` and `M/seg-EPOCH-N.EXT` (the mount `/` has them at the root); anything else is not HLS. */
export function parseHlsPath(path: string): HlsPath | undefined {
  if (path.endsWith(PLAYLIST)) return { kind: 'playlist', mount: path.slice(0, -PLAYLIST.length) || '/' };
  const m = SEGMENT.exec(path);
  if (!m) return undefined;
  return { kind: 'segment', mount: m[1] || '/', epoch: m[2]!, sequence: Number(m[3]), extension: m[4]! };
}
