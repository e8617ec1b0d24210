import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { cosmiconfig } from 'cosmiconfig';
import yaml from 'js-yaml';
import { parseDuration } from './duration.ts';
import { ERR } from './errors.ts';
import type { StreamserveModule } from './module.ts';

/** One source of settings, named for error messages (`config/source.yaml`, `flag -address`). */
export interface ConfigLayer {
  label: string;
  data: Record<string, unknown>;
  /** Per-setting labels when the layer mixes origins (flags); keys are dotted paths. */
  origins?: Map<string, string>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The shipped defaults: `config/NAME.yaml` for each loaded module that has one. */
export function defaultLayers(configDir: string, names: readonly string[]): ConfigLayer[] {
  const layers: ConfigLayer[] = [];
  for (const name of names) {
    const file = join(configDir, `${name}.yaml`);
    if (!existsSync(file)) continue;
    let data: unknown;
    try {
      data = yaml.load(readFileSync(file, 'utf8'));
    } catch (err) {
      throw ERR.CONFIG_DEFAULTS_INVALID(file, (err as Error).message.split('\n')[0]!);
    }
    if (data === undefined || data === null) continue;
    layers.push({ label: file, data: { [name]: data } });
  }
  return layers;
}

const SEARCH_PLACES = [
  'package.json',
  '.streamserverc',
  '.streamserverc.json',
  '.streamserverc.yaml',
  '.streamserverc.yml',
  'streamserve.config.js',
  'streamserve.config.mjs',
  'streamserve.config.cjs',
  'streamserve.config.json',
];

/** The operator's file: the one named by `-config`, else the first cosmiconfig finds in the working directory. */
export async function operatorLayer(explicit: string | undefined, cwd: string): Promise<ConfigLayer | undefined> {
  const explorer = cosmiconfig('streamserve', { searchPlaces: SEARCH_PLACES, searchStrategy: 'none' });
  let result;
  try {
    result = explicit ? await explorer.load(resolve(cwd, explicit)) : await explorer.search(cwd);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw ERR.CONFIG_FILE_UNREADABLE(explicit ? resolve(cwd, explicit) : '', e.code === 'ENOENT' ? 'no such file' : e.message.split('\n')[0]!);
  }
  if (!result || result.isEmpty) return undefined;
  if (!isObj(result.config)) {
    throw ERR.CONFIG_NOT_OBJECT(result.filepath, JSON.stringify(result.config));
  }
  return { label: result.filepath, data: result.config };
}

/** Deep-merges layers (objects merge, anything else replaces) and remembers where each setting came from. */
export function mergeLayers(layers: readonly ConfigLayer[]): { merged: Obj; origins: Map<string, string> } {
  const merged: Obj = {};
  const origins = new Map<string, string>();
  const visit = (target: Obj, src: Obj, path: string, layer: ConfigLayer) => {
    for (const [key, value] of Object.entries(src)) {
      const p = path ? `${path}.${key}` : key;
      if (isObj(value)) {
        // Recurse even into a fresh section so each setting keeps its own origin (`flag -uid`, not `flags`).
        if (!isObj(target[key])) {
          target[key] = {};
          origins.set(p, layer.origins?.get(p) ?? layer.label);
        }
        visit(target[key] as Obj, value, p, layer);
      } else {
        target[key] = value;
        origins.set(p, layer.origins?.get(p) ?? layer.label);
      }
    }
  };
  for (const layer of layers) visit(merged, layer.data, '', layer);
  return { merged, origins };
}

/** Sets `value` at a dotted path inside `target`, creating objects on the way. */
export function setPath(target: Obj, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    if (!isObj(node[key])) node[key] = {};
    node = node[key] as Obj;
  }
  node[keys.at(-1)!] = value;
}

function createAjv(): Ajv {
  const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: false });
  // Durations are written as Go strings ("10s") and handed to modules in milliseconds.
  ajv.addKeyword({
    keyword: 'x-duration',
    modifying: true,
    schemaType: 'boolean',
    errors: true,
    validate: function duration(this: unknown, _schema: boolean, data: unknown, _parent?: unknown, ctx?: { parentData: Obj; parentDataProperty: string | number }) {
      const ms = typeof data === 'number' ? data : typeof data === 'string' ? parseDuration(data) : undefined;
      if (ms === undefined || ms < 0) {
        (duration as unknown as { errors: Partial<ErrorObject>[] }).errors = [{ keyword: 'x-duration', message: 'must be a duration such as 500ms, 10s or 1m30s' }];
        return false;
      }
      if (ctx) (ctx.parentData as Obj)[ctx.parentDataProperty] = ms;
      return true;
    },
  });
  return ajv;
}

/**
 * Validates each loaded module's section against its schema, filling defaults.
 * Every problem is reported at once, each with the setting's path, its value,
 * what was expected and the file or flag it came from.
 */
export function validateSettings(modules: readonly StreamserveModule[], merged: Obj, origins: Map<string, string>): Obj {
  const ajv = createAjv();
  const problems: string[] = [];
  const settings: Obj = {};
  for (const mod of modules) {
    const schema = mod.schema ?? { type: 'object', additionalProperties: false };
    const section = mod.name in merged ? merged[mod.name] : (schema.type === 'array' ? [] : {});
    const holder = { value: section };
    const validate = ajv.compile({ type: 'object', properties: { value: schema } });
    if (!validate(holder)) {
      for (const err of validate.errors ?? []) problems.push(describe(mod.name, err, holder, origins));
    }
    settings[mod.name] = holder.value;
  }
  for (const key of Object.keys(merged)) {
    if (!modules.some((m) => m.name === key)) {
      problems.push(`setting ${key} (from ${origins.get(key) ?? originOf(key, origins)}): no loaded module is named "${key}"; is it missing from main.mods?`);
    }
  }
  const unique = [...new Set(problems)];
  // One problem, one line (the CLI prints it as is); several get a line each.
  if (unique.length) throw ERR.SETTINGS_INVALID(unique.join('\n'));
  return settings;
}

function originOf(path: string, origins: Map<string, string>): string {
  for (let p = path; p; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
    const o = origins.get(p);
    if (o) return o;
  }
  for (const [k, o] of origins) if (k.startsWith(`${path}.`)) return o;
  return 'defaults';
}

function describe(section: string, err: ErrorObject, holder: { value: unknown }, origins: Map<string, string>): string {
  const parts = err.instancePath.split('/').slice(2).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  let value: unknown = holder.value;
  for (const p of parts) value = (value as Obj | undefined)?.[p];
  let path = [section, ...parts].join('.');
  let expected = err.message ?? 'is invalid';
  if (err.keyword === 'additionalProperties') {
    path = `${path}.${(err.params as { additionalProperty: string }).additionalProperty}`;
    return `setting ${path} (from ${originOf(path, origins)}): unknown setting`;
  }
  if (err.keyword === 'enum') expected = `must be one of ${(err.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  if (err.keyword === 'required') {
    path = `${path}.${(err.params as { missingProperty: string }).missingProperty}`;
    return `setting ${path} (in ${originOf(path.slice(0, path.lastIndexOf('.')), origins)}): is required`;
  }
  return `setting ${path} = ${JSON.stringify(value)} (from ${originOf(path, origins)}): ${expected}`;
}
