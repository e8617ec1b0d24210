import type { Framer, FramerOptions } from '../../core/contracts/frame.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import { defineModule } from '../../core/kernel/module.ts';
import { AdtsFramer, sniffAdts } from './adts.ts';
import { AutoFramer, type Candidate } from './auto.ts';
import { ChunkFramer } from './chunk.ts';
import { FlacFramer, sniffFlac } from './flac.ts';
import { H264Framer, sniffH264 } from './h264.ts';
import { HevcFramer, sniffHevc } from './hevc.ts';
import { Mp3Framer } from './mp3.ts';
import { sniffMp3 } from './mp3-sniff.ts';
import { MpegTsFramer, sniffMpegTs } from './mpegts.ts';
import { OggFramer, sniffOgg } from './ogg.ts';
import { RawFramer } from './raw.ts';
import { sniffWebm, WebmFramer } from './webm.ts';

// The filters module's public contract: what other modules may import (as `../filters/index.ts`).
export { MAX_MPEG_FRAME } from './mp3.ts';
// MPEG-TS tables, for modules that rewrite a transport stream's PMT (HLS timed metadata).
export { crc32Mpeg, PACKET, parsePat, parsePmt, SectionReader } from './mpegts-psi.ts';
export { timestamp as pesTimestamp } from './mpegts.ts';

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
  { names: ['flac'], create: (o) => new FlacFramer(o), sniff: sniffFlac },
  { names: ['ogg'], create: (o) => new OggFramer(o), sniff: sniffOgg },
  { names: ['webm', 'mkv', 'matroska'], create: (o) => new WebmFramer(o), sniff: sniffWebm },
  { names: ['mpegts', 'ts'], create: (o) => new MpegTsFramer(o), sniff: sniffMpegTs },
  { names: ['hevc', 'h265'], create: (o) => new HevcFramer(o), sniff: sniffHevc },
  { names: ['h264'], create: (o) => new H264Framer(o), sniff: sniffH264 },
  { names: ['adts', 'aac'], create: (o) => new AdtsFramer(o), sniff: sniffAdts },
  { names: ['mp3'], create: (o) => new Mp3Framer(o), sniff: sniffMp3 },
];

/** The frame filters streamserve has, and `auto`, which picks one by the stream's first bytes. */
export default defineModule({
  name: 'filters',
  description: 'frame filters: raw, chunk, mp3, adts, flac, ogg, webm, mpegts, h264, hevc, and auto (picks one by the stream\'s first bytes)',
  apply(kernel: Kernel) {
    const hooks = kernel.hooks.frameFilter;
    for (const f of FILTERS) for (const name of f.names) hooks.for(name).tap('filters', (options) => f.create(options));
    const candidates: Candidate[] = FILTERS.filter((f) => f.sniff).map((f) => ({ name: f.names[0]!, sniff: f.sniff! }));
    // Through the hooks, so that an operator's module that taps a filter name first is what auto uses too.
    hooks.for('auto').tap('filters', (options) => new AutoFramer(options, candidates, (name, o) => kernel.framer(name, o)));
  },
});
