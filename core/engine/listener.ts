import type { Socket } from 'node:net';
import type { Channel } from './channel.ts';
import type { FrameRewrite } from '../contracts/frame.ts';
import type { Payload } from './ring.ts';
import { hold, release } from './slab.ts';
import { Writers } from './writers.ts';

export interface ListenerOptions {
  remoteAddress: string;
  protocol: string;
  user?: string;
  /**
   * Rewrites each payload before it reaches this listener's socket (ICY metadata
   * blocks). The payload is shared with other listeners: never mutate it.
   */
  transform?: (payload: Buffer) => Buffer;
  /** Disconnect once this many bytes were sent, at the end of the frame in progress (0 = no limit). */
  maxBytes?: number;
  /** Disconnect after this long connected, whatever it is doing (0 or unset = no limit; an authenticate decision's `maxDurationMs`). */
  maxDurationMs?: number;
  /** Skip the burst and start at the live edge. */
  noBurst?: boolean;
  /**
   * Bytes written before the stream (the protocol's response head), in the
   * same write as the burst. A function is asked as late as possible: when the
   * first bytes of the stream go out (a source opened for its first listener
   * tells its format only then), or after PREAMBLE_WAIT_MS without any.
   */
  preamble?: Buffer | string | (() => Buffer | string);
}

let nextId = 1;

/** A response head waiting for the stream's first bytes goes out after this long anyway, so the client hears back. */
const PREAMBLE_WAIT_MS = 3000;

/** A listener is a socket plus a cursor into its channel's ring, and its figures. */
export class Listener {
  readonly id = nextId++;
  readonly joinedAt = Date.now();
  /** Sequence number of the next frame this listener is owed. */
  cursor = 0;
  bytesSent = 0;
  framesSent = 0;
  framesSkipped = 0;
  /** Waiting for a frame a decoder can start at (just joined, or lapped) before it is written again. */
  needsSync = false;
  /** The stream header (`core/contracts/frame.ts`) this listener was sent last. */
  header: Buffer | undefined;
  /** Index in the channel's listener array (swap-remove). */
  slot = -1;
  closed = false;
  readonly remoteAddress: string;
  readonly protocol: string;
  readonly user: string | undefined;
  readonly transform: ((payload: Buffer) => Buffer) | undefined;
  /**
   * Set by a move into another stream whose timeline must go on from this
   * listener's (`Framer.continueFrom`); applied before `transform`. A listener
   * with one is written on the engine's own path, not by writer threads.
   */
  rewrite: FrameRewrite | undefined;
  readonly maxBytes: number;
  /** The socket's descriptor when writer threads may write to it (`core/engine/writers.ts`), else -1. */
  readonly fd: number;
  /**
   * Buffers the socket still queues: Node keeps a reference to a buffer whose
   * write did not complete at once and sends it later, so their slabs
   * (`core/engine/slab.ts`) must not be reused until the queue is empty.
   */
  private pinned: Buffer[] | undefined;
  /** The protocol's head, not yet written: nothing of the stream was either. */
  pendingPreamble: (() => Buffer | string) | undefined;
  private preambleTimer: NodeJS.Timeout | undefined;
  /** Ends the listener when its `maxDurationMs` is up; cleared when it leaves. */
  private deadline: NodeJS.Timeout | undefined;

  /** The channel it listens to: another one after a move (fallback, an operator's move). */
  channel: Channel;

  constructor(channel: Channel, readonly socket: Socket, opts: ListenerOptions) {
    this.channel = channel;
    this.remoteAddress = opts.remoteAddress;
    this.protocol = opts.protocol;
    this.user = opts.user;
    this.transform = opts.transform;
    this.maxBytes = opts.maxBytes ?? 0;
    this.fd = this.transform ? -1 : Writers.fdOf(socket);
    const ms = opts.maxDurationMs ?? 0;
    // One timer only for the few listeners an authenticate decision limits; the limits module sweeps the rest.
    if (ms > 0) this.deadline = setTimeout(() => this.end(), Math.min(ms, 2 ** 31 - 1)).unref();
  }

  /** The listener has left: its time limit no longer applies. */
  left(): void {
    clearTimeout(this.deadline);
  }

  /** Frames behind the newest one. */
  get lag(): number {
    return this.channel.ring.head - this.cursor;
  }

  /** Holds the protocol's head back until the stream's first bytes (or PREAMBLE_WAIT_MS). */
  deferPreamble(preamble: () => Buffer | string): void {
    this.pendingPreamble = preamble;
    this.preambleTimer = setTimeout(() => this.sendPreamble(), PREAMBLE_WAIT_MS);
    this.preambleTimer.unref();
  }

  /** Writes the held-back head now, if any. */
  sendPreamble(): void {
    const preamble = this.pendingPreamble;
    if (!preamble) return;
    this.pendingPreamble = undefined;
    clearTimeout(this.preambleTimer);
    if (!this.socket.destroyed) this.socket.write(preamble());
  }

  /** Counts and sends `payload` through the socket (transformed, if the listener has a transform). */
  write(payload: Payload): void {
    if (this.pendingPreamble) this.sendPreamble();
    this.settle();
    if (Array.isArray(payload)) {
      if (this.transform || this.rewrite) return this.write(Buffer.concat(payload));
      for (const frame of payload) this.bytesSent += frame.length;
      return this.send(payload);
    }
    if (this.rewrite) payload = this.rewrite(payload);
    this.bytesSent += payload.length;
    this.send(this.transform ? this.transform(payload) : payload);
  }

  /**
   * Sends what a writer thread could not (`core/engine/writers.ts`). The listener is
   * not written again while the socket queues bytes, so it is told when they
   * are out, whether or not the queue was long enough for a `drain`.
   */
  sendRest(bufs: Buffer[]): void {
    this.send(bufs, () => this.channel.drained(this));
  }

  /** Sends bytes already counted and transformed; the socket queues what the kernel does not take at once. */
  private send(payload: Payload, sent?: () => void): void {
    const socket = this.socket;
    if (Array.isArray(payload)) {
      socket.cork();
      for (let i = 0; i < payload.length; i++) socket.write(payload[i]!, i === payload.length - 1 ? sent : undefined);
      socket.uncork();
      if (socket.writableLength > 0) for (const frame of payload) this.pin(frame);
      return;
    }
    socket.write(payload, sent);
    if (socket.writableLength > 0) this.pin(payload);
  }

  private pin(b: Buffer): void {
    hold(b);
    (this.pinned ??= []).push(b);
  }

  /** Lets go of the pinned buffers once the socket has sent them all. */
  settle(): void {
    if (this.pinned && this.socket.writableLength === 0) this.unpin();
  }

  /** Lets go of the pinned buffers: the socket is closed (nothing queued is sent any more). */
  unpin(): void {
    clearTimeout(this.preambleTimer);
    this.pendingPreamble = undefined;
    const pinned = this.pinned;
    if (!pinned) return;
    this.pinned = undefined;
    for (const b of pinned) release(b);
  }

  /** Ends the stream cleanly (the bytes already queued are still delivered). */
  end(): void {
    if (this.closed) return;
    // A client still waiting for the head hears back before the close.
    this.sendPreamble();
    this.socket.end();
    this.channel.leave(this);
  }

  info() {
    return {
      id: this.id,
      remoteAddress: this.remoteAddress,
      protocol: this.protocol,
      user: this.user,
      connectedSeconds: Math.round((Date.now() - this.joinedAt) / 1000),
      bytesSent: this.bytesSent,
      framesSent: this.framesSent,
      framesSkipped: this.framesSkipped,
      lagFrames: this.lag,
    };
  }
}
