/**
 * The parameter sets (H.264 SPS/PPS, HEVC VPS/SPS/PPS) last seen in a stream,
 * by kind and id: what a decoder needs before a key frame, and so the stream
 * header a late listener gets when the encoder does not repeat them.
 */

/** The largest parameter set kept: real ones are tens to hundreds of bytes. */
export const MAX_PARAMETER_SET = 64 * 1024;
/** All kept parameter sets together: ids are few (32 SPS, 256 PPS in H.264), but each may be large. */
export const MAX_PARAMETER_SETS_TOTAL = 256 * 1024;

const START = Buffer.from([0, 0, 0, 1]);

export interface ParameterSet<T> {
  /** The NAL unit (header and payload, no start code), owned. */
  readonly nal: Buffer;
  /** The id of the parameter set of the kind before it this one refers to (a PPS's SPS), -1 for none. */
  readonly parent: number;
  readonly info: T;
  /** When it was last stored, to drop the stalest first when the total is over its bound. */
  stamp: number;
}

export class ParameterSetStore<T> {
  /** One map per kind, in decoding order (VPS, SPS, PPS): the header lists them in that order. */
  private readonly kinds: Map<number, ParameterSet<T>>[];
  private total = 0;
  private clock = 0;
  private cached: Buffer | undefined;
  private dirty = false;

  constructor(kinds: number) {
    this.kinds = Array.from({ length: kinds }, () => new Map());
  }

  get(kind: number, id: number): ParameterSet<T> | undefined {
    return this.kinds[kind]?.get(id);
  }

  /**
   * Keeps `nal` (copied) as parameter set `id` of `kind`. A changed one makes
   * those that refer to it stale (a PPS parsed against another SPS), so they
   * are dropped until the encoder sends them again, as it must.
   */
  put(kind: number, id: number, parent: number, nal: Buffer, info: T): void {
    const map = this.kinds[kind]!;
    const old = map.get(id);
    if (old && old.nal.equals(nal) && old.parent === parent) {
      old.stamp = ++this.clock;
      return;
    }
    if (old) {
      this.remove(kind, id);
      this.dropChildren(kind, id);
    }
    // Too large to keep: the old one is gone all the same, being no longer what the stream uses.
    if (nal.length > MAX_PARAMETER_SET) return;
    map.set(id, { nal: Buffer.from(nal), parent, info, stamp: ++this.clock });
    this.total += nal.length + START.length;
    while (this.total > MAX_PARAMETER_SETS_TOTAL) this.evictStalest();
    this.dirty = true;
  }

  /** Start code + NAL of every kept parameter set, kinds in order; a new Buffer after each change. */
  header(): Buffer | undefined {
    if (this.dirty) {
      this.dirty = false;
      const parts: Buffer[] = [];
      for (const map of this.kinds) for (const ps of map.values()) parts.push(START, ps.nal);
      this.cached = parts.length ? Buffer.concat(parts) : undefined;
    }
    return this.cached;
  }

  private remove(kind: number, id: number): void {
    const ps = this.kinds[kind]!.get(id);
    if (!ps) return;
    this.kinds[kind]!.delete(id);
    this.total -= ps.nal.length + START.length;
    this.dirty = true;
  }

  private dropChildren(kind: number, id: number): void {
    const children = this.kinds[kind + 1];
    if (!children) return;
    for (const [childId, ps] of [...children]) {
      if (ps.parent !== id) continue;
      this.remove(kind + 1, childId);
      this.dropChildren(kind + 1, childId);
    }
  }

  private evictStalest(): void {
    let kind = -1;
    let id = -1;
    let stamp = Infinity;
    this.kinds.forEach((map, k) => {
      for (const [i, ps] of map) if (ps.stamp < stamp) [kind, id, stamp] = [k, i, ps.stamp];
    });
    this.remove(kind, id);
  }
}
