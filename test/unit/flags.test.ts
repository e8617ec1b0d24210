import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UserError } from '../../core/kernel/errors.ts';
import { nearest, parseFlags, type FlagDef, type FlagType } from '../../core/kernel/flags.ts';

/** streamserve's own flag set (a representative part of it). */
const defs = new Map<string, FlagDef>(
  Object.entries({
    address: 'string',
    'frame-filter': 'string',
    filter: 'string', // alias
    'frame-bytes': 'int',
    uid: 'int',
    rate: 'number',
    reopen: 'bool',
    debug: 'bool',
    'close-idle': 'duration',
    exec: 'rest',
  } satisfies Record<string, FlagType>).map(([name, type]) => [name, { type }]),
);

const parse = (...argv: string[]) => parseFlags(argv, defs);
const values = (...argv: string[]) => Object.fromEntries(parse(...argv).values);

/** Asserts a UserError whose message matches every pattern. */
function rejects(argv: string[], ...patterns: RegExp[]): string {
  let caught: unknown;
  try {
    parseFlags(argv, defs);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof UserError, `expected a UserError for ${JSON.stringify(argv)}, got ${String(caught)}`);
  const msg = (caught as Error).message;
  assert.ok(!msg.includes('\n'), `one line: ${msg}`);
  for (const p of patterns) assert.match(msg, p);
  return msg;
}

test('-name value and -name=value', () => {
  assert.deepEqual(values('-address', ':9000'), { address: ':9000' });
  assert.deepEqual(values('-address=:9000'), { address: ':9000' });
  assert.deepEqual(values('-address=a=b'), { address: 'a=b' }, 'only the first = splits');
  assert.deepEqual(values('-address='), { address: '' }, 'an empty value is a value');
});

test('two dashes work the same as one', () => {
  assert.deepEqual(values('--address', ':1', '--reopen', '--uid=3'), { address: ':1', reopen: true, uid: 3 });
});

test('a value may itself start with a dash', () => {
  assert.deepEqual(values('-uid', '-1'), { uid: -1 });
  assert.deepEqual(values('-address', '-debug'), { address: '-debug' }, 'Go takes the next argument whatever it is');
});

test('booleans: -b, -b=true|false|1|0|t|f, never a separate value', () => {
  assert.deepEqual(values('-reopen'), { reopen: true });
  assert.deepEqual(values('-reopen=true'), { reopen: true });
  assert.deepEqual(values('-reopen=1'), { reopen: true });
  assert.deepEqual(values('-reopen=T'), { reopen: true });
  assert.deepEqual(values('-reopen=false'), { reopen: false });
  assert.deepEqual(values('-reopen=0'), { reopen: false });
  assert.deepEqual(values('-reopen=F'), { reopen: false });
  assert.deepEqual(values('-reopen', '-debug'), { reopen: true, debug: true });
  rejects(['-reopen=yes'], /invalid boolean value "yes" for flag -reopen/, /-reopen=false/);
});

test('a boolean followed by a non-flag stops parsing there', () => {
  const r = parse('-reopen', 'false', '-debug');
  assert.deepEqual(Object.fromEntries(r.values), { reopen: true });
  assert.deepEqual(r.rest, ['false', '-debug']);
});

test('the first non-flag argument ends the flags; a lone - is not a flag', () => {
  const r = parse('-uid', '5', 'file.mp3', '-address', ':1');
  assert.deepEqual(Object.fromEntries(r.values), { uid: 5 });
  assert.deepEqual(r.rest, ['file.mp3', '-address', ':1']);
  assert.deepEqual(parse('-debug', '-', 'x').rest, ['-', 'x']);
});

test('-- ends the flags and is consumed', () => {
  const r = parse('-debug', '--', '-address', ':1');
  assert.deepEqual(Object.fromEntries(r.values), { debug: true });
  assert.deepEqual(r.rest, ['-address', ':1']);
  assert.deepEqual(parse('--').rest, []);
});

test('-exec takes every argument after the flags', () => {
  const r = parse('-address', ':1', '-exec', 'sh', '-c', 'arecord -f cd');
  assert.deepEqual(r.values.get('exec'), ['sh', '-c', 'arecord -f cd']);
  assert.equal(r.values.get('address'), ':1');
  assert.deepEqual(r.rest, [], 'the command is the flag\'s, not left over');
});

test('-exec is a boolean: flags after it are still parsed, the command follows them', () => {
  const r = parse('-exec', '-frame-filter', 'mp3', '-reopen', 'lame', '-', '-');
  assert.deepEqual(r.values.get('exec'), ['lame', '-', '-']);
  assert.equal(r.values.get('frame-filter'), 'mp3');
  assert.equal(r.values.get('reopen'), true);
});

test('-exec with -- keeps a command whose name starts with a dash', () => {
  assert.deepEqual(parse('-exec', '--', '-weird', 'arg').values.get('exec'), ['-weird', 'arg']);
});

test('-exec=false takes no command; -exec with nothing after it stays a plain true', () => {
  const off = parse('-exec=false', 'sh');
  assert.equal(off.values.get('exec'), false);
  assert.deepEqual(off.rest, ['sh']);
  assert.equal(parse('-exec').values.get('exec'), true);
});

test('ints: decimal, negative, 0x, 0o, 0b, underscores', () => {
  assert.equal(values('-frame-bytes', '4096')['frame-bytes'], 4096);
  assert.equal(values('-uid=-1').uid, -1);
  assert.equal(values('-uid', '+7').uid, 7);
  assert.equal(values('-frame-bytes', '0x1000')['frame-bytes'], 4096);
  assert.equal(values('-frame-bytes', '0X1f')['frame-bytes'], 31);
  assert.equal(values('-uid', '-0x10').uid, -16);
  assert.equal(values('-uid', '0o17').uid, 15);
  assert.equal(values('-uid', '0b101').uid, 5);
  assert.equal(values('-frame-bytes', '1_000')['frame-bytes'], 1000);
  assert.equal(values('-uid', '0').uid, 0);
  for (const bad of ['abc', '1.5', '12k', '', '0x', '--1', '1e3']) {
    rejects(['-uid', bad], new RegExp(`invalid value "${bad}" for flag -uid: expected a whole number`));
  }
});

test('numbers accept fractions, reject words', () => {
  assert.equal(values('-rate', '1.5').rate, 1.5);
  assert.equal(values('-rate=-2').rate, -2);
  rejects(['-rate', 'fast'], /invalid value "fast" for flag -rate: expected a number/);
  rejects(['-rate='], /invalid value "" for flag -rate/);
});

test('durations are checked but kept as Go strings for the schema to convert', () => {
  assert.equal(values('-close-idle', '500ms')['close-idle'], '500ms');
  assert.equal(values('-close-idle=1m30s')['close-idle'], '1m30s');
  assert.equal(values('-close-idle', '0')['close-idle'], '0');
  rejects(['-close-idle', '90'], /invalid value "90" for flag -close-idle: expected a duration such as 500ms/);
  rejects(['-close-idle', 'soon'], /-close-idle/);
});

test('an unknown flag names the nearest known one', () => {
  rejects(['-adress', ':1'], /flag provided but not defined: -adress/, /did you mean -address\?/, /-help/);
  rejects(['--reopn'], /-reopn \(did you mean -reopen\?\)/);
  rejects(['-frame-filtr=mp3'], /did you mean -frame-filter\?/);
  const far = rejects(['-zzzzzzzz'], /flag provided but not defined: -zzzzzzzz/);
  assert.doesNotMatch(far, /did you mean/, 'nothing plausible, no suggestion');
  rejects(['-=x'], /flag provided but not defined/);
});

test('a flag at the end without its value', () => {
  rejects(['-debug', '-address'], /^flag needs an argument: -address$/);
  rejects(['-uid'], /flag needs an argument: -uid/);
});

test('the last occurrence of a flag wins', () => {
  assert.equal(values('-address', ':1', '-address', ':2').address, ':2');
});

test('nearest() only suggests plausible typos', () => {
  const known = ['address', 'reopen', 'uid', 'frame-filter'];
  assert.equal(nearest('adress', known), 'address');
  assert.equal(nearest('addres', known), 'address');
  assert.equal(nearest('ui', known), 'uid');
  assert.equal(nearest('frame-filer', known), 'frame-filter');
  assert.equal(nearest('bandwidth', known), undefined);
  assert.equal(nearest('x', []), undefined);
});
