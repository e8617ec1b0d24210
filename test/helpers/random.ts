/** Seeded randomness for tests: the same seed gives the same bytes and cuts on every run. */

/** mulberry32: a small, fast generator of floats in [0, 1). */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Cuts `input` into chunks of random sizes in [1, max], as a source's reads would. */
export function chop(input: Buffer, max: number, seed: number): Buffer[] {
  const r = rng(seed);
  const out: Buffer[] = [];
  for (let i = 0; i < input.length;) {
    const n = 1 + Math.floor(r() * max);
    out.push(input.subarray(i, i + n));
    i += n;
  }
  return out;
}
