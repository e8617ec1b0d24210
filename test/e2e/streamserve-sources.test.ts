/**
 * Sources end to end on the real CLI: a directory of fifos, standard input
 * (an mp3 piped in), the built-in demo channel, and the command-line errors a
 * user can make, each naming the flag.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, constants, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpGet, runCli, startServer } from '../helpers/server.ts';
import { Client, ffmpegDecode, has, tempDir } from './streamserve-lib.ts';

const tmp = tempDir();
test.after(() => tmp.cleanup());

/** Opens a fifo's write end once a reader has it open (ENXIO until then). */
async function openWriter(path: string, ms = 3000): Promise<net.Socket> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      const fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
      return new net.Socket({ fd, readable: false, writable: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENXIO' || Date.now() > until) throw err;
      await sleep(10);
    }
  }
}

/**
 * Splits MPEG audio into frames from the start; asserts the bytes are whole
 * frames (a trailing partial frame is dropped when `partialEnd`).
 */
function mpegFrames(buf: Buffer, partialEnd: boolean): Buffer[] {
  const kbps: Record<string, number[]> = {
    '3-1': [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
    '3-2': [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
    '2-1': [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    '2-2': [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  };
  const hz: Record<number, number[]> = { 3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000] };
  const out: Buffer[] = [];
  let p = 0;
  while (p + 4 <= buf.length) {
    assert.ok(buf[p] === 0xff && (buf[p + 1]! & 0xe0) === 0xe0, `an MPEG frame header at byte ${p} of ${buf.length}`);
    const version = (buf[p + 1]! >> 3) & 3;
    const layer = (buf[p + 1]! >> 1) & 3; // 1 = III, 2 = II
    assert.ok(layer === 1 || layer === 2, `layer II or III at ${p}`);
    const br = kbps[`${version === 3 ? 3 : 2}-${layer === 1 ? 1 : 2}`]![buf[p + 2]! >> 4]! * 1000;
    const rate = hz[version]![(buf[p + 2]! >> 2) & 3]!;
    const pad = (buf[p + 2]! >> 1) & 1;
    const size = Math.floor(((layer === 1 && version !== 3 ? 72 : 144) * br) / rate) + pad;
    if (p + size > buf.length) break;
    out.push(buf.subarray(p, p + size));
    p += size;
  }
  if (!partialEnd) assert.equal(p, buf.length, 'the stream ends at a frame boundary');
  return out;
}

test('directory mode: two fifos served at /NAME, each opened when its first listener arrives', { skip: has('mkfifo') ? false : 'mkfifo missing' }, async () => {
  const dir = join(tmp.dir, 'fifos');
  execFileSync('mkdir', ['-p', dir]);
  execFileSync('mkfifo', [join(dir, 'a'), join(dir, 'b')]);
  const srv = await startServer(['-path', dir, '-frame-bytes', '100', '-burst-bytes', '0']);
  try {
    assert.equal((await httpGet(srv.port, '/c', { ms: 1000 })).status, 404, 'no such fifo');
    assert.ok(!srv.logs.some((l) => l.msg === 'source opened'), 'nothing opened before a listener');
    const a = new Client(srv.port, '/a');
    const b = new Client(srv.port, '/b');
    await Promise.all([a.gotHead, b.gotHead]);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    const wa = await openWriter(join(dir, 'a'));
    const wb = await openWriter(join(dir, 'b'));
    wa.write(Buffer.alloc(5000, 'A'));
    wb.write(Buffer.alloc(3000, 'B'));
    await a.waitBytes(5000, 2000);
    await b.waitBytes(3000, 2000);
    assert.deepEqual(a.bytes(), Buffer.alloc(5000, 'A'));
    assert.deepEqual(b.bytes(), Buffer.alloc(3000, 'B'));

    // The writer goes away and comes back: the listener stays and the fifo is reopened.
    wa.end();
    await srv.waitLog((l) => l.msg === 'source closed' && l.mount === '/a', 2000);
    const wa2 = await openWriter(join(dir, 'a'));
    wa2.write(Buffer.alloc(1000, 'a'));
    await a.waitBytes(6000, 2000);
    assert.deepEqual(a.bytes(), Buffer.concat([Buffer.alloc(5000, 'A'), Buffer.alloc(1000, 'a')]));
    assert.equal(a.ended, false);
    wa2.destroy();
    wb.destroy();
    a.close();
    b.close();
  } finally {
    await srv.stop();
  }
});

test('an mp3 piped into `streamserve -frame-filter mp3` is served whole, frame for frame', { skip: has('ffmpeg') ? false : 'ffmpeg missing' }, async () => {
  const file = join(tmp.dir, 'piped.mp3');
  execFileSync('ffmpeg', ['-hide_banner', '-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-b:a', '128k', '-y', file]);
  const mp3 = readFileSync(file);
  // A ring that holds the whole file: piped in at once, it arrives faster than real time.
  const srv = await startServer(['-frame-filter', 'mp3', '-content-type', 'audio/mpeg', '-source-buffer', '400'], { stdin: 'pipe' });
  try {
    const exited = once(srv.proc, 'exit');
    const c = new Client(srv.port, '/listen.mp3');
    await c.gotHead;
    assert.equal(c.status, 200);
    assert.equal(c.headers['content-type'], 'audio/mpeg');
    srv.proc.stdin!.end(mp3);
    await Promise.race([c.closed, sleep(5000, undefined, { ref: false })]);
    assert.ok(c.ended, 'the listener is disconnected when standard input ends');
    const [code] = await Promise.race([exited, sleep(3000, undefined, { ref: false }).then(() => ['running'])]);
    assert.equal(code, 0, 'and the server exits (standard input cannot be reopened)');

    const body = c.bytes();
    const served = mpegFrames(body, false);
    // The file's audio frames: after its ID3v2 tag.
    const tag = mp3.subarray(0, 3).toString() === 'ID3' ? 10 + ((mp3[6]! << 21) | (mp3[7]! << 14) | (mp3[8]! << 7) | mp3[9]!) : 0;
    const original = mpegFrames(mp3.subarray(tag), true);
    assert.equal(served.length, original.length, `${served.length} frames served of ${original.length}`);
    assert.deepEqual(Buffer.concat(served), Buffer.concat(original));
    const decoded = ffmpegDecode(body);
    assert.equal(decoded.stderr, '');
    assert.equal(decoded.status, 0);
  } finally {
    await srv.stop();
  }
});

test('the demo channel plays: with no source, GET /demo.mp3 is real-time audio/mpeg that ffmpeg decodes', { skip: has('ffmpeg') ? false : 'ffmpeg missing' }, async () => {
  const srv = await startServer([]);
  try {
    await srv.waitLog((l) => l.msg === 'no source given: serving the demo channel at /demo.mp3', 2000);
    await sleep(300);
    const t0 = Date.now();
    const res = await httpGet(srv.port, '/demo.mp3', { ms: 1500 });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'audio/mpeg');
    const frames = mpegFrames(res.body, true);
    const whole = Buffer.concat(frames);
    // 64 kbit/s: about 8 KB per second; the burst gives what the channel has played so far, up to 2 s.
    const seconds = (Date.now() - t0) / 1000;
    assert.ok(whole.length > 8000 * seconds * 0.5, `got ${whole.length} bytes in ${seconds.toFixed(1)} s`);
    assert.ok(whole.length < 8000 * (seconds + 2.5) + 4000, `real time, not the whole file at once: ${whole.length} bytes in ${seconds.toFixed(1)} s`);
    const decoded = ffmpegDecode(whole);
    assert.equal(decoded.stderr, '');
    assert.equal(decoded.status, 0);
  } finally {
    await srv.stop();
  }
});

test('no source and no demo: the server still starts (-demo=false) and a stream path is 404', async () => {
  const srv = await startServer(['-demo=false']);
  try {
    const res = await httpGet(srv.port, '/demo.mp3', { ms: 1000 });
    assert.equal(res.status, 404);
  } finally {
    await srv.stop();
  }
});

test('bad input exits non-zero with a message naming the flag', async () => {
  const cases: { args: string[]; expect: RegExp[] }[] = [
    { args: ['-source-buffer', '2', '-path', '/dev/zero'], expect: [/-source-buffer/] },
    { args: ['-frame-bytes', '0', '-path', '/dev/zero'], expect: [/-frame-bytes/] },
    { args: ['-frame-filter', 'nosuch', '-path', '/dev/zero'], expect: [/-frame-filter/, /nosuch/, /raw/, /mp3/] },
    { args: ['-filter', 'nosuch', '-path', '/dev/zero'], expect: [/nosuch/, /raw/, /mp3/] },
    { args: ['-exec'], expect: [/-exec/, /command/] },
    { args: ['-path', '/dev/zero', '-exec', 'cat'], expect: [/-exec/, /-path/] },
    { args: ['-path', '/nonexistent/streamserve-source'], expect: [/-path/, /no such file/] },
    { args: ['-source-buffer', 'many'], expect: [/-source-buffer/, /whole number/] },
  ];
  const results = await Promise.all(cases.map(({ args }) => runCli(['-address', '127.0.0.1:0', ...args], { timeoutMs: 8000 })));
  for (const [i, { args, expect }] of cases.entries()) {
    const r = results[i]!;
    assert.notEqual(r.code, 0, `${args.join(' ')} exits non-zero`);
    assert.notEqual(r.code, null, `${args.join(' ')} exits by itself`);
    const line = r.stderr.trim();
    assert.equal(line.split('\n').length, 1, `one line for ${args.join(' ')}: ${line}`);
    for (const re of expect) assert.match(line, re, `${args.join(' ')}`);
  }
});
