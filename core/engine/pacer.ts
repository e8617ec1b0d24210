/**
 * Releases items on a clock: each item costs some milliseconds (an mp3 frame's
 * duration, or bytes ÷ bandwidth) and the next is released when the previous one's
 * cost has elapsed. Tells its owner when to pause reading (queue ahead of the
 * clock by more than `aheadMs`) and when to resume.
 */
export class Pacer<T> {
  /** Released entries are cleared at once: until compaction they would keep their items (source buffers) alive. */
  private queue: ({ item: T; cost: number } | undefined)[] = [];
  private head = 0;
  /** When the next item is due; -Infinity so the first item starts the clock even in a process younger than the catch-up allowance. */
  private clock = -Infinity;
  private queuedMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private paused = false;
  private drained: (() => void)[] = [];

  constructor(
    private readonly release: (item: T) => void,
    private readonly setPaused: (paused: boolean) => void,
    private readonly aheadMs = 2000,
    /** Told of each item dropped unreleased by `clear` (to let go of what it holds). */
    private readonly drop?: (item: T) => void,
  ) {}

  /** Items queued and not yet released. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /** Calls `done` once every queued item has been released (at once when none is queued). */
  whenDrained(done: () => void): void {
    if (this.pending === 0) done();
    else this.drained.push(done);
  }

  add(item: T, costMs: number): void {
    this.queue.push({ item, cost: costMs });
    this.queuedMs += costMs;
    if (!this.timer) this.drain();
    if (!this.paused && this.queuedMs > this.aheadMs) {
      this.paused = true;
      this.setPaused(true);
    }
  }

  private readonly drain = (): void => {
    this.timer = undefined;
    const now = performance.now();
    // A source that fell behind (starved, reopened) restarts the clock instead of bursting to catch up.
    if (this.clock < now - 200) this.clock = now;
    while (this.head < this.queue.length && this.clock <= now) {
      const { item, cost } = this.queue[this.head]!;
      this.queue[this.head++] = undefined;
      this.clock += cost;
      this.queuedMs -= cost;
      this.release(item);
    }
    if (this.head > 1024 || this.head === this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.paused && this.queuedMs < this.aheadMs / 2) {
      this.paused = false;
      this.setPaused(false);
    }
    if (this.head < this.queue.length) this.timer = setTimeout(this.drain, Math.max(1, this.clock - now));
    else if (this.drained.length) for (const done of this.drained.splice(0)) done();
  };

  /** Drops what is queued; callers waiting for the queue to drain are not called. */
  clear(): void {
    this.drained = [];
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.drop) for (let i = this.head; i < this.queue.length; i++) this.drop(this.queue[i]!.item);
    this.queue = [];
    this.head = 0;
    this.queuedMs = 0;
    if (this.paused) {
      this.paused = false;
      this.setPaused(false);
    }
  }
}
