import type { Channel } from './channel.ts';
import { SETTLE_MS, type FrameEmit, type Framer, type FrameRewrite, type StreamFormat } from '../contracts/frame.ts';
import { Pacer } from './pacer.ts';
import { hold, release, SlabWriter, slabOf, slabPool } from './slab.ts';
import type { OpenedSource, SourceSpec } from '../contracts/source.ts';

const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 10_000;
/** A source that delivered for at least this long is reopened at once; a shorter run backs off. */
const HEALTHY_RUN_MS = 1000;
/** Slab size for bytes copied in from sockets and pipes. */
const COPY_SLAB_BYTES = 128 * 1024;

/**
 * Keeps a channel fed: opens its source through the `sourceOpen` hook (or takes
 * a pushed one), reads the header, paces and frames the bytes, reopens with
 * backoff, closes on idle or quiet. Listeners stay connected throughout.
 */
export class SourceRunner {
  up = false;
  openedAt: Date | undefined;
  describe = '';
  opens = 0;
  bytesIn = 0;
  /** Why the last open or read failed, until a source opens again. */
  lastError: string | undefined;
  private current: OpenedSource | undefined;
  private opening = false;
  private stopped = false;
  private framer: Framer | undefined;
  /** Invalid bytes counted by the filters of earlier source runs. */
  private invalidBefore = 0;
  /** The Content-Type the current (or last) source declared. */
  declaredType: string | undefined;
  private headerParts: Buffer[] = [];
  private headerLeft = 0;
  private backoff = 0;
  private reopenTimer: NodeJS.Timeout | undefined;
  private quietTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private lastDataAt = 0;
  private openedPerf = 0;
  private readonly bytePacer: Pacer<Buffer> | undefined;
  private readonly framePacer: Pacer<[frame: Buffer, durationMs: number, sync: boolean, header: Buffer | undefined]> | undefined;
  /** The source whose end waits for its paced bytes to be framed (nothing it read is lost). */
  private finishing: OpenedSource | undefined;
  /** The source ended with -reopen=false: the channel only plays out what it read, then ends. */
  private ending = false;
  /** The filter's header object seen last, and the one passed on (the same object while its bytes stay the same). */
  private seenHeader: Buffer | undefined;
  private header: Buffer | undefined;
  private readonly writer = new SlabWriter(slabPool(COPY_SLAB_BYTES));
  /** The chunk the framer was last given, held until the next: a filter may keep a view of its tail. */
  private tail: Buffer | undefined;

  constructor(private readonly channel: Channel, readonly spec: SourceSpec | undefined) {
    const s = channel.settings;
    const pause = (paused: boolean) => {
      const r = this.current?.readable;
      if (r) paused ? r.pause() : r.resume();
    };
    // Queued items hold their slabs (`core/engine/slab.ts`) until released or dropped.
    if (s.sourceBandwidth > 0) {
      this.bytePacer = new Pacer((chunk) => {
        this.frame(chunk);
        release(chunk);
      }, pause, undefined, release);
    }
    if (s.realtime) {
      this.framePacer = new Pacer(([frame, ms, sync, header]) => {
        channel.pushFrame(frame, ms, sync, header);
        release(frame);
      }, pause, undefined, ([frame]) => release(frame));
    }
  }

  get reconnects(): number {
    return Math.max(0, this.opens - 1);
  }

  get invalidBytes(): number {
    return this.invalidBefore + (this.framer?.invalidBytes ?? 0);
  }

  /** What the filter recognised in the stream. */
  get format(): StreamFormat | undefined {
    return this.framer?.format;
  }

  /** A rewrite for a listener moved into this stream (`Framer.continueFrom`). */
  continueFrom(seen: Buffer, start: Buffer, before: Buffer | undefined, startMs: number): FrameRewrite | undefined {
    return this.framer?.continueFrom?.(seen, start, before, startMs);
  }

  /** The type listeners get when the operator set none: the filter's, else what the source declared. */
  get contentType(): string | undefined {
    return this.framer?.contentType ?? this.declaredType;
  }

  /** Pulled sources open on demand when the channel closes on idle or asks to be lazy. */
  private get onDemand(): boolean {
    return this.channel.settings.closeIdle || this.spec?.onDemand === true;
  }

  start(): void {
    if (this.spec && !this.onDemand) void this.open();
  }

  listenersChanged(count: number): void {
    if (!this.spec || this.stopped) return;
    if (count > 0 && this.onDemand && !this.current && !this.opening && !this.reopenTimer && !this.ending) void this.open();
    if (count === 0 && this.channel.settings.closeIdle && (this.current || this.opening || this.reopenTimer)) {
      this.log.info('last listener left; closing source (close-idle)');
      this.closeCurrent();
      this.channel.burstFloor = this.channel.ring.head;
      clearTimeout(this.reopenTimer);
      this.reopenTimer = undefined;
      if (!this.channel.settings.reopen) this.gone('closed on idle and -reopen=false');
    }
  }

  private get log() {
    return this.channel.engine.log.child({ mount: this.channel.mount });
  }

  private async open(): Promise<void> {
    if (this.opening || this.current || this.stopped || this.ending || !this.spec) return;
    this.opening = true;
    const hooks = this.channel.engine.hooks;
    try {
      const src = await hooks.sourceOpen.promise(this.spec, this.channel);
      if (!src) throw new Error(`no loaded module opens sources of kind "${this.spec.kind}"`);
      this.opening = false;
      if (this.stopped || (this.onDemand && this.channel.listeners.length === 0)) {
        src.close();
        return;
      }
      this.use(src);
    } catch (err) {
      this.opening = false;
      this.failed(err as Error);
    }
  }

  /** A pushed source (broadcaster); refused while another one is live. */
  attach(src: OpenedSource): boolean {
    if (this.current || this.stopped || this.channel.closed) return false;
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.use(src);
    return true;
  }

  private use(src: OpenedSource): void {
    const ch = this.channel;
    this.current = src;
    this.up = true;
    this.lastError = undefined;
    this.opens++;
    this.openedAt = new Date();
    this.openedPerf = performance.now();
    this.describe = src.describe;
    this.lastDataAt = performance.now();
    this.headerLeft = ch.settings.headerBytes;
    this.headerParts = [];
    // A filter per source run: the run may declare its own type, and `auto` sniffs each run anew.
    if (this.framer) {
      this.framer.reset();
      this.invalidBefore += this.framer.invalidBytes;
    }
    this.framer = this.createFramer(src.contentType);
    this.declaredType = src.contentType;
    this.releaseTail();
    this.log.info({ source: src.describe, opens: this.opens }, 'source opened');
    ch.engine.hooks.sourceOpened.call(ch, src);
    const quiet = ch.settings.maxQuietInterval;
    if (quiet > 0) {
      this.quietTimer = setInterval(() => {
        if (performance.now() - this.lastDataAt < quiet) return;
        this.log.warn({ quietMs: quiet }, 'source quiet too long; reopening');
        this.ended(src, 'quiet', false);
      }, Math.max(20, Math.min(quiet / 4, 1000)));
    }
    // `held` carries one hold on its slab, let go of once its bytes are paced or framed.
    const accept = (held: Buffer) => {
      let chunk = held;
      if (this.headerLeft > 0) chunk = this.takeHeader(chunk);
      if (chunk.length && this.current === src) {
        if (this.bytePacer) this.pace(chunk);
        else this.frame(chunk);
      }
      release(held);
    };
    const readable = src.readable;
    readable.on('data', (chunk: Buffer) => {
      if (this.current !== src) return release(chunk);
      this.bytesIn += chunk.length;
      this.lastDataAt = performance.now();
      // Chunks read into slabs come with a hold; others (sockets, pipes) are copied into slabs.
      if (slabOf(chunk)) accept(chunk);
      else this.writer.copy(chunk, accept);
    });
    readable.once('end', () => this.ended(src, 'end of stream', false));
    readable.once('error', (err) => this.ended(src, err.message, true, err));
    readable.once('close', () => this.ended(src, 'closed', false));
  }

  private createFramer(contentType: string | undefined): Framer {
    const s = this.channel.settings;
    const factory = this.channel.engine.hooks.frameFilter.get(s.filter);
    const framer = factory?.call({ frameBytes: s.frameBytes, contentType });
    if (!framer) throw new Error(`no frame filter named "${s.filter}"`);
    return framer;
  }

  private takeHeader(chunk: Buffer): Buffer {
    // A copy: the chunk's slab may be reused before the rest of the header arrives.
    const part = Buffer.from(chunk.subarray(0, this.headerLeft));
    this.headerParts.push(part);
    this.headerLeft -= part.length;
    if (this.headerLeft === 0) {
      const header = Buffer.concat(this.headerParts);
      const old = this.channel.header;
      if (old && !old.equals(header)) {
        const err = new Error(`source header changed on reopen (${header.length} bytes differ from the first source's)`);
        this.ended(this.current!, err.message, true, err);
        return Buffer.alloc(0);
      }
      this.channel.header = header;
      // Listeners that joined before the first header arrived have had no frame yet: the header goes first.
      if (!old) for (const l of this.channel.listeners) l.write(header);
    }
    return chunk.subarray(part.length);
  }

  /** `-source-bandwidth`: release bytes in pieces of about 1/20 s at the allowed rate. */
  private pace(chunk: Buffer): void {
    const rate = this.channel.settings.sourceBandwidth;
    const piece = Math.max(1, Math.floor(rate / 20));
    for (let i = 0; i < chunk.length; i += piece) {
      const part = chunk.subarray(i, i + piece);
      hold(part);
      this.bytePacer!.add(part, (part.length / rate) * 1000);
    }
  }

  private frame(chunk: Buffer): void {
    hold(chunk);
    const framer = this.framer!;
    framer.push(chunk, this.emit);
    this.releaseTail();
    this.tail = chunk;
    if (framer.holding && !this.settleTimer) {
      this.settleTimer = setTimeout(() => {
        this.settleTimer = undefined;
        if (this.framer === framer) framer.settle?.(this.emit);
      }, SETTLE_MS);
    }
  }

  private readonly emit: FrameEmit = (frame, ms, sync) => {
    const header = this.learnedHeader();
    if (this.framePacer) {
      hold(frame);
      this.framePacer.add([frame, ms, sync !== false, header], ms);
    } else {
      this.channel.pushFrame(frame, ms, sync !== false, header);
    }
  };

  /**
   * The filter's stream header, as one object while its bytes do not change:
   * filters that see the same SPS/PPS every key frame need not keep the object,
   * and listeners are sent a header only when it really changed.
   */
  private learnedHeader(): Buffer | undefined {
    const h = this.framer!.header;
    if (h !== this.seenHeader) {
      this.seenHeader = h;
      if (!h || !this.header || !h.equals(this.header)) this.header = h;
    }
    return this.header;
  }

  private releaseTail(): void {
    if (this.tail) release(this.tail);
    this.tail = undefined;
  }

  private ended(src: OpenedSource, reason: string, failed: boolean, err?: Error): void {
    if (this.current !== src) return;
    if (this.bytePacer?.pending) {
      // Bytes read and not yet paced are still the stream: they reach listeners before the source counts as ended.
      if (this.finishing === src) return;
      this.finishing = src;
      this.bytePacer.whenDrained(() => {
        this.finishing = undefined;
        this.ended(src, reason, failed, err);
      });
      return;
    }
    const ranFor = performance.now() - this.openedPerf;
    // A unit is complete at the end of the stream though no next one started (a filter that ends units at the next start).
    this.framer?.flush?.(this.emit);
    this.closeCurrent();
    const ch = this.channel;
    if (failed) {
      this.lastError = err?.message ?? reason;
      this.log.error({ source: src.describe, err: err?.message ?? reason }, 'source failed');
      ch.engine.hooks.sourceFailed.call(ch, err ?? new Error(reason));
    } else {
      this.log.info({ source: src.describe, reason }, 'source closed');
      ch.engine.hooks.sourceClosed.call(ch, reason);
    }
    if (this.stopped) return;
    if (!this.spec) return this.startGrace();
    if (reason !== 'quiet' && !ch.settings.reopen) {
      // Paced frames already read play out before listeners are let go.
      const why = `source ended (${reason}) and -reopen=false`;
      // Over for good: a listener arriving while the last frames play out must not open it again.
      this.ending = true;
      return this.framePacer ? this.framePacer.whenDrained(() => this.gone(why)) : this.gone(why);
    }
    if (this.onDemand && ch.listeners.length === 0) return;
    this.scheduleReopen(failed || ranFor < HEALTHY_RUN_MS || reason === 'quiet' ? 'backoff' : 'now');
  }

  private failed(err: Error): void {
    const ch = this.channel;
    this.lastError = err.message;
    this.log.error({ source: this.spec?.kind, err: err.message }, 'source could not be opened');
    ch.engine.hooks.sourceFailed.call(ch, err);
    if (this.stopped) return;
    if (!ch.settings.reopen) return this.gone(`source could not be opened (${err.message}) and -reopen=false`);
    this.scheduleReopen('backoff');
  }

  private scheduleReopen(mode: 'now' | 'backoff'): void {
    if (mode === 'now') this.backoff = 0;
    else this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff ? this.backoff * 2 : BACKOFF_FIRST_MS);
    const delay = mode === 'now' ? 0 : this.backoff;
    if (delay) this.log.info({ retryInMs: delay }, 'reopening source after backoff');
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      void this.open();
    }, delay);
  }

  private startGrace(): void {
    const grace = this.channel.settings.grace;
    this.log.info({ graceMs: grace }, 'broadcaster gone; keeping listeners for the grace period');
    this.graceTimer = setTimeout(() => this.gone('broadcaster did not return within the grace period'), grace);
  }

  /** The channel's stream is over for good: its listeners are disconnected and it is removed. */
  private gone(reason: string): void {
    this.log.info({ reason }, 'channel ends');
    this.stop(reason);
    this.channel.engine.remove(this.channel);
  }

  private closeCurrent(): void {
    const src = this.current;
    if (!src) return;
    this.current = undefined;
    this.finishing = undefined;
    this.up = false;
    clearInterval(this.quietTimer);
    this.quietTimer = undefined;
    this.bytePacer?.clear();
    try {
      src.close();
    } catch (err) {
      this.log.warn({ err }, 'closing source failed');
    }
  }

  stop(_reason: string): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.reopenTimer);
    clearTimeout(this.graceTimer);
    clearTimeout(this.settleTimer);
    this.framePacer?.clear();
    this.closeCurrent();
    this.releaseTail();
    this.writer.close();
  }
}
