import type { ChannelInfo } from '../../core/engine/channel.ts';

/** More mounts than this in one listing is no server we mirror: the rest is ignored. */
export const MAX_MOUNTS = 1000;
// Icecast allows spaces in mounts (requested percent-encoded); control characters and a query are no part of one.
const MOUNT = /^\/[^?#\u0000-\u001f\u007f]{0,511}$/;

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

/** What a listing says of a channel: on-demand channels answer their first listener before they connect. */
export interface ListedChannel {
  mount: string;
  info: Partial<ChannelInfo>;
  contentType: string | undefined;
}

/** Placeholders status pages show for unset fields (ours and Icecast's): not names. */
const PLACEHOLDERS = new Set(['Unspecified name', 'Unspecified description', 'various', '']);
const TYPE = /^[A-Za-z0-9.+-]{1,64}\/[A-Za-z0-9.+-]{1,64}$/;

function text(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string') return undefined;
  const v = value.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().slice(0, 256);
  return PLACEHOLDERS.has(v) ? undefined : v;
}

function channelOf(entry: unknown): ListedChannel | undefined {
  const mount = mountOf(entry);
  if (!mount) return undefined;
  const e = entry as Record<string, unknown>;
  const info: Partial<ChannelInfo> = {};
  const fields: [keyof ChannelInfo, string][] = [['name', 'server_name'], ['description', 'server_description'], ['genre', 'genre'], ['url', 'server_url'], ['bitrate', 'bitrate'], ['audioInfo', 'audio_info']];
  for (const [field, key] of fields) {
    const v = text(e[key]);
    if (v !== undefined) info[field] = v;
  }
  const type = text(e.server_type);
  return { mount, info, contentType: type && TYPE.test(type) && type !== 'application/octet-stream' ? type : undefined };
}

/**
 * The channels an origin's status document lists: `icestats.source` as our
 * `/status.json` gives it (always a list) or as Icecast 2.4's
 * `/status-json.xsl` does (an object for one source, absent for none).
 * Undefined when the document has no `icestats` at all.
 */
export function listedChannels(doc: unknown): ListedChannel[] | undefined {
  const icestats = (doc as { icestats?: unknown } | null)?.icestats;
  if (!icestats || typeof icestats !== 'object') return undefined;
  const source = (icestats as { source?: unknown }).source;
  const entries = Array.isArray(source) ? source : source ? [source] : [];
  const out = new Map<string, ListedChannel>();
  for (const entry of entries.slice(0, MAX_MOUNTS)) {
    const channel = channelOf(entry);
    if (channel && !out.has(channel.mount)) out.set(channel.mount, channel);
  }
  return [...out.values()];
}

/** A mount as a path on the origin: each segment percent-encoded. */
export function mountUrl(origin: URL, mount: string): URL {
  const url = new URL(origin.href);
  url.pathname = mount.split('/').map(encodeURIComponent).join('/');
  url.search = '';
  url.hash = '';
  return url;
}
