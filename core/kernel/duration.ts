/** Go duration syntax (`300ms`, `1m30s`, `-1.5h`, `0`), as streamserve's flags take it. */
const UNITS: Record<string, number> = {
  ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000,
};
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Milliseconds for a Go duration string, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  let s = text.trim();
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < s.length) {
    const m = PART.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * UNITS[m[2]!]!;
  }
  // Go counts whole nanoseconds; rounding there keeps 1.1s at 1100 ms, not 1100.0000000000002.
  return sign * (Math.round(total * 1e6) / 1e6) + 0; // + 0: "-0s" is 0, not -0
}

/** Formats milliseconds the way Go prints a duration (for -help defaults and logs). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  if (rest < 1e-3) return `${sign}${Math.round(rest * 1e6)}ns`;
  if (rest < 1) return `${sign}${+(rest * 1e3).toFixed(3)}µs`;
  if (rest < 1000) return `${sign}${+rest.toFixed(6)}ms`;
  let out = '';
  const h = Math.floor(rest / 3_600_000);
  if (h) { out += `${h}h`; rest -= h * 3_600_000; }
  const m = Math.floor(rest / 60_000);
  if (h || m) { out += `${m}m`; rest -= m * 60_000; }
  out += `${+(rest / 1000).toFixed(9)}s`;
  return sign + out;
}
