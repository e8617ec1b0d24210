import { accessSync, constants } from 'node:fs';
import { resolve } from 'node:path';
import { ERR } from '../../core/kernel/errors.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import { defineModule } from '../../core/kernel/module.ts';
import { startFiller } from './filler.ts';
import { buildPlans, checkLoops, fillerMounts } from './plan.ts';
import { fallbackSchema, type FallbackSettings } from './settings.ts';
import { Switcher, type FallbackFigures } from './switcher.ts';

export type { FallbackFigures } from './switcher.ts';

/** What other modules read of this one (`kernel.service('fallback')`). */
export interface FallbackApi {
  figures(): FallbackFigures;
}

declare module '../../core/kernel/kernel.ts' {
  interface Services {
    /** Listeners moved to fallbacks and fillers (`kernel.service('fallback')`). */
    fallback: FallbackApi;
  }
}

/**
 * Fallback mounts and filler loops: when a mount's source goes down (a
 * broadcaster drops, a pulled source fails), its listeners move without being
 * disconnected to its fallback (or the fallback's, or a filler file) and come
 * back when the source returns. Nothing configured: nothing done.
 */
export default defineModule<FallbackSettings>({
  name: 'fallback',
  description: 'fallback mounts and filler loops for listeners of a source that went down',
  schema: fallbackSchema,
  apply(kernel: Kernel, s: FallbackSettings) {
    const mounts = s.mounts;
    if (!Object.keys(mounts).length) return;
    checkLoops(mounts);
    const fillers = fillerMounts(mounts, (p) => resolve(p));
    for (const [mount, entry] of Object.entries(mounts)) {
      if (entry.filler === undefined) continue;
      try {
        accessSync(entry.filler, constants.R_OK);
      } catch (err) {
        throw ERR.FALLBACK_FILLER_UNREADABLE(`fallback.mounts[${JSON.stringify(mount)}].filler`, entry.filler, (err as Error).message);
      }
    }
    const plans = buildPlans(mounts, fillers, (p) => resolve(p));
    const switcher = new Switcher(plans, kernel.channels, kernel.logger('fallback'));
    kernel.provide('fallback', { figures: () => switcher.figures() });

    const hooks = kernel.hooks;
    hooks.sourceOpened.tap('fallback', (channel) => switcher.sourceOpened(channel));
    hooks.sourceClosed.tap('fallback', (channel) => switcher.sourceDown(channel));
    hooks.sourceFailed.tap('fallback', (channel) => switcher.sourceDown(channel));
    hooks.listenerJoined.tap('fallback', (l) => switcher.listenerJoined(l));
    hooks.listenerLeave.tap('fallback', (l) => switcher.listenerLeft(l));
    hooks.start.tap('fallback', () => {
      for (const filler of fillers.values()) startFiller(kernel, filler);
    });
    hooks.stop.tap('fallback', () => switcher.stop());
    hooks.stats.tap('fallback', (stats) => {
      stats.fallback = switcher.figures();
      return stats;
    });
  },
});
