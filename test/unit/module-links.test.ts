import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import type { StreamserveModule } from '../../core/kernel/module.ts';
import { readModsFile } from '../../core/kernel/mods-file.ts';
import { root } from '../helpers/server.ts';

/**
 * The links between modules are declared: a module reaches another only
 * through its public file (`mods/NAME/index.ts`, or `mods/NAME.ts` for a
 * module of one file), and every module it reaches is in its `needs` or
 * `uses`. Files are read as text: the import statements of our own sources
 * are regular enough, and the check must not depend on a build.
 */
const modsDir = join(root, 'mods');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** The module a file under mods/ belongs to: `mods/NAME.ts` or anything under `mods/NAME/`. */
function moduleOf(file: string): string {
  return relative(modsDir, file).split(sep)[0]!.replace(/\.ts$/, '');
}

function publicFile(name: string): string | undefined {
  return [join(modsDir, name, 'index.ts'), join(modsDir, `${name}.ts`)].find((f) => existsSync(f));
}

/** Relative specifiers of every import, re-export, dynamic import and `declare module` in a source file. */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const re of [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]/g, /^\s*import\s*['"]([^'"]+)['"]/gm, /\bdeclare\s+module\s*['"]([^'"]+)['"]/g]) {
    for (const m of text.matchAll(re)) out.push(m[1]!);
  }
  return out.filter((s) => s.startsWith('.'));
}

const files = tsFiles(modsDir);
const builtins = readModsFile(join(root, 'main.mods')).map((e) => e.builtin).filter((b): b is string => b !== undefined);

interface Link { from: string; to: string; why: string }

/** Every link from one module to another: imports of its public file and `service('NAME')` calls. */
function links(): { links: Link[]; privateImports: string[] } {
  const providers = new Map<string, string>();
  for (const file of files) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\bprovide\(\s*'([^']+)'/g)) providers.set(m[1]!, moduleOf(file));
  }
  const found: Link[] = [];
  const privateImports: string[] = [];
  for (const file of files) {
    const from = moduleOf(file);
    const text = readFileSync(file, 'utf8');
    const where = relative(root, file);
    for (const spec of specifiers(text)) {
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(modsDir + sep)) continue;
      const to = moduleOf(target);
      if (to === from) continue;
      if (target !== publicFile(to)) privateImports.push(`${where} imports ${spec}: only ${relative(dirname(file), publicFile(to) ?? join(modsDir, to, 'index.ts'))} is module ${to}'s public contract`);
      else found.push({ from, to, why: `${where} imports ${spec}` });
    }
    for (const m of text.matchAll(/\.service\(\s*'([^']+)'/g)) {
      const to = providers.get(m[1]!);
      assert.ok(to, `${where} asks for service ${m[1]}, which no module provides`);
      if (to !== from) found.push({ from, to, why: `${where} asks for service ${m[1]}` });
    }
  }
  return { links: found, privateImports };
}

async function loadModule(name: string): Promise<StreamserveModule> {
  return ((await import(pathToFileURL(publicFile(name)!).href)) as { default: StreamserveModule }).default;
}

test('a module folder has a public index.ts, and no module is both a file and a folder', () => {
  for (const e of readdirSync(modsDir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const dir = join(modsDir, e.name);
    if (!tsFiles(dir).length) continue; // assets only (mods/demo)
    assert.ok(existsSync(join(dir, 'index.ts')), `mods/${e.name}/ holds code but no index.ts`);
    assert.ok(!existsSync(`${dir}.ts`), `mods/${e.name}.ts beside mods/${e.name}/: move it to mods/${e.name}/index.ts`);
  }
  for (const name of builtins) {
    assert.ok(publicFile(name), `main.mods lists ${name}, which has no mods/${name}/index.ts`);
    assert.ok(statSync(publicFile(name)!).isFile());
  }
});

test('no module imports another module\'s non-public file', () => {
  const { privateImports } = links();
  assert.deepEqual(privateImports, []);
});

test('the check sees a private import, a public one and a service', () => {
  // The scanner itself, on text shaped like the sources it guards.
  const text = "import { x } from '../http/response.ts';\nimport {\n  y,\n} from '../users/index.ts';\nconst a = await import('./z.ts');\ndeclare module '../../core/kernel/kernel.ts' {}\n";
  assert.deepEqual(specifiers(text), ['../http/response.ts', '../users/index.ts', './z.ts', '../../core/kernel/kernel.ts']);
  const file = join(modsDir, 'icecast', 'replies.ts');
  assert.equal(moduleOf(file), 'icecast');
  assert.notEqual(resolve(dirname(file), '../http/response.ts'), publicFile('http'));
  assert.equal(resolve(dirname(file), '../http/index.ts'), publicFile('http'));
});

test('every link between modules is declared in needs or uses, and every uses is a link', async () => {
  const { links: found } = links();
  const problems: string[] = [];
  for (const name of builtins) {
    const mod = await loadModule(name);
    assert.equal(mod.name, name, `mods/${name} exports a module named ${mod.name}`);
    const needs = mod.needs ?? [];
    const uses = mod.uses ?? [];
    for (const n of [...needs, ...uses]) {
      if (!builtins.includes(n)) problems.push(`${name} names ${n} in needs/uses, which is not a module in main.mods`);
    }
    for (const n of needs) if (uses.includes(n)) problems.push(`${name} lists ${n} in both needs and uses`);
    const mine = found.filter((l) => l.from === name);
    for (const l of mine) {
      if (!needs.includes(l.to) && !uses.includes(l.to)) problems.push(`${l.why}: add '${l.to}' to module ${name}'s needs (or uses, when it copes without)`);
    }
    for (const u of uses) {
      if (!mine.some((l) => l.to === u)) problems.push(`module ${name} uses '${u}' but nothing in mods/${name} links to it`);
    }
  }
  assert.deepEqual(problems, []);
});

test('source needs filters and only uses http; the http service is declared by http', async () => {
  const source = await loadModule('source');
  assert.deepEqual(source.needs, ['filters']);
  assert.deepEqual(source.uses, ['http']);
  const { links: found } = links();
  assert.ok(found.some((l) => l.from === 'icy' && l.to === 'http' && /service http/.test(l.why)));
});
