// An Ogg/Opus Icecast source from ffmpeg, joined late: the listener gets a
// stream that begins with the Ogg header pages and decodes cleanly, whether
// ffmpeg declares audio/ogg or, left to itself, says audio/mpeg.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fixture, startWith } from './icecast-lib.ts';
import { assertLate, decode, FORMATS, JOIN_AFTER_SECONDS, makeSample, mediaRead, noFfmpeg, RECORD_MS, recordUntilStop } from './media-lib.ts';

// ffmpeg's icecast:// defaults to user `source`, as Icecast's own source password does.
const f = fixture({ source: 'password=hackme\nmounts=/live.ogg,/undeclared.ogg' }, ['server', 'filters', 'http', 'users', 'icecast', 'status']);
let sample: string;

describe('an Ogg/Opus Icecast source from ffmpeg, joined late', { skip: noFfmpeg, concurrency: true, timeout: 50_000 }, () => {
  before(async () => { sample = await makeSample(f.dir, FORMATS.oggOpus); });
  after(() => f.cleanup());

  for (const [mount, declared] of [['/live.ogg', ['-content_type', 'audio/ogg']], ['/undeclared.ogg', []]] as const) {
    test(declared.length ? 'declared as audio/ogg' : 'declared by ffmpeg as audio/mpeg: found to be Ogg', { timeout: 30_000 }, async () => {
      const s = await startWith(f);
      const source = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', sample, '-c', 'copy',
        ...declared, '-f', 'ogg', `icecast://source:hackme@127.0.0.1:${s.port}${mount}`], { stdio: ['ignore', 'ignore', 'pipe'] });
      try {
        const connected = await s.waitLog((l) => l.msg === 'source connected' && l.mount === mount);
        assert.equal(connected.contentType, declared.length ? 'audio/ogg' : 'audio/mpeg', 'what ffmpeg declared');
        await mediaRead(s, mount, JOIN_AFTER_SECONDS, sample, FORMATS.oggOpus);
        const rec = await recordUntilStop(s, mount, RECORD_MS);
        assert.equal(rec.status, 200);
        assert.equal(FORMATS.oggOpus.badStart(rec.body), undefined, 'the stream begins with a beginning-of-stream page');
        const file = join(f.dir, `${mount.slice(1)}.rec`);
        writeFileSync(file, rec.body);
        await assertLate(FORMATS.oggOpus, file, rec.body, s);
        const decoded = await decode(file);
        assert.equal(decoded.errors, '', 'ffmpeg decodes the recording without a complaint');
        assert.ok(decoded.seconds >= 2, `a few seconds of audio decoded, not ${decoded.seconds} s`);
        assert.equal(rec.contentType, 'audio/ogg', 'listeners are told it is Ogg');
      } finally {
        source.kill('SIGKILL');
        if (source.exitCode === null) await once(source, 'exit');
        await s.stop();
      }
    });
  }
});
