import type { Channel } from '../../core/engine/channel.ts';
import type { ChannelRegistry } from '../../core/engine/channels.ts';
import type { Listener } from '../../core/engine/listener.ts';

/** One listener as the admin lists show it. */
export interface ListenerRow {
  id: number;
  address: string;
  userAgent: string | undefined;
  protocol: string;
  user: string | undefined;
  connectedSeconds: number;
  bytesSent: number;
}

/** One mount as `listmounts` shows it. */
export interface MountRow {
  mount: string;
  listeners: number;
  contentType: string;
  sourceUp: boolean;
  /** Seconds since the current source connected (0 while none is). */
  sourceSeconds: number;
}

/** What an admin command comes to, before it is written as XML or JSON. */
export type Outcome =
  | { kind: 'clients'; mount: string; listeners: ListenerRow[] }
  | { kind: 'mounts'; mounts: MountRow[]; current?: string }
  | { kind: 'done'; ok: boolean; message: string; moved?: number }
  | { kind: 'refused'; status: 400; message: string };

export interface AdminContext {
  channels: ChannelRegistry;
  /** The User-Agent a listener connected with, when its protocol sent one. */
  userAgent(l: Listener): string | undefined;
}

const seconds = (since: number) => Math.max(0, Math.round((Date.now() - since) / 1000));
const plain = (address: string) => address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
/** Icecast's answers for a missing or unknown parameter, word for word. */
const MISSING = (name: string): Outcome => ({ kind: 'refused', status: 400, message: `Missing parameter ${name}` });
const NO_SOURCE: Outcome = { kind: 'refused', status: 400, message: 'Source does not exist' };

function listenerRow(ctx: AdminContext, l: Listener): ListenerRow {
  return {
    id: l.id,
    address: plain(l.remoteAddress),
    userAgent: ctx.userAgent(l),
    protocol: l.protocol,
    user: l.user,
    connectedSeconds: seconds(l.joinedAt),
    bytesSent: l.bytesSent,
  };
}

function mountRow(ch: Channel): MountRow {
  const opened = ch.source.openedAt;
  return {
    mount: ch.mount,
    listeners: ch.listeners.length,
    contentType: ch.contentType,
    sourceUp: ch.source.up,
    sourceSeconds: ch.source.up && opened ? seconds(opened.getTime()) : 0,
  };
}

/** The base media type (`audio/mpeg; charset=x` → `audio/mpeg`): what decides whether a player can follow. */
const mediaType = (contentType: string) => contentType.split(';')[0]!.trim().toLowerCase();

function channelOf(ctx: AdminContext, query: URLSearchParams): Channel | Outcome {
  const mount = query.get('mount');
  if (!mount) return MISSING('mount');
  return ctx.channels.get(mount) ?? NO_SOURCE;
}

const isOutcome = (x: Channel | Outcome): x is Outcome => 'kind' in x;

export function listClients(ctx: AdminContext, query: URLSearchParams): Outcome {
  const ch = channelOf(ctx, query);
  if (isOutcome(ch)) return ch;
  return { kind: 'clients', mount: ch.mount, listeners: ch.listeners.map((l) => listenerRow(ctx, l)) };
}

export function listMounts(ctx: AdminContext): Outcome {
  return { kind: 'mounts', mounts: ctx.channels.all().map(mountRow) };
}

/** Ends one listener's stream at once (the bytes already queued still go out). */
export function killClient(ctx: AdminContext, query: URLSearchParams): Outcome {
  const ch = channelOf(ctx, query);
  if (isOutcome(ch)) return ch;
  const idText = query.get('id');
  if (!idText) return MISSING('id');
  if (!/^\d{1,15}$/.test(idText)) return { kind: 'refused', status: 400, message: `id must be a listener number, got ${JSON.stringify(idText.slice(0, 40))}` };
  const id = Number(idText);
  const listener = ch.listeners.find((l) => l.id === id);
  if (!listener) return { kind: 'done', ok: false, message: `Client ${id} not found` };
  listener.end();
  return { kind: 'done', ok: true, message: `Client ${id} removed` };
}

/**
 * Ends the mount, as Icecast does without a fallback mount: its source (a
 * broadcaster's connection, a pipe, a command) is closed, the frames already
 * read reach the listeners, then they are disconnected. No grace period: the
 * operator asked for it to stop. A broadcaster may connect again afterwards.
 */
export function killSource(ctx: AdminContext, query: URLSearchParams): Outcome {
  const ch = channelOf(ctx, query);
  if (isOutcome(ch)) return ch;
  ctx.channels.remove(ch);
  return { kind: 'done', ok: true, message: 'Source Removed' };
}

/**
 * Moves every listener of `mount` to `destination` without disconnecting
 * them; each goes on at the destination's newest sync point. Without a
 * destination, the mounts they could go to (Icecast's move form).
 */
export function moveClients(ctx: AdminContext, query: URLSearchParams): Outcome {
  const ch = channelOf(ctx, query);
  if (isOutcome(ch)) return ch;
  const destination = query.get('destination');
  if (destination === null) {
    return { kind: 'mounts', current: ch.mount, mounts: ctx.channels.all().filter((c) => c !== ch).map(mountRow) };
  }
  const to = ctx.channels.get(destination);
  if (!to) return { kind: 'refused', status: 400, message: 'No such destination' };
  if (to === ch) return { kind: 'refused', status: 400, message: 'supplied mountpoints are identical' };
  // A broadcaster's mount in its grace period has nothing to play; a configured source opens for listeners.
  if (!to.source.up && !to.source.spec) return { kind: 'refused', status: 400, message: 'Destination not running' };
  const from = mediaType(ch.contentType);
  const into = mediaType(to.contentType);
  if (from !== into) {
    return { kind: 'refused', status: 400, message: `stream ${ch.mount} (${from}) and ${to.mount} (${into}) are of different types: players could not follow` };
  }
  let moved = 0;
  for (const l of [...ch.listeners]) if (ch.moveListener(l, to)) moved++;
  return { kind: 'done', ok: true, message: `Clients moved from ${ch.mount} to ${to.mount}`, moved };
}
