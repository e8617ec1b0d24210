import type { Socket } from 'node:net';
import type { ChannelSettings } from './channel-settings.ts';
import type { Kernel } from './kernel.ts';
import { Listener, type ListenerOptions } from './listener.ts';
import { payloadBytes, Ring, type Payload } from './ring.ts';
import type { SourceSpec } from './source.ts';
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
  private flushScheduled = false;
  /** Next listener index of the round in progress (-1: no round running). */
  private roundAt = -1;
  private roundCost = 0;
  private roundWrites = 0;
  private roundBytes = 0;
  /** Some listener was written less than it is owed (MAX_WRITE_BYTES): another round is due even without new frames. */
  private roundCapped = false;
  private roundHead = 0;
  private lastRoundEnd = 0;
  private lastRoundCost = 0;
  private lastRoundWriteBytes = 0;
  private burstMemo: { head: number; start: number; payload: Payload } | undefined;

  constructor(
    readonly kernel: Kernel,
    readonly mount: string,
    readonly settings: ChannelSettings,
    spec: SourceSpec | undefined,
  ) {
    this.ring = new Ring(settings.sourceBuffer);
    this.source = new SourceRunner(this, spec);
  }

  /** Called by the source runner for each frame, in order. */
  pushFrame(frame: Buffer, durationMs: number): void {
    this.ring.push(frame, durationMs);
    if (this.listeners.length && !this.flushScheduled) this.scheduleFlush();
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

  private startRound(): void {
    this.roundAt = 0;
    this.roundCost = 0;
    this.roundWrites = 0;
    this.roundBytes = 0;
    this.roundCapped = false;
    this.roundHead = this.ring.head;
  }

  /**
   * Writes one slice of listeners what they are owed. Listeners at the same
   * cursor (nearly all of them) share one payload buffer, so the cost per
   * listener is one write. Swap-removals during a round may make a listener wait
   * for the next round; none is ever written twice for the same frames.
   */
  private readonly slice = (all = false): void => {
    if (this.roundAt === -1) return;
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
      if (l.socket.writableLength > (writers.parallel && l.fd >= 0 ? 0 : BACKLOG_CAP)) continue;
      if (cursor < oldest) {
        // Lapped: jump to the newest frame rather than hold everyone back.
        const to = head - 1;
        l.framesSkipped += to - cursor;
        this.framesSkipped += to - cursor;
        cursor = l.cursor = to;
      }
      if (l.maxBytes) {
        this.writeLimited(l, head);
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
      if (to < head) this.roundCapped = true;
      l.framesSent += to - cursor;
      l.cursor = to;
      this.bytesOut += bytes;
      this.roundWrites++;
      this.roundBytes += bytes;
      if (writers.add(l, payload)) l.bytesSent += bytes;
      else l.write(payload);
    }
    writers.run();
    const now = performance.now();
    this.roundCost += now - started;
    writers.busy(now - started, now);
    if (i < listeners.length) {
      this.roundAt = i;
      setImmediate(this.slice);
      return;
    }
    this.roundAt = -1;
    this.lastRoundEnd = now;
    this.lastRoundCost = this.roundCost;
    this.lastRoundWriteBytes = this.roundWrites ? this.roundBytes / this.roundWrites : 0;
    // Frames that arrived during the round are owed to the listeners already passed.
    const owed = this.ring.head !== this.roundHead || this.roundCapped;
    if (owed && this.listeners.length && !this.flushScheduled) this.scheduleFlush();
  };

  /** Where a write of frames from `from` ends: whole frames up to MAX_WRITE_BYTES, at least one; `all` (the last round) sends everything. */
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

  /** `-client-max-bytes`: send whole frames until the limit is reached, then end. */
  private writeLimited(l: Listener, head: number): void {
    let to = l.cursor;
    let bytes = 0;
    while (to < head && l.bytesSent + bytes < l.maxBytes) bytes += this.ring.get(to++)!.length;
    const payload = this.ring.payload(l.cursor, to);
    l.framesSent += to - l.cursor;
    l.cursor = to;
    this.bytesOut += payloadBytes(payload);
    l.write(payload);
    if (l.bytesSent >= l.maxBytes) l.end();
  }

  /**
   * Adds a listener whose response head has been written: it gets the header,
   * then a burst of recent frames from a frame boundary, then the live stream.
   */
  join(socket: Socket, opts: ListenerOptions): Listener {
    const l = new Listener(this, socket, { maxBytes: this.settings.clientMaxBytes, ...opts });
    const ring = this.ring;
    // The response head, the header and the burst leave in one write.
    socket.cork();
    if (opts.preamble) socket.write(opts.preamble);
    if (this.header) socket.write(this.header);
    const head = ring.head;
    const start = Math.max(this.burstFloor, opts.noBurst ? Math.max(ring.oldest, head - 1) : ring.burstStart(this.settings.burst, this.settings.burstBytes));
    l.cursor = Math.max(0, start);
    if (l.cursor < head && !l.maxBytes) {
      // Listeners joining between two frames share one burst buffer.
      if (this.burstMemo?.head !== head || this.burstMemo.start !== l.cursor) {
        this.burstMemo = { head, start: l.cursor, payload: ring.payload(l.cursor, head) };
      }
      const payload = this.burstMemo.payload;
      l.framesSent += head - l.cursor;
      l.cursor = head;
      this.bytesOut += payloadBytes(payload);
      l.write(payload);
    }
    socket.uncork();
    l.slot = this.listeners.length;
    this.listeners.push(l);
    this.listenerPeak = Math.max(this.listenerPeak, this.listeners.length);
    // One pair of handlers for every listener's socket: two closures and a once() wrapper each were about 300 bytes a listener.
    (socket as ListenerSocket)[LISTENER] = l;
    socket.on('close', onListenerClose);
    socket.on('drain', onListenerDrain);
    this.kernel.hooks.listenerJoined.call(l);
    this.source.listenersChanged(this.listeners.length);
    if (l.maxBytes && l.cursor < head) this.scheduleFlush();
    return l;
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
    const last = this.listeners.pop()!;
    if (last !== l) {
      this.listeners[l.slot] = last;
      last.slot = l.slot;
    }
    if (!l.socket.destroyed && !l.socket.writableEnded) l.socket.destroy();
    this.kernel.hooks.listenerLeave.call(l);
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
    this.startRound();
    this.slice(true);
    this.endListeners();
  }

  stats() {
    const src = this.source;
    return {
      mount: this.mount,
      contentType: this.settings.contentType,
      filter: this.settings.filter,
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
