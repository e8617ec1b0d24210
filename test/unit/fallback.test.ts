import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UserError } from '../../core/kernel/errors.ts';
import { sameFormat } from '../../mods/fallback/format.ts';
import { place, type Spot } from '../../mods/fallback/placement.ts';
import { buildPlans, checkLoops, fillerMounts } from '../../mods/fallback/plan.ts';
import type { MountFallback } from '../../mods/fallback/settings.ts';

const id = (p: string) => p;
const on = (fallback?: string, filler?: string, fallbackOverride = true): MountFallback => ({ fallback, filler, fallbackOverride });

test('a loop of fallbacks is refused, naming the setting that closes it', () => {
  assert.throws(() => checkLoops({ '/a': on('/b'), '/b': on('/a') }), (err: unknown) =>
    err instanceof UserError && err.code === 'SS_ERR_FALLBACK_LOOP' && err.message.includes('fallback.mounts["/b"].fallback') && err.message.includes('/a → /b → /a'));
  assert.throws(() => checkLoops({ '/a': on('/a') }), /fallback\.mounts\["\/a"\]\.fallback: fallback loop \/a → \/a/);
  assert.doesNotThrow(() => checkLoops({ '/a': on('/b'), '/b': on('/c'), '/x': on('/c') }));
});

test('a chain is the mount, its fallbacks in order, then the fillers; each mount once', () => {
  const mounts = { '/a': on('/b', '/f/one.mp3'), '/b': on('/c', '/g/one.mp3'), '/c': on(undefined, '/f/one.mp3') };
  const fillers = fillerMounts(mounts, id);
  assert.deepEqual([...fillers.values()].map((f) => f.mount), ['/.filler/one.mp3', '/.filler/one.mp3-2'], 'two files of one name get two mounts');
  const plan = buildPlans(mounts, fillers, id).get('/a')!;
  assert.deepEqual(plan.chain.map((s) => `${s.mount}${s.filler ? '*' : ''}`), ['/a', '/b', '/c', '/.filler/one.mp3*', '/.filler/one.mp3-2*']);
  assert.equal(plan.override, true);
});

test('formats match on filter, codec and parameters; unknown never matches', () => {
  assert.ok(sameFormat({ name: 'mp3' }, { name: 'mp3' }), 'mp3 and mp3');
  assert.ok(!sameFormat({ name: 'ogg', codec: 'opus', params: '48000 Hz, 2 channels' }, { name: 'ogg', codec: 'opus', params: '48000 Hz, 1 channel' }), 'channels differ');
  assert.ok(!sameFormat({ name: 'ogg', codec: 'opus' }, { name: 'ogg', codec: 'vorbis' }), 'codecs differ');
  assert.ok(!sameFormat({ name: 'mp3' }, { name: 'ogg' }), 'filters differ');
  assert.ok(!sameFormat(undefined, { name: 'mp3' }), 'unknown');
});

const MP3 = { name: 'mp3' };
const OGG = { name: 'ogg', codec: 'opus', params: '48000 Hz, 1 channel' };
function spots(map: Record<string, Partial<Spot>>) {
  return (m: string): Spot | undefined => (map[m] ? { ready: false, format: undefined, ...map[m] } : undefined);
}

test('placement: the first ready mount of the same format; a mismatch is skipped and reported; nothing ready: stay', () => {
  const plan = buildPlans({ '/a': on('/b', '/x.mp3'), '/b': on('/c') }, fillerMounts({ '/a': on('/b', '/x.mp3') }, id), id).get('/a')!;
  assert.deepEqual(place(plan, '/a', spots({ '/a': { format: MP3 }, '/b': { ready: true, format: MP3 } })), { target: '/b', mismatched: [] });
  assert.deepEqual(place(plan, '/a', spots({ '/a': { format: MP3 }, '/b': { ready: true, format: OGG }, '/c': { ready: true, format: MP3 } })),
    { target: '/c', mismatched: ['/b'] });
  assert.deepEqual(place(plan, '/a', spots({ '/a': { format: OGG }, '/b': { ready: true, format: MP3 } })), { target: '/a', mismatched: ['/b'] });
  assert.deepEqual(place(plan, '/a', spots({ '/a': { format: MP3 } })), { target: '/a', mismatched: [] }, 'nothing ready');
  assert.deepEqual(place(plan, '/a', spots({ '/.filler/x.mp3': { ready: true, format: MP3 } })), { target: '/.filler/x.mp3', mismatched: [] },
    'a mount that never had media takes any format');
  // Back home as soon as it is ready again.
  assert.equal(place(plan, '/c', spots({ '/a': { ready: true, format: MP3 }, '/c': { ready: true, format: MP3 } })).target, '/a');
  // From the filler to a fallback that came up.
  assert.equal(place(plan, '/.filler/x.mp3', spots({ '/b': { ready: true, format: MP3 }, '/.filler/x.mp3': { ready: true, format: MP3 } })).target, '/b');
});

test('placement without fallbackOverride: listeners on a live fallback stay there, a filler is still left', () => {
  const mounts = { '/a': on('/b', '/x.mp3', false) };
  const plan = buildPlans(mounts, fillerMounts(mounts, id), id).get('/a')!;
  assert.equal(place(plan, '/b', spots({ '/a': { ready: true, format: MP3 }, '/b': { ready: true, format: MP3 } })).target, '/b');
  assert.equal(place(plan, '/b', spots({ '/a': { ready: true, format: MP3 }, '/b': { format: MP3 } })).target, '/a', 'the fallback went down');
  assert.equal(place(plan, '/.filler/x.mp3', spots({ '/a': { ready: true, format: MP3 }, '/.filler/x.mp3': { ready: true, format: MP3 } })).target, '/a');
});
