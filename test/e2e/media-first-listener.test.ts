// The first listener of a channel whose source opens for it (-close-idle): it
// is there from the stream's first byte, before the filter has seen any, and
// still is told the filter's Content-Type, and gets a stream that decodes from
// its beginning (the header, then every frame).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decode, FORMATS, makeSamples, mediaDir, noFfmpeg, recordUntilStop, serveLoop, type MediaFormat } from './media-lib.ts';

/** The formats, each with the filter its channel names: Ogg's own, and auto for WebM (audio or video is known only from its tracks). */
const cases: [MediaFormat, string][] = [[FORMATS.oggOpus, 'ogg'], [FORMATS.webmAudio, 'auto'], [FORMATS.h264, 'h264']];

describe('the first listener of a -close-idle channel', { skip: noFfmpeg, concurrency: true, timeout: 50_000 }, () => {
  const tmp = mediaDir();
  let samples: Awaited<ReturnType<typeof makeSamples>>;
  before(async () => { samples = await makeSamples(tmp.dir, cases.map(([f]) => f)); });
  after(() => tmp.cleanup());

  for (const [format, filter] of cases) {
    test(`${format.label} (-frame-filter ${filter}): the filter's Content-Type, and the stream from its start`, { timeout: 30_000 }, async () => {
      const sample = samples.get(format)!;
      const server = await serveLoop(sample, format.muxer, filter, ['-close-idle']);
      try {
        const rec = await recordUntilStop(server, '/', 3000);
        assert.equal(rec.status, 200);
        assert.equal(format.badStart(rec.body), undefined, 'the recording begins as the format does');
        const file = join(tmp.dir, `first-${format.label.replace(/\W+/g, '-')}.rec`);
        writeFileSync(file, rec.body);
        const at = await format.startSeconds?.(file, rec.body);
        if (at !== undefined) assert.ok(at < 0.5, `the recording begins at the stream's start, not ${at} s in`);
        const decoded = await decode(file, format.demuxer);
        assert.equal(decoded.errors, '', 'ffmpeg decodes the recording without a complaint');
        assert.ok(decoded.seconds >= 0.5, `some media decoded, not ${decoded.seconds} s`);
        assert.ok(format.contentTypes.includes(rec.contentType), `Content-Type ${JSON.stringify(rec.contentType)}, expected ${format.contentTypes.join(' or ')}`);
      } finally {
        await server.stop();
      }
    });
  }
});
