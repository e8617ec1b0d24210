import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import { ADMIN, noFfmpeg, SOURCES, startHlsServer, type HlsServer } from './hls-lib.ts';

/** Set on every channel: hls.js must surface it as timed metadata (ID3 in packed audio and in TS). */
const TITLE = 'Station ID - Morning Show';

const CHROMIUM = '/usr/bin/chromium';

/** hls.js from the project's devDependencies; STREAMSERVE_HLSJS may name the file where it is installed elsewhere. */
function findHlsJs(): string | undefined {
  try {
    const file = fileURLToPath(import.meta.resolve('hls.js/dist/hls.min.js'));
    if (existsSync(file)) return file;
  } catch {
    // Not installed: try the override below.
  }
  const override = process.env.STREAMSERVE_HLSJS;
  return override && existsSync(override) ? override : undefined;
}

const hlsJs = findHlsJs();
const skip = noFfmpeg
  || (existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)`)
  || (hlsJs ? false : 'the hls.js npm package is not installed (npm install; it is a devDependency)');

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

/** The page plays the playlist given in its query through hls.js and reports how far it got. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>hls</title>
<audio id="a" muted></audio>
<script src="/hls.min.js"></script>
<script>
  window.report = { errors: [], fragments: 0, types: [], metadata: [] };
  const src = new URLSearchParams(location.search).get('src');
  const audio = document.getElementById('a');
  const hls = new Hls({ enableWorker: false });
  hls.on(Hls.Events.ERROR, (_e, d) => { if (d.fatal) window.report.errors.push(d.type + ': ' + d.details); });
  hls.on(Hls.Events.FRAG_BUFFERED, () => { window.report.fragments++; });
  hls.on(Hls.Events.FRAG_PARSING_METADATA, (_e, d) => { for (const m of d.samples) window.report.metadata.push(new TextDecoder().decode(m.data)); });
  hls.on(Hls.Events.BUFFER_CODECS, (_e, d) => { for (const t of Object.values(d)) if (t && t.container) window.report.types.push(t.container + ';' + t.codec); });
  hls.loadSource(src);
  hls.attachMedia(audio);
  hls.on(Hls.Events.MANIFEST_PARSED, () => { audio.play().catch((e) => window.report.errors.push('play: ' + e.message)); });
</script>`;

/** Resolves with currentTime once it passes 3 s; rejects on a fatal hls.js error or after 15 s. */
const WAIT_FOR_PLAYBACK = `new Promise((resolve, reject) => {
  const audio = document.getElementById('a');
  const timer = setTimeout(() => reject(new Error('currentTime ' + audio.currentTime + ', readyState ' + audio.readyState + ', errors ' + report.errors.join('; '))), 15000);
  audio.addEventListener('timeupdate', () => {
    if (report.errors.length) { clearTimeout(timer); reject(new Error(report.errors.join('; '))); }
    if (audio.currentTime > 3) { clearTimeout(timer); resolve(audio.currentTime); }
  });
})`;

describe('HLS in headless Chromium through hls.js', { skip, timeout: 90_000 }, () => {
  let hls: HlsServer;
  let pages: HttpServer;
  let pageBase: string;
  let profile: string;
  let context: BrowserContext;
  before(async () => {
    hls = await startHlsServer(SOURCES);
    const auth = `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`;
    for (const name of ['aac', 'mp3', 'ts']) {
      const res = await fetch(`${hls.base}/admin/metadata?mount=/${name}&mode=updinfo&song=${encodeURIComponent(TITLE)}`, { headers: { Authorization: auth } });
      assert.equal(res.status, 200, `title set on /${name}`);
    }
    // The page and hls.js come from another origin than the streams, so CORS is tested too.
    const script = readFileSync(hlsJs!);
    pages = createServer((req, res) => {
      if (req.url?.startsWith('/hls.min.js')) res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(script);
      else res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
    }).listen(0, '127.0.0.1');
    await once(pages, 'listening');
    pageBase = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
    profile = mkdtempSync(join(tmpdir(), 'streamserve-hls-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 20_000 });
  });
  after(async () => {
    await context?.close();
    pages?.close();
    await hls?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  for (const name of ['aac', 'mp3', 'ts'] as const) {
    test(`the ${name} channel plays`, { timeout: 25_000 }, async (t) => {
      const page = await context.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`${pageBase}/?src=${encodeURIComponent(`${hls.base}/${name}/index.m3u8`)}`, { timeout: 10_000 });
      // A string, not a function: tsx would wrap a function's inner closures in a helper the page lacks.
      const played = await page.evaluate(WAIT_FOR_PLAYBACK) as number;
      const report = await page.evaluate('window.report') as { errors: string[]; fragments: number; types: string[]; metadata: string[] };
      assert.ok(played > 3, `played ${played} s`);
      t.diagnostic(`${name}: played ${played.toFixed(1)} s as ${report.types.join(', ')}`);
      assert.deepEqual(report.errors, [], 'hls.js reported no fatal error');
      assert.ok(report.fragments >= 2, `${report.fragments} fragments buffered`);
      assert.ok(report.metadata.some((m) => m.includes(TITLE)), `hls.js surfaced the title as timed metadata (${report.metadata.length} samples)`);
      assert.deepEqual(pageErrors, []);
      await page.close();
    });
  }
});
