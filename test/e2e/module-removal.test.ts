import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import type { StreamserveModule } from '../../core/kernel/module.ts';
import { readModsFile } from '../../core/kernel/mods-file.ts';
import { root, startServer } from '../helpers/server.ts';

/**
 * `main.mods` says "delete a line to switch a feature off": every module no
 * other module needs can go, and the server still starts and stops cleanly.
 * The real CLI, a few at a time (the machine is shared).
 */
const BATCH = 3;
const names = readModsFile(join(root, 'main.mods')).map((e) => e.builtin!).filter(Boolean);
const tmp = mkdtempSync(join(tmpdir(), 'ss-removal-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function needed(): Promise<Set<string>> {
  const out = new Set<string>();
  for (const name of names) {
    const url = pathToFileURL(join(root, 'mods', name, 'index.ts')).href;
    const file = await import(url).catch(() => import(pathToFileURL(join(root, 'mods', `${name}.ts`)).href));
    for (const n of (file.default as StreamserveModule).needs ?? []) out.add(n);
  }
  return out;
}

/** Starts the server without `name`, waits for it to start, stops it; resolves with what went wrong, if anything. */
async function withoutModule(name: string): Promise<string | undefined> {
  const list = join(tmp, `without-${name}.mods`);
  writeFileSync(list, names.filter((n) => n !== name).join('\n') + '\n');
  let s;
  try {
    // Without the server module nothing listens and -address is nobody's flag.
    s = await startServer(['-mods', list], { listens: name !== 'server', timeoutMs: 30_000 });
    const started = await s.waitLog((l) => l.msg === 'streamserve started', 15_000);
    assert.deepEqual(started.modules, names.filter((n) => n !== name));
  } catch (err) {
    await s?.stop();
    return `without ${name}: ${(err as Error).message}`;
  }
  const code = await s.stop();
  return code === 0 ? undefined : `without ${name}: exit code ${code} after SIGTERM; stderr: ${s.stderr()}`;
}

test('every module no other module needs can be deleted from main.mods', { timeout: 120_000 }, async () => {
  const need = await needed();
  const optional = names.filter((n) => !need.has(n));
  assert.ok(optional.length >= 5, `optional modules: ${optional.join(', ')}`);
  assert.ok(optional.includes('server') && optional.includes('users') && optional.includes('fstream'));
  assert.ok(!optional.includes('http') && !optional.includes('filters'), 'http and filters are needed by others');
  const problems: string[] = [];
  for (let i = 0; i < optional.length; i += BATCH) {
    const results = await Promise.all(optional.slice(i, i + BATCH).map(withoutModule));
    problems.push(...results.filter((r): r is string => r !== undefined));
  }
  assert.deepEqual(problems, []);
});
