import type { Channel } from '../../core/engine/channel.ts';

/** One relayed channel's record of its origin going away and coming back. */
interface Record {
  /** When the running connection ended (performance.now()), while it is not back. */
  downSince: number | undefined;
  outages: number;
  outageMs: number;
  lastError: string | undefined;
  /** A connection has delivered: failures before the first one are no outage, only a failing start. */
  wasUp: boolean;
  /** The next end is a close on purpose. */
  closing: boolean;
}

/**
 * Counts the time each relayed channel spent without its origin: from the end
 * of a connection to the next one, so an origin that blinked shows as an
 * outage of that many milliseconds. A connection closed on purpose (idle) is
 * no outage.
 */
export class Outages {
  private readonly records = new WeakMap<Channel, Record>();

  private of(channel: Channel): Record {
    let r = this.records.get(channel);
    if (!r) this.records.set(channel, (r = { downSince: undefined, outages: 0, outageMs: 0, lastError: undefined, wasUp: false, closing: false }));
    return r;
  }

  opened(channel: Channel): void {
    const r = this.of(channel);
    r.wasUp = true;
    if (r.downSince !== undefined) {
      r.outages++;
      r.outageMs += performance.now() - r.downSince;
      r.downSince = undefined;
    }
  }

  ended(channel: Channel, error?: string): void {
    const r = this.of(channel);
    if (error) r.lastError = error;
    if (r.closing) {
      r.closing = false;
      return;
    }
    if (r.wasUp) r.downSince ??= performance.now();
  }

  /** About to be closed on purpose (idle): that end, and the next connection, are no outage. */
  closingOnPurpose(channel: Channel): void {
    const r = this.of(channel);
    r.closing = true;
    r.downSince = undefined;
  }

  figures(channel: Channel): { outages: number; outageMs: number; down: boolean; lastError: string | undefined } {
    const r = this.of(channel);
    const current = r.downSince === undefined ? 0 : performance.now() - r.downSince;
    return { outages: r.outages, outageMs: Math.round(r.outageMs + current), down: r.downSince !== undefined, lastError: r.lastError };
  }
}
