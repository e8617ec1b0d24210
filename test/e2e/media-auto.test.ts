// -frame-filter auto end to end: the same late-join checks as media-video and
// media-audio, with the format found by sniffing the stream's first bytes.
// ADTS is among them because its sync word looks like MP3's; H.264 because
// its start codes can turn up anywhere.
import { after, before, describe, test } from 'node:test';
import { assertLateJoin, FORMATS, makeSamples, mediaDir, noFfmpeg } from './media-lib.ts';

const formats = [FORMATS.oggOpus, FORMATS.mpegts, FORMATS.h264, FORMATS.adts];

describe('-frame-filter auto joined late', { skip: noFfmpeg, concurrency: true, timeout: 50_000 }, () => {
  const tmp = mediaDir();
  let samples: Awaited<ReturnType<typeof makeSamples>>;
  before(async () => { samples = await makeSamples(tmp.dir, formats); });
  after(() => tmp.cleanup());

  for (const format of formats) {
    test(`${format.label} found by auto`, { timeout: 30_000 }, () => assertLateJoin(tmp.dir, format, samples.get(format)!, 'auto'));
  }
});
