import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { UserError } from '../../core/kernel/errors.ts';
import { parseMods, readModsFile, where, type ModsEntry } from '../../core/kernel/mods-file.ts';

const root = mkdtempSync(join(tmpdir(), 'streamserve-mods-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Writes files (paths relative to a fresh folder) and returns that folder. */
let n = 0;
function tree(files: Record<string, string>): string {
  const dir = join(root, String(n++));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** The parts of an entry a test cares about. */
const brief = (e: ModsEntry) => ({ builtin: e.builtin, path: e.path, text: e.text, file: e.file, line: e.line });

function throwsUser(fn: () => unknown, ...patterns: RegExp[]): string {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof UserError, `expected a UserError, got ${String(caught)}`);
  const msg = (caught as Error).message;
  for (const p of patterns) assert.match(msg, p);
  return msg;
}

test('comments, trailing comments and blank lines are ignored; line numbers are kept', () => {
  const file = '/srv/main.mods';
  const text = [
    '# the module list', //    1
    '', //                      2
    'server', //                3
    '   ', //                   4
    'http   # serves pages', // 5
    '\tsource\t', //            6
    '#channels', //             7
    '  # indented comment', //  8
    'stat-log#not-a-comment', // 9 is an error: # inside a word is not a comment
  ].join('\n');
  throwsUser(() => parseMods(text, file), /^\/srv\/main\.mods:9: "stat-log#not-a-comment" is neither a built-in module name nor a path$/);
  const entries = parseMods(text.split('\n').slice(0, 8).join('\n'), file);
  assert.deepEqual(entries.map(brief), [
    { builtin: 'server', path: undefined, text: 'server', file, line: 3 },
    { builtin: 'http', path: undefined, text: 'http', file, line: 5 },
    { builtin: 'source', path: undefined, text: 'source', file, line: 6 },
  ]);
});

test('CRLF line endings and an empty list', () => {
  assert.deepEqual(parseMods('server\r\n# x\r\nhttp\r\n', '/a.mods').map((e) => [e.builtin, e.line]), [['server', 1], ['http', 3]]);
  assert.deepEqual(parseMods('', '/a.mods'), []);
  assert.deepEqual(parseMods('# nothing\n\n', '/a.mods'), []);
});

test('an operator module path is resolved relative to the .mods file, not the working directory', () => {
  const file = '/srv/conf/main.mods';
  const entries = parseMods('./mine.js\nauth/check.ts\n../shared/limits.mjs\n/opt/abs.js\nplain.js\n', file);
  assert.deepEqual(entries.map((e) => [e.builtin, e.path, e.text, e.line]), [
    [undefined, '/srv/conf/mine.js', './mine.js', 1],
    [undefined, '/srv/conf/auth/check.ts', 'auth/check.ts', 2],
    [undefined, '/srv/shared/limits.mjs', '../shared/limits.mjs', 3],
    [undefined, '/opt/abs.js', '/opt/abs.js', 4],
    [undefined, '/srv/conf/plain.js', 'plain.js', 5],
  ]);
});

test('bare names are built-ins; anything else that is not a path is refused with file:line', () => {
  assert.deepEqual(parseMods('stat-log\nfilters_2\nA1\n', '/m.mods').map((e) => e.builtin), ['stat-log', 'filters_2', 'A1']);
  throwsUser(() => parseMods('server\nfoo@bar\n', '/m.mods'), /^\/m\.mods:2: "foo@bar" is neither a built-in module name nor a path$/);
  throwsUser(() => parseMods('\n\nserver http\n', '/m.mods'), /^\/m\.mods:3: one module per line, got "server http"$/);
});

test('an entry ending in .mods includes that list in place, relative to the including file', () => {
  const dir = tree({
    'main.mods': 'server\nextra/more.mods # the extras\nstat-log\n',
    'extra/more.mods': '# included\n./mine.js\nhttp\nsub/deeper.mods\n',
    'extra/sub/deeper.mods': '../../top.ts\n',
  });
  const main = join(dir, 'main.mods');
  const more = join(dir, 'extra', 'more.mods');
  const deeper = join(dir, 'extra', 'sub', 'deeper.mods');
  assert.deepEqual(readModsFile(main).map(brief), [
    { builtin: 'server', path: undefined, text: 'server', file: main, line: 1 },
    { builtin: undefined, path: join(dir, 'extra', 'mine.js'), text: './mine.js', file: more, line: 2 },
    { builtin: 'http', path: undefined, text: 'http', file: more, line: 3 },
    { builtin: undefined, path: join(dir, 'top.ts'), text: '../../top.ts', file: deeper, line: 1 },
    { builtin: 'stat-log', path: undefined, text: 'stat-log', file: main, line: 3 },
  ]);
});

test('the same list may be included twice when it is not a cycle', () => {
  const dir = tree({ 'main.mods': 'a.mods\nb.mods\n', 'a.mods': 'common.mods\n', 'b.mods': 'common.mods\n', 'common.mods': 'server\n' });
  assert.deepEqual(readModsFile(join(dir, 'main.mods')).map((e) => e.builtin), ['server', 'server']);
});

test('a list including itself is an include cycle named with file:line', () => {
  const dir = tree({ 'main.mods': 'server\n\n./main.mods\n' });
  const main = join(dir, 'main.mods');
  const msg = throwsUser(() => readModsFile(main), /include cycle/);
  assert.ok(msg.startsWith(`${main}:3: `), msg);
  assert.ok(msg.includes(`${main} -> ${main}`), msg);
});

test('a longer include cycle names every file in it and the lines that include', () => {
  const dir = tree({ 'main.mods': 'server\nsub/a.mods\n', 'sub/a.mods': 'http\n../main.mods\n' });
  const main = join(dir, 'main.mods');
  const a = join(dir, 'sub', 'a.mods');
  const msg = throwsUser(() => readModsFile(main), /include cycle/);
  assert.ok(msg.startsWith(`${main}:2: ${a}:2: `), msg);
  assert.ok(msg.endsWith(`${main} -> ${a} -> ${main}`), msg);
});

test('an include that does not exist names the including file:line and the missing list', () => {
  const dir = tree({ 'main.mods': 'server\n# next\nnope.mods\n' });
  const main = join(dir, 'main.mods');
  throwsUser(() => readModsFile(main), new RegExp(`^${escape(main)}:3: module list ${escape(join(dir, 'nope.mods'))}: no such file$`));
});

test('an error deep in an included list names that list and its line', () => {
  const dir = tree({ 'main.mods': 'inc.mods\n', 'inc.mods': 'server\n\nbad entry\n' });
  const msg = throwsUser(() => readModsFile(join(dir, 'main.mods')), /one module per line, got "bad entry"/);
  assert.ok(msg.includes(`${join(dir, 'inc.mods')}:3:`), msg);
  assert.ok(msg.startsWith(`${join(dir, 'main.mods')}:1:`), msg);
});

test('a top-level list that does not exist is named', () => {
  throwsUser(() => readModsFile(join(root, 'missing', 'main.mods')), /^module list .*missing\/main\.mods: no such file$/);
});

test('where() formats file:line', () => {
  assert.equal(where({ file: '/x/main.mods', line: 7 }), '/x/main.mods:7');
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
