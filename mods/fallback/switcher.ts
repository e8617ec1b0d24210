import type { Channel } from '../../core/engine/channel.ts';
import type { ChannelRegistry } from '../../core/engine/channels.ts';
import type { Listener } from '../../core/engine/listener.ts';
import type { Logger } from '../../core/kernel/log.ts';
import { describeFormat } from './format.ts';
import { place, type Spot } from './placement.ts';
import type { Plan } from './plan.ts';

/** How often a channel whose source just opened is looked at until it has a frame a decoder can start at. */
const READY_POLL_MS = 40;
/** A source that opened and sent no such frame within this long is no longer waited for (its next event starts again). */
const READY_WAIT_MS = 30_000;

/** The module's figures, for `/status.json` and `/metrics`. */
export interface FallbackFigures {
  /** Listener moves away from their own mount (to a fallback or a filler). */
  listenersMoved: number;
  /** Listener moves back to their own mount. */
  listenersReturned: number;
  /** Times a live fallback was passed over because its format differs (logged once each until a source reopens). */
  formatMismatches: number;
  /** Listeners away from their own mount now, by where they are. */
  displaced: { mount: string; on: string; listeners: number }[];
}

/**
 * Keeps every configured mount's listeners at the best place of its chain:
 * when a source goes down its listeners move (without being disconnected) to
 * the first live fallback or filler of the same format, and back when it
 * returns, at its first sync point. Acts only on source events and joins,
 * never per frame.
 */
export class Switcher {
  /** Listeners not at their own mount, and that mount (which may not exist now: a broadcaster gone past its grace). */
  private readonly away = new Map<Listener, string>();
  /** The ring position where each channel's current source run began: frames before it are stale. */
  private readonly runStart = new WeakMap<Channel, number>();
  private readonly waiting = new Map<Channel, NodeJS.Timeout>();
  /** Mismatches already logged (`from\nto`: a mount holds no whitespace), until either source opens again. */
  private readonly warned = new Set<string>();
  /** Every mount some chain names. */
  private readonly involved = new Set<string>();
  private moved = 0;
  private returned = 0;
  private mismatches = 0;

  /** Filler mounts. */
  private readonly fillers = new Set<string>();
  /** Mounts whose source opens only for listeners, told once that they cannot fall back. */
  private readonly onDemandTold = new Set<string>();

  constructor(
    private readonly plans: ReadonlyMap<string, Plan>,
    private readonly channels: ChannelRegistry,
    private readonly log: Logger,
  ) {
    for (const plan of plans.values()) {
      for (const step of plan.chain) {
        this.involved.add(step.mount);
        if (step.filler) this.fillers.add(step.mount);
      }
    }
  }

  /**
   * Whether a mount's listeners may be moved away: not when its source opens
   * only for listeners (close-idle, a directory's files), since with none left
   * it would close and never return.
   */
  private movable(ch: Channel): boolean {
    const spec = ch.source.spec;
    if (!spec || (!ch.settings.closeIdle && spec.onDemand !== true)) return true;
    if (!this.onDemandTold.has(ch.mount)) {
      this.onDemandTold.add(ch.mount);
      this.log.warn({ mount: ch.mount }, `${ch.mount} opens its source only while it has listeners: its listeners are not moved to its fallback`);
    }
    return false;
  }

  sourceOpened(ch: Channel): void {
    if (!this.involved.has(ch.mount)) return;
    // A filler's earlier loop is as good as its next one (and, paced, still plays out ahead of it).
    if (!this.fillers.has(ch.mount)) this.runStart.set(ch, ch.ring.head);
    for (const key of [...this.warned]) if (key.split('\n').includes(ch.mount)) this.warned.delete(key);
    this.awaitReady(ch);
  }

  sourceDown(ch: Channel): void {
    if (!this.involved.has(ch.mount)) return;
    this.stopWaiting(ch);
    // Listeners who join while it is down start on the fallback, not on a burst of what played before the drop.
    if (this.plans.has(ch.mount) && this.movable(ch)) ch.burstFloor = ch.ring.head;
    this.reconcile();
  }

  /** A listener joined: one who came to a mount whose source is down goes where its listeners are sent. */
  listenerJoined(l: Listener): void {
    const plan = this.plans.get(l.channel.mount);
    // A source that is up but has sent nothing yet is about to: its listeners wait for it.
    if (!plan || l.channel.source.up || !this.movable(l.channel)) return;
    // After `join` has finished with it.
    queueMicrotask(() => {
      if (!l.closed && l.channel.mount === plan.home) this.settle(plan, [l]);
    });
  }

  listenerLeft(l: Listener): void {
    this.away.delete(l);
  }

  stop(): void {
    for (const timer of this.waiting.values()) clearInterval(timer);
    this.waiting.clear();
  }

  figures(): FallbackFigures {
    const counts = new Map<string, { mount: string; on: string; listeners: number }>();
    for (const [l, home] of this.away) {
      const key = `${home}\n${l.channel.mount}`;
      const row = counts.get(key) ?? { mount: home, on: l.channel.mount, listeners: 0 };
      row.listeners++;
      counts.set(key, row);
    }
    return { listenersMoved: this.moved, listenersReturned: this.returned, formatMismatches: this.mismatches, displaced: [...counts.values()] };
  }

  private spot(mount: string): Spot | undefined {
    const ch = this.channels.get(mount);
    if (!ch || ch.closed) return undefined;
    const ring = ch.ring;
    // A filter that names no format (raw, chunk) is compared by its name once it has framed media.
    const format = ch.source.format ?? (ring.head > 0 ? { name: ch.settings.filter } : undefined);
    const ready = ch.source.up && format !== undefined && ring.prevSync(ring.head - 1, this.runStart.get(ch) ?? 0) >= 0;
    return { ready, format };
  }

  /** Polls a channel whose source opened until its first sync point is in the ring, then places listeners. */
  private awaitReady(ch: Channel): void {
    this.stopWaiting(ch);
    const since = performance.now();
    const check = () => {
      if (ch.closed || !ch.source.up || performance.now() - since > READY_WAIT_MS) return this.stopWaiting(ch);
      if (!this.spot(ch.mount)?.ready) return;
      this.stopWaiting(ch);
      this.reconcile();
    };
    const timer = setInterval(check, READY_POLL_MS);
    timer.unref();
    this.waiting.set(ch, timer);
  }

  private stopWaiting(ch: Channel): void {
    clearInterval(this.waiting.get(ch));
    this.waiting.delete(ch);
  }

  /** Places every listener of every plan: those at the plan's mount and those away from it. */
  private reconcile(): void {
    const byHome = new Map<string, Listener[]>();
    for (const [l, home] of this.away) {
      const list = byHome.get(home);
      if (list) list.push(l);
      else byHome.set(home, [l]);
    }
    for (const plan of this.plans.values()) {
      const awayFromIt = byHome.get(plan.home) ?? [];
      const homeCh = this.channels.get(plan.home);
      const atHome = homeCh && !homeCh.source.up && this.movable(homeCh) ? homeCh.listeners.filter((l) => !this.away.has(l)) : [];
      if (awayFromIt.length || atHome.length) this.settle(plan, [...awayFromIt, ...atHome]);
    }
  }

  /** Moves the listeners of one plan, grouped by where they are now (they share a placement). */
  private settle(plan: Plan, listeners: Listener[]): void {
    const groups = new Map<Channel, Listener[]>();
    for (const l of listeners) {
      const list = groups.get(l.channel);
      if (list) list.push(l);
      else groups.set(l.channel, [l]);
    }
    for (const [from, group] of groups) {
      const { target, mismatched } = place(plan, from.mount, (m) => this.spot(m));
      for (const m of mismatched) this.mismatch(from, m);
      if (target === from.mount) continue;
      const to = this.channels.get(target)!;
      let n = 0;
      for (const l of group) {
        if (!from.moveListener(l, to)) continue;
        n++;
        if (target === plan.home) {
          this.away.delete(l);
          this.returned++;
        } else {
          if (!this.away.has(l)) this.moved++;
          this.away.set(l, plan.home);
        }
      }
      if (!n) continue;
      const back = target === plan.home;
      this.log.info({ mount: plan.home, from: from.mount, to: target, listeners: n },
        back ? `${n} listener(s) moved back from ${from.mount} to ${target}` : `${n} listener(s) of ${plan.home} moved from ${from.mount} to ${target}`);
    }
  }

  private mismatch(from: Channel, mount: string): void {
    const key = `${from.mount}\n${mount}`;
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.mismatches++;
    const fmt = describeFormat(this.spot(from.mount)?.format);
    const other = describeFormat(this.spot(mount)?.format);
    this.log.warn({ mount: from.mount, fallback: mount, format: fmt, fallbackFormat: other },
      `fallback ${mount} streams ${other} but ${from.mount} streams ${fmt}: its listeners are not moved there`);
  }
}
