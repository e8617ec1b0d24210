import { basename } from 'node:path';
import { ERR } from '../../core/kernel/errors.ts';
import type { MountFallback } from './settings.ts';

/** One place a listener may be: a mount, and whether it is a filler loop (left as soon as anything live returns). */
export interface Step {
  mount: string;
  filler: boolean;
}

/** Where the listeners of one mount go, best first: the mount itself, its fallbacks in order, then fillers. */
export interface Plan {
  home: string;
  chain: Step[];
  override: boolean;
}

/** A filler file and the hidden mount that plays it. */
export interface Filler {
  mount: string;
  path: string;
}

/** Filler channels live under this prefix, one per distinct file. */
export const FILLER_PREFIX = '/.filler/';

const setting = (mount: string, key: string) => `fallback.mounts[${JSON.stringify(mount)}].${key}`;

/**
 * Follows every mount's `fallback` links and refuses a loop (a mount reached
 * twice), naming the setting that closes it. Chains are finite afterwards.
 */
export function checkLoops(mounts: Readonly<Record<string, MountFallback>>): void {
  for (const start of Object.keys(mounts)) {
    const seen = [start];
    let at = start;
    for (let next = mounts[at]?.fallback; next !== undefined; next = mounts[at]?.fallback) {
      if (seen.includes(next)) throw ERR.FALLBACK_LOOP(setting(at, 'fallback'), [...seen, next].join(' → '));
      seen.push(next);
      at = next;
    }
  }
}

/** A mount for each distinct filler file: `/.filler/NAME`, numbered when two files share a name. */
export function fillerMounts(mounts: Readonly<Record<string, MountFallback>>, resolvePath: (p: string) => string): Map<string, Filler> {
  const byPath = new Map<string, Filler>();
  const taken = new Set<string>();
  for (const entry of Object.values(mounts)) {
    if (entry.filler === undefined) continue;
    const path = resolvePath(entry.filler);
    if (byPath.has(path)) continue;
    const name = basename(path).replace(/[^\w.-]/g, '_') || 'filler';
    let mount = FILLER_PREFIX + name;
    for (let n = 2; taken.has(mount); n++) mount = `${FILLER_PREFIX}${name}-${n}`;
    taken.add(mount);
    byPath.set(path, { mount, path });
  }
  return byPath;
}

/**
 * Each configured mount's chain: itself, then its fallback's chain, then its
 * own filler; a mount met twice keeps its first place. Call `checkLoops` first.
 */
export function buildPlans(
  mounts: Readonly<Record<string, MountFallback>>,
  fillers: ReadonlyMap<string, Filler>,
  resolvePath: (p: string) => string,
): Map<string, Plan> {
  const chainOf = (mount: string): Step[] => {
    const entry = mounts[mount];
    const steps: Step[] = [{ mount, filler: false }];
    if (entry?.fallback !== undefined) steps.push(...chainOf(entry.fallback));
    if (entry?.filler !== undefined) steps.push({ mount: fillers.get(resolvePath(entry.filler))!.mount, filler: true });
    return steps;
  };
  const plans = new Map<string, Plan>();
  for (const [home, entry] of Object.entries(mounts)) {
    const seen = new Set<string>();
    const chain = chainOf(home).filter((s) => !seen.has(s.mount) && seen.add(s.mount));
    plans.set(home, { home, chain, override: entry.fallbackOverride !== false });
  }
  return plans;
}
