import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { ERR, UserError, type ErrorKind } from '../../core/kernel/errors.ts';
import { root } from '../helpers/server.ts';

const kinds = Object.entries(ERR) as [string, ErrorKind<string[]>][];

test('every user error has a unique SS_ERR_ code named after its entry', () => {
  const codes = kinds.map(([, k]) => k.code);
  assert.equal(new Set(codes).size, codes.length, 'codes are unique');
  for (const [key, kind] of kinds) assert.equal(kind.code, `SS_ERR_${key}`);
});

test('every message names each of its inputs, on one line', () => {
  for (const [key, kind] of kinds) {
    // One distinct marker per parameter the message takes.
    const inputs = Array.from({ length: kind.message.length }, (_, i) => `<input-${i}-of-${key}>`);
    const err = kind(...inputs);
    assert.ok(err instanceof UserError);
    assert.equal(err.code, kind.code);
    for (const input of inputs) assert.ok(err.message.includes(input), `${key}: "${err.message}" names ${input}`);
    assert.ok(!err.message.includes('\n'), `${key}: one line`);
    assert.ok(!/undefined|\[object /.test(err.message), `${key}: ${err.message}`);
  }
});

test('several settings problems get a line each, one gets one line', () => {
  assert.equal(ERR.SETTINGS_INVALID('setting a.b = 1 (from f): must be string').message, 'invalid setting a.b = 1 (from f): must be string');
  assert.equal(ERR.SETTINGS_INVALID('setting a (from f): x\nsetting b (from g): y').message, 'invalid settings:\n  setting a (from f): x\n  setting b (from g): y');
});

test('at() prefixes where the error happened and keeps the code', () => {
  const err = ERR.MODS_INCLUDE_CYCLE('a.mods -> b.mods -> a.mods').at('main.mods:3');
  assert.equal(err.code, ERR.MODS_INCLUDE_CYCLE.code);
  assert.equal(err.message, 'main.mods:3: include cycle: a.mods -> b.mods -> a.mods');
});

test('a logged user error carries its code', () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb(); } });
  pino(sink).error({ err: ERR.PATH_UNUSABLE('/nope', 'no such file or directory') }, 'start failed');
  const err = lines[0]!.err as Record<string, unknown>;
  assert.equal(err.code, 'SS_ERR_PATH_UNUSABLE');
  assert.equal(err.message, 'cannot use -path /nope: no such file or directory');
});

test('no UserError is made outside the table', () => {
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
  const offenders = [...walk(join(root, 'core')), ...walk(join(root, 'mods'))]
    .filter((f) => !f.endsWith(join('core', 'kernel', 'errors.ts')) && /new UserError\(/.test(readFileSync(f, 'utf8')))
    .map((f) => relative(root, f));
  assert.deepEqual(offenders, []);
});
