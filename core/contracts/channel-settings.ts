/** How a channel reads, frames, buffers and serves its stream. Durations are in milliseconds. */
export interface ChannelSettings {
  /** Frame filter name (`raw`, `mp3`, …). */
  filter: string;
  /** Raw frame size; for other filters the largest frame accepted. */
  frameBytes: number;
  /** Header read from each source when opened and replayed to every listener first. */
  headerBytes: number;
  /** Frames kept in the ring. */
  sourceBuffer: number;
  /** Bytes per second read from the source at most (0 = unlimited). */
  sourceBandwidth: number;
  /** Disconnect a listener after this many bytes, rounded up to a frame (0 = no limit). */
  clientMaxBytes: number;
  /** Close the source when the last listener leaves; open it again for the next. */
  closeIdle: boolean;
  /** Reopen the source after EOF or an error, keeping listeners connected. */
  reopen: boolean;
  contentType: string;
  /** No source bytes for this long: close and reopen the source (0 = never). */
  maxQuietInterval: number;
  /** Pace frames by their media duration. */
  realtime: boolean;
  /** Burst for a new listener in media time (filters that know durations). */
  burst: number;
  /** Burst for a new listener in bytes (filters that do not). */
  burstBytes: number;
  /** A pushed source (broadcaster) that drops: keep its listeners this long. */
  grace: number;
}

/** Content-Type when the operator sets none: a media filter or the source may then say better. */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** JSON Schema properties of the channel settings, shared by every module that defines channels. */
export const channelSettingsSchema = {
  filter: { type: 'string', default: 'raw', description: 'frame filter: raw, chunk, mp3, adts, flac, ogg, webm, mpegts, h264, hevc or auto' },
  frameBytes: { type: 'integer', minimum: 1, default: 64, description: 'raw frame size, or the largest frame for other filters' },
  headerBytes: { type: 'integer', minimum: 0, default: 0, description: 'header bytes read from each source and sent to every listener first' },
  sourceBuffer: { type: 'integer', minimum: 3, default: 64, description: 'frames kept per source (must be > 2)' },
  sourceBandwidth: { type: 'integer', minimum: 0, default: 0, description: 'read at most this many bytes/s from the source (0 = unlimited)' },
  clientMaxBytes: { type: 'integer', minimum: 0, default: 0, description: 'disconnect a listener after this many bytes, at a frame boundary (0 = no limit)' },
  closeIdle: { type: 'boolean', default: false, description: 'close the source when the last listener leaves' },
  reopen: { type: 'boolean', default: true, description: 'reopen the source on EOF or error, keeping listeners' },
  contentType: { type: 'string', minLength: 1, default: DEFAULT_CONTENT_TYPE, description: 'Content-Type sent to HTTP listeners (unset: the one the frame filter or the source gives)' },
  maxQuietInterval: { type: ['string', 'number'], 'x-duration': true, default: '0s', description: 'reopen the source after this long without bytes (0 = never)' },
  realtime: { type: 'boolean', default: false, description: 'pace frames by their media duration (serve an mp3 file as a live stream)' },
  burst: { type: ['string', 'number'], 'x-duration': true, default: '2s', description: 'media a new listener gets at once, for filters that know durations (0 = live edge)' },
  burstBytes: { type: 'integer', minimum: 0, default: 65536, description: 'bytes a new listener gets at once, for filters that do not know durations (0 = live edge)' },
  grace: { type: ['string', 'number'], 'x-duration': true, default: '30s', description: 'keep listeners this long after a broadcaster drops' },
} as const;

/** Defaults of every channel setting, in milliseconds where they are durations. */
export const channelDefaults: ChannelSettings = {
  filter: 'raw', frameBytes: 64, headerBytes: 0, sourceBuffer: 64, sourceBandwidth: 0, clientMaxBytes: 0,
  closeIdle: false, reopen: true, contentType: DEFAULT_CONTENT_TYPE, maxQuietInterval: 0, realtime: false,
  burst: 2000, burstBytes: 65536, grace: 30_000,
};

/** The channel settings found in a settings section (which may hold other keys too). */
export function pickChannelSettings(section: Partial<ChannelSettings>): ChannelSettings {
  const out = { ...channelDefaults };
  for (const key of Object.keys(channelDefaults) as (keyof ChannelSettings)[]) {
    if (section[key] !== undefined) (out as Record<string, unknown>)[key] = section[key];
  }
  return out;
}
