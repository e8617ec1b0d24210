import type { Framer, FramerOptions } from '../core/frame.ts';
import type { Kernel } from '../core/kernel.ts';
import { defineModule } from '../core/module.ts';
import { AutoFramer, type Candidate } from './filters/auto.ts';
import { ChunkFramer } from './filters/chunk.ts';
import { Mp3Framer } from './filters/mp3.ts';
import { sniffMp3 } from './filters/mp3-sniff.ts';
import { RawFramer } from './filters/raw.ts';

interface FilterEntry {
  /** What users type: the name, then its aliases. */
  names: string[];
  create(options: FramerOptions): Framer;
  /** Recognises the format's first bytes, for `auto`; filters without one are never picked by it. */
  sniff?(head: Buffer): boolean;
}

/**
 * The built-in filters. Order is `auto`'s order of trying: formats with a
 * magic number of their own before those found by sync words.
 */
const FILTERS: FilterEntry[] = [
  { names: ['raw'], create: (o) => new RawFramer(o) },
  { names: ['chunk'], create: (o) => new ChunkFramer(o) },
  { names: ['mp3'], create: (o) => new Mp3Framer(o), sniff: sniffMp3 },
];

/** The frame filters streamserve has, and `auto`, which picks one by the stream's first bytes. */
export default defineModule({
  name: 'filters',
  description: 'frame filters: raw, chunk, mp3, and auto (picks one by the stream\'s first bytes)',
  apply(kernel: Kernel) {
    const hooks = kernel.hooks.frameFilter;
    for (const f of FILTERS) for (const name of f.names) hooks.for(name).tap('filters', (options) => f.create(options));
    const candidates: Candidate[] = FILTERS.filter((f) => f.sniff).map((f) => ({ name: f.names[0]!, sniff: f.sniff! }));
    // Through the hooks, so that an operator's module that taps a filter name first is what auto uses too.
    hooks.for('auto').tap('filters', (options) => new AutoFramer(options, candidates, (name, o) => hooks.get(name)?.call(o)));
  },
});
