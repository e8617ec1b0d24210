// Audio formats end to end: ffmpeg loops a real encoder's sample into the real
// CLI with the format's frame filter; a listener that joins late gets a stream
// that begins as the format must (Ogg's first page a beginning-of-stream page,
// WebM's EBML header, FLAC's marker and metadata), decodes without a
// complaint, and is announced with the filter's Content-Type.
import { after, before, describe, test } from 'node:test';
import { assertLateJoin, FORMATS, makeSamples, mediaDir, noFfmpeg } from './media-lib.ts';

const formats = [FORMATS.oggOpus, FORMATS.oggVorbis, FORMATS.webmAudio, FORMATS.adts, FORMATS.flac];

describe('audio formats joined late', { skip: noFfmpeg, concurrency: true, timeout: 50_000 }, () => {
  const tmp = mediaDir();
  let samples: Awaited<ReturnType<typeof makeSamples>>;
  before(async () => { samples = await makeSamples(tmp.dir, formats); });
  after(() => tmp.cleanup());

  for (const format of formats) {
    test(`${format.label} (-frame-filter ${format.filter})`, { timeout: 30_000 }, () => assertLateJoin(tmp.dir, format, samples.get(format)!, format.filter));
  }
});
