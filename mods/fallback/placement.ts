import type { StreamFormat } from '../../core/contracts/frame.ts';
import { sameFormat } from './format.ts';
import type { Plan } from './plan.ts';

/** What placement needs to know of a mount now. */
export interface Spot {
  /** A source is live and has sent a frame a decoder can start at since it opened. */
  ready: boolean;
  format: StreamFormat | undefined;
}

/** Where the listeners of a plan that are now at `current` should be, and the ready mounts skipped for their format. */
export interface Placement {
  target: string;
  mismatched: string[];
}

/**
 * The first ready mount of the chain whose format the listeners can go on
 * with, or `current` when none is (listeners wait where they are rather than
 * hear silence elsewhere or a stream their decoder cannot follow). Without
 * `fallbackOverride`, listeners on a live fallback stay there when an earlier
 * mount returns; a filler is always left for anything live.
 */
export function place(plan: Plan, current: string, spotOf: (mount: string) => Spot | undefined): Placement {
  const here = spotOf(current);
  const mismatched: string[] = [];
  if (!plan.override && current !== plan.home && here?.ready) {
    const step = plan.chain.find((s) => s.mount === current);
    if (step && !step.filler) return { target: current, mismatched };
  }
  for (const step of plan.chain) {
    if (step.mount === current) {
      if (here?.ready) return { target: current, mismatched };
      continue;
    }
    const spot = spotOf(step.mount);
    if (!spot?.ready) continue;
    // Listeners that have had no media yet can start on anything; the others only on the same format.
    if (here?.format && !sameFormat(here.format, spot.format)) {
      mismatched.push(step.mount);
      continue;
    }
    return { target: step.mount, mismatched };
  }
  return { target: current, mismatched };
}
