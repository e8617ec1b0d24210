/** More mounts than this in one listing is no server we mirror: the rest is ignored. */
export const MAX_MOUNTS = 1000;
const MOUNT = /^\/[^?#\s]{0,511}$/;

function mountOf(entry: unknown): string | undefined {
  if (!entry || typeof entry !== 'object') return undefined;
  const { mount, listenurl } = entry as { mount?: unknown; listenurl?: unknown };
  // Our /status.json names the mount; Icecast's /status-json.xsl has only the listen URL.
  if (typeof mount === 'string' && MOUNT.test(mount)) return mount;
  if (typeof listenurl !== 'string') return undefined;
  try {
    const path = decodeURIComponent(new URL(listenurl).pathname);
    return MOUNT.test(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The mounts an origin's status document lists: `icestats.source` as our
 * `/status.json` gives it (always a list) or as Icecast 2.4's
 * `/status-json.xsl` does (an object for one source, absent for none).
 * Undefined when the document has no `icestats` at all.
 */
export function listedMounts(doc: unknown): string[] | undefined {
  const icestats = (doc as { icestats?: unknown } | null)?.icestats;
  if (!icestats || typeof icestats !== 'object') return undefined;
  const source = (icestats as { source?: unknown }).source;
  const entries = Array.isArray(source) ? source : source ? [source] : [];
  const out = new Set<string>();
  for (const entry of entries.slice(0, MAX_MOUNTS)) {
    const mount = mountOf(entry);
    if (mount) out.add(mount);
  }
  return [...out];
}

/** A mount as a path on the origin: each segment percent-encoded. */
export function mountUrl(origin: URL, mount: string): URL {
  const url = new URL(origin.href);
  url.pathname = mount.split('/').map(encodeURIComponent).join('/');
  url.search = '';
  url.hash = '';
  return url;
}
