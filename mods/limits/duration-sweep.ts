import type { ChannelRegistry } from '../../core/engine/channels.ts';
import type { Listener } from '../../core/engine/listener.ts';

/** The sweep looks this often at most, and at least once a second. */
const MIN_PERIOD_MS = 100;
const MAX_PERIOD_MS = 1000;

/**
 * One shared timer that ends listeners connected longer than their mount
 * allows: a look at each listener's join time per period, instead of a timer
 * per listener. A listener leaves at most one period after its time is up; the
 * period is a tenth of the shortest limit, between 100 ms and 1 s.
 */
export class DurationSweep {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly channels: ChannelRegistry,
    /** The limit at a mount in ms (0 = none). */
    private readonly limitAt: (mount: string) => number,
    private readonly ended: (listener: Listener, limitMs: number) => void,
  ) {}

  start(shortestMs: number): void {
    if (shortestMs <= 0 || this.timer) return;
    const period = Math.min(MAX_PERIOD_MS, Math.max(MIN_PERIOD_MS, Math.floor(shortestMs / 10)));
    this.timer = setInterval(() => this.sweep(Date.now()), period).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  sweep(now: number): void {
    for (const channel of this.channels.all()) {
      const limit = this.limitAt(channel.mount);
      if (limit <= 0 || !channel.listeners.length) continue;
      // end() swap-removes from the array being read: collect first.
      const due = channel.listeners.filter((l) => now - l.joinedAt >= limit);
      for (const l of due) {
        l.end();
        this.ended(l, limit);
      }
    }
  }
}
