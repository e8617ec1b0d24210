// Icecast sources and ICY listeners end to end: the real CLI on a loopback
// port, real encoders (ffmpeg, curl, ezstream/libshout) where installed, and
// raw-socket replays of the request heads darkice and liquidsoap send.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Server } from '../helpers/server.ts';
import { readIcy, streamTitle } from '../helpers/icy-reader.ts';
import {
  basic, connect, consecutive, decodeErrors, fixture, frames, has, heardSequence, listen, listedModules, parseResponse, request, run, sequence, startWith, trickle,
} from './icecast-lib.ts';

const FFMPEG = has('ffmpeg');
const noFfmpeg = FFMPEG ? false : 'ffmpeg is not installed (apt-get install ffmpeg)';
const noCurl = has('curl') ? false : 'curl is not installed';
const noEzstream = !has('ezstream') ? 'ezstream is not installed (apt-get install ezstream)' : noFfmpeg;
const FSTREAM = listedModules().includes('fstream');
const noFstream = FSTREAM ? false : 'the fstream module is not in main.mods yet';

const f = fixture({
  fier: 'password=123',
  other: 'password=abc',
  dj: 'password=spin\nmounts=/live.mp3,/radio/*',
  // Tools that default to user `source` (darkice, old encoders) get classic mounts this way.
  source: 'password=hackme\nmounts=/ice.mp3',
}, ['server', 'filters', 'http', 'users', ...(FSTREAM ? ['fstream'] : []), 'icecast', 'icy']);
const inMp3 = join(f.dir, 'in.mp3');
let s: Server;
let port: number;

before(async () => {
  if (FFMPEG) {
    // Short, tagged (ezstream sends the tags as the title), 64 kbit/s.
    const r = await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=2.5', '-c:a', 'libmp3lame', '-b:a', '64k',
      '-metadata', 'title=Sine', '-metadata', 'artist=Lavfi', '-y', inMp3]);
    assert.equal(r.code, 0, r.stderr);
  }
  s = await startWith(f);
  port = s.port;
});
after(async () => {
  await s?.stop();
  f.cleanup();
});

const T = { timeout: 15_000 };
const FIER = basic('fier', '123');

function sourceConnected(mount: string, n = 1) {
  return s.waitLog((l) => l.msg === 'source connected' && l.mount === mount && s.logs.filter((x) => x.msg === 'source connected' && x.mount === mount).length >= n, 5000);
}

/** The fstream watch handshake, by hand: preamble, 4-byte big-endian length, 0x00, payload. */
function watchHandshake(user: string, channel: string): Buffer {
  const payload = Buffer.from(`watch,user=${user},channel=${channel}`);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(payload.length);
  return Buffer.concat([Buffer.from('\n\n'), len, Buffer.from([0]), payload]);
}

/** ffmpeg publishing the test file in real time to a mount, as the issue's command line does. */
function publishWithFfmpeg(mount: string, extra: string[] = []) {
  const ffmpeg = spawn('ffmpeg', ['-v', 'error', '-re', '-i', inMp3, '-c', 'copy', '-content_type', 'audio/mpeg', ...extra,
    '-f', 'mp3', `icecast://fier:123@127.0.0.1:${port}${mount}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  ffmpeg.stderr.on('data', (d) => { err += d; });
  const exited = once(ffmpeg, 'exit').then(([code]) => ({ code: code as number | null, err }));
  return { exited, kill: () => ffmpeg.kill('SIGKILL') };
}

test('ffmpeg publishes with PUT; a listener gets the ice-* fields as icy-* headers and MP3 that decodes without errors', { ...T, skip: noFfmpeg }, async (t) => {
  const ffmpeg = publishWithFfmpeg('/fier/radio', ['-ice_name', 'Test Radio', '-ice_genre', 'Jazz', '-ice_description', 'Ünïcode description']);
  t.after(ffmpeg.kill);
  await sourceConnected('/fier/radio');
  const listener = await listen(port, '/fier/radio');
  const { code, err } = await ffmpeg.exited;
  assert.equal(code, 0, `ffmpeg failed: ${err}`);
  await sleep(300);

  const res = parseResponse(listener.received())!;
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'audio/mpeg');
  assert.equal(res.headers['icy-name'], 'Test Radio');
  assert.equal(res.headers['icy-genre'], 'Jazz');
  assert.equal(Buffer.from(res.headers['icy-description']!, 'latin1').toString('utf8'), 'Ünïcode description');
  assert.equal(res.headers['icy-pub'], '0');
  assert.equal(res.headers['icy-metaint'], undefined, 'no ICY blocks unless asked');
  assert.equal(res.headers['transfer-encoding'], undefined);
  assert.ok(res.body.length > 8000, `listener got ${res.body.length} bytes`);
  const heard = join(f.dir, 'heard.mp3');
  writeFileSync(heard, res.body);
  assert.equal(await decodeErrors(heard), '');
  listener.socket.destroy();
  await s.waitLog((l) => l.msg === 'source closed' && l.mount === '/fier/radio');
});

test('the mount ffmpeg publishes is watched over fstream too, and decodes without errors', { ...T, skip: noFfmpeg || noFstream }, async (t) => {
  const ffmpeg = publishWithFfmpeg('/fier/fs');
  t.after(ffmpeg.kill);
  await sourceConnected('/fier/fs');
  const watcher = await connect(port, watchHandshake('fier', 'fs'));
  const { code, err } = await ffmpeg.exited;
  assert.equal(code, 0, `ffmpeg failed: ${err}`);
  await sleep(300);
  const got = watcher.received();
  assert.ok(got.length > 8000, `watcher got ${got.length} bytes`);
  const watched = join(f.dir, 'watched.mp3');
  writeFileSync(watched, got);
  assert.equal(await decodeErrors(watched), '');
  watcher.socket.destroy();
});

test('curl -T - (chunked PUT with Expect: 100-continue) publishes; the body ends at its last chunk', { ...T, skip: noCurl || noFfmpeg }, async () => {
  const curl = spawn('curl', ['-sS', '-T', '-', '-H', 'Content-Type: audio/mpeg', `http://fier:123@127.0.0.1:${port}/fier/curl`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  curl.stderr.on('data', (d) => { err += d; });
  const exited = once(curl, 'exit');
  const mp3 = readFileSync(inMp3);
  curl.stdin.write(mp3.subarray(0, 4096));
  await sourceConnected('/fier/curl');
  const listener = await listen(port, '/fier/curl');
  await listener.response();
  for (let i = 4096; i < mp3.length; i += 4096) {
    curl.stdin.write(mp3.subarray(i, i + 4096));
    await sleep(20);
  }
  curl.stdin.end();
  const [code] = await exited;
  assert.equal(code, 0, `curl failed: ${err}`);
  await s.waitLog((l) => l.msg === 'source closed' && l.mount === '/fier/curl' && l.reason === 'end of stream');
  await sleep(100);
  const heard = join(f.dir, 'curl.mp3');
  const body = parseResponse(listener.received())!.body;
  assert.ok(body.length > 10_000, `listener got ${body.length} bytes`);
  writeFileSync(heard, body);
  assert.equal(await decodeErrors(heard), '', 'no chunk-size lines leaked into the audio');
  listener.socket.destroy();
});

test('ezstream (libshout): the unauthenticated challenge, then PUT; its title update arrives', { ...T, skip: noEzstream }, async () => {
  const config = join(f.dir, 'ezstream.xml');
  // No <tls>: libshout's default first probes with OPTIONS * for a TLS upgrade.
  writeFileSync(config, `<?xml version="1.0" encoding="UTF-8"?>
<ezstream>
  <servers><server>
    <protocol>HTTP</protocol><hostname>127.0.0.1</hostname><port>${port}</port>
    <user>fier</user><password>123</password><reconnect_attempts>0</reconnect_attempts>
  </server></servers>
  <streams><stream>
    <mountpoint>/fier/ez</mountpoint><format>MP3</format>
    <stream_name>EZ Radio</stream_name><stream_genre>Test</stream_genre>
  </stream></streams>
  <intakes><intake><type>file</type><filename>${inMp3}</filename><stream_once>yes</stream_once></intake></intakes>
</ezstream>
`);
  chmodSync(config, 0o600); // ezstream refuses a config others can read
  const ez = spawn('ezstream', ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  ez.stdout.on('data', (d) => { out += d; });
  ez.stderr.on('data', (d) => { out += d; });
  const exited = once(ez, 'exit');
  try {
    const connected = await sourceConnected('/fier/ez');
    assert.equal(connected.method, 'PUT', 'libshout chose PUT from the challenge\'s Allow');
    assert.ok(s.logs.some((l) => l.msg === 'source without credentials challenged' && l.mount === '/fier/ez'), 'the challenge came first');
    const listener = await listen(port, '/fier/ez', 'Icy-MetaData: 1\r\n');
    const res = await listener.response();
    assert.equal(res.headers['icy-name'], 'EZ Radio');
    assert.equal(res.headers['icy-genre'], 'Test');
    const update = await s.waitLog((l) => l.msg === 'title updated' && l.mount === '/fier/ez', 5000);
    assert.match(String(update.title), /Sine/);
    const [code] = await exited;
    assert.equal(code, 0, `ezstream failed: ${out}`);
    await sleep(200);
    const { audio } = readIcy(parseResponse(listener.received())!.body, Number(res.headers['icy-metaint']));
    const heard = join(f.dir, 'ez.mp3');
    writeFileSync(heard, audio);
    assert.ok(audio.length > 8000, `listener got ${audio.length} bytes`);
    assert.equal(await decodeErrors(heard), '');
    listener.socket.destroy();
  } finally {
    ez.kill('SIGKILL');
  }
});

test('libshout\'s challenge: SOURCE with Content-Length: 0 and no credentials gets 401 with WWW-Authenticate and Allow', T, async () => {
  const res = await request(port, 'SOURCE /fier/probe HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: libshout/2.4.6\r\nContent-Type: audio/mpeg\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\nice-public: 0\r\n\r\n');
  assert.equal(res.status, 401);
  assert.equal(res.headers['www-authenticate'], 'Basic realm="Icecast2 Server"');
  assert.equal(res.headers.allow, 'GET, PUT, OPTIONS, SOURCE');
  const probe = await request(port, 'OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: TLS/1.0, HTTP/1.1\r\n\r\n');
  assert.ok(probe.status >= 200 && probe.status < 300, `OPTIONS * answered ${probe.status}`);
  assert.equal(probe.headers.upgrade, undefined, 'no TLS upgrade offered');
});

test('darkice\'s head (SOURCE, HTTP/1.0, bare-LF headers): the first line it reads is HTTP/1.0 200', T, async () => {
  const head = `SOURCE /fier/dark HTTP/1.0\nAuthorization: ${FIER}\nUser-Agent: DarkIce/1.4 (http://darkice.org/)\nContent-type: audio/mpeg\nice-bitrate: 128\nice-public: 1\nice-name: Dark Radio\nice-description: from darkice\nice-url: http://dark.example\nice-genre: Ambient\r\n\r\n`;
  const src = await connect(port, head);
  const reply = await src.until((b) => b.includes('\r\n\r\n'), 'no reply');
  assert.match(reply.toString('latin1'), /^HTTP\/1\.[0-9] 200 /, 'no 100 Continue before the 200');
  const sending = trickle(src.socket, frames(0, 200), 4170, 5);
  const listener = await listen(port, '/fier/dark');
  const res = await listener.response();
  assert.equal(res.headers['icy-name'], 'Dark Radio');
  assert.equal(res.headers['icy-br'], '128');
  assert.equal(res.headers['icy-pub'], '1');
  assert.equal(res.headers['icy-description'], 'from darkice');
  assert.equal(res.headers['icy-url'], 'http://dark.example');
  assert.equal(res.headers['icy-genre'], 'Ambient');
  await sending;
  const got = await listener.until((b) => heardSequence(b).length >= 20, 'no audio');
  assert.ok(consecutive(heardSequence(got)), 'whole frames, in order');
  src.socket.destroy();
  listener.socket.destroy();
});

test('liquidsoap\'s heads: PUT with Expect: 100-continue gets exactly HTTP/1.1 100 Continue first, plain and chunked', T, async () => {
  for (const [mount, version, chunked] of [['/fier/liq', '1.0', false], ['/fier/liqc', '1.1', true]] as const) {
    const head = `PUT ${mount} HTTP/${version}\r\nAuthorization: ${FIER}\r\nHost: 127.0.0.1:${port}\r\n${chunked ? 'Transfer-Encoding: chunked\r\n' : ''}Expect: 100-continue\r\n`
      + 'User-Agent: Liquidsoap/2.1.3 (Unix; OCaml 4.14.0)\r\nice-name: Liq\r\nice-public: 0\r\nice-audio-info: channels=2;samplerate=44100;bitrate=128\r\nContent-Type: audio/mpeg\r\n\r\n';
    const src = await connect(port, head);
    const reply = await src.until((b) => b.length >= 25, 'no 100 Continue');
    assert.equal(reply.subarray(0, 25).toString('latin1'), 'HTTP/1.1 100 Continue\r\n\r\n');
    const final = await src.until((b) => b.indexOf('\r\n\r\n', 25) > 0, 'no final status');
    assert.match(final.subarray(25).toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/);
    const data = frames(0, 120);
    const body = chunked ? Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n0\r\n\r\n')]) : data;
    src.socket.write(body.subarray(0, 2000));
    await sourceConnected(mount);
    const listener = await listen(port, mount);
    const res = await listener.response();
    assert.equal(res.headers['icy-name'], 'Liq');
    assert.equal(res.headers['icy-br'], '128', 'bitrate from ice-audio-info');
    src.socket.write(body.subarray(2000));
    const got = await listener.until((b) => (heardSequence(b).at(-1) ?? 0) >= 100, 'no audio');
    assert.ok(consecutive(heardSequence(got)), 'whole frames, in order: no chunk framing in the audio');
    if (chunked) await s.waitLog((l) => l.msg === 'source closed' && l.mount === mount && l.reason === 'end of stream');
    src.socket.destroy();
    listener.socket.destroy();
  }
});

test('an ICE/1.0 source with the password in ice-password (early encoders) publishes as user source', T, async () => {
  const src = await connect(port, 'SOURCE /ice.mp3 ICE/1.0\nice-password: hackme\nContent-Type: audio/mpeg\nice-name: Old\n\n');
  assert.match((await src.until((b) => b.includes('\r\n\r\n'), 'no reply')).toString('latin1'), /^HTTP\/1\.0 200/);
  src.socket.write(frames(0, 10));
  const listener = await listen(port, '/ice.mp3');
  assert.equal((await listener.response()).headers['icy-name'], 'Old');
  listener.socket.destroy();
  src.socket.destroy();
});

test('ICY: blocks exactly every icy-metaint bytes; a title set by /admin/metadata is in the next block, escaped, framing intact', T, async () => {
  const src = await connect(port, `PUT /fier/icy HTTP/1.1\r\nAuthorization: ${FIER}\r\nContent-Type: audio/mpeg\r\n\r\n`);
  await src.until((b) => b.includes('\r\n\r\n'), 'no reply');
  let seq = 0;
  let paused = false;
  let stop = false;
  const pump = (async () => {
    while (!stop) {
      if (!paused) {
        src.socket.write(frames(seq, 10));
        seq += 10;
      }
      await sleep(10);
    }
  })();
  try {
    const listener = await listen(port, '/fier/icy', 'Icy-MetaData: 1\r\n');
    const res = await listener.response();
    assert.equal(res.headers['icy-metaint'], '16000');
    const metaint = 16000;
    const blocksIn = () => readIcy(parseResponse(listener.received())!.body, metaint).blocks;
    await listener.until(() => blocksIn().length >= 2, 'no two blocks');
    const plain = await listen(port, '/fier/icy');

    // No frames while the title changes: the next block is built after it.
    paused = true;
    await sleep(150);
    const before = blocksIn().length;
    assert.ok(blocksIn().every((b) => b.length === 0), 'no title yet: empty blocks');
    const title = "It's \"quoted\"\r\n\u0001 end';StreamUrl='x";
    const update = await request(port, `GET /admin/metadata?mount=/fier/icy&mode=updinfo&song=${encodeURIComponent(title)} HTTP/1.0\r\nAuthorization: ${FIER}\r\n\r\n`);
    assert.equal(update.status, 200);
    assert.equal(update.body.toString(), '<?xml version="1.0"?>\n<iceresponse><message>Metadata update successful</message><return>1</return></iceresponse>');
    paused = false;
    await listener.until(() => blocksIn().length >= before + 3, 'no more blocks');
    const blocks = blocksIn();
    const next = blocks[before]!;
    assert.equal(next.text, "StreamTitle='It\\'s \"quoted\" end\\';StreamUrl=\\'x';");
    assert.equal(streamTitle(next.text), "It's \"quoted\" end';StreamUrl='x");
    assert.ok(next.raw.subarray(Buffer.byteLength(next.text)).every((b) => b === 0), 'NUL padded');
    assert.equal(blocks[before + 1]!.length, 0, 'unchanged title: empty block');
    blocks.forEach((b, i) => assert.equal(b.audioOffset, (i + 1) * metaint));
    const { audio } = readIcy(parseResponse(listener.received())!.body, metaint);
    const seqs = sequence(audio.subarray(0, audio.length - (audio.length % 417)));
    assert.ok(seqs.length > 100 && consecutive(seqs), 'audio between the blocks is the stream, frame after frame');

    // A plain listener never sees a block.
    const plainRes = await plain.response();
    assert.equal(plainRes.headers['icy-metaint'], undefined);
    assert.ok(consecutive(heardSequence(plain.received())), 'a plain listener gets frames only');
    listener.socket.destroy();
    plain.socket.destroy();
  } finally {
    stop = true;
    await pump;
    src.socket.destroy();
  }
});

test('bad input: wrong credentials 401, foreign mount 403, second source 403, mount / 403, no Content-type 403', T, async () => {
  const put = (mount: string, auth: string, extra = 'Content-Type: audio/mpeg\r\n') => request(port, `PUT ${mount} HTTP/1.1\r\nAuthorization: ${auth}\r\n${extra}Expect: 100-continue\r\n\r\n`);
  const wrong = await put('/fier/bad', basic('fier', 'nope'));
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers['www-authenticate'], 'Basic realm="Icecast2 Server"');
  assert.ok(!wrong.statusLine.includes('100'), 'no 100 Continue for a refused source');
  const unknown = await put('/ghost/x', basic('ghost', 'x'));
  assert.equal(unknown.status, 401);
  const foreign = await put('/other/x', FIER);
  assert.equal(foreign.status, 403, foreign.body.toString());
  const root = await put('/', FIER);
  assert.equal(root.status, 403);
  const spaced = await put('/fier/with%20space', FIER);
  assert.equal(spaced.status, 400);
  const untyped = await put('/fier/untyped', FIER, '');
  assert.equal(untyped.status, 403);
  assert.match(untyped.body.toString(), /No Content-type given/);

  const first = await connect(port, `SOURCE /fier/busy HTTP/1.0\r\nAuthorization: ${FIER}\r\nContent-Type: audio/mpeg\r\n\r\n`);
  await first.until((b) => b.includes('\r\n\r\n'), 'no reply');
  first.socket.write(frames(0, 5));
  const second = await put('/fier/busy', FIER);
  assert.equal(second.status, 403);
  assert.match(second.body.toString(), /Mountpoint in use/);
  assert.ok(!first.isClosed(), 'the first source keeps its mount');
  first.socket.destroy();

  // mounts= in the user's file: classic mounts and patterns.
  const dj = await connect(port, `SOURCE /live.mp3 HTTP/1.0\r\nAuthorization: ${basic('dj', 'spin')}\r\nContent-Type: audio/mpeg\r\n\r\n`);
  assert.match((await dj.until((b) => b.includes('\r\n\r\n'), 'no reply')).toString('latin1'), /^HTTP\/1\.0 200/);
  dj.socket.destroy();
  const djPattern = await connect(port, `SOURCE /radio/one HTTP/1.0\r\nAuthorization: ${basic('dj', 'spin')}\r\nContent-Type: audio/mpeg\r\n\r\n`);
  assert.match((await djPattern.until((b) => b.includes('\r\n\r\n'), 'no reply')).toString('latin1'), /^HTTP\/1\.0 200/);
  djPattern.socket.destroy();
  assert.equal((await put('/elsewhere.mp3', basic('dj', 'spin'))).status, 403);
});

test('bad input: /admin/metadata malformed 400, unknown mount 404, no or wrong credentials 401, not the owner 403', T, async () => {
  const src = await connect(port, `SOURCE /fier/meta HTTP/1.0\r\nAuthorization: ${FIER}\r\nContent-Type: audio/mpeg\r\n\r\n`);
  await src.until((b) => b.includes('\r\n\r\n'), 'no reply');
  src.socket.write(frames(0, 5));
  const get = (query: string, auth?: string) => request(port, `GET /admin/metadata${query} HTTP/1.0\r\n${auth ? `Authorization: ${auth}\r\n` : ''}\r\n`);
  for (const q of ['', '?mount=/fier/meta&song=x', '?mode=updinfo&song=x', '?mode=bogus&mount=/fier/meta&song=x', '?mode=updinfo&mount=/fier/meta']) {
    assert.equal((await get(q, FIER)).status, 400, q);
  }
  assert.equal((await get('?mode=updinfo&mount=/fier/nothing&song=x', FIER)).status, 404);
  const anonymous = await get('?mode=updinfo&mount=/fier/meta&song=x');
  assert.equal(anonymous.status, 401);
  assert.ok(anonymous.headers['www-authenticate']);
  assert.equal((await get('?mode=updinfo&mount=/fier/meta&song=x', basic('fier', 'wrong'))).status, 401);
  assert.equal((await get('?mode=updinfo&mount=/fier/meta&song=x', basic('other', 'abc'))).status, 403);
  const ok = await get('?mode=updinfo&mount=/fier/meta&title=Song&artist=Band', FIER);
  assert.equal(ok.status, 200);
  await s.waitLog((l) => l.msg === 'title updated' && l.mount === '/fier/meta' && l.title === 'Band - Song', 2000);
  src.socket.destroy();
});

test('a source that drops leaves its listeners connected; its return feeds them again', T, async () => {
  const head = `SOURCE /fier/grace HTTP/1.0\r\nAuthorization: ${FIER}\r\nContent-Type: audio/mpeg\r\n\r\n`;
  const first = await connect(port, head);
  await first.until((b) => b.includes('\r\n\r\n'), 'no reply');
  first.socket.write(frames(0, 30));
  const listener = await listen(port, '/fier/grace');
  await listener.until((b) => heardSequence(b).length >= 20, 'no audio');
  first.socket.destroy();
  await s.waitLog((l) => l.msg === 'broadcaster gone; keeping listeners for the grace period' && l.mount === '/fier/grace');
  await sleep(200);
  assert.ok(!listener.isClosed(), 'listener kept');
  const second = await connect(port, head);
  assert.match((await second.until((b) => b.includes('\r\n\r\n'), 'no reply')).toString('latin1'), /^HTTP\/1\.0 200/);
  second.socket.write(frames(1000, 30));
  await listener.until((b) => heardSequence(b).includes(1020), 'no audio from the returning source');
  second.socket.destroy();
  listener.socket.destroy();
});

test('a non-MP3 source passes through byte for byte with its Content-Type; a new format on a mount in its grace period replaces the channel', T, async () => {
  const ogg = Buffer.alloc(64 * 1024);
  for (let i = 0; i < ogg.length; i++) ogg[i] = (i * 31 + (i >> 8)) & 0xff;
  const src = await connect(port, `PUT /fier/fmt HTTP/1.1\r\nAuthorization: ${FIER}\r\nContent-Type: audio/ogg\r\n\r\n`);
  await src.until((b) => b.includes('\r\n\r\n'), 'no reply');
  src.socket.write(ogg.subarray(0, 16 * 1024));
  await sourceConnected('/fier/fmt');
  await sleep(100);
  const listener = await listen(port, '/fier/fmt');
  const res = await listener.response();
  assert.equal(res.headers['content-type'], 'audio/ogg');
  src.socket.write(ogg.subarray(16 * 1024));
  // With fstream's `chunk` filter all of it arrives; the raw fallback holds back a partial last frame.
  const got = await listener.until((b) => (parseResponse(b)?.body.length ?? 0) >= 48 * 1024, 'no stream');
  const body = parseResponse(got)!.body;
  assert.ok(ogg.subarray(0, body.length).equals(body), 'byte for byte from the start (burst) onward');
  src.socket.destroy();
  await s.waitLog((l) => l.msg === 'broadcaster gone; keeping listeners for the grace period' && l.mount === '/fier/fmt');

  const mp3 = await connect(port, `PUT /fier/fmt HTTP/1.1\r\nAuthorization: ${FIER}\r\nContent-Type: audio/mpeg\r\n\r\n`);
  assert.match((await mp3.until((b) => b.includes('\r\n\r\n'), 'no reply')).toString('latin1'), /^HTTP\/1\.0 200/);
  await listener.closed(2000);
  mp3.socket.write(frames(0, 20));
  const fresh = await listen(port, '/fier/fmt');
  assert.equal((await fresh.response()).headers['content-type'], 'audio/mpeg');
  fresh.socket.destroy();
  mp3.socket.destroy();
});
