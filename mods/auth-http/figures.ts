/** Upper bounds (ms) of the latency buckets, as Prometheus histograms count them (cumulative). */
export const LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000] as const;

export type FailureKind = 'timeout' | 'unreachable' | 'status' | 'answer';
export const FAILURE_KINDS: readonly FailureKind[] = ['timeout', 'unreachable', 'status', 'answer'];

/** What the module did since start: questions asked, answered from the cache, failed, and how long the backend took. */
export class AuthFigures {
  asked = 0;
  cacheHits = 0;
  readonly failures: Record<FailureKind, number> = { timeout: 0, unreachable: 0, status: 0, answer: 0 };
  latencyCount = 0;
  latencySumMs = 0;
  latencyMaxMs = 0;
  private readonly buckets = LATENCY_BUCKETS_MS.map(() => 0);
  /** Called with each backend round trip in seconds (the /metrics histogram, when loaded). */
  onLatency: ((seconds: number) => void) | undefined;

  /** A round trip that got an HTTP answer (a failure of status or shape included; timeouts are not latencies). */
  latency(ms: number): void {
    this.latencyCount++;
    this.latencySumMs += ms;
    this.latencyMaxMs = Math.max(this.latencyMaxMs, ms);
    LATENCY_BUCKETS_MS.forEach((le, i) => { if (ms <= le) this.buckets[i]!++; });
    this.onLatency?.(ms / 1000);
  }

  snapshot() {
    return {
      asked: this.asked,
      cacheHits: this.cacheHits,
      failures: { ...this.failures },
      latencyMs: {
        count: this.latencyCount,
        sum: Math.round(this.latencySumMs * 1000) / 1000,
        max: Math.round(this.latencyMaxMs * 1000) / 1000,
        buckets: Object.fromEntries(LATENCY_BUCKETS_MS.map((le, i) => [String(le), this.buckets[i]!])),
      },
    };
  }
}
