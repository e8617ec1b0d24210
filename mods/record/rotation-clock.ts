/**
 * When a recording rotated by time starts its next file: boundaries are
 * counted from local midnight, so `1h` starts files on the hour and `15m` at
 * :00, :15, :30 and :45, whenever the server was started. A period that does
 * not divide the day restarts its count at midnight.
 */
export function nextRotation(now: number, everyMs: number): number {
  const d = new Date(now);
  const midnight = new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const nextMidnight = new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1).getTime();
  const next = midnight + (Math.floor((now - midnight) / everyMs) + 1) * everyMs;
  return Math.min(next, nextMidnight);
}
