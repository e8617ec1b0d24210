/**
 * A frame filter cuts a source's bytes into frames: the units listeners join at
 * and skip by. Filters are registered by name on the `frameFilter` HookMap.
 *
 * Two ideas let a listener start anywhere and still decode:
 * - a *sync point* is a frame a decoder can start at (a key frame, a page that
 *   starts a packet, any mp3 frame). New listeners, bursts and the skip of a
 *   lapped listener land only on sync points.
 * - the *stream header* is what a decoder needs before any frame (SPS/PPS,
 *   PAT/PMT, Ogg header pages, EBML + Tracks, `fLaC` + metadata), learned from
 *   the data. The engine sends a listener the header in force at the frame it
 *   starts at, and again after a skip when it has changed.
 */

/**
 * Called once per complete frame, in source order. `durationMs` is 0 when the
 * filter cannot tell. `sync` is false for a frame a decoder cannot start at
 * (left out, the frame is a sync point: every frame of raw and mp3 is one).
 */
export type FrameEmit = (frame: Buffer, durationMs: number, sync?: boolean) => void;

/** What a filter has recognised in the stream, for status pages and metrics. */
export interface StreamFormat {
  /** The container or elementary format: `mp3`, `h264`, `mpegts`, `ogg`, `webm`, `adts`, `flac`, … */
  name: string;
  /** The codec(s) inside, where the filter knows them: `opus`, `vorbis`, `h264+aac`, … */
  codec?: string;
  /**
   * A description of the codec parameters that must match for one stream to
   * follow another seamlessly (sample rate, channels, …): streams with the same
   * `name` and `params` can be switched between at a sync point.
   */
  params?: string;
}

export interface Framer {
  /**
   * Feeds source bytes; emits every frame they complete. Frames may be views of
   * `chunk`. The chunk's memory is reused once its frames have left the ring
   * (`core/engine/slab.ts`), so a filter may keep a view of the chunk it was last given
   * until its next `push` or `reset`, and must copy anything it keeps longer
   * (the stream header above all).
   */
  push(chunk: Buffer, emit: FrameEmit): void;
  /** Bytes discarded so far because they did not belong to a frame. */
  readonly invalidBytes: number;
  /** Forgets partial input, as when the source is reopened. */
  reset(): void;
  /**
   * The source has ended: emits what is complete without a next unit to
   * mark its end (the last access unit of an Annex B stream, the last FLAC
   * frame). Filters that emit each unit as soon as it is whole need none.
   */
  flush?(emit: FrameEmit): void;
  /**
   * True while the filter holds bytes back to learn what they are (`auto`):
   * the engine then calls `settle` when they have waited SETTLE_MS, so a slow
   * or tiny stream is never held back for long.
   */
  readonly holding?: boolean;
  /** Decide with the bytes held and emit what they make. */
  settle?(emit: FrameEmit): void;
  /**
   * The stream header learned from the data, as it stands when a frame is
   * emitted (the engine reads it at each emit, so set it before emitting the
   * first frame that needs it). A new Buffer whenever it changes, never mutated
   * in place; undefined while none is known or the format has none.
   */
  readonly header?: Buffer;
  /** What the filter has recognised so far; undefined until it knows. */
  readonly format?: StreamFormat;
  /** The Content-Type listeners get when the operator set none (`video/h264`, `audio/ogg`, …). */
  readonly contentType?: string;
  /**
   * For a listener moved into this stream from another of the same format: a
   * rewrite of what it is sent from here on so that this stream's timeline goes
   * on from `seen`, the last frame it had there (as it had it). `start` is the
   * frame it starts at, `before` the one before it when still known, `startMs`
   * the duration of `start`. Undefined when the format needs none or this
   * stream already goes on from there (most formats: a decoder takes a
   * restarting timeline as the new stream it is).
   */
  continueFrom?(seen: Buffer, start: Buffer, before: Buffer | undefined, startMs: number): FrameRewrite | undefined;
}

/**
 * Rewrites whole frames (or a stream header) for one listener; the input is
 * shared with other listeners and must not be changed: a rewrite that changes
 * bytes returns a copy.
 */
export type FrameRewrite = (frames: Buffer) => Buffer;

export interface FramerOptions {
  /** The raw filter's frame size; for other filters the largest frame accepted (see `frameLimit`). */
  frameBytes: number;
  /** The source's own Content-Type, when it declared one (an Icecast source): a hint for `auto`. */
  contentType?: string;
}

/** How long a filter may hold bytes back to learn their format (`Framer.holding`). */
export const SETTLE_MS = 300;

/** `-frame-bytes` when the operator leaves it: the raw filter's frame size, as in streamserve. */
export const DEFAULT_FRAME_BYTES = 64;

/**
 * The largest unit a media filter accepts: `-frame-bytes` when the operator
 * set it, else the filter's own bound (64 bytes, the raw default, would refuse
 * every video access unit).
 */
export function frameLimit(options: FramerOptions, filterDefault: number): number {
  return options.frameBytes === DEFAULT_FRAME_BYTES ? filterDefault : options.frameBytes;
}
