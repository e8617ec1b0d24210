import type { Stats } from '../../core/kernel/hooks.ts';
import type { Listener } from '../../core/engine/listener.ts';
import type { RecordedChannelStats } from '../record/index.ts';

export type ChannelStats = Stats['channels'][number];

/** Who is asking and how the server presents itself: the `icestats` head fields. */
export interface ServerIdentity {
  admin: string;
  location: string;
  /** host[:port] listeners reach us at; listen URLs are built on it. */
  host: string;
  scheme: 'http' | 'https';
  serverId: string;
  startedAt: Date;
}

/** One listener as `/status.json` shows it; addresses and user names stay out of a public document. */
export interface ListenerFigures {
  id: number;
  protocol: string;
  connected_seconds: number;
  bytes_sent: number;
  frames_sent: number;
  frames_skipped: number;
  lag_frames: number;
}

export function listenerFigures(l: Listener): ListenerFigures {
  const i = l.info();
  return {
    id: i.id,
    protocol: i.protocol,
    connected_seconds: i.connectedSeconds,
    bytes_sent: i.bytesSent,
    frames_sent: i.framesSent,
    frames_skipped: i.framesSkipped,
    lag_frames: i.lagFrames,
  };
}

/** The fields Icecast 2.4 puts in each `source` (the ones we have). */
export interface IcecastSource {
  audio_info?: string;
  bitrate: number | null;
  genre: string;
  listener_peak: number;
  listeners: number;
  listenurl: string;
  server_description: string;
  server_name: string;
  server_type: string;
  server_url?: string;
  stream_start?: string;
  stream_start_iso8601?: string;
  /** The codec(s) inside the container, as Icecast reports Ogg's (`Vorbis`, `Opus`). */
  subtype?: string;
  title: string;
}

/** `/status.json`'s source: Icecast's fields plus the engine's own figures. */
export interface DetailedSource extends IcecastSource {
  mount: string;
  source_up: boolean;
  reconnects: number;
  bytes_in: number;
  bytes_out: number;
  frames_in: number;
  invalid_bytes: number;
  frames_skipped: number;
  uptime_seconds: number;
  /** The frame filter configured, and the format and codec it found in the stream. */
  filter: string;
  format?: string;
  codec?: string;
  listener_list?: ListenerFigures[];
  /** While the channel is recorded (the record module). */
  recording?: RecordingStatus;
}

/** A recorded channel's recording, as `/status.json` shows it. */
export interface RecordingStatus {
  path: string;
  file: string | null;
  files: number;
  bytes: number;
  backlog_bytes: number;
  gaps: number;
  frames_skipped: number;
  errors: number;
  last_error: string | null;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** strftime's `%z` (`+0200`), which Icecast uses in both of its date formats. */
function offset(d: Date): string {
  const minutes = -d.getTimezoneOffset();
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
}

/** Icecast's `server_start` / `stream_start`: `Fri, 09 Apr 2021 21:49:50 +0200`, local time. */
export function icecastDate(d: Date): string {
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${DAYS[d.getDay()]}, ${pad(d.getDate())} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ${time} ${offset(d)}`;
}

/** Icecast's `*_iso8601`: `2021-04-09T21:49:50+0200` (no colon in the offset, as strftime writes it). */
export function icecastIsoDate(d: Date): string {
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return `${date}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${offset(d)}`;
}

/** ice-bitrate is free text from the source; audio_info carries `bitrate=128` when it is missing. */
function bitrateOf(info: ChannelStats['info']): number | null {
  const text = info.bitrate ?? /(?:^|;)\s*(?:ice-)?bitrate=(\d+)/.exec(info.audioInfo ?? '')?.[1];
  const n = Number.parseInt(text ?? '', 10);
  return Number.isFinite(n) && n >= 0 ? n : null;
}

/** A mount as a URL path: each segment percent-encoded, so odd mount names cannot break the URL. */
export function mountPath(mount: string): string {
  return mount.split('/').map(encodeURIComponent).join('/');
}

/**
 * Icecast's defaults for a source that sent no ice-name/description/genre, so
 * scripts written against Icecast see what they expect; title is an empty
 * string rather than absent (xiph/Icecast-Server#43 broke parsers that way).
 */
export function icecastSource(ch: ChannelStats, id: ServerIdentity): IcecastSource {
  const info = ch.info;
  const source: IcecastSource = {
    bitrate: bitrateOf(info),
    genre: info.genre || 'various',
    listener_peak: ch.listenerPeak,
    listeners: ch.listeners,
    listenurl: `${id.scheme}://${id.host}${mountPath(ch.mount)}`,
    server_description: info.description || 'Unspecified description',
    server_name: info.name || 'Unspecified name',
    server_type: ch.contentType,
    title: info.title ?? '',
  };
  if (info.audioInfo) source.audio_info = info.audioInfo;
  if (info.url) source.server_url = info.url;
  if (ch.format?.codec) source.subtype = ch.format.codec;
  if (ch.sourceStartedAt) {
    source.stream_start = icecastDate(ch.sourceStartedAt);
    source.stream_start_iso8601 = icecastIsoDate(ch.sourceStartedAt);
  }
  return source;
}

export function detailedSource(ch: ChannelStats, id: ServerIdentity, listeners: ListenerFigures[] | undefined): DetailedSource {
  const source: DetailedSource = {
    ...icecastSource(ch, id),
    mount: ch.mount,
    source_up: ch.sourceUp,
    reconnects: ch.reconnects,
    bytes_in: ch.bytesIn,
    bytes_out: ch.bytesOut,
    frames_in: ch.framesIn,
    invalid_bytes: ch.invalidBytes,
    frames_skipped: ch.framesSkipped,
    uptime_seconds: ch.uptimeSeconds,
    filter: ch.filter,
  };
  if (ch.format) {
    source.format = ch.format.name;
    if (ch.format.codec) source.codec = ch.format.codec;
  }
  if (listeners) source.listener_list = listeners;
  const rec = (ch as RecordedChannelStats).recording;
  if (rec) {
    source.recording = {
      path: rec.path, file: rec.file, files: rec.files, bytes: rec.bytes, backlog_bytes: rec.backlogBytes,
      gaps: rec.gaps, frames_skipped: rec.framesSkipped, errors: rec.errors, last_error: rec.lastError,
    };
  }
  return source;
}

function head(id: ServerIdentity) {
  return {
    admin: id.admin,
    host: hostName(id.host),
    location: id.location,
    server_id: id.serverId,
    server_start: icecastDate(id.startedAt),
    server_start_iso8601: icecastIsoDate(id.startedAt),
  };
}

/** `host` without its port, as Icecast reports its `<hostname>`. */
function hostName(host: string): string {
  return host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, '');
}

/**
 * Icecast 2.4's `/status-json.xsl`: `source` is omitted with no source, an
 * object with one and a list with several; each source ends with the
 * `"dummy": null` its XSLT emits, which typed clients were written against.
 */
export function icecastStatus(channels: readonly ChannelStats[], id: ServerIdentity) {
  const sources = channels.map((ch) => ({ ...icecastSource(ch, id), dummy: null }));
  const icestats: Record<string, unknown> = head(id);
  if (sources.length === 1) icestats.source = sources[0];
  else if (sources.length > 1) icestats.source = sources;
  return { icestats };
}

/** `/status.json`: the same head, `source` always a list, with the engine's figures. */
export function detailedStatus(
  channels: readonly ChannelStats[],
  id: ServerIdentity,
  listenersOf: (mount: string) => ListenerFigures[] | undefined,
) {
  return { icestats: { ...head(id), source: channels.map((ch) => detailedSource(ch, id, listenersOf(ch.mount))) } };
}
