import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { root, runCli } from '../helpers/server.ts';
import { hlsStats, noFfmpeg, parsePlaylist, startHlsServer, type HlsServer } from './hls-lib.ts';

/** An ADTS tone that ends after `seconds`; the channel reopens it, so each run is a new source run. */
const shortRuns = (seconds: number) => ({
  filter: 'adts',
  exec: ['ffmpeg', '-v', 'error', '-re', '-f', 'lavfi', '-i', `sine=frequency=330:sample_rate=44100:duration=${seconds}`, '-c:a', 'aac', '-f', 'adts', '-'],
});

describe('HLS across source runs and idle time', { skip: noFfmpeg, timeout: 60_000 }, () => {
  let hls: HlsServer;
  before(async () => {
    hls = await startHlsServer({ runs: shortRuns(3) }, { idleTimeout: '1s', targetDuration: '1s' });
  });
  after(async () => { await hls?.stop(); });

  test('a new source run is a discontinuity, and the media sequence goes on', { timeout: 25_000 }, async () => {
    const deadline = Date.now() + 15_000;
    let text = '';
    let first = -1;
    while (Date.now() < deadline) {
      text = await (await fetch(`${hls.base}/runs/index.m3u8`)).text();
      const p = parsePlaylist(text);
      if (first < 0) first = p.mediaSequence;
      if (p.segments.some((s) => s.discontinuity)) break;
      await sleep(400);
    }
    const p = parsePlaylist(text);
    const at = p.segments.findIndex((s) => s.discontinuity);
    assert.ok(at > 0, `a #EXT-X-DISCONTINUITY between two runs:\n${text}`);
    assert.ok(p.mediaSequence >= first, 'the media sequence never goes back');
    assert.equal(p.targetSeconds, 1);
    const names = p.segments.map((s) => s.uri);
    assert.equal(new Set(names).size, names.length, 'names are unique');
    // Each segment is cut at the target, but the last of a run ends with the run.
    for (const s of p.segments) assert.ok(s.durationMs > 0 && s.durationMs < 1100, `${s.uri} lasts ${s.durationMs} ms`);
  });

  test('nobody asking for idleTimeout stops segmenting; the next request starts a new epoch', { timeout: 20_000 }, async () => {
    const before = parsePlaylist(await (await fetch(`${hls.base}/runs/index.m3u8`)).text());
    const oldUri = before.segments.at(-1)!.uri;
    const oldEpoch = /^seg-([0-9a-z]+)-/.exec(oldUri)![1];
    // The idle sweep runs once a second here: after 2.5 s without a request the segmenter is gone.
    await sleep(2500);
    const stats = await hlsStats(hls.base);
    assert.deepEqual(stats.channels, [], 'no channel is segmented any more');
    const afterIdle = parsePlaylist(await (await fetch(`${hls.base}/runs/index.m3u8`)).text());
    const newEpoch = /^seg-([0-9a-z]+)-/.exec(afterIdle.segments[0]!.uri)![1];
    assert.notEqual(newEpoch, oldEpoch, 'a new epoch, so no name stands for other bytes');
    assert.equal((await fetch(`${hls.base}/runs/${oldUri}`)).status, 404, 'the old epoch\'s segments are gone');
  });
});

test('a target duration out of range stops start-up with the setting named', { timeout: 15_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'streamserve-hls-bad-'));
  try {
    writeFileSync(join(dir, '.streamserverc.json'), JSON.stringify({ hls: { targetDuration: '100ms' } }));
    const r = await runCli(['-mods', join(root, 'main.mods'), '-address', '127.0.0.1:0'], { cwd: dir });
    assert.notEqual(r.code, 0);
    // The kernel reports a module whose apply threw as such, with the module's own message.
    assert.match(r.stderr, /\[SS_ERR_HLS_DURATION_RANGE\] .*module hls: setting hls\.targetDuration: 100ms is out of range, expected 500ms to 60000ms\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
