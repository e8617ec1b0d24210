/**
 * streamserve parity, end to end on the real CLI: streamserve's own test
 * behaviours (client byte limits, exit on idle, many clients at different
 * speeds), the single flag-given source at every path, and the HTTP surface.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpGet, root, startServer } from '../helpers/server.ts';
import { Client, parseFrames, tempDir } from './streamserve-lib.ts';

test('1 MiB frames with -client-max-bytes 4194304 give exactly 4 MiB', async () => {
  const srv = await startServer(['-path', '/dev/zero', '-frame-bytes', '1048576', '-client-max-bytes', '4194304']);
  try {
    const c = new Client(srv.port, '/');
    await Promise.race([c.closed, sleep(5000, undefined, { ref: false })]);
    assert.ok(c.ended, 'the server closed the stream');
    assert.equal(c.status, 200);
    assert.equal(c.bytes().length, 4 * 1048576);
  } finally {
    await srv.stop();
  }
});

test('1000-byte frames with -client-max-bytes 2500 give 3000 bytes (rounded up to the frame)', async () => {
  const srv = await startServer(['-path', '/dev/urandom', '-frame-bytes', '1000', '-client-max-bytes', '2500']);
  try {
    const results = await Promise.all([0, 1, 2].map(async () => {
      const c = new Client(srv.port, '/');
      await Promise.race([c.closed, sleep(3000, undefined, { ref: false })]);
      return { ended: c.ended, length: c.bytes().length };
    }));
    for (const r of results) assert.deepEqual(r, { ended: true, length: 3000 });
  } finally {
    await srv.stop();
  }
});

test('-reopen=false -close-idle on /dev/urandom exits within 2 s after the only client leaves', async () => {
  const srv = await startServer(['-path', '/dev/urandom', '-reopen=false', '-close-idle', '-frame-bytes', '1000']);
  try {
    const exited = once(srv.proc, 'exit');
    const c = new Client(srv.port, '/');
    await c.waitBytes(10_000);
    assert.ok(c.length >= 10_000, 'the client got data');
    const left = Date.now();
    c.close();
    const [code] = await Promise.race([exited, sleep(2000, undefined, { ref: false }).then(() => ['still running'])]);
    assert.equal(code, 0, 'exited cleanly');
    assert.ok(Date.now() - left < 2000);
    assert.ok(srv.logs.some((l) => l.msg === 'last listener left; closing source (close-idle)'));
  } finally {
    await srv.stop();
  }
});

test('-close-idle opens the source on the first listener and closes it after the last', async () => {
  // Burst 0: a listener gets one frame from the ring at once, so 5000 bytes need the source reopened.
  const srv = await startServer(['-path', '/dev/urandom', '-close-idle', '-frame-bytes', '1000', '-burst-bytes', '0']);
  try {
    await sleep(200);
    assert.ok(!srv.logs.some((l) => l.msg === 'source opened'), 'no source before a listener');
    for (let round = 1; round <= 2; round++) {
      const c = new Client(srv.port, '/');
      await c.waitBytes(5000);
      assert.ok(c.length >= 5000);
      c.close();
      await srv.waitLog(() => srv.logs.filter((l) => l.msg === 'last listener left; closing source (close-idle)').length === round, 2000);
    }
    assert.equal(srv.logs.filter((l) => l.msg === 'source opened').length, 2);
    assert.equal(srv.proc.exitCode, null, 'still serving (reopen defaults to true)');
  } finally {
    await srv.stop();
  }
});

test('120 clients reading at different speeds with -source-bandwidth all succeed', async () => {
  const limit = 20_000;
  const srv = await startServer([
    '-path', '/dev/urandom', '-frame-bytes', '500', '-source-bandwidth', '100000', '-client-max-bytes', String(limit), '-source-buffer', '100',
  ]);
  try {
    // Bytes per second each class reads at (0 = as fast as it can).
    const speeds = [0, 50_000, 20_000, 12_000];
    const clients = Array.from({ length: 120 }, (_, i) => ({ c: new Client(srv.port, `/client/${i}`), speed: speeds[i % speeds.length]! }));
    const throttles = clients.filter(({ speed }) => speed).map(({ c, speed }) => {
      // Read in slices: resume for a moment, then pause long enough to hold the average rate.
      let stop = false;
      (async () => {
        while (!stop && !c.ended) {
          const before = c.length;
          c.resume();
          await sleep(10);
          c.pause();
          const took = c.length - before;
          await sleep(Math.max(0, (took / speed) * 1000 - 10));
        }
      })();
      return () => { stop = true; c.resume(); };
    });
    await Promise.race([Promise.all(clients.map(({ c }) => c.closed)), sleep(6000, undefined, { ref: false })]);
    for (const stop of throttles) stop();
    for (const [i, { c }] of clients.entries()) {
      assert.equal(c.status, 200, `client ${i} status`);
      assert.ok(c.ended, `client ${i} was finished by the server`);
      assert.equal(c.bytes().length, limit, `client ${i} got every byte up to the limit`);
    }
  } finally {
    await srv.stop();
  }
});

test('every request path streams the single flag-given source', async () => {
  const srv = await startServer(['-path', '/dev/zero', '-frame-bytes', '4096']);
  try {
    for (const path of ['/', '/stream', '/a/b?x=1', '/demo.mp3']) {
      const res = await httpGet(srv.port, path, { bytes: 100_000, ms: 3000 });
      assert.equal(res.status, 200, path);
      assert.equal(res.body.length, 100_000, path);
      assert.ok(res.body.every((b) => b === 0), path);
    }
  } finally {
    await srv.stop();
  }
});

test('stream response: close-delimited, no-cache, CORS, -content-type; HEAD and OPTIONS answered', async () => {
  const srv = await startServer(['-path', '/dev/zero', '-frame-bytes', '1000', '-content-type', 'audio/x-test; rate=8000']);
  try {
    const res = await httpGet(srv.port, '/live', { bytes: 5000 });
    assert.equal(res.status, 200);
    assert.match(res.head, /^HTTP\/1\.[01] 200 OK\r\n/);
    assert.equal(res.headers['content-type'], 'audio/x-test; rate=8000');
    assert.equal(res.headers['transfer-encoding'], undefined, 'never chunked');
    assert.equal(res.headers['content-length'], undefined, 'close-delimited');
    assert.equal(res.headers.connection, 'close');
    assert.equal(res.headers['cache-control'], 'no-cache, no-store');
    assert.equal(res.headers['access-control-allow-origin'], '*');

    const head = await httpGet(srv.port, '/live', { method: 'HEAD', ms: 2000 });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-type'], 'audio/x-test; rate=8000');
    assert.equal(head.headers['access-control-allow-origin'], '*');
    assert.equal(head.body.length, 0, 'HEAD has no body');

    const options = await httpGet(srv.port, '/live', {
      method: 'OPTIONS', ms: 2000, headers: { Origin: 'http://example.test', 'Access-Control-Request-Method': 'GET' },
    });
    assert.ok(options.status === 200 || options.status === 204, `OPTIONS status ${options.status}`);
    assert.equal(options.headers['access-control-allow-origin'], '*');
    assert.match(options.headers['access-control-allow-methods'] ?? '', /GET/);
    assert.equal(options.body.length, 0);

    const post = await httpGet(srv.port, '/live', { method: 'DELETE', ms: 2000 });
    assert.equal(post.status, 405);
  } finally {
    await srv.stop();
  }
});

test('config channels: each at its mount; an unknown mount is 404 with a one-line reason', async () => {
  const tmp = tempDir();
  const config = join(tmp.dir, 'streamserve.config.json');
  writeFileSync(config, JSON.stringify({
    channels: [
      { mount: '/zero', path: '/dev/zero', frameBytes: 1000, contentType: 'application/x-zero' },
      { mount: '/gen', exec: ['node', tmp.gen, '100', '--rate', '200'], frameBytes: 100, burstBytes: 0 },
    ],
  }));
  const srv = await startServer(['-config', config]);
  try {
    const zero = await httpGet(srv.port, '/zero', { bytes: 10_000 });
    assert.equal(zero.status, 200);
    assert.equal(zero.headers['content-type'], 'application/x-zero');
    assert.ok(zero.body.length === 10_000 && zero.body.every((b) => b === 0));

    const gen = new Client(srv.port, '/gen');
    await gen.waitBytes(1000, 5000);
    await sleep(20);
    gen.close();
    assert.equal(gen.status, 200);
    const frames = parseFrames(gen.bytes().subarray(0, Math.floor(gen.length / 100) * 100), 100);
    assert.ok(frames.length >= 10, `got ${frames.length} frames`);

    // No catch-all: nothing streams at paths that are not mounts (`/` is left to the status page).
    for (const path of ['/nope', '/demo.mp3', '/zero/more', '/a/b?x=1']) {
      const res = await httpGet(srv.port, path, { ms: 2000 });
      assert.equal(res.status, 404, path);
      const text = res.body.toString();
      assert.match(text, /^[^\n]+\n$/, `one line: ${JSON.stringify(text)}`);
      assert.ok(text.includes(path.split('?')[0]!), `names the path: ${text}`);
    }
  } finally {
    await srv.stop();
    tmp.cleanup();
  }
});

test("streamserve's documented command lines run unchanged (with stand-ins for arecord and lame)", async () => {
  const tmp = tempDir();
  // streamserve -address :44100 -source-buffer 40 -frame-bytes 44100 -reopen -close-idle=false -exec arecord -f cd --file-type raw
  const pcm = await startServer([
    '-address', '127.0.0.1:0', '-source-buffer', '40', '-frame-bytes', '44100', '-reopen', '-close-idle=false',
    '-cpu-max', '2', '-uid', String(process.getuid!()), '-debug',
    '-exec', 'node', tmp.gen, '44100', '--rate', '20',
  ]);
  // streamserve -address 127.0.0.1:8064 -source-buffer 400 -reopen -close-idle -content-type audio/mpeg
  //             -frame-bytes 300 -frame-filter mp3 -exec sh -c 'curl -sS localhost:44100 | lame -r -h -b 64 -a -m l - -'
  const mp3 = await startServer([
    '-address', '127.0.0.1:0', '-source-buffer', '400', '-reopen', '-close-idle', '-content-type', 'audio/mpeg',
    '-frame-bytes', '300', '-frame-filter', 'mp3', '-exec', 'sh', '-c', `node '${tmp.slowcat}' '${join(root, 'mods', 'demo', 'demo.mp3')}' 16000`,
  ]);
  try {
    const raw = await httpGet(pcm.port, '/', { ms: 800 });
    assert.equal(raw.status, 200);
    const frames = parseFrames(raw.body.subarray(0, Math.floor(raw.body.length / 44100) * 44100), 44100);
    assert.ok(frames.length >= 2, `got ${frames.length} frames of 44100 bytes`);
    assert.ok(pcm.logs.some((l) => l.level === 20), '-debug logs at debug level');
    assert.ok(pcm.logs.some((l) => l.msg === 'switched user id'));

    const audio = await httpGet(mp3.port, '/', { bytes: 10_000, ms: 2000 });
    assert.equal(audio.status, 200);
    assert.equal(audio.headers['content-type'], 'audio/mpeg');
    assert.equal(audio.body.length, 10_000);
    assert.ok(audio.body[0] === 0xff && (audio.body[1]! & 0xe0) === 0xe0, 'starts at an MPEG frame header');
  } finally {
    await Promise.all([pcm.stop(), mp3.stop()]);
    tmp.cleanup();
  }
});
