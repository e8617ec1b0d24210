import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import { root, startServer, type Server } from '../helpers/server.ts';

// Debian's chromium (CI installs it); playwright-core never downloads a browser.
const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)`;

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

function launch(profile: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 20_000 });
}

describe('status page in headless Chromium', { skip, timeout: 90_000 }, () => {
  let profile: string;
  let context: BrowserContext;
  before(async () => {
    profile = mkdtempSync(join(tmpdir(), 'streamserve-chromium-'));
    context = await launch(profile);
  });
  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  describe('with the demo channel', () => {
    let server: Server;
    before(async () => { server = await startServer([]); });
    after(async () => { await server?.stop(); });

    test('/ lists the demo channel and its player really plays', { timeout: 40_000 }, async () => {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      await page.goto(`http://127.0.0.1:${server.port}/`, { timeout: 10_000 });
      const row = page.locator('.channel', { hasText: '/demo.mp3' });
      await row.waitFor({ timeout: 5000 });
      assert.equal(await row.locator('.name').textContent(), 'streamserve demo');
      const audio = row.locator('audio');
      assert.equal(await audio.getAttribute('preload'), 'none');

      // Set STREAMSERVE_SCREENSHOT=file.png to keep a picture of the page for a look.
      await page.screenshot({ path: process.env.STREAMSERVE_SCREENSHOT || join(profile, 'status.png'), fullPage: true });

      // A real click on the native controls' play button, at their left end.
      const box = (await audio.boundingBox())!;
      await page.mouse.click(box.x + 26, box.y + box.height / 2);
      const played = await audio.evaluate((el: HTMLAudioElement) => new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`currentTime stuck at ${el.currentTime} (readyState ${el.readyState}, error ${el.error?.code})`)), 10_000);
        el.addEventListener('timeupdate', () => {
          if (el.currentTime > 1.2) { clearTimeout(timer); resolve(el.currentTime); }
        });
      }));
      assert.ok(played > 1.2);

      // The page polls /status.json: the browser's own connection shows up as a listener.
      await page.locator('.channel .listeners', { hasText: /^[1-9]/ }).waitFor({ timeout: 6000 });
      await audio.evaluate((el: HTMLAudioElement) => { el.pause(); el.removeAttribute('src'); el.load(); });
      assert.deepEqual(errors, []);
      await page.close();
    });
  });

  describe('with hostile channel names', () => {
    const hostile = `<img src=x onerror="window.pwned=1">"'</script>`;
    let dir: string;
    let server: Server;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'streamserve-browser-'));
      writeFileSync(join(dir, '.streamserverc.json'), JSON.stringify({
        channels: [{ mount: '/x', path: '/dev/zero', frameBytes: 1000, name: hostile, description: hostile, genre: hostile }],
      }));
      server = await startServer(['-mods', join(root, 'main.mods')], { cwd: dir });
    });
    after(async () => {
      await server?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('names render as text, and a stream the browser cannot play gets no player', { timeout: 20_000 }, async () => {
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${server.port}/status`, { timeout: 10_000 });
      const row = page.locator('.channel', { hasText: '/x' });
      await row.waitFor({ timeout: 5000 });
      assert.equal(await row.locator('.name').textContent(), hostile);
      assert.equal(await row.locator('.description').textContent(), hostile);
      assert.equal(await page.locator('img').count(), 0);
      assert.equal(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined);
      assert.equal(await row.locator('audio').count(), 0, 'application/octet-stream is not playable');
      await page.close();
    });
  });
});
