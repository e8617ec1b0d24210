import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ERR } from './errors.ts';
import type { StreamserveModule } from './module.ts';
import { where, type ModsEntry } from './mods-file.ts';
import { builtinExt, builtinModsDir } from './paths.ts';

export interface LoadedModule {
  module: StreamserveModule;
  entry: ModsEntry;
}

let tsLoaderRegistered = false;

/** An operator's `.ts` module needs a TypeScript loader; the built-in modules are compiled, so it is registered only then. */
async function ensureTsLoader(): Promise<void> {
  if (tsLoaderRegistered || builtinExt === '.ts') return;
  const [esm, cjs] = await Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')]);
  esm.register();
  // A .ts file outside a `"type": "module"` package is loaded as CommonJS, which needs tsx's require hook too.
  cjs.register();
  tsLoaderRegistered = true;
}

function resolveEntry(entry: ModsEntry): string {
  if (entry.builtin) {
    // A module's folder first: a build leaves the compiled file of a module since moved into its folder behind in dist/.
    for (const candidate of [join(builtinModsDir, entry.builtin, 'index' + builtinExt), join(builtinModsDir, entry.builtin + builtinExt)]) {
      if (existsSync(candidate)) return candidate;
    }
    throw ERR.MODULE_NOT_BUILTIN(where(entry), entry.builtin);
  }
  const path = entry.path!;
  if (!/\.(m?js|ts)$/.test(path)) throw ERR.MODULE_FILE_TYPE(where(entry), entry.text);
  if (!existsSync(path)) throw ERR.MODULE_FILE_MISSING(where(entry), path);
  return path;
}

/**
 * Imports every listed module in order and checks the list: each has a name,
 * no name appears twice, and every module it needs is listed before it (the
 * kernel refuses rather than reorders, as fastify does).
 */
export async function loadModules(entries: readonly ModsEntry[]): Promise<LoadedModule[]> {
  const loaded: LoadedModule[] = [];
  const seen = new Map<string, ModsEntry>();
  for (const entry of entries) {
    const file = resolveEntry(entry);
    if (file.endsWith('.ts')) await ensureTsLoader();
    let exported: unknown;
    try {
      exported = await import(pathToFileURL(file).href);
    } catch (err) {
      throw ERR.MODULE_LOAD_FAILED(where(entry), entry.text, (err as Error).message);
    }
    let mod = ((exported as { default?: unknown }).default ?? exported) as Partial<StreamserveModule> & { default?: unknown };
    // ESM syntax compiled to CommonJS (such a .ts file) nests its default export once more.
    if (mod && typeof mod === 'object' && !('name' in mod) && 'default' in mod) mod = mod.default as typeof mod;
    if (typeof mod?.name !== 'string' || !mod.name) {
      throw ERR.MODULE_NO_NAME(where(entry), entry.text);
    }
    if (typeof mod.apply !== 'function') {
      throw ERR.MODULE_NO_APPLY(where(entry), mod.name);
    }
    const dup = seen.get(mod.name);
    if (dup) throw ERR.MODULE_NAME_TAKEN(where(entry), mod.name, where(dup));
    for (const need of mod.needs ?? []) {
      if (!seen.has(need)) {
        throw ERR.MODULE_NEEDS(where(entry), mod.name, need);
      }
    }
    seen.set(mod.name, entry);
    loaded.push({ module: mod as StreamserveModule, entry });
  }
  return loaded;
}
