import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import yaml from 'js-yaml';
import { channelDefaults, channelSettingsSchema } from '../../core/contracts/channel-settings.ts';
import { defaultLayers, mergeLayers, validateSettings } from '../../core/kernel/config.ts';
import type { StreamserveModule } from '../../core/kernel/module.ts';
import { readModsFile } from '../../core/kernel/mods-file.ts';
import { configDir } from '../../core/kernel/paths.ts';
import { root } from '../helpers/server.ts';

/**
 * A setting is written in its module's schema (type, default, description);
 * `config/NAME.yaml` documents those defaults for operators and must say
 * exactly what the schema says, so neither can drift. (The interface a module
 * reads its settings as is held to the schema's keys by the compiler, see
 * `SchemaOf` in core/kernel/module.ts; flag help takes its defaults from the schema.)
 */
const names = readModsFile(join(root, 'main.mods')).map((e) => e.builtin!).filter(Boolean);
const files = readdirSync(configDir).filter((f) => f.endsWith('.yaml'));

async function load(name: string): Promise<StreamserveModule> {
  for (const file of [join(root, 'mods', name, 'index.ts'), join(root, 'mods', `${name}.ts`)]) {
    try {
      return ((await import(pathToFileURL(file).href)) as { default: StreamserveModule }).default;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    }
  }
  throw new Error(`no module ${name}`);
}

type Props = Record<string, { default?: unknown }>;

test('config/ has a file for most modules, each named after a module in main.mods', () => {
  assert.ok(files.length >= 8, files.join(', '));
  for (const f of files) assert.ok(names.includes(f.replace(/\.yaml$/, '')), `config/${f} belongs to no module in main.mods`);
});

for (const f of files) {
  const name = f.replace(/\.yaml$/, '');
  test(`config/${f} holds exactly the ${name} schema's defaults, with a comment for each key`, async () => {
    const mod = await load(name);
    const props = (mod.schema as { properties?: Props } | undefined)?.properties;
    assert.ok(props, `module ${name} has an object schema`);
    const text = readFileSync(join(configDir, f), 'utf8');
    const shipped = yaml.load(text) as Record<string, unknown>;
    const defaulted = Object.keys(props).filter((k) => props[k]!.default !== undefined);
    assert.deepEqual(Object.keys(shipped).sort(), defaulted.sort(), 'one key per setting with a default, no other');
    // A setting with no default (unset means "not given", as -path) is shown commented out, so operators still find it.
    for (const k of Object.keys(props).filter((key) => props[key]!.default === undefined)) {
      assert.ok(text.includes(`\n# ${k}:`), `config/${f} shows ${k} commented out`);
    }
    for (const [key, value] of Object.entries(shipped)) assert.deepEqual(value, props[key]!.default, `${name}.${key} is the schema default`);
    // Valid against the schema (ajv, as at start-up), and the same settings as the schema alone gives.
    const { merged, origins } = mergeLayers(defaultLayers(configDir, [name]));
    const fromFile = validateSettings([mod], merged, origins)[name];
    const fromSchema = validateSettings([mod], {}, new Map())[name];
    assert.deepEqual(fromFile, fromSchema);
    const lines = text.split('\n');
    for (const key of Object.keys(shipped)) {
      const at = lines.findIndex((l) => l.startsWith(`${key}:`));
      assert.ok(at > 0 && lines[at - 1]!.startsWith('#'), `a comment right above ${key}`);
    }
    const header = /^# Shipped defaults for the `([^`]+)` module \((mods\/[^)]+\.ts)\)/.exec(lines[0]!);
    assert.ok(header, lines[0]);
    assert.equal(header[1], name, 'the header names the module');
    assert.ok(existsSync(join(root, header[2]!)), `the header's ${header[2]} exists`);
  });
}

test('channelDefaults are the channel schema\'s defaults, validated (durations in ms)', async () => {
  const probe = { name: 'probe', schema: { type: 'object', additionalProperties: false, properties: { ...channelSettingsSchema } }, apply() {} };
  assert.deepEqual(validateSettings([probe], {}, new Map()).probe, channelDefaults);
});

test('every flag names a setting of its module\'s schema and has help text, its own or the setting\'s', async () => {
  for (const name of names) {
    const mod = await load(name);
    const props = (mod.schema as { properties?: Record<string, { description?: string }> } | undefined)?.properties ?? {};
    for (const [flag, spec] of Object.entries(mod.flags ?? {})) {
      const prop = props[spec.setting.split('.')[0]!];
      assert.ok(prop, `-${flag} sets ${name}.${spec.setting}, which the schema does not have`);
      assert.ok((spec.description ?? prop.description ?? '').length > 10, `-${flag} has help text`);
    }
  }
});
