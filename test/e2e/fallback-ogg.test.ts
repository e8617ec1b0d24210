// Fallback with Ogg/Opus end to end: the listener moved to the fallback and
// back gets each stream's header pages first (a chained Ogg stream), which
// ffmpeg decodes without an error; an MP3 fallback for an Ogg mount is refused
// with a log line, and its listeners stay where they are.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Server } from '../helpers/server.ts';
import type { Fixture } from './icecast-lib.ts';
import {
  broadcast, fallbackFixture, flows, listen, listenersOn, movedTo, noFfmpeg, nth, recordingErrors, sleep, start, statusJson, toneCommand,
} from './fallback-lib.ts';

const T = { timeout: 20_000 };

describe('Ogg fallback', { skip: noFfmpeg, timeout: 50_000 }, () => {
  let f: Fixture;
  let s: Server;
  before(async () => {
    f = fallbackFixture(() => ({
      channels: [
        { mount: '/backup.ogg', exec: toneCommand('opus', 880), filter: 'ogg' },
        { mount: '/backup.mp3', exec: toneCommand('mp3', 880), filter: 'mp3' },
      ],
      fallback: {
        mounts: {
          '/fier/opus': { fallback: '/backup.ogg' },
          '/fier/odd': { fallback: '/backup.mp3' },
        },
      },
    }));
    s = await start(f);
    for (const mount of ['/backup.ogg', '/backup.mp3']) await s.waitLog((l) => l.msg === 'source opened' && l.mount === mount);
  });
  after(async () => {
    await s?.stop();
    f?.cleanup();
  });

  test('an Opus broadcaster drops and returns: the listener hears the Ogg fallback in between, and the chained recording decodes', T, async () => {
    const live = await broadcast(s, '/fier/opus', 'opus', 440);
    const l = await listen(s.port, '/fier/opus');
    await flows(l, 8000, 'no live audio');
    await live.kill();
    await nth(s, 1, movedTo('/fier/opus', '/backup.ogg'), 3000);
    await flows(l, 8000, 'no fallback audio');
    const back = await broadcast(s, '/fier/opus', 'opus', 440);
    await nth(s, 1, movedTo('/fier/opus', '/fier/opus'), 5000);
    await flows(l, 8000, 'no audio after the return');
    assert.equal(l.isClosed(), false, 'the listener was never disconnected');
    l.socket.destroy();
    await back.kill();
    const body = l.received();
    // Each stream's identification header: the live one, the fallback's, the live one's again.
    const heads = body.toString('latin1').split('OpusHead').length - 1;
    assert.ok(heads >= 3, `three OpusHead packets in the recording, got ${heads}`);
    // Each link after a move goes on from the granule position the listener had (ffmpeg's command line
    // would report a timeline stepping back as "non monotonically increasing dts to muxer"): nothing printed.
    const errors = (await recordingErrors(f, l, 'opus.ogg')).split('\n').filter(Boolean);
    assert.deepEqual(errors, [], 'the chained Ogg recording decodes cleanly');
  });

  test('an MP3 fallback for an Ogg mount: a clear log line, and the listener stays put', T, async () => {
    const live = await broadcast(s, '/fier/odd', 'opus', 440);
    const l = await listen(s.port, '/fier/odd');
    await flows(l, 8000, 'no live audio');
    await live.kill();
    const warn = await s.waitLog((line) => line.mod === 'fallback' && line.mount === '/fier/odd' && line.fallback === '/backup.mp3', 3000);
    assert.match(String(warn.msg), /fallback \/backup\.mp3 streams mp3 (\(MPEG[^)]*\) )?but \/fier\/odd streams ogg opus .*not moved/, String(warn.msg));
    await sleep(500);
    assert.equal(await listenersOn(s, '/fier/odd'), 1, 'the listener is still on /fier/odd');
    assert.equal(await listenersOn(s, '/backup.mp3'), 0, 'nobody on the MP3 fallback');
    assert.equal(l.isClosed(), false, 'the listener is kept for the grace period');
    assert.equal((await statusJson(s)).fallback.formatMismatches, 1);
    // The broadcaster returns within the grace period: the listener resumes on its own mount.
    const back = await broadcast(s, '/fier/odd', 'opus', 440);
    await flows(l, 8000, 'no audio after the return');
    l.socket.destroy();
    await back.kill();
  });
});
