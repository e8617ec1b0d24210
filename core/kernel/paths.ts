import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** True when running the TypeScript sources directly (tests), false when running the build in dist/. */
export const fromSource = import.meta.url.endsWith('.ts');

function findRoot(dir: string): string {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'main.mods'))) return d;
    if (dirname(d) === d) throw new Error(`cannot find the streamserve package above ${dir}`);
  }
}

/** The package's folder: `main.mods`, `config/` and the modules' assets live here. */
export const packageRoot = findRoot(here);
/** Where the built-in modules' code is loaded from. */
export const builtinModsDir = fromSource ? join(packageRoot, 'mods') : join(packageRoot, 'dist', 'mods');
export const builtinExt = fromSource ? '.ts' : '.js';
export const configDir = join(packageRoot, 'config');
