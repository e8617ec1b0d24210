// Headless Chromium plays the Ogg/Opus and WebM channels joined mid-stream: an
// <audio> element's clock runs on, so the browser got the stream header and
// decodes from the sync point it was started at.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import { BURST, FORMATS, makeSamples, mediaDir, mediaRead, noFfmpeg, serveLoop } from './media-lib.ts';

// Debian's chromium (CI installs it); playwright-core never downloads a browser.
const CHROMIUM = '/usr/bin/chromium';
const skip = noFfmpeg || (existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)`);
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];
const formats = [FORMATS.oggOpus, FORMATS.webmAudio];

describe('audio channels in headless Chromium', { skip, timeout: 60_000 }, () => {
  const tmp = mediaDir();
  let profile: string;
  let context: BrowserContext;
  let samples: Awaited<ReturnType<typeof makeSamples>>;
  before(async () => {
    samples = await makeSamples(tmp.dir, formats);
    profile = mkdtempSync(join(tmpdir(), 'streamserve-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 20_000 });
  });
  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    tmp.cleanup();
  });

  for (const format of formats) {
    test(`an <audio> element plays the ${format.label} channel joined mid-stream`, { timeout: 30_000 }, async () => {
      const sample = samples.get(format)!;
      const server = await serveLoop(sample, format.muxer, format.filter, BURST);
      const page = await context.newPage();
      try {
        await mediaRead(server, '/', 2, sample, format);
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        await page.goto(`http://127.0.0.1:${server.port}/status.json`, { timeout: 10_000 });
        // The clock may start at the stream position joined (WebM cluster times, Ogg granules): what counts is that it runs.
        const ran = await page.evaluate(() => new Promise<{ from: number; to: number }>((resolve, reject) => {
          const audio = document.createElement('audio');
          document.body.append(audio);
          let from = -1;
          const timer = setTimeout(() => reject(new Error(`currentTime stuck at ${audio.currentTime} (from ${from}, readyState ${audio.readyState}, error ${audio.error?.code} ${audio.error?.message})`)), 15_000);
          audio.addEventListener('error', () => { clearTimeout(timer); reject(new Error(`media error ${audio.error?.code}: ${audio.error?.message}`)); });
          audio.addEventListener('timeupdate', () => {
            if (from < 0) from = audio.currentTime;
            else if (audio.currentTime - from > 1.2) {
              clearTimeout(timer);
              resolve({ from, to: audio.currentTime });
              audio.pause();
              audio.removeAttribute('src');
              audio.load();
            }
          });
          audio.src = '/';
          audio.play().catch((e: Error) => { clearTimeout(timer); reject(e); });
        }));
        assert.ok(ran.to - ran.from > 1.2, `played from ${ran.from} s to ${ran.to} s`);
        assert.deepEqual(errors, []);
      } finally {
        await page.close();
        await server.stop();
      }
    });
  }
});
