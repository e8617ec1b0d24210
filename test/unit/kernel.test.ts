import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import type { AuthRequest } from '../../core/contracts/auth.ts';
import type { Connection } from '../../core/contracts/connection.ts';
import { HookError } from '../../core/kernel/errors.ts';
import type { FramerOptions } from '../../core/contracts/frame.ts';
import { Kernel } from '../../core/kernel/kernel.ts';
import { createChannels } from '../../core/engine/channels.ts';
import type { Logger } from '../../core/kernel/log.ts';
import { defineModule } from '../../core/kernel/module.ts';

const silent = (): Logger => pino({ level: 'silent' });

function kernel(opts: { settings?: Record<string, unknown>; stopTimeoutMs?: number; log?: Logger } = {}): Kernel {
  return new Kernel({ channels: createChannels, log: opts.log ?? silent(), settings: opts.settings ?? {}, packageRoot: process.cwd(), stopTimeoutMs: opts.stopTimeoutMs });
}

/** A logger whose JSON lines land in an array. */
function capturingLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

const conn = (head: string) => ({ id: 1, head: Buffer.from(head), remoteAddress: '127.0.0.1', secure: false }) as unknown as Connection;
const authRequest: AuthRequest = { action: 'watch', protocol: 'http', remoteAddress: '127.0.0.1' };

async function rejectsHookError(p: Promise<unknown>, hook: string, module: string, cause: RegExp): Promise<HookError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  return checkHookError(caught, hook, module, cause);
}

function checkHookError(caught: unknown, hook: string, module: string, cause: RegExp): HookError {
  assert.ok(caught instanceof HookError, `expected a HookError, got ${String(caught)}`);
  assert.equal(caught.hook, hook);
  assert.equal(caught.module, module);
  assert.match(caught.message, new RegExp(`^hook ${hook.replace(/[()]/g, '\\$&')} failed in module ${module}: `));
  assert.match(caught.message, cause);
  return caught;
}

test('a sync tap throwing inside an async bail hook is a HookError naming hook and module', async () => {
  const k = kernel();
  k.hooks.connection.tap('polite', () => undefined);
  k.hooks.connection.tap('mine', () => { throw new Error('boom in sniffing'); });
  const err = await rejectsHookError(k.hooks.connection.promise(conn('PING')), 'connection', 'mine', /boom in sniffing$/);
  assert.ok(err.cause instanceof Error && err.cause.message === 'boom in sniffing', 'the original error is kept as cause');
});

test('a tapPromise rejecting is a HookError naming hook and module', async () => {
  const k = kernel();
  k.hooks.authenticate.tapPromise('users', async () => { throw new Error('user file unreadable'); });
  await rejectsHookError(k.hooks.authenticate.promise(authRequest), 'authenticate', 'users', /user file unreadable/);
});

test('a tapAsync calling back with an error is a HookError; so is one throwing before it calls back', async () => {
  const k = kernel();
  k.hooks.stop.tapAsync('cb-error', (_reason, cb) => { setImmediate(() => cb(new Error('late failure'))); });
  await rejectsHookError(k.hooks.stop.promise('test'), 'stop', 'cb-error', /late failure/);
  const k2 = kernel();
  k2.hooks.stop.tapAsync('cb-throw', () => { throw new Error('early failure'); });
  await rejectsHookError(k2.hooks.stop.promise('test'), 'stop', 'cb-throw', /early failure/);
});

test('a sync hook throws a HookError at the call', () => {
  const k = kernel();
  k.hooks.stats.tap('counts', (s) => s);
  k.hooks.stats.tap('broken-stats', () => { throw new TypeError('cannot read figures'); });
  let caught: unknown;
  try {
    k.hooks.stats.call({ startedAt: new Date(), channels: [] });
  } catch (err) {
    caught = err;
  }
  checkHookError(caught, 'stats', 'broken-stats', /cannot read figures/);
});

test('a frame filter (HookMap) tap that throws names the filter in the hook', () => {
  const k = kernel();
  k.hooks.frameFilter.for('mp3').tap('filters', () => { throw new Error('bad frame size'); });
  let caught: unknown;
  try {
    k.hooks.frameFilter.for('mp3').call({} as FramerOptions);
  } catch (err) {
    caught = err;
  }
  checkHookError(caught, 'frameFilter(mp3)', 'filters', /bad frame size/);
  assert.equal(k.hooks.frameFilter.for('mp3'), k.hooks.frameFilter.for('mp3'), 'one hook per key');
});

test('a frame filter that works is still found through the HookMap', () => {
  const k = kernel();
  const framer = { push() { return []; } };
  k.hooks.frameFilter.for('raw').tap('filters', () => framer as never);
  assert.equal(k.hooks.frameFilter.for('raw').call({} as FramerOptions), framer);
  assert.equal(k.hooks.frameFilter.for('ogg').call({} as FramerOptions), undefined);
});

test('the frameFilter map lists the names modules tapped, not names only looked up', () => {
  const k = kernel();
  assert.deepEqual(k.hooks.frameFilter.names(), []);
  k.hooks.frameFilter.for('mp3').tap('filters', () => undefined);
  k.hooks.frameFilter.for('raw').tap('filters', () => undefined);
  k.hooks.frameFilter.for('raw').tap('mine', () => undefined);
  k.hooks.frameFilter.for('ogg');
  k.hooks.frameFilter.get('webm');
  assert.deepEqual(k.hooks.frameFilter.names(), ['mp3', 'raw']);
  assert.equal(k.hooks.frameFilter.has('raw'), true);
  assert.equal(k.hooks.frameFilter.has('ogg'), false);
  // Another kernel has its own catalogue.
  assert.deepEqual(kernel().hooks.frameFilter.names(), []);
});

test('a thrown non-Error is described too', async () => {
  const k = kernel();
  k.hooks.connection.tap('stringy', () => { throw 'plain string'; });
  await rejectsHookError(k.hooks.connection.promise(conn('x')), 'connection', 'stringy', /plain string$/);
});

test('a HookError from a nested hook keeps the innermost hook and module', async () => {
  const k = kernel();
  k.hooks.authenticate.tap('users', () => { throw new Error('inner'); });
  k.hooks.connection.tapPromise('proto', async () => { await k.hooks.authenticate.promise(authRequest); return undefined; });
  await rejectsHookError(k.hooks.connection.promise(conn('x')), 'authenticate', 'users', /inner/);
});

test('taps run in registration order and the first with an opinion decides', async () => {
  const k = kernel();
  const ran: string[] = [];
  const claim = (name: string) => () => { ran.push(name); return () => {}; };
  k.hooks.connection.tap('passes', () => { ran.push('passes'); return undefined; });
  k.hooks.connection.tap('first', claim('first'));
  k.hooks.connection.tap('second', claim('second'));
  assert.equal(typeof (await k.hooks.connection.promise(conn('PING'))), 'function');
  assert.deepEqual(ran, ['passes', 'first']);
});

test('apply hands a module its own settings section', async () => {
  const k = kernel({ settings: { mine: { greeting: 'hi' }, other: { x: 1 } } });
  let got: unknown;
  await k.apply(defineModule({ name: 'mine', apply(_k, s) { got = s; } }), 1000);
  assert.deepEqual(got, { greeting: 'hi' });
});

test('apply is bounded in time', async () => {
  const k = kernel();
  const started = Date.now();
  await assert.rejects(k.apply(defineModule({ name: 'slow', apply: () => new Promise(() => {}) }), 100), /apply\(\) did not finish within 100 ms/);
  assert.ok(Date.now() - started < 2000);
});

test('apply passes on what the module throws, sync or async', async () => {
  const k = kernel();
  await assert.rejects(k.apply(defineModule({ name: 'a', apply() { throw new Error('sync fail'); } }), 1000), /sync fail/);
  await assert.rejects(k.apply(defineModule({ name: 'b', async apply() { throw new Error('async fail'); } }), 1000), /async fail/);
});

declare module '../../core/kernel/kernel.ts' {
  interface Services {
    /** A service of this test's own, declared as a module declares its own. */
    'test-routes': { routes: string[] };
  }
}

test('provide/service hand APIs to later modules; a name is provided once', () => {
  const k = kernel();
  const api = { routes: ['/a'] };
  k.provide('test-routes', api);
  // Typed by the declaration above: no type parameter chosen by the caller.
  const got: { routes: string[] } | undefined = k.service('test-routes');
  assert.equal(got, api);
  assert.equal(k.service('nope' as 'test-routes'), undefined);
  assert.throws(() => k.provide('test-routes', { routes: [] }), /service test-routes is already provided/);
});

test('logger() binds the module name', () => {
  const { log, lines } = capturingLogger();
  const k = kernel({ log });
  k.logger('mine').info({ x: 1 }, 'hello');
  assert.equal(lines.at(-1)!.mod, 'mine');
  assert.equal(lines.at(-1)!.msg, 'hello');
});

test('stop runs the stop hooks once, in order, and resolves stopped with the reason', async () => {
  const k = kernel();
  const ran: string[] = [];
  k.hooks.stop.tapPromise('a', async (reason) => { ran.push(`a:${reason}`); });
  k.hooks.stop.tap('b', (reason) => { ran.push(`b:${reason}`); });
  const p1 = k.stop('SIGTERM');
  const p2 = k.stop('again');
  await Promise.all([p1, p2]);
  assert.deepEqual(ran, ['a:SIGTERM', 'b:SIGTERM']);
  assert.equal(await k.stopped, 'SIGTERM');
});

test('a stop hook that hangs is cut off after the stop timeout', async () => {
  const { log, lines } = capturingLogger();
  const k = kernel({ stopTimeoutMs: 150, log });
  k.hooks.stop.tapPromise('stuck', () => new Promise(() => {}));
  const started = Date.now();
  await k.stop('SIGTERM');
  const took = Date.now() - started;
  assert.ok(took >= 140 && took < 2000, `took ${took} ms`);
  assert.ok(lines.some((l) => l.msg === 'stop hooks did not finish in time'));
});

test('a stop hook that fails is logged with its module, and stopping still completes', async () => {
  const { log, lines } = capturingLogger();
  const k = kernel({ log });
  k.hooks.stop.tap('fragile', () => { throw new Error('cannot close'); });
  await k.stop('SIGINT');
  assert.equal(await k.stopped, 'SIGINT');
  const line = lines.find((l) => l.msg === 'stop hook failed');
  assert.ok(line, JSON.stringify(lines));
  assert.match(JSON.stringify(line.err), /hook stop failed in module fragile: cannot close/);
});
