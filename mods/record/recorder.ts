import type { Socket } from 'node:net';
import type { AdmitRequest, Channel } from '../../core/engine/channel.ts';
import type { Listener } from '../../core/engine/listener.ts';
import type { Logger } from '../../core/kernel/log.ts';
import { openRecordingFile, type OpenTarget } from './recording-file.ts';
import { RecordingSink } from './recording-sink.ts';
import { nextRotation } from './rotation-clock.ts';

/** What to record of one channel, and when to start a new file. */
export interface RecordingPlan {
  /** strftime-style file name pattern. */
  path: string;
  /** Start a new file at each such boundary from local midnight, in ms (0 = never by time). */
  rotateEvery: number;
  /** Start a new file once the current one holds this many bytes (0 = never by size). */
  rotateBytes: number;
}

/** A recording's figures, for status and metrics. */
export interface RecordingFigures {
  path: string;
  /** The file being written, null while none is (no stream yet, or after an error). */
  file: string | null;
  files: number;
  /** Bytes written to files. */
  bytes: number;
  /** Bytes handed to the file but not yet written. */
  backlogBytes: number;
  /** Times the recording could not keep up and lost frames. */
  gaps: number;
  /** Frames lost in those gaps. */
  framesSkipped: number;
  /** Files that could not be opened or written. */
  errors: number;
  lastError: string | null;
}

/** The protocol name a recording listener has (in status, logs and authenticate requests). */
export const RECORD_PROTOCOL = 'record';

/** After a refusal or a file error, try again this much later. */
const RETRY_MS = 5000;
/**
 * How long stopping waits for the last file to be written and closed (well
 * within the kernel's bound on stopping); a target that has not taken its
 * backlog by then (a stalled fifo reader) loses it.
 */
const STOP_WAIT_MS = 2000;

interface Take {
  listener: Listener;
  sink: RecordingSink;
  /** The listener's framesSkipped already counted as gaps. */
  counted: number;
}

/**
 * Records one channel: a listener of the channel whose socket writes files.
 * Each file is one listener's take, from a sync point with the stream header
 * first (as any listener joining starts), so every file decodes on its own.
 * A rotation joins the next take before ending the current one; the next take
 * starts at the newest sync point, so the frames from there to the live edge
 * (one frame for MP3, AAC or FLAC; the last group of pictures for video) are
 * at the end of one file and the start of the next.
 */
export class Recorder {
  private take: Take | undefined;
  private rotating = false;
  private stopped = false;
  private clock: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private readonly figs: Omit<RecordingFigures, 'file' | 'backlogBytes'>;
  private fileName: string | null = null;

  constructor(
    readonly channel: Channel,
    readonly plan: RecordingPlan,
    private readonly ask: AdmitRequest,
    private readonly log: Logger,
    private readonly openTarget: OpenTarget = (when) => openRecordingFile(plan.path, when),
  ) {
    this.figs = { path: plan.path, files: 0, bytes: 0, gaps: 0, framesSkipped: 0, errors: 0, lastError: null };
  }

  start(): void {
    void this.next('start');
    this.scheduleClock();
  }

  figures(): RecordingFigures {
    return { ...this.figs, file: this.fileName, backlogBytes: this.take?.sink.writableLength ?? 0 };
  }

  /** Ends the recording; resolves once its last file is written and closed (or after a bound). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.clock);
    clearTimeout(this.retry);
    const take = this.take;
    if (!take) return;
    // Frames the engine skipped since the last write are a gap too.
    this.countGap(take);
    take.listener.end();
    if (take.sink.closed) return;
    await new Promise<void>((resolve) => {
      const bound = setTimeout(() => take.sink.destroy(), STOP_WAIT_MS);
      take.sink.once('close', () => {
        clearTimeout(bound);
        resolve();
      });
    });
  }

  /** Cuts at the next boundary after `after` (a timer may fire a little before the boundary it was set for). */
  private scheduleClock(after = Date.now()): void {
    const every = this.plan.rotateEvery;
    if (!every || this.stopped) return;
    const at = nextRotation(Math.max(after, Date.now()), every);
    this.clock = setTimeout(() => {
      // A take that has written nothing yet (no stream) is not cut: its file is named when bytes come.
      if (this.fileName) void this.next('time');
      this.scheduleClock(at);
    }, at - Date.now());
    this.clock.unref();
  }

  /** Joins the channel for the next take, then ends the current one. */
  private async next(why: 'start' | 'time' | 'size' | 'retry'): Promise<void> {
    if (this.rotating || this.stopped) return;
    this.rotating = true;
    try {
      const admission = await this.channel.admit(this.ask);
      if (this.stopped || this.channel.closed) return;
      if ('status' in admission) {
        this.failed(`the channel refused the recording: ${admission.reason}`);
        if (!this.take) this.retryLater();
        return;
      }
      const sink: RecordingSink = new RecordingSink(this.openTarget, this.plan.rotateBytes, {
        opened: (name) => {
          if (this.take?.sink !== sink) return;
          this.fileName = name;
          this.figs.files++;
          this.log.info({ mount: this.channel.mount, file: name, why }, 'recording to a new file');
        },
        wrote: (bytes) => { this.figs.bytes += bytes; },
        full: () => { if (this.take?.sink === sink) void this.next('size'); },
      });
      const listener = admission.join(sink as unknown as Socket, { remoteAddress: 'local', protocol: RECORD_PROTOCOL, noBurst: true, maxBytes: 0 });
      const take: Take = { listener, sink, counted: 0 };
      sink.beforeWrite = () => this.countGap(take);
      sink.on('error', (err) => this.failed(`${this.fileName ?? this.plan.path}: ${err.message}`));
      sink.once('close', () => this.ended(take));
      const old = this.take;
      this.take = take;
      if (old) {
        // Frames between where the old take stopped and where the new one starts reached neither file.
        const start = listener.cursor - listener.framesSent;
        if (listener.framesSent > 0 && old.listener.framesSent > 0 && start > old.listener.cursor) this.gap(start - old.listener.cursor);
        old.listener.end();
      }
    } finally {
      this.rotating = false;
    }
  }

  /** A take's listener left: cut by a rotation (nothing to do), or on its own (a file error): start again later. */
  private ended(take: Take): void {
    if (this.take !== take) return;
    this.take = undefined;
    this.fileName = null;
    if (!this.stopped && !this.channel.closed) this.retryLater();
  }

  private retryLater(): void {
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.next('retry'), RETRY_MS);
    this.retry.unref();
  }

  private countGap(take: Take): void {
    const skipped = take.listener.framesSkipped;
    if (skipped === take.counted) return;
    this.gap(skipped - take.counted);
    take.counted = skipped;
  }

  private gap(frames: number): void {
    this.figs.gaps++;
    this.figs.framesSkipped += frames;
    this.log.warn({ mount: this.channel.mount, file: this.fileName, framesSkipped: frames, gaps: this.figs.gaps },
      'recording could not keep up: frames skipped');
  }

  private failed(reason: string): void {
    this.figs.errors++;
    this.figs.lastError = reason;
    this.log.error({ mount: this.channel.mount, reason }, 'recording failed; trying again shortly');
  }
}
