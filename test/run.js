#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's own test runner (Node 20's --test does not expand globs).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const only = process.argv.slice(2);
const files = [];
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name !== 'bench' && e.name !== 'fixtures') walk(p);
    else if (e.name.endsWith('.test.ts')) files.push(relative(root, p));
  }
};
walk(join(root, 'test'));
const selected = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;
const args = ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=120000', ...selected.sort()];
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
