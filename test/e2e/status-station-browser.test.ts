// The status page shows what the station's modules report beside the channels:
// limit refusals, fallback moves and a channel's recording, in headless Chromium.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { root, startServer, type Server } from '../helpers/server.ts';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)`;
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The status code a listener of `mount` gets (the response is dropped once its head is in). */
function statusOf(port: number, mount: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: mount, timeout: 5000 }, (res) => {
      resolve(res.statusCode ?? 0);
      if (res.statusCode !== 200) res.resume();
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${mount}`)));
    req.on('error', reject);
    req.end();
  });
}

describe('status page: limits, fallback and recording figures', { skip, timeout: 60_000 }, () => {
  let dir: string;
  let server: Server;
  let browser: Browser;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'streamserve-station-'));
    const ticker = ['sh', '-c', 'while :; do echo tick; sleep 0.1; done'];
    writeFileSync(join(dir, '.streamserverc.json'), JSON.stringify({
      channels: [{ mount: '/a', filter: 'raw', exec: ticker }, { mount: '/b', filter: 'raw', exec: ticker }],
      record: { channels: { '/a': join(dir, 'a-%Y%m%d.raw') } },
      limits: { mounts: { '/b': { maxListeners: 1 } } },
      fallback: { mounts: { '/c': { fallback: '/b' } } },
    }));
    server = await startServer(['-mods', join(root, 'main.mods')], { cwd: dir });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 20_000 });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a refusal, the fallback figures and the recording appear on the page', { timeout: 40_000 }, async () => {
    const port = server.port;
    assert.equal(await statusOf(port, '/b'), 200, 'the first listener of /b is let in');
    assert.equal(await statusOf(port, '/b'), 503, 'the second is over the mount limit');
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${port}/status`, { timeout: 10_000 });
    const station = page.locator('#station');
    await station.waitFor({ state: 'visible', timeout: 5000 });
    await page.waitForFunction(() => /1 refused/.test(document.querySelector('#station')?.textContent ?? ''), undefined, { timeout: 8000 });
    const text = (await station.textContent()) ?? '';
    assert.match(text, /Limits1 refused \(channel full 1, server full 0, sources 0, time up 0\)/, text);
    assert.match(text, /Fallback0 moved, 0 returned, 0 away now/, text);
    const rowA = page.locator('.channel').filter({ has: page.locator('a.mount', { hasText: /^\/a$/ }) });
    const recording = rowA.locator('.recording');
    await recording.waitFor({ state: 'visible', timeout: 5000 });
    assert.match((await recording.textContent()) ?? '', /^Recording .*a-\d{8}\.raw: \d+(\.\d)? (B|KB) in 1 file\(s\), no gaps$/, 'the recording line names the file and its size');
    const rowB = page.locator('.channel').filter({ has: page.locator('a.mount', { hasText: /^\/b$/ }) });
    assert.equal(await rowB.locator('.recording').isVisible(), false, 'no recording line for a channel not recorded');
    assert.deepEqual(errors, [], 'no script error on the page');
  });
});
