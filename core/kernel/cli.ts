import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultLayers, mergeLayers, operatorLayer, setPath, validateSettings, type ConfigLayer } from './config.ts';
import { formatDuration } from './duration.ts';
import { ERR } from './errors.ts';
import { parseFlags, type FlagDef, type FlagValue } from './flags.ts';
import { Kernel } from './kernel.ts';
import { loadModules, type LoadedModule } from './loader.ts';
import { createLogger } from './log.ts';
import type { FlagSpec, StreamserveModule } from './module.ts';
import { where, readModsFile } from './mods-file.ts';
import { configDir, packageRoot } from './paths.ts';

/** The kernel's own flags; every other flag belongs to a module. */
const KERNEL_FLAGS: Record<string, FlagSpec> = {
  mods: { setting: 'mods', type: 'string', description: 'module list to load (default ./main.mods if present, else the package\'s own)' },
  config: { setting: 'config', type: 'string', description: 'settings file (default: .streamserverc*, streamserve.config.*, package.json#streamserve in the working directory)' },
  'log-level': { setting: 'logLevel', type: 'string', description: 'log level: fatal, error, warn, info, debug, trace (default "info")' },
  debug: { setting: 'debug', type: 'bool', description: 'log at debug level' },
  help: { setting: 'help', type: 'bool', description: 'list every flag of every loaded module', aliases: ['h'] },
};
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

interface FlagOwner { mod?: StreamserveModule; name: string; spec: FlagSpec }

/**
 * Guesses `-mods` before the modules (and so the other flags) are known. A token
 * after a flag is taken as its value; the full parse later confirms the guess
 * (a `-mods` inside an `-exec` command would be a wrong one).
 */
function prescan(argv: readonly string[]): { mods?: string } {
  const out: { mods?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--' || !arg.startsWith('-') || arg === '-') break;
    const [name, inline] = arg.replace(/^--?/, '').split(/=(.*)/s, 2) as [string, string | undefined];
    const value = inline ?? (argv[i + 1]?.startsWith('-') ? undefined : argv[i + 1]);
    if (inline === undefined && value !== undefined) i++;
    if (name === 'mods') out.mods = value;
  }
  return out;
}

function flagTable(modules: readonly LoadedModule[]): Map<string, FlagOwner> {
  const table = new Map<string, FlagOwner>();
  const add = (name: string, owner: FlagOwner) => {
    const prior = table.get(name);
    if (prior) {
      throw ERR.FLAG_DEFINED_TWICE(name, prior.mod?.name ?? 'kernel', owner.mod?.name ?? 'kernel');
    }
    table.set(name, owner);
  };
  for (const [name, spec] of Object.entries(KERNEL_FLAGS)) {
    add(name, { name, spec });
    for (const alias of spec.aliases ?? []) add(alias, { name, spec });
  }
  for (const { module: mod } of modules) {
    for (const [name, spec] of Object.entries(mod.flags ?? {})) {
      add(name, { mod, name, spec });
      for (const alias of spec.aliases ?? []) add(alias, { mod, name, spec });
    }
  }
  return table;
}

function valueAt(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
}

/** A setting's `description` in its module's schema (a dotted path walks nested `properties`). */
function settingDescription(schema: StreamserveModule['schema'], setting: string): string {
  let node: unknown = schema;
  for (const key of setting.split('.')) node = (node as { properties?: Record<string, unknown> } | undefined)?.properties?.[key];
  const text = (node as { description?: unknown } | undefined)?.description;
  return typeof text === 'string' ? text : '';
}

function helpText(modules: readonly LoadedModule[], defaults: Record<string, unknown>, modsFile: string): string {
  const lines = [
    'Usage: streamserve [flags] [-exec command [args...]]',
    ...modules.flatMap(({ module: m }) => Object.values(m.commands ?? {}).map((c) => `       streamserve ${c.usage}`)),
    '',
    `Modules from ${modsFile}. Flags take one or two dashes: -name value, -name=value, -bool, -bool=false.`,
  ];
  const show = (name: string, spec: FlagSpec, def: unknown, schema?: StreamserveModule['schema']) => {
    const names = [name, ...(spec.aliases ?? [])].map((n) => `-${n}`).join(', ');
    const arg = spec.type === 'bool' || spec.type === 'rest' ? '' : ` ${spec.type === 'duration' ? 'duration' : spec.type === 'string' ? 'string' : 'int'}`;
    let shown = '';
    if (def !== undefined && def !== '' && !(Array.isArray(def) && !def.length)) {
      shown = spec.type === 'duration' && typeof def === 'number' ? formatDuration(def) : JSON.stringify(def);
      shown = ` (default ${shown})`;
    }
    const described = spec.description ?? settingDescription(schema, spec.setting);
    lines.push(`  ${names}${arg}`, `        ${described}${shown}`);
  };
  lines.push('', 'kernel:');
  for (const [name, spec] of Object.entries(KERNEL_FLAGS)) show(name, spec, undefined);
  for (const { module: m } of modules) {
    for (const [name, c] of Object.entries(m.commands ?? {})) lines.push('', `${m.name} command ${name}: ${c.description}`);
    const flags = Object.entries(m.flags ?? {});
    if (!flags.length) continue;
    lines.push('', `${m.name}${m.description ? ` — ${m.description}` : ''}:`);
    for (const [name, spec] of flags) show(name, spec, valueAt(defaults[m.name], spec.setting), m.schema);
  }
  return lines.join('\n') + '\n';
}

/** Loads the module list and parses the whole command line with every loaded module's flags. */
async function loadAndParse(argv: readonly string[], modsArg: string | undefined, cwd: string) {
  const modsFile = modsArg ? resolve(cwd, modsArg) : existsSync(join(cwd, 'main.mods')) ? join(cwd, 'main.mods') : join(packageRoot, 'main.mods');
  const modules = await loadModules(readModsFile(modsFile));
  const table = flagTable(modules);
  const defs = new Map<string, FlagDef>([...table].map(([n, o]) => [n, { type: o.spec.type }]));
  const parsed = parseFlags(argv, defs);
  if (parsed.rest.length) {
    throw ERR.ARGUMENT_UNEXPECTED(parsed.rest[0]!);
  }
  const kernelFlags: Record<string, FlagValue> = {};
  const flagLayer: ConfigLayer = { label: 'flags', data: {}, origins: new Map() };
  for (const [name, value] of parsed.values) {
    const owner = table.get(name)!;
    if (!owner.mod) {
      kernelFlags[owner.spec.setting] = value;
      continue;
    }
    const path = `${owner.mod.name}.${owner.spec.setting}`;
    setPath(flagLayer.data, path, value);
    flagLayer.origins!.set(path, `flag -${name}`);
  }
  return { modules, modsFile, kernelFlags, flagLayer };
}

/** Runs the command line; resolves with the process exit code once the server has stopped. */
export async function main(argv: readonly string[] = process.argv.slice(2), cwd = process.cwd()): Promise<number> {
  const guess = prescan(argv).mods;
  let modsArg = guess;
  let loaded;
  try {
    loaded = await loadAndParse(argv, modsArg, cwd);
  } catch (err) {
    // The guess may have come from inside an -exec command; the default list settles it.
    if (guess === undefined) throw err;
    modsArg = undefined;
    loaded = await loadAndParse(argv, modsArg, cwd).catch(() => { throw err; });
  }
  if (loaded.kernelFlags.mods !== modsArg) {
    modsArg = loaded.kernelFlags.mods as string | undefined;
    loaded = await loadAndParse(argv, modsArg, cwd);
  }
  const { modules, modsFile, kernelFlags, flagLayer } = loaded;
  const names = modules.map((m) => m.module.name);
  const shipped = defaultLayers(configDir, names);
  if (kernelFlags.help) {
    const { merged, origins } = mergeLayers(shipped);
    process.stdout.write(helpText(modules, validateSettings(modules.map((m) => m.module), merged, origins), modsFile));
    return 0;
  }
  const level = kernelFlags.debug ? 'debug' : String(kernelFlags.logLevel ?? 'info');
  if (!LEVELS.includes(level)) throw ERR.FLAG_VALUE_INVALID(level, 'log-level', `use one of ${LEVELS.join(', ')}`);

  const operator = await operatorLayer(kernelFlags.config as string | undefined, cwd);
  const { merged, origins } = mergeLayers([...shipped, ...(operator ? [operator] : []), flagLayer]);
  const settings = validateSettings(modules.map((m) => m.module), merged, origins);

  const log = await createLogger(level);
  // The engine is handed to the kernel here, so importing the kernel loads no engine (nor its writers).
  const { ChannelRegistry } = await import('../engine/channels.ts');
  const kernel = new Kernel({ log, settings, packageRoot, channels: (host) => new ChannelRegistry(host) });
  log.debug({ mods: modsFile, config: operator?.label, modules: names }, 'configured');
  // A reload reads the settings file again; the module list, flags and shipped defaults stay as they were.
  const reload = async () => {
    const again = await operatorLayer(kernelFlags.config as string | undefined, cwd);
    const next = mergeLayers([...shipped, ...(again ? [again] : []), flagLayer]);
    return validateSettings(modules.map((m) => m.module), next.merged, next.origins);
  };
  await kernel.run(modules.map(({ module, entry }) => ({ module, where: where(entry) })), { reload });
  return 0;
}

/** Runs a module's subcommand (`streamserve passwd NAME`) when argv starts with one. */
export async function runCommand(argv: readonly string[], cwd = process.cwd()): Promise<number | undefined> {
  const word = argv[0];
  if (!word || word.startsWith('-')) return undefined;
  const modsFile = existsSync(join(cwd, 'main.mods')) ? join(cwd, 'main.mods') : join(packageRoot, 'main.mods');
  const modules = await loadModules(readModsFile(modsFile));
  const owner = modules.find((m) => m.module.commands?.[word]);
  if (!owner) return undefined;
  const names = modules.map((m) => m.module.name);
  const operator = await operatorLayer(undefined, cwd);
  const { merged, origins } = mergeLayers([...defaultLayers(configDir, names), ...(operator ? [operator] : [])]);
  const settings = validateSettings(modules.map((m) => m.module), merged, origins);
  return owner.module.commands![word]!.run(argv.slice(1), settings[owner.module.name]);
}
