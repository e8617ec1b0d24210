import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import yaml from 'js-yaml';
import { defaultLayers, mergeLayers, operatorLayer, setPath, validateSettings, type ConfigLayer } from '../../core/kernel/config.ts';
import { UserError } from '../../core/kernel/errors.ts';
import { defineModule, type StreamserveModule } from '../../core/kernel/module.ts';
import { configDir } from '../../core/kernel/paths.ts';
import server from '../../mods/server.ts';

const root = mkdtempSync(join(tmpdir(), 'streamserve-config-'));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function tree(files: Record<string, string>): string {
  const dir = join(root, String(n++));
  mkdirSync(dir, { recursive: true });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

async function rejectsUser(p: Promise<unknown> | (() => unknown), ...patterns: RegExp[]): Promise<string> {
  let caught: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof UserError, `expected a UserError, got ${String(caught)}`);
  const msg = (caught as Error).message;
  for (const re of patterns) assert.match(msg, re);
  return msg;
}

/** A module with a bit of every kind of setting. */
const demo = defineModule({
  name: 'demo',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      address: { type: 'string', default: ':8000' },
      port: { type: 'integer', minimum: 1, maximum: 65535, default: 8000 },
      filter: { enum: ['raw', 'mp3'], default: 'raw' },
      closeIdle: { type: ['string', 'number'], 'x-duration': true, default: '10s' },
      tags: { type: 'array', items: { type: 'string' }, default: [] },
      limits: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: { listeners: { type: 'integer', default: 100 }, bytes: { type: 'integer', default: 0 } },
      },
    },
  },
  apply() {},
});
const bare = defineModule({ name: 'bare', apply() {} });

function validate(layers: ConfigLayer[], modules: StreamserveModule[] = [demo]) {
  const { merged, origins } = mergeLayers(layers);
  return validateSettings(modules, merged, origins);
}

test('defaults fill an empty configuration, durations in milliseconds', () => {
  assert.deepEqual(validate([]), {
    demo: { address: ':8000', port: 8000, filter: 'raw', closeIdle: 10_000, tags: [], limits: { listeners: 100, bytes: 0 } },
  });
  assert.deepEqual(validate([], [bare]), { bare: {} });
});

test('x-duration turns Go durations into milliseconds and keeps numbers', () => {
  assert.equal((validate([{ label: 'f', data: { demo: { closeIdle: '1m30s' } } }]).demo as { closeIdle: number }).closeIdle, 90_000);
  assert.equal((validate([{ label: 'f', data: { demo: { closeIdle: '500ms' } } }]).demo as { closeIdle: number }).closeIdle, 500);
  assert.equal((validate([{ label: 'f', data: { demo: { closeIdle: 2500 } } }]).demo as { closeIdle: number }).closeIdle, 2500);
  assert.equal((validate([{ label: 'f', data: { demo: { closeIdle: '0' } } }]).demo as { closeIdle: number }).closeIdle, 0);
});

test('an invalid duration names the setting, the value, what is expected and where it came from', async () => {
  await rejectsUser(() => validate([{ label: '/etc/ss.json', data: { demo: { closeIdle: '90' } } }]),
    /^invalid setting demo\.closeIdle = "90" \(from \/etc\/ss\.json\): must be a duration such as 500ms, 10s or 1m30s$/);
  await rejectsUser(() => validate([{ label: '/etc/ss.json', data: { demo: { closeIdle: '-1s' } } }]), /demo\.closeIdle = "-1s"/);
});

test('layers: shipped defaults < operator file < flags, each setting remembering its origin', () => {
  const shipped: ConfigLayer = { label: 'config/demo.yaml', data: { demo: { address: ':1', port: 1, limits: { listeners: 5, bytes: 7 } } } };
  const operator: ConfigLayer = { label: '/srv/.streamserverc.json', data: { demo: { port: 2, filter: 'mp3', limits: { listeners: 6 } } } };
  const flags: ConfigLayer = { label: 'flags', data: { demo: { port: 3 } }, origins: new Map([['demo.port', 'flag -port']]) };
  const { merged, origins } = mergeLayers([shipped, operator, flags]);
  assert.deepEqual(merged, { demo: { address: ':1', port: 3, filter: 'mp3', limits: { listeners: 6, bytes: 7 } } });
  assert.equal(origins.get('demo.address'), 'config/demo.yaml');
  assert.equal(origins.get('demo.port'), 'flag -port');
  assert.equal(origins.get('demo.filter'), '/srv/.streamserverc.json');
  assert.equal(origins.get('demo.limits.listeners'), '/srv/.streamserverc.json');
  assert.equal(origins.get('demo.limits.bytes'), 'config/demo.yaml');
  assert.deepEqual(shipped.data, { demo: { address: ':1', port: 1, limits: { listeners: 5, bytes: 7 } } }, 'layers are not modified');
});

test('a flag for a section no file mentions still names the flag as its origin', async () => {
  const flags: ConfigLayer = { label: 'flags', data: { demo: { port: 0 } }, origins: new Map([['demo.port', 'flag -port']]) };
  await rejectsUser(() => validate([flags]), /^invalid setting demo\.port = 0 \(from flag -port\): must be >= 1$/);
});

test('arrays and scalars replace, objects merge', () => {
  const { merged } = mergeLayers([
    { label: 'a', data: { demo: { tags: ['a', 'b'], limits: { listeners: 1 } } } },
    { label: 'b', data: { demo: { tags: ['c'], limits: 'none' } } },
  ]);
  assert.deepEqual(merged, { demo: { tags: ['c'], limits: 'none' } });
});

test('a wrong type names the setting path, the value, what was expected and the file', async () => {
  const msg = await rejectsUser(() => validate([{ label: '/srv/.streamserverc.json', data: { demo: { port: 'abc' } } }]),
    /^invalid setting demo\.port = "abc" \(from \/srv\/\.streamserverc\.json\): must be integer$/);
  assert.ok(!msg.includes('\n'), 'one problem, one line');
});

test('nested settings, enums and out-of-range numbers are described precisely', async () => {
  await rejectsUser(() => validate([{ label: 'op.yaml', data: { demo: { limits: { listeners: 1.5 } } } }]),
    /setting demo\.limits\.listeners = 1\.5 \(from op\.yaml\): must be integer/);
  await rejectsUser(() => validate([{ label: 'op.yaml', data: { demo: { filter: 'ogg' } } }]),
    /setting demo\.filter = "ogg" \(from op\.yaml\): must be one of "raw", "mp3"/);
  await rejectsUser(() => validate([{ label: 'op.yaml', data: { demo: { port: 70000 } } }]),
    /setting demo\.port = 70000 \(from op\.yaml\): must be <= 65535/);
  await rejectsUser(() => validate([{ label: 'op.yaml', data: { demo: { tags: ['ok', 3] } } }]),
    /setting demo\.tags\.1 = 3 \(from op\.yaml\): must be string/);
});

test('an unknown setting inside a section is named with its file', async () => {
  await rejectsUser(() => validate([{ label: 'op.yaml', data: { demo: { adress: ':1' } } }]),
    /^invalid setting demo\.adress \(from op\.yaml\): unknown setting$/);
  await rejectsUser(() => validate([{ label: 'op.yaml', data: { bare: { x: 1 } } }], [bare]), /setting bare\.x \(from op\.yaml\): unknown setting/);
});

test('a required setting that is missing is named', async () => {
  const needy = defineModule({ name: 'needy', schema: { type: 'object', required: ['key'], properties: { key: { type: 'string' } } }, apply() {} });
  await rejectsUser(() => validate([{ label: 'op.yaml', data: { needy: { other: 1 } } }], [needy]), /setting needy\.key \(in op\.yaml\): is required/);
});

test('an unknown section is named, with where it came from and a hint', async () => {
  await rejectsUser(() => validate([{ label: '/srv/.streamserverc', data: { demo: {}, icecast: { port: 1 } } }]),
    /^invalid setting icecast \(from \/srv\/\.streamserverc\): no loaded module is named "icecast"; is it missing from main\.mods\?$/);
});

test('a section that is not an object is refused', async () => {
  await rejectsUser(() => validate([{ label: 'op.yaml', data: { demo: 'on' } }]), /setting demo = "on" \(from op\.yaml\): must be object/);
});

test('every problem is reported at once, one per line', async () => {
  const msg = await rejectsUser(() => validate([{ label: 'op.yaml', data: { demo: { port: 'x', filter: 'ogg' }, nope: {} } }]));
  const lines = msg.split('\n');
  assert.equal(lines[0], 'invalid settings:');
  assert.equal(lines.length, 4, msg);
  assert.ok(lines.some((l) => /demo\.port = "x"/.test(l)));
  assert.ok(lines.some((l) => /demo\.filter = "ogg"/.test(l)));
  assert.ok(lines.some((l) => /setting nope /.test(l)));
});

test('setPath creates the objects on the way', () => {
  const o: Record<string, unknown> = { a: { keep: 1 } };
  setPath(o, 'a.b.c', 2);
  setPath(o, 'top', true);
  assert.deepEqual(o, { a: { keep: 1, b: { c: 2 } }, top: true });
});

test('defaultLayers reads config/NAME.yaml only for the loaded modules', async () => {
  const dir = tree({ 'demo.yaml': '# comment\nport: 9000\n', 'other.yaml': 'x: 1\n', 'bare.yaml': '# only comments\n', 'broken.yaml': 'a: [1,\n' });
  const layers = defaultLayers(dir, ['demo', 'bare', 'missing']);
  assert.deepEqual(layers, [{ label: join(dir, 'demo.yaml'), data: { demo: { port: 9000 } } }]);
  await rejectsUser(() => defaultLayers(dir, ['broken']), new RegExp(`^${join(dir, 'broken.yaml').replace(/[.]/g, '\\.')}: `));
});

test('cosmiconfig finds the operator file in the working directory, in every supported form', async () => {
  const cases: [string, string][] = [
    ['.streamserverc.json', JSON.stringify({ demo: { port: 1001 } })],
    ['.streamserverc', 'demo:\n  port: 1002\n'],
    ['.streamserverc.yaml', 'demo:\n  port: 1003 # a comment\n'],
    ['.streamserverc.yml', 'demo: { port: 1004 }\n'],
    ['streamserve.config.mjs', 'export default { demo: { port: 1005 } };\n'],
    ['streamserve.config.json', '{"demo": {"port": 1006}}'],
    ['package.json', JSON.stringify({ name: 'site', streamserve: { demo: { port: 1007 } } })],
  ];
  for (const [file, text] of cases) {
    const dir = tree({ [file]: text });
    const layer = await operatorLayer(undefined, dir);
    assert.ok(layer, file);
    assert.equal(layer.label, join(dir, file));
    assert.deepEqual(layer.data, { demo: { port: Number(1001 + cases.findIndex(([f]) => f === file)) } }, file);
  }
});

test('no operator file, or a package.json without a streamserve section, is no layer', async () => {
  assert.equal(await operatorLayer(undefined, tree({})), undefined);
  assert.equal(await operatorLayer(undefined, tree({ 'package.json': '{"name":"x"}' })), undefined);
});

test('cosmiconfig looks only in the working directory, not its parents', async () => {
  const dir = tree({ '.streamserverc.json': '{"demo":{"port":1}}', 'sub/keep': '' });
  assert.equal(await operatorLayer(undefined, join(dir, 'sub')), undefined);
});

test('-config FILE names the file, relative to the working directory, whatever its name', async () => {
  const dir = tree({ 'etc/site.yaml': 'demo:\n  port: 2001\n', '.streamserverc.json': '{"demo":{"port":1}}' });
  const layer = await operatorLayer('etc/site.yaml', dir);
  assert.deepEqual(layer, { label: join(dir, 'etc', 'site.yaml'), data: { demo: { port: 2001 } } });
  await rejectsUser(operatorLayer('nope.json', dir), new RegExp(`^config file ${join(dir, 'nope.json').replace(/[.]/g, '\\.')}: no such file$`));
});

test('a broken or non-object operator file is named', async () => {
  const bad = tree({ '.streamserverc.json': '{"demo": ' });
  await rejectsUser(operatorLayer(undefined, bad), /config file/);
  const list = tree({ '.streamserverc.json': '[1, 2]' });
  await rejectsUser(operatorLayer(undefined, list), new RegExp(`^${join(list, '.streamserverc.json').replace(/[.]/g, '\\.')}: must hold an object of sections named after modules`));
});

test('the whole chain: config/server.yaml < operator file < flags, validated by the server schema', async () => {
  const dir = tree({ '.streamserverc.yaml': 'server:\n  address: "127.0.0.1:9100"\n  headerTimeout: 1m30s\n  uid: 5\n' });
  const operator = (await operatorLayer(undefined, dir))!;
  const flags: ConfigLayer = { label: 'flags', data: { server: { uid: 7 } }, origins: new Map([['server.uid', 'flag -uid']]) };
  const settings = validate([...defaultLayers(configDir, ['server']), operator, flags], [server]);
  const defaults = validate([], [server]).server as Record<string, unknown>;
  assert.equal(defaults.address, ':8000');
  assert.deepEqual(settings.server, { ...defaults, address: '127.0.0.1:9100', headerTimeout: 90_000, uid: 7 });
  const wrong = tree({ '.streamserverc.json': '{"server": {"uid": "abc"}}' });
  await rejectsUser(async () => validate([...defaultLayers(configDir, ['server']), (await operatorLayer(undefined, wrong))!], [server]),
    new RegExp(`^invalid setting server\\.uid = "abc" \\(from ${join(wrong, '.streamserverc.json').replace(/[.]/g, '\\.')}\\): must be integer$`));
});
