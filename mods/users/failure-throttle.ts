/**
 * Failed logins per remote address: after `max` failures within `windowMs` the
 * address is refused until the window that began with its first failure ends,
 * which makes guessing a password or token over the network slow. Success does
 * not reset the count (one known account must not unlock guessing others).
 */
export class FailureThrottle {
  private readonly byAddress = new Map<string, { count: number; since: number }>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    /** Addresses remembered at most; the oldest are forgotten first. */
    private readonly capacity = 10_000,
  ) {}

  blocked(address: string): boolean {
    if (this.max <= 0) return false;
    const e = this.current(address);
    return e !== undefined && e.count >= this.max;
  }

  fail(address: string): void {
    if (this.max <= 0) return;
    const e = this.current(address);
    if (e) {
      e.count++;
      return;
    }
    if (this.byAddress.size >= this.capacity) this.byAddress.delete(this.byAddress.keys().next().value!);
    this.byAddress.set(address, { count: 1, since: this.now() });
  }

  private current(address: string) {
    const e = this.byAddress.get(address);
    if (e && this.now() - e.since >= this.windowMs) {
      this.byAddress.delete(address);
      return undefined;
    }
    return e;
  }
}
