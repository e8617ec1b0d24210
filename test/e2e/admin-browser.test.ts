// The status page's admin buttons in headless Chromium: hidden for visitors,
// shown once the browser logs in as an admin, and each click does what it says.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import { ADMIN, eventually, get, listen, startStation, type RawListener, type Station } from './admin-lib.ts';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)`;
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

describe('status page admin buttons in headless Chromium', { skip, timeout: 90_000 }, () => {
  let profile: string;
  let context: BrowserContext;
  let station: Station;
  const listeners: RawListener[] = [];
  const ids = async (mount: string): Promise<number[]> => {
    const res = await get(station.server.port, `/admin/listclients.json?mount=${mount}`, { Authorization: ADMIN });
    return res.status === 200 ? JSON.parse(res.text).listeners.map((l: { id: number }) => l.id).sort() : [];
  };
  const closedWithin = (l: RawListener, what: string) =>
    Promise.race([l.closed, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} still connected`)), 4000))]);

  before(async () => {
    station = await startStation();
    profile = mkdtempSync(join(tmpdir(), 'streamserve-chromium-admin-'));
    // The browser answers the admin login's Basic challenge as a person would in its prompt.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 20_000,
      httpCredentials: { username: 'boss', password: 'boss-pw' },
    });
  });
  after(async () => {
    for (const l of listeners) l.socket.destroy();
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await station?.stop();
  });

  test('log in, list and kill a listener, move the others, kill a source', { timeout: 60_000 }, async () => {
    const port = station.server.port;
    for (let i = 0; i < 3; i++) listeners.push(await listen(port, '/a', { 'User-Agent': `RawPlayer/${i}` }));
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('dialog', (d) => void d.accept());
    await page.goto(`http://127.0.0.1:${port}/status`, { timeout: 10_000 });
    const rowA = page.locator('.channel', { hasText: '/a' }).filter({ has: page.locator('a.mount', { hasText: /^\/a$/ }) });
    const rowB = page.locator('.channel').filter({ has: page.locator('a.mount', { hasText: /^\/b$/ }) });
    await rowA.waitFor({ timeout: 5000 });
    const login = page.locator('#admin-login');
    await login.waitFor({ state: 'visible', timeout: 5000 });
    assert.equal(await rowA.locator('.admin').isVisible(), false, 'no admin buttons before logging in');

    await login.click();
    await page.locator('#admin-user', { hasText: 'Admin: boss' }).waitFor({ timeout: 5000 });
    await rowA.locator('.kill-source').waitFor({ state: 'visible', timeout: 5000 });
    assert.equal(await login.isVisible(), false, 'the log-in button goes once logged in');

    // Listeners: the three raw players, each with a kill button.
    await rowA.locator('.show-listeners').click();
    const items = rowA.locator('.listener-list li', { hasText: 'RawPlayer/' });
    await eventually('three listeners listed', async () => ((await items.count()) === 3 ? true : undefined));
    const before = await ids('/a');
    assert.equal(before.length, 3);
    const victim = Number(await items.first().getAttribute('data-id'));
    await items.first().locator('.kill-client').click();
    await rowA.locator('.result', { hasText: `Client ${victim} removed` }).waitFor({ timeout: 5000 });
    assert.deepEqual(await ids('/a'), before.filter((id) => id !== victim));
    await closedWithin(listeners[before.indexOf(victim)]!, 'the killed listener');
    await eventually('the list to drop the killed listener', async () => ((await items.count()) === 2 ? true : undefined));

    // Move the other two to /b: same connections, now listed on /b. /ogg is another type: not offered.
    assert.deepEqual(await rowA.locator('.move-to option').allTextContents(), ['to /b']);
    await rowA.locator('.move-to').selectOption('/b');
    await rowA.locator('.move').click();
    await rowA.locator('.result', { hasText: 'Clients moved from /a to /b' }).waitFor({ timeout: 5000 });
    const moved = before.filter((id) => id !== victim);
    assert.deepEqual(await ids('/b'), moved);
    assert.deepEqual(await ids('/a'), []);
    const survivors = listeners.filter((_, i) => before[i] !== victim);
    for (const l of survivors) assert.ok(!l.socket.destroyed, 'a moved listener stays connected');

    // Kill /b's source (the page asks first; the dialog is accepted): its listeners go, and so does the mount.
    await rowB.locator('.kill-source').click();
    for (const l of survivors) await closedWithin(l, 'a listener of the killed source');
    const mounts = JSON.parse((await get(port, '/admin/listmounts.json', { Authorization: ADMIN })).text).mounts.map((m: { mount: string }) => m.mount);
    assert.ok(!mounts.includes('/b') && mounts.includes('/a'), `mounts after killsource: ${mounts}`);
    await rowB.waitFor({ state: 'detached', timeout: 6000 });
    assert.deepEqual(errors, []);
    await page.close();
  });
});
