import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ADMIN, hlsStats, noFfmpeg, parsePlaylist, run, SOURCES, startHlsServer, type HlsServer } from './hls-lib.ts';

describe('HLS of live MP3, ADTS AAC and MPEG-TS channels', { skip: noFfmpeg, timeout: 60_000 }, () => {
  let hls: HlsServer;
  before(async () => {
    hls = await startHlsServer({ ...SOURCES, raw: { filter: 'raw', exec: ['cat', '/dev/zero'] } });
  });
  after(async () => { await hls?.stop(); });

  test('ffmpeg plays each playlist without a decoding error', { timeout: 40_000 }, async () => {
    const results = await Promise.all(['mp3', 'aac', 'ts'].map(async (name) => {
      const r = await run('ffmpeg', ['-v', 'error', '-i', `${hls.base}/${name}/index.m3u8`, '-t', '6', '-f', 'null', '-'], 30_000);
      return { name, ...r };
    }));
    for (const r of results) {
      assert.equal(r.code, 0, `${r.name}: ffmpeg exit ${r.code}: ${r.stderr}`);
      // ffmpeg's MP3 demuxer reads 1024-byte chunks, not frames, so its HLS demuxer applies each segment's
      // ID3 timestamp a few frames late and its null muxer then notes a repeated dts: a note about its own
      // timestamps, not a decoding error. Any other line fails, and AAC and TS must be silent.
      const lines = r.stderr.split('\n').filter(Boolean);
      const other = r.name === 'mp3' ? lines.filter((l) => !/non monotonically increasing dts to muxer/.test(l)) : lines;
      assert.deepEqual(other, [], `${r.name}: ffmpeg reports no error`);
    }
  });

  test('the playlist: live window, sequence, dates, and headers for caches', { timeout: 20_000 }, async () => {
    // Enough time for more than the six listed segments to have been cut.
    const deadline = Date.now() + 16_000;
    let text = '';
    for (;;) {
      const res = await fetch(`${hls.base}/mp3/index.m3u8`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/vnd.apple.mpegurl');
      assert.equal(res.headers.get('cache-control'), 'public, max-age=1', 'half a target duration of 2 s');
      assert.equal(res.headers.get('access-control-allow-origin'), '*');
      text = await res.text();
      if (parsePlaylist(text).segments.length === 6 || Date.now() > deadline) break;
      await sleep(500);
    }
    const p = parsePlaylist(text);
    assert.equal(p.segments.length, 6, `six segments listed:\n${text}`);
    assert.equal(p.targetSeconds, 2);
    assert.doesNotMatch(text, /EXT-X-ENDLIST/, 'a live playlist');
    for (const [i, s] of p.segments.entries()) {
      assert.match(s.uri, /^seg-[0-9a-z]+-\d+\.mp3$/);
      assert.equal(Number(/-(\d+)\.mp3$/.exec(s.uri)![1]), p.mediaSequence + i, 'names follow EXT-X-MEDIA-SEQUENCE');
      assert.ok(s.durationMs >= 2000 && s.durationMs < 2100, `segment ${s.uri} lasts ${s.durationMs} ms`);
      if (i > 0) {
        const gap = s.programDateTime - p.segments[i - 1]!.programDateTime;
        assert.ok(Math.abs(gap - p.segments[i - 1]!.durationMs) < 2, `program date times follow the durations (${gap} ms)`);
      }
    }
    assert.ok(Math.abs(Date.now() - p.segments.at(-1)!.programDateTime) < 6000, 'the newest segment is recent');
  });

  test('playlists and segments: ETag, 304, HEAD, OPTIONS; expired names are 404', { timeout: 15_000 }, async () => {
    const res = await fetch(`${hls.base}/aac/index.m3u8`);
    const etag = res.headers.get('etag')!;
    assert.match(etag, /^"[A-Za-z0-9_-]+"$/, 'a strong ETag');
    const listed = parsePlaylist(await res.text()).segments;
    assert.ok(listed.length >= 1, 'segments listed');
    const again = await fetch(`${hls.base}/aac/index.m3u8`, { headers: { 'If-None-Match': etag } });
    // The window may have moved on in between: then the playlist is new, and so is its ETag.
    if (again.headers.get('etag') === etag) assert.equal(again.status, 304);
    else assert.equal(again.status, 200);

    const url = `${hls.base}/aac/${listed[0]!.uri}`;
    const seg = await fetch(url);
    assert.equal(seg.status, 200);
    assert.equal(seg.headers.get('content-type'), 'audio/aac');
    assert.equal(seg.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(seg.headers.get('access-control-allow-origin'), '*');
    const segTag = seg.headers.get('etag')!;
    assert.match(segTag, /^"[A-Za-z0-9_-]+"$/);
    const body = Buffer.from(await seg.arrayBuffer());
    assert.equal(Number(seg.headers.get('content-length')), body.length);
    assert.equal(body.subarray(0, 3).toString('latin1'), 'ID3', 'packed audio starts with its ID3 tag');
    assert.ok(body.includes(Buffer.from('com.apple.streaming.transportStreamTimestamp\0')), 'the timestamp PRIV frame');
    const tagSize = 10 + ((body[6]! << 21) | (body[7]! << 14) | (body[8]! << 7) | body[9]!);
    assert.equal(body[tagSize], 0xff, 'an ADTS frame right after the tag');
    assert.equal(body[tagSize + 1]! & 0xf0, 0xf0, 'ADTS sync word');

    const cached = await fetch(url, { headers: { 'If-None-Match': `"other", ${segTag}` } });
    assert.equal(cached.status, 304, 'the cache\'s copy is current');
    assert.equal(cached.headers.get('etag'), segTag);
    assert.equal((await cached.arrayBuffer()).byteLength, 0);
    const head = await fetch(url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('etag'), segTag);
    assert.equal(Number(head.headers.get('content-length')), body.length, 'HEAD tells the length of the GET');
    const again2 = Buffer.from(await (await fetch(url)).arrayBuffer());
    assert.ok(again2.equals(body), 'a segment\'s bytes never change');

    const options = await fetch(url, { method: 'OPTIONS' });
    assert.equal(options.status, 204);
    assert.match(options.headers.get('allow') ?? '', /GET, HEAD, OPTIONS/);

    const gone = await fetch(url.replace(/-(\d+)\.aac$/, '-999999.aac'));
    assert.equal(gone.status, 404);
    assert.match(gone.headers.get('cache-control') ?? '', /no-cache/, 'a 404 is not cached');
    const otherEpoch = await fetch(url.replace(/seg-[0-9a-z]+-/, 'seg-zz-'));
    assert.equal(otherEpoch.status, 404, 'another epoch\'s name is not this one\'s segment');
  });

  test('TS segments start with PAT and PMT, then whole packets', { timeout: 15_000 }, async () => {
    const listed = parsePlaylist(await (await fetch(`${hls.base}/ts/index.m3u8`)).text()).segments;
    const seg = await fetch(`${hls.base}/ts/${listed.at(-1)!.uri}`);
    assert.equal(seg.headers.get('content-type'), 'video/mp2t');
    const body = Buffer.from(await seg.arrayBuffer());
    assert.equal(body.length % 188, 0, 'whole packets');
    for (let i = 0; i < body.length; i += 188) assert.equal(body[i], 0x47, `sync byte at ${i}`);
    const pid = (i: number) => ((body[i * 188 + 1]! & 0x1f) << 8) | body[i * 188 + 2]!;
    assert.equal(pid(0), 0, 'PAT first');
  });

  test('the channel\'s title rides in the packed-audio ID3 tag as timed metadata', { timeout: 15_000 }, async () => {
    const title = 'Artist – Title';
    const auth = `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`;
    const set = await fetch(`${hls.base}/admin/metadata?mount=/mp3&mode=updinfo&song=${encodeURIComponent(title)}`, { headers: { Authorization: auth } });
    assert.equal(set.status, 200, 'title set');
    const tit2 = Buffer.concat([Buffer.from([3]), Buffer.from(title, 'utf8'), Buffer.from([0])]);
    const deadline = Date.now() + 8000;
    let found = false;
    while (!found && Date.now() < deadline) {
      const newest = parsePlaylist(await (await fetch(`${hls.base}/mp3/index.m3u8`)).text()).segments.at(-1)!;
      const body = Buffer.from(await (await fetch(`${hls.base}/mp3/${newest.uri}`)).arrayBuffer());
      const tagEnd = 10 + ((body[6]! << 21) | (body[7]! << 14) | (body[8]! << 7) | body[9]!);
      const at = body.indexOf(Buffer.from('TIT2'));
      found = at > 0 && at < tagEnd && body.indexOf(tit2, at) === at + 10;
      if (!found) await sleep(500);
    }
    assert.ok(found, 'a segment cut after the update carries TIT2 with the title inside its ID3 tag');
  });

  test('the channel\'s title rides in TS segments as a timed ID3 stream that ffmpeg reads cleanly', { timeout: 30_000 }, async () => {
    const title = 'TS Artist – Title';
    const auth = `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`;
    const set = await fetch(`${hls.base}/admin/metadata?mount=/ts&mode=updinfo&song=${encodeURIComponent(title)}`, { headers: { Authorization: auth } });
    assert.equal(set.status, 200, 'title set');
    const dir = mkdtempSync(join(tmpdir(), 'streamserve-hls-id3-'));
    try {
      const deadline = Date.now() + 8000;
      let body = Buffer.alloc(0);
      while (!body.includes(Buffer.from(title, 'utf8')) && Date.now() < deadline) {
        const newest = parsePlaylist(await (await fetch(`${hls.base}/ts/index.m3u8`)).text()).segments.at(-1)!;
        body = Buffer.from(await (await fetch(`${hls.base}/ts/${newest.uri}`)).arrayBuffer());
        if (!body.includes(Buffer.from(title, 'utf8'))) await sleep(500);
      }
      assert.ok(body.includes(Buffer.from(title, 'utf8')), 'a TS segment cut after the update holds the title');
      const file = join(dir, 'seg.ts');
      writeFileSync(file, body);
      const probe = spawnSync('ffprobe', ['-v', 'error', '-show_streams', file], { encoding: 'utf8' });
      assert.match(probe.stdout, /codec_name=timed_id3/, `ffprobe shows a timed_id3 stream:\n${probe.stdout}${probe.stderr}`);
      const decoded = await run('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'], 20_000);
      assert.equal(decoded.code, 0, `ffmpeg exit ${decoded.code}`);
      assert.equal(decoded.stderr, '', 'ffmpeg reads the segment silently');
      const played = await run('ffmpeg', ['-v', 'error', '-i', `${hls.base}/ts/index.m3u8`, '-t', '4', '-f', 'null', '-'], 20_000);
      assert.equal(played.code, 0, `ffmpeg exit ${played.code}: ${played.stderr}`);
      assert.equal(played.stderr, '', 'ffmpeg plays the TS playlist silently');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a channel HLS cannot carry is named in a 404', { timeout: 5000 }, async () => {
    const res = await fetch(`${hls.base}/raw/index.m3u8`);
    assert.equal(res.status, 404);
    assert.match(await res.text(), /\/raw is filtered by raw: HLS is served for MP3, ADTS AAC and MPEG-TS/);
  });

  test('the server counts what it served', { timeout: 5000 }, async () => {
    const stats = await hlsStats(hls.base);
    assert.ok(stats.playlistRequests > 0 && stats.segmentRequests > 0, JSON.stringify(stats));
    assert.ok(stats.notModified >= 1, 'a 304 counted');
    assert.deepEqual(stats.channels.map((c) => c.mount).sort(), ['/aac', '/mp3', '/raw', '/ts']);
  });
});
