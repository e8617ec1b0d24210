import type { Kernel } from '../core/kernel.ts';
import { defineModule } from '../core/module.ts';
import { Mp3Framer } from './filters/mp3.ts';
import { RawFramer } from './filters/raw.ts';

/** The frame filters streamserve has: `raw` (fixed-size frames) and `mp3` (MPEG audio frames). */
export default defineModule({
  name: 'filters',
  description: 'frame filters: raw (fixed-size frames) and mp3 (MPEG audio frames with their duration)',
  apply(kernel: Kernel) {
    kernel.hooks.frameFilter.for('raw').tap('filters', (options) => new RawFramer(options));
    kernel.hooks.frameFilter.for('mp3').tap('filters', (options) => new Mp3Framer(options));
  },
});
