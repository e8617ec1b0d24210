// fstream's use case end to end: `ffmpeg -f h264 - | fstream HOST:PORT broadcast`
// with no bufsize (so the server picks the frame filter by sniffing), watched
// late with `fstream HOST:PORT watch`: the watcher's stdout is H.264 that
// decodes from its first (key) frame, and HTTP listeners of the same channel
// are told it is H.264.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpGet } from '../helpers/server.ts';
import { BUILTINS, clientBin, fixture, runClient, startWith } from './fstream-lib.ts';
import { decode, firstVideoFrame, FORMATS, JOIN_AFTER_SECONDS, loopCommand, makeSample, mediaRead, noFfmpeg, RECORD_MS } from './media-lib.ts';

// status: /status.json tells how much the server has read.
const f = fixture({ fier: '123' }, [...BUILTINS, 'status']);
let sample: string;
before(async () => { if (!noFfmpeg) sample = await makeSample(f.dir, FORMATS.h264); });
after(() => f.cleanup());

test('ffmpeg | fstream broadcast, watched late with fstream watch, decodes cleanly from a key frame', { skip: noFfmpeg, timeout: 40_000 }, async () => {
  const s = await startWith(f);
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('fserv_arg_')));
  // A shell pipe: ffmpeg's stdout is the client's stdin.
  const [program, ...args] = loopCommand(sample, 'h264');
  const encoder = spawn(program!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const broadcaster = spawn(process.execPath, [clientBin, `127.0.0.1:${s.port}`, 'broadcast'], {
    env: { ...clean, fserv_arg_user: 'fier', fserv_arg_user_password: '123', fserv_arg_channel: 'cam' },
    stdio: [encoder.stdout, 'ignore', 'pipe'],
  });
  let errors = '';
  encoder.stderr.on('data', (d) => { errors += d; });
  broadcaster.stderr!.on('data', (d) => { errors += d; });
  try {
    await s.waitLog((l) => l.msg === 'fstream broadcaster accepted' && l.mount === '/fier/cam');
    await mediaRead(s, '/fier/cam', JOIN_AFTER_SECONDS, sample, FORMATS.h264);
    const watcher = runClient([`127.0.0.1:${s.port}`, 'watch'], { fserv_arg_user: 'fier', fserv_arg_channel: 'cam' }, { ms: 20_000 });
    await s.waitLog((l) => l.msg === 'fstream watcher accepted' && l.mount === '/fier/cam');
    const head = await httpGet(s.port, '/fier/cam', { method: 'HEAD', ms: 3000 });
    await sleep(RECORD_MS);
    const complaints = errors;
    // Stopping the server ends the watcher's stream after a whole frame.
    await s.stop();
    const watched = await watcher.done;
    assert.equal(complaints, '', 'ffmpeg and the broadcasting client had nothing to complain about while streaming');
    assert.equal(watched.stderr, 'fstream: connection closed by the server\n');

    const rec = watched.stdout;
    assert.ok(rec.length > 0, 'the watcher got the stream');
    assert.equal(FORMATS.h264.badStart(rec), undefined, 'the stream begins with a start code and an SPS or AUD');
    const file = join(f.dir, 'watched.h264');
    writeFileSync(file, rec);
    const decoded = await decode(file, 'h264');
    assert.equal(decoded.errors, '', 'ffmpeg decodes what fstream watch wrote without a complaint');
    assert.ok(decoded.seconds >= 1.5, `about ${RECORD_MS / 1000} s decoded, not ${decoded.seconds} s`);
    assert.ok((await firstVideoFrame(file, 'h264'))?.key, 'the first decoded picture is a key frame');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-type'], 'video/h264', 'HTTP listeners of the channel are told it is H.264');
  } finally {
    encoder.kill('SIGKILL');
    broadcaster.kill('SIGKILL');
    await Promise.all([broadcaster.exitCode === null ? once(broadcaster, 'exit') : null, encoder.exitCode === null ? once(encoder, 'exit') : null]);
    await s.stop();
  }
});
