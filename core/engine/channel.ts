import type { Socket } from 'node:net';
import type { AuthRequest } from '../contracts/auth.ts';
import { DEFAULT_CONTENT_TYPE, type ChannelSettings } from '../contracts/channel-settings.ts';
import type { EngineContext } from './channels.ts';
import { Listener, type ListenerOptions } from './listener.ts';
import { sameSecret } from '../contracts/secret.ts';
import { payloadBytes, Ring, type Payload } from './ring.ts';
import type { SourceSpec } from '../contracts/source.ts';
import { SourceRunner } from './source-runner.ts';
import { writers } from './writers.ts';

/** Descriptive fields protocols fill in and show (Icecast's ice- and icy- headers, status pages). */
export interface ChannelInfo {
  name?: string;
  description?: string;
  genre?: string;
  url?: string;
  bitrate?: string;
  public?: string;
  audioInfo?: string;
  /** Current title (ICY StreamTitle). */
  title?: string;
  /** The user who owns the mount (`/user/channel`). */
  owner?: string;
  /** Watching needs this password when set. */
  password?: string;
}

/** Who asks to listen, as the protocol tells it (the authenticate hook's request without action and mount). */
export type AdmitRequest = Omit<AuthRequest, 'action' | 'mount'>;

/** A listener refused: the status an HTTP-like protocol answers and why. */
export interface Refusal {
  status: 401 | 403 | 404 | 503;
  reason: string;
}

/**
 * A listener let in. `join` makes it one; call it in the same turn (after
 * writing the protocol's head, or not at all for a HEAD request).
 */
export interface Admission {
  /** The identity the authenticate hook gave, else the one asked with. */
  user: string | undefined;
  join(socket: Socket, opts: ListenerOptions): Listener;
}

/** A listener whose unsent backlog exceeds this is not written to until it drains. */
const BACKLOG_CAP = 64 * 1024;
/**
 * A round over ten thousand listeners is cut into slices of about this long.
 * libuv accepts at most one connection per turn of the event loop, so short
 * slices are what keeps new listeners' first byte quick while a round runs.
 */
const SLICE_MS = 0.25;
/** Listeners written between two looks at the clock. */
const SLICE_CHECK = 8;
/** Rounds cheaper than this may follow each other at once: few listeners get every frame without delay. */
const CHEAP_ROUND_MS = 25;
/**
 * A round costing T ms beyond the cheap allowance delays the next by SPACING
 * times that excess, so under load each write carries several frames (per-write
 * cost dominates) and writing keeps to about a third of the CPU.
 */
const SPACING = 3;
/**
 * Rounds whose writes average this many bytes or more are not spaced: their
 * cost is the bytes themselves, which waiting does not make any cheaper, only
 * later (a fast source to a hundred listeners). Spacing pays off for small
 * writes, whose cost is the write itself.
 */
const UNSPACED_WRITE_BYTES = 64 * 1024;
/**
 * A listener is written at most this much in one round (whole frames, at least
 * one): about what a socket's send buffer takes at once on loopback or a LAN.
 * More would only queue in user space, keep its slabs pinned and make the round
 * long, and a long round lets the next listeners fall further behind.
 */
const MAX_WRITE_BYTES = 1 << 20;

/** The listener a socket belongs to, for the shared socket handlers below. */
const LISTENER = Symbol('streamserve.listener');
type ListenerSocket = Socket & { [LISTENER]?: Listener };

// One pair of handlers for every listener's socket (two closures each were about 300 bytes a listener),
// through `l.channel`: a listener may have been moved to another channel since it joined.
function onListenerClose(this: ListenerSocket): void {
  const l = this[LISTENER];
  if (!l) return;
  // Nothing queued is sent after the socket closes.
  l.unpin();
  l.channel.leave(l);
}

function onListenerDrain(this: ListenerSocket): void {
  const l = this[LISTENER];
  if (l) l.channel.drained(l);
}

/**
 * One live stream at a mount: a source, a filter, an optional header, a ring of
 * recent frames and the listeners reading from it.
 */
export class Channel {
  readonly ring: Ring;
  readonly source: SourceRunner;
  header: Buffer | undefined;
  info: ChannelInfo = {};
  readonly createdAt = new Date();
  listeners: Listener[] = [];
  listenerPeak = 0;
  bytesOut = 0;
  framesSkipped = 0;
  closed = false;
  /** Frames before this one are from a source closed on idle: stale media, never part of a burst. */
  burstFloor = 0;
  /** Every listener that keeps up has had the frames before this one (the head when the last complete round began). */
  private safeHead = 0;
  private flushScheduled = false;
  /** Next listener index of the round in progress (-1: no round running). */
  private roundAt = -1;
  private roundCost = 0;
  private roundWrites = 0;
  private roundBytes = 0;
  /** The lowest cursor a listener written this round was left at (below the round's head when its write was capped). */
  private roundLow = 0;
  private lastRoundWriteBytes = 0;
  private roundHead = 0;
  private lastRoundEnd = 0;
  private lastRoundCost = 0;
  private burstMemo: { head: number; start: number; payload: Payload } | undefined;

  constructor(
    readonly engine: EngineContext,
    readonly mount: string,
    readonly settings: ChannelSettings,
    spec: SourceSpec | undefined,
  ) {
    this.ring = new Ring(settings.sourceBuffer);
    this.source = new SourceRunner(this, spec);
  }

  /** What listeners are told the stream is: the operator's type, else the filter's or the source's. */
  get contentType(): string {
    const set = this.settings.contentType;
    return set !== DEFAULT_CONTENT_TYPE ? set : (this.source.contentType ?? set);
  }

  /** Called by the source runner for each frame, in order. */
  pushFrame(frame: Buffer, durationMs: number, sync = true, header?: Buffer): void {
    const ring = this.ring;
    // This push evicts a frame a listener that keeps up may not have had yet: write before the ring wraps.
    if (this.listeners.length && ring.head - ring.capacity >= this.safeHead) this.forceRound();
    ring.push(frame, durationMs, sync, header);
    if (this.listeners.length && !this.flushScheduled) this.scheduleFlush();
  }

  /** Writes every listener what it is owed, now: the ring is about to drop frames the last round did not pass on. */
  private forceRound(): void {
    if (this.roundAt !== -1) this.slice('force');
    this.startRound();
    this.slice('force');
  }

  private startRound(): void {
    this.roundAt = 0;
    this.roundCost = 0;
    this.roundWrites = 0;
    this.roundBytes = 0;
    this.roundHead = this.roundLow = this.ring.head;
  }

  private scheduleFlush(): void {
    this.flushScheduled = true;
    const excess = this.lastRoundWriteBytes >= UNSPACED_WRITE_BYTES ? 0 : this.lastRoundCost - CHEAP_ROUND_MS;
    const wait = excess <= 0 ? 0 : this.lastRoundEnd + SPACING * excess - performance.now();
    if (wait >= 1) setTimeout(this.flush, wait);
    else setImmediate(this.flush);
  }

  /** Starts a round over all listeners; a round in progress picks up new frames by itself. */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.roundAt !== -1) return;
    this.startRound();
    this.slice();
  };

  /**
   * Writes one slice of listeners what they are owed. Listeners at the same
   * cursor (nearly all of them) share one payload buffer, so the cost per
   * listener is one write. Swap-removals during a round may make a listener wait
   * for the next round; none is ever written twice for the same frames.
   * `force` and `final` write every listener in one go: `force` because the ring
   * is about to wrap, `final` because the source is gone for good, so even
   * listeners with a backlog get the last frames (the ring bounds what they hold).
   */
  private readonly slice = (mode: 'slice' | 'force' | 'final' = 'slice'): void => {
    if (this.roundAt === -1) return;
    const all = mode !== 'slice';
    const started = performance.now();
    const ring = this.ring;
    const head = ring.head;
    const oldest = ring.oldest;
    let shared: Payload | undefined;
    let sharedBytes = 0;
    let sharedFrom = -1;
    let sharedTo = 0;
    let others: Map<number, { payload: Payload; to: number; bytes: number }> | undefined;
    const listeners = this.listeners;
    let end = listeners.length;
    let i = this.roundAt;
    for (; i < end; i++) {
      if (!all && (i - this.roundAt) % SLICE_CHECK === SLICE_CHECK - 1 && performance.now() - started >= SLICE_MS) break;
      const l = listeners[i]!;
      let cursor = l.cursor;
      if (cursor >= head) continue;
      // Writer threads write only to empty queues: the socket finishes what it queued first.
      if (mode !== 'final' && l.socket.writableLength > (writers.parallel && l.fd >= 0 ? 0 : BACKLOG_CAP)) continue;
      if (cursor < oldest || l.needsSync) {
        cursor = this.resync(l, head, oldest);
        if (cursor >= head) continue;
      }
      if (l.maxBytes || l.rewrite || ring.headerAt(cursor) !== l.header || ring.headerChange > cursor) {
        // The rare paths: a byte limit, a rewrite after a move, a header to send first or a header change within what is owed.
        this.writeFrom(l, cursor, head);
        if (l.closed) {
          // Ended and swap-removed: the listener moved into slot i is due now, and the list is one shorter.
          end = Math.min(end, listeners.length);
          i--;
        }
        continue;
      }
      let payload: Payload;
      let bytes: number;
      let to: number;
      if (cursor === sharedFrom) {
        payload = shared!;
        bytes = sharedBytes;
        to = sharedTo;
      } else if (sharedFrom === -1) {
        to = sharedTo = this.writeEnd(cursor, head, all);
        payload = shared = ring.payload(cursor, to);
        bytes = sharedBytes = payloadBytes(payload);
        sharedFrom = cursor;
      } else {
        others ??= new Map();
        let p = others.get(cursor);
        if (!p) {
          const end = this.writeEnd(cursor, head, all);
          const part = ring.payload(cursor, end);
          others.set(cursor, (p = { payload: part, to: end, bytes: payloadBytes(part) }));
        }
        ({ payload, to, bytes } = p);
      }
      if (to < this.roundLow) this.roundLow = to;
      l.framesSent += to - cursor;
      l.cursor = to;
      this.roundWrites++;
      this.roundBytes += bytes;
      this.bytesOut += bytes;
      if (mode !== 'final' && !l.pendingPreamble && writers.add(l, payload)) l.bytesSent += bytes;
      else l.write(payload);
    }
    writers.run();
    const now = performance.now();
    this.roundCost += now - started;
    writers.busy(now - started, now);
    if (i < listeners.length) {
      this.roundAt = i;
      if (!all) setImmediate(this.slice);
      return;
    }
    this.roundAt = -1;
    this.safeHead = this.roundLow;
    this.lastRoundEnd = now;
    this.lastRoundCost = this.roundCost;
    this.lastRoundWriteBytes = this.roundWrites ? this.roundBytes / this.roundWrites : 0;
    // Frames that arrived during the round, or that a capped write left, are owed to the listeners already passed.
    const owed = this.ring.head !== this.roundHead || this.roundLow < this.roundHead;
    if (owed && this.listeners.length && !this.flushScheduled) this.scheduleFlush();
  };

  /** Where a write of frames from `from` ends: whole frames up to MAX_WRITE_BYTES, at least one; `all` sends everything. */
  private writeEnd(from: number, head: number, all: boolean): number {
    if (all) return head;
    let to = from + 1;
    let bytes = this.ring.get(from)!.length;
    for (; to < head; to++) {
      bytes += this.ring.get(to)!.length;
      if (bytes > MAX_WRITE_BYTES) break;
    }
    return to;
  }

  /**
   * A lapped listener, or one waiting for a frame a decoder can start at, moves
   * to a sync point: the newest one when lapped (as close to live as possible),
   * else the first one it is owed. Returns its cursor (head: nothing to send yet).
   */
  private resync(l: Listener, head: number, oldest: number): number {
    const from = l.cursor;
    let to: number;
    if (from < oldest) {
      to = this.ring.prevSync(head - 1, this.burstFloor);
      if (to < 0) to = head;
    } else {
      to = this.ring.nextSync(from);
      if (to < 0) to = head;
    }
    l.needsSync = to >= head;
    // Frames passed by count as skipped once the listener has had media; before that it was only waiting to start.
    if (l.framesSent > 0 || from < oldest) {
      l.framesSkipped += to - from;
      this.framesSkipped += to - from;
    }
    l.cursor = to;
    return to;
  }

  /**
   * Writes `l` the frames from `cursor` to `head`, each run of frames preceded
   * by its stream header when that differs from the last one `l` was sent,
   * within `-client-max-bytes` when set.
   */
  private writeFrom(l: Listener, cursor: number, head: number): void {
    const ring = this.ring;
    let to = head;
    if (l.maxBytes) {
      let bytes = 0;
      to = cursor;
      while (to < head && l.bytesSent + bytes < l.maxBytes) bytes += ring.get(to++)!.length;
    }
    for (let from = cursor; from < to; ) {
      const header = ring.headerAt(from);
      if (header && header !== l.header) {
        this.bytesOut += header.length;
        l.write(header);
      }
      l.header = header;
      const next = ring.headerBreak(from, to);
      const payload = ring.payload(from, next);
      l.framesSent += next - from;
      this.bytesOut += payloadBytes(payload);
      l.write(payload);
      from = next;
    }
    l.cursor = to;
    if (l.maxBytes && l.bytesSent >= l.maxBytes) l.end();
  }

  /**
   * The one way in for a listener, whatever its protocol: the authenticate
   * hook (or, when no module decides, the channel password a broadcaster set),
   * then `listenerJoin` with the live figures, then whether there is a stream
   * to give. A protocol turns a refusal into its own answer.
   */
  async admit(req: AdmitRequest): Promise<Admission | Refusal> {
    if (this.closed) return { status: 404, reason: `channel ${this.mount} has ended` };
    const hooks = this.engine.hooks;
    const decision = await hooks.authenticate.promise({ ...req, action: 'watch', mount: this.mount });
    if (decision && !decision.allow) return { status: decision.forbidden ? 403 : 401, reason: decision.reason };
    const password = this.info.password;
    if (!decision && password && !sameSecret(req.channelPassword ?? '', password)) return { status: 401, reason: 'wrong channel password' };
    const user = (decision?.allow ? decision.user : undefined) ?? req.user;
    const refusal = await hooks.listenerJoin.promise({
      channel: this, remoteAddress: req.remoteAddress, protocol: req.protocol, user, listeners: this.listeners.length,
    });
    if (refusal) return { status: 503, reason: refusal };
    if (this.closed) return { status: 404, reason: `channel ${this.mount} has ended` };
    if (!this.source.up && this.ring.head === 0 && this.source.lastError) {
      return { status: 503, reason: `source of ${this.mount} cannot be opened: ${this.source.lastError}` };
    }
    const maxDurationMs = decision?.allow ? decision.maxDurationMs : undefined;
    return { user, join: (socket, opts) => this.join(socket, { user, maxDurationMs, ...opts }) };
  }

  /**
   * Adds a listener whose response head has been written: it gets the header,
   * then a burst of recent frames from a frame boundary, then the live stream.
   * Only `admit` lets listeners in; the engine's own tests call it directly.
   */
  join(socket: Socket, opts: ListenerOptions): Listener {
    const l = new Listener(this, socket, { maxBytes: this.settings.clientMaxBytes, ...opts });
    const ring = this.ring;
    // The response head, the header and the burst leave in one write.
    socket.cork();
    const head = ring.head;
    const start = opts.noBurst ? ring.prevSync(head - 1, this.burstFloor) : ring.burstStart(this.settings.burst, this.settings.burstBytes, this.burstFloor);
    l.cursor = start >= 0 ? start : head;
    l.needsSync = start < 0;
    const preamble = opts.preamble;
    // Nothing to send yet (a source opening for this listener): the head waits for the stream, which may tell its type.
    if (typeof preamble === 'function' && l.cursor >= head && !this.header) l.deferPreamble(preamble);
    else if (preamble) socket.write(typeof preamble === 'function' ? preamble() : preamble);
    if (this.header) socket.write(this.header);
    // A byte-limited listener is written by the first round (ending it here would leave it half joined).
    if (l.cursor < head && !l.maxBytes) {
      if (ring.headerChange > l.cursor) this.writeFrom(l, l.cursor, head);
      else {
        // Listeners joining between two frames share one burst buffer.
        if (this.burstMemo?.head !== head || this.burstMemo.start !== l.cursor) {
          this.burstMemo = { head, start: l.cursor, payload: ring.payload(l.cursor, head) };
        }
        const header = ring.headerAt(l.cursor);
        if (header) {
          l.header = header;
          this.bytesOut += header.length;
          l.write(header);
        }
        const payload = this.burstMemo.payload;
        l.framesSent += head - l.cursor;
        l.cursor = head;
        this.bytesOut += payloadBytes(payload);
        l.write(payload);
      }
    }
    socket.uncork();
    l.slot = this.listeners.length;
    this.listeners.push(l);
    this.listenerPeak = Math.max(this.listenerPeak, this.listeners.length);
    (socket as ListenerSocket)[LISTENER] = l;
    socket.on('close', onListenerClose);
    socket.on('drain', onListenerDrain);
    this.engine.hooks.listenerJoined.call(l);
    this.source.listenersChanged(this.listeners.length);
    if (l.cursor < ring.head && !this.flushScheduled) this.scheduleFlush();
    return l;
  }

  /**
   * Moves a listener to another channel without disconnecting it (fallback,
   * an operator's move): it goes on at that channel's newest sync point, with
   * its stream header first. Whether the two streams can follow each other
   * (same format) is the caller's to judge. False when it cannot move.
   */
  moveListener(l: Listener, to: Channel): boolean {
    if (to === this || to.closed || l.closed || l.channel !== this) return false;
    // The last frame it had here, as it had it: the other stream's timeline may have to go on from it.
    const raw = l.framesSent > 0 && l.cursor > this.ring.oldest ? this.ring.get(l.cursor - 1) : undefined;
    const seen = raw && l.rewrite ? l.rewrite(raw) : raw;
    this.unlist(l);
    const ring = to.ring;
    const start = ring.prevSync(ring.head - 1, to.burstFloor);
    l.rewrite = seen && start >= 0
      ? to.source.continueFrom(seen, ring.get(start)!, start > ring.oldest ? ring.get(start - 1) : undefined, ring.durationOf(start))
      : undefined;
    l.channel = to;
    l.cursor = start >= 0 ? start : ring.head;
    l.needsSync = start < 0;
    // The other stream's header goes first, whatever this one's was.
    l.header = undefined;
    l.slot = to.listeners.length;
    to.listeners.push(l);
    to.listenerPeak = Math.max(to.listenerPeak, to.listeners.length);
    this.source.listenersChanged(this.listeners.length);
    to.source.listenersChanged(to.listeners.length);
    if (l.cursor < ring.head && !to.flushScheduled) to.scheduleFlush();
    return true;
  }

  /** Takes a listener out of the list (swap-remove); a round under way may pass over the one moved into its slot until the next. */
  private unlist(l: Listener): void {
    const last = this.listeners.pop()!;
    if (last !== l) {
      this.listeners[l.slot] = last;
      last.slot = l.slot;
    }
  }

  /** A listener's socket has sent what it queued. */
  drained(l: Listener): void {
    if (l.closed) return;
    l.settle();
    // Held back by its backlog, it can take more now: do not wait for the next frame to tell it.
    if (l.cursor < this.ring.head && !this.flushScheduled && this.roundAt === -1) this.scheduleFlush();
  }

  leave(l: Listener): void {
    if (l.closed) return;
    l.closed = true;
    this.unlist(l);
    l.left();
    if (!l.socket.destroyed && !l.socket.writableEnded) l.socket.destroy();
    this.engine.hooks.listenerLeave.call(l);
    this.source.listenersChanged(this.listeners.length);
  }

  /** Disconnects every listener (source gone for good, or shutdown). */
  endListeners(): void {
    for (const l of [...this.listeners]) l.end();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.source.stop('channel closed');
    // Frames already read (a source's last bytes before its EOF) still reach every listener, in one full round.
    if (this.roundAt !== -1) this.slice('final');
    this.startRound();
    this.slice('final');
    this.endListeners();
  }

  stats() {
    const src = this.source;
    return {
      mount: this.mount,
      contentType: this.contentType,
      filter: this.settings.filter,
      format: src.format,
      info: { ...this.info, password: undefined },
      listeners: this.listeners.length,
      listenerPeak: this.listenerPeak,
      sourceUp: src.up,
      source: src.describe,
      sourceStartedAt: src.openedAt,
      reconnects: src.reconnects,
      bytesIn: src.bytesIn,
      framesIn: this.ring.head,
      invalidBytes: src.invalidBytes,
      bytesOut: this.bytesOut,
      framesSkipped: this.framesSkipped,
      uptimeSeconds: Math.round((Date.now() - this.createdAt.getTime()) / 1000),
    };
  }
}
