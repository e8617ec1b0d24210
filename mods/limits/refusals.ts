/** What a limit refused or ended: listeners at a full channel or server, broadcasters over the source limit, listeners out of time. */
export type LimitKind = 'channelListeners' | 'serverListeners' | 'sources' | 'listenerDuration';

export const LIMIT_KINDS: readonly LimitKind[] = ['channelListeners', 'serverListeners', 'sources', 'listenerDuration'];

/** Counts per kind since start (the figures /status.json and /metrics show). */
export class LimitCounts {
  private readonly counts = new Map<LimitKind, number>(LIMIT_KINDS.map((k) => [k, 0]));

  add(kind: LimitKind): void {
    this.counts.set(kind, this.counts.get(kind)! + 1);
  }

  get(kind: LimitKind): number {
    return this.counts.get(kind)!;
  }

  snapshot(): Record<LimitKind, number> {
    return Object.fromEntries(this.counts) as Record<LimitKind, number>;
  }
}
