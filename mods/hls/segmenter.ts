import type { Channel } from '../../core/engine/channel.ts';
import { mpegTimestamp, packedAudioTag } from './id3.ts';
import { segmentKind, type SegmentKind } from './kind.ts';
import { strongEtag, type Segment } from './segment.ts';
import { addMetadataStream, firstPts, id3Pes, pesPackets, type MetadataHeader } from './ts-metadata.ts';

export interface SegmenterSettings {
  targetDurationMs: number;
  playlistSegments: number;
  maxSegmentBytes: number;
  pollMs: number;
}

/** Segments kept after they leave the playlist, for clients (and caches) holding the previous playlist. */
const KEPT_AFTER_WINDOW = 3;

/** Filters whose output may be one of the formats HLS carries (`auto` decides from the bytes). */
const FILTERS_THAT_MAY_SEGMENT = new Set(['mp3', 'adts', 'mpegts', 'auto']);

let epochs = 0;
/** A name part no earlier segmenter used, in this process or (by the clock) an earlier one. */
function newEpoch(): string {
  return `${Date.now().toString(36)}${(epochs++ % 1296).toString(36).padStart(2, '0')}`;
}

interface Pending {
  parts: Buffer[];
  bytes: number;
  durationMs: number;
  startMediaMs: number;
  header: Buffer | undefined;
  discontinuity: boolean;
}

/**
 * Cuts one channel's ring into HLS segments. The engine has no per-frame hook,
 * so it reads the ring from a timer; frames are copied as they are read (ring
 * memory is reused once frames leave it). A segment starts at a sync point and
 * is cut at the first sync point once it holds the target duration. Memory is
 * bounded: the window plus a few segments, and one pending segment of at most
 * `maxSegmentBytes`.
 */
export class Segmenter {
  readonly epoch = newEpoch();
  readonly segments: Segment[] = [];
  /** Sequence number the next cut segment gets. */
  private nextSequence = 0;
  /** Discontinuities that have left the window (EXT-X-DISCONTINUITY-SEQUENCE). */
  discontinuitySequence = 0;
  /** EXT-X-TARGETDURATION must never shrink while the playlist lives. */
  targetSeconds: number;
  kind: SegmentKind | undefined;
  /** Next ring sequence number to read; -1 until a starting sync point is held. */
  private cursor = -1;
  /** Where reading starts again when `cursor` is -1: never before frames already segmented. */
  private resumeFrom = 0;
  private mediaMs = 0;
  /** Wall-clock time of media time 0. */
  private anchorMs = 0;
  private pending: Pending | undefined;
  private breakBefore = false;
  /** Ring sequence numbers at which a new source run began. */
  private readonly runStarts: number[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly waiters = new Set<() => void>();
  /** Rewritten headers by the source's header they came from; the rewrite does not depend on the title. */
  private readonly metadataHeaders = new WeakMap<Buffer, MetadataHeader | null>();
  /** Continuity counter of the metadata PID: it runs on across segments, as a demuxer reading them in turn expects. */
  private metadataCc = 0;
  lastRequestAt = Date.now();
  segmentsCut = 0;
  framesMissed = 0;

  constructor(readonly channel: Channel, private readonly s: SegmenterSettings) {
    this.targetSeconds = Math.max(1, Math.ceil(s.targetDurationMs / 1000));
    this.timer = setInterval(() => this.poll(), s.pollMs);
    this.timer.unref();
    this.poll();
  }

  /** The name of what the channel carries when HLS cannot: its format, or its filter while the format is not known yet. */
  get unsupported(): string | undefined {
    const format = this.channel.source.format;
    if (format) return segmentKind(format) ? undefined : format.name;
    const filter = this.channel.settings.filter;
    return FILTERS_THAT_MAY_SEGMENT.has(filter) ? undefined : `filtered by ${filter}`;
  }

  /** The segments a playlist lists now (the newest `playlistSegments`). */
  window(): Segment[] {
    return this.segments.slice(-this.s.playlistSegments);
  }

  find(sequence: number): Segment | undefined {
    return this.segments.find((seg) => seg.sequence === sequence);
  }

  /** A new source run starts at the ring's head: its first frame begins a segment after a discontinuity. */
  sourceRunStarted(): void {
    this.runStarts.push(this.channel.ring.head);
  }

  /** The source run ended: what is pending is published now, not held until a next run's first sync point. */
  sourceRunEnded(): void {
    this.poll();
    this.cut();
  }

  /** Resolves once a segment exists or after `ms`. */
  whenSegment(ms: number): Promise<void> {
    if (this.segments.length) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.waiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  stop(): void {
    clearInterval(this.timer);
    for (const w of [...this.waiters]) w();
    this.segments.length = 0;
    this.pending = undefined;
  }

  /** Reads every frame pushed since the last poll. */
  poll(): void {
    const ring = this.channel.ring;
    const kind = segmentKind(this.channel.source.format);
    if (!kind) return;
    if (this.kind && kind !== this.kind) this.restart(this.cursor === -1 ? this.resumeFrom : this.cursor);
    this.kind = kind;
    if (this.cursor !== -1 && this.cursor < ring.oldest) {
      // The ring lapped us (a stalled event loop or a tiny ring): what was pending has a hole in it.
      this.framesMissed += ring.oldest - this.cursor;
      this.restart(ring.oldest);
    }
    if (this.cursor === -1) {
      const start = ring.nextSync(Math.max(ring.oldest, this.resumeFrom));
      if (start < 0) return;
      this.cursor = start;
      let backlog = 0;
      for (let q = start; q < ring.head; q++) backlog += ring.durationOf(q);
      this.anchorMs = Date.now() - backlog - this.mediaMs;
    }
    for (; this.cursor < ring.head; this.cursor++) {
      const seq = this.cursor;
      const frame = ring.get(seq)!;
      const duration = ring.durationOf(seq);
      const sync = ring.isSync(seq);
      const header = ring.headerAt(seq);
      if (this.runStarts.length && seq >= this.runStarts[0]!) {
        while (this.runStarts.length && seq >= this.runStarts[0]!) this.runStarts.shift();
        this.cut();
        this.breakBefore = true;
        // A new run's media time starts now, not where the old run's frames ended.
        this.anchorMs = Date.now() - this.mediaMs;
      }
      const p = this.pending;
      if (p && sync && (p.durationMs >= this.s.targetDurationMs || (!kind.packed && header !== p.header))) this.cut();
      if (!this.pending) {
        if (!sync) {
          this.mediaMs += duration;
          continue;
        }
        this.pending = { parts: [], bytes: 0, durationMs: 0, startMediaMs: this.mediaMs, header, discontinuity: this.breakBefore };
        this.breakBefore = false;
      }
      const q = this.pending;
      if (q.bytes + frame.length > this.s.maxSegmentBytes) {
        // No sync point in reach: drop it rather than hold more, and start clean at the next one.
        this.pending = undefined;
        this.breakBefore = true;
        this.mediaMs += duration;
        continue;
      }
      q.parts.push(Buffer.from(frame));
      q.bytes += frame.length;
      q.durationMs += duration;
      this.mediaMs += duration;
    }
  }

  /** Drops what is pending and resumes at the first sync point from `seq` on, after a discontinuity. */
  private restart(seq: number): void {
    this.pending = undefined;
    this.breakBefore = true;
    this.cursor = -1;
    this.resumeFrom = seq;
  }

  /** A TS segment's stream header and, when the channel has a title, the title as timed ID3 metadata after it. */
  private tsLead(p: Pending): Buffer[] {
    const title = this.channel.info.title;
    if (!p.header) return [];
    if (!title) return [p.header];
    let meta = this.metadataHeaders.get(p.header);
    if (meta === undefined) {
      meta = addMetadataStream(p.header) ?? null;
      this.metadataHeaders.set(p.header, meta);
    }
    const pts = meta ? firstPts(p.parts, meta.mediaPids) : undefined;
    // Without a PTS to time it by, the tag would float: the segment stays as the source made it.
    if (!meta || pts === undefined) return [p.header];
    const { packets, nextCc } = pesPackets(id3Pes(title, pts), meta.pid, this.metadataCc);
    this.metadataCc = nextCc;
    return [meta.header, packets];
  }

  private cut(): void {
    const p = this.pending;
    const kind = this.kind;
    this.pending = undefined;
    if (!p || !kind || p.parts.length === 0) return;
    const lead = kind.packed ? [packedAudioTag(mpegTimestamp(p.startMediaMs), this.channel.info.title)] : this.tsLead(p);
    const body = Buffer.concat([...lead, ...p.parts]);
    const segment: Segment = {
      sequence: this.nextSequence++,
      kind,
      durationMs: p.durationMs,
      startedAt: new Date(this.anchorMs + p.startMediaMs),
      discontinuity: p.discontinuity && this.segmentsCut > 0,
      body,
      etag: strongEtag(body),
    };
    this.segmentsCut++;
    this.targetSeconds = Math.max(this.targetSeconds, Math.round(p.durationMs / 1000));
    this.segments.push(segment);
    while (this.segments.length > this.s.playlistSegments + KEPT_AFTER_WINDOW) this.segments.shift();
    // The window's first segment is what leaves next; count discontinuities as they scroll out of it.
    const windowStart = this.segments.length - this.s.playlistSegments;
    if (windowStart > 0 && this.segments[windowStart - 1]!.discontinuity) this.discontinuitySequence++;
    for (const w of [...this.waiters]) w();
  }
}
