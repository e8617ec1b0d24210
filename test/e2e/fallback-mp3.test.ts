// Fallback and filler with MP3, end to end: ffmpeg broadcasters over Icecast
// that drop and return, exec channels as fallbacks, a filler file, a pulled
// source that ends and is reopened; a listener's recording across the switches
// must decode without a single error.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Server } from '../helpers/server.ts';
import { runCli } from '../helpers/server.ts';
import { run, type Fixture } from './icecast-lib.ts';
import {
  broadcast, count, fallbackFixture, flows, listen, listenersOn, movedTo, noFfmpeg, nth, recordingErrors, sleep, start, statusJson, toneCommand,
} from './fallback-lib.ts';

const T = { timeout: 20_000 };

describe('MP3 fallback and filler', { skip: noFfmpeg, timeout: 55_000 }, () => {
  let f: Fixture;
  let s: Server;
  let filler: string;
  before(async () => {
    f = fallbackFixture((fx) => ({
      channels: [
        { mount: '/backup', exec: toneCommand('mp3', 880), filter: 'mp3' },
        // A pulled source that ends every 2 s and is reopened at once: down for as long as ffmpeg takes to start.
        { mount: '/flaky', exec: ['sh', '-c', `${toneCommand('mp3', 440).join(' ').replace('sample_rate=44100', 'sample_rate=44100:duration=2')}`], filter: 'mp3' },
      ],
      fallback: {
        mounts: {
          '/fier/live': { fallback: '/backup' },
          '/fier/solo': { filler: join(fx.dir, 'filler.mp3') },
          '/flaky': { fallback: '/backup' },
          // A chain whose middle mount is pushed: absent until a broadcaster comes.
          '/fier/top': { fallback: '/fier/mid' },
          '/fier/mid': { fallback: '/backup' },
        },
      },
    }));
    filler = join(f.dir, 'filler.mp3');
    // Long enough that its real-time loop is reopened at once, not with backoff.
    const r = await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=660:sample_rate=44100:duration=6', '-c:a', 'libmp3lame', '-b:a', '128k', '-y', filler]);
    assert.equal(r.code, 0, r.stderr);
    s = await start(f);
    await s.waitLog((l) => l.msg === 'source opened' && l.mount === '/backup');
  });
  after(async () => {
    await s?.stop();
    f?.cleanup();
  });

  test('a broadcaster drops and returns: its listener moves to the fallback and back, connected, and the recording decodes', T, async () => {
    const live = await broadcast(s, '/fier/live', 'mp3', 440);
    const l = await listen(s.port, '/fier/live');
    await flows(l, 16_000, 'no live audio');
    await live.kill();
    // At once, not after the 30 s grace.
    await nth(s, 1, movedTo('/fier/live', '/backup'), 3000);
    await flows(l, 16_000, 'no fallback audio');
    const st = await statusJson(s);
    assert.deepEqual(st.fallback.displaced, [{ mount: '/fier/live', on: '/backup', listeners: 1 }], JSON.stringify(st.fallback));

    // Someone who comes now goes to the fallback too.
    const late = await listen(s.port, '/fier/live');
    await flows(late, 8000, 'the late listener got no fallback audio');
    assert.equal(await listenersOn(s, '/backup'), 2, 'both listeners on /backup');

    const back = await broadcast(s, '/fier/live', 'mp3', 440);
    await nth(s, 1, movedTo('/fier/live', '/fier/live'), 5000);
    await flows(l, 16_000, 'no audio after the return');
    assert.equal(l.isClosed(), false, 'the listener was never disconnected');
    assert.equal(await listenersOn(s, '/fier/live'), 2, 'both back on /fier/live');
    l.socket.destroy();
    late.socket.destroy();
    await back.kill();
    assert.equal(await recordingErrors(f, l, 'live.mp3'), '', 'the recording across two switches decodes cleanly');

    const metrics = await (await fetch(`http://127.0.0.1:${s.port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    assert.match(metrics, /^streamserve_fallback_moves_total [1-9]/m, 'moves counted in /metrics');
    assert.match(metrics, /^streamserve_fallback_returns_total [1-9]/m, 'returns counted in /metrics');
  });

  test('with a filler file and no fallback, listeners hear the filler loop while the broadcaster is away', T, async () => {
    const live = await broadcast(s, '/fier/solo', 'mp3', 440);
    const l = await listen(s.port, '/fier/solo');
    await flows(l, 16_000, 'no live audio');
    await live.kill();
    const moved = await nth(s, 1, movedTo('/fier/solo', '/.filler/filler.mp3'), 3000);
    assert.equal(moved.from, '/fier/solo');
    await flows(l, 16_000, 'no filler audio');
    const back = await broadcast(s, '/fier/solo', 'mp3', 440);
    await nth(s, 1, movedTo('/fier/solo', '/fier/solo'), 5000);
    await flows(l, 16_000, 'no audio after the return');
    assert.equal(l.isClosed(), false, 'the listener was never disconnected');
    l.socket.destroy();
    await back.kill();
    assert.equal(await recordingErrors(f, l, 'solo.mp3'), '', 'the recording across filler switches decodes cleanly');
  });

  test('a chain: a missing fallback is passed over, a better one taken when it comes, then home', T, async () => {
    const top = await broadcast(s, '/fier/top', 'mp3', 440);
    const l = await listen(s.port, '/fier/top');
    await flows(l, 16_000, 'no live audio');
    await top.kill();
    await nth(s, 1, movedTo('/fier/top', '/backup'), 3000);
    await flows(l, 8000, 'no audio from the end of the chain');
    const mid = await broadcast(s, '/fier/mid', 'mp3', 550);
    const up = await nth(s, 1, movedTo('/fier/top', '/fier/mid'), 5000);
    assert.equal(up.from, '/backup');
    await flows(l, 8000, 'no audio from the middle of the chain');
    const back = await broadcast(s, '/fier/top', 'mp3', 440);
    const home = await nth(s, 1, movedTo('/fier/top', '/fier/top'), 5000);
    assert.equal(home.from, '/fier/mid');
    await flows(l, 8000, 'no audio after the return');
    assert.equal(l.isClosed(), false, 'the listener was never disconnected');
    l.socket.destroy();
    await Promise.all([mid.kill(), back.kill()]);
    assert.equal(await recordingErrors(f, l, 'chain.mp3'), '', 'the recording across three switches decodes cleanly');
  });

  test('a pulled source that ends and is reopened: listeners go to the fallback in between and come back', T, async () => {
    const away = count(s, movedTo('/flaky', '/backup'));
    const home = count(s, movedTo('/flaky', '/flaky'));
    const l = await listen(s.port, '/flaky');
    await nth(s, away + 1, movedTo('/flaky', '/backup'), 6000);
    await nth(s, home + 1, movedTo('/flaky', '/flaky'), 6000);
    await flows(l, 16_000, 'no audio after the return');
    assert.equal(l.isClosed(), false, 'the listener was never disconnected');
    l.socket.destroy();
    assert.equal(await recordingErrors(f, l, 'flaky.mp3'), '', 'the recording decodes cleanly');
  });
});

test('a fallback loop is refused at start-up, naming the setting', { timeout: 15_000 }, async () => {
  const f = fallbackFixture(() => ({ fallback: { mounts: { '/a': { fallback: '/b' }, '/b': { fallback: '/c' }, '/c': { fallback: '/a' } } } }));
  try {
    const r = await runCli(['-mods', f.mods, '-address', '127.0.0.1:0', '-users-dir', f.usersDir], { cwd: f.dir });
    assert.notEqual(r.code, 0, 'the server does not start');
    assert.match(r.stderr, /\[SS_ERR_FALLBACK_LOOP\] .*module fallback: .*fallback loop/, r.stderr);
    assert.ok(r.stderr.includes('fallback.mounts["/c"].fallback') && r.stderr.includes('/a → /b → /c → /a'), r.stderr);
  } finally {
    f.cleanup();
  }
});
