/**
 * Icecast 2.4 as the origin, ffmpeg publishing MP3 to it: an edge relays one
 * mount (the default channel, and a settings-file `relay:` channel), strips
 * Icecast's ICY blocks and re-inserts the title for its own listeners who ask,
 * carries Content-Type and icy-* headers over; another edge mirrors every
 * mount Icecast lists, connecting on demand and disconnecting when idle.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ICECAST_BIN, icecastAvailable, startIcecast, waitMount, type Icecast } from '../bench/icecast.ts';
import { stopProcess, track } from '../bench/procs.ts';
import { readIcy, streamTitle } from '../helpers/icy-reader.ts';
import { httpGet, startServer, type Server } from '../helpers/server.ts';
import { Client, has, tempDir } from './streamserve-lib.ts';
import { makeMp3, status, walkMp3 } from './relay-lib.ts';

const skip = !icecastAvailable() ? `${ICECAST_BIN} is not installed` : !has('ffmpeg') ? 'ffmpeg is not installed' : false;
// The bench's icecast config: source and admin passwords.
const PASSWORD = 'benchsource';

function publish(file: string, port: number, mount: string): ChildProcess {
  return track(spawn('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', file, '-c', 'copy',
    '-content_type', 'audio/mpeg', '-ice_name', 'Relay Test', '-ice_genre', 'Tests', '-ice_description', 'a tone through Icecast',
    '-f', 'mp3', `icecast://source:${PASSWORD}@127.0.0.1:${port}${mount}`,
  ], { stdio: ['ignore', 'ignore', 'inherit'] }));
}

test('icecast2 origin: relayed with its headers, its ICY blocks stripped and its title re-inserted; mirrored on demand', { skip, timeout: 55_000 }, async (t) => {
  const tmp = tempDir();
  const servers: Server[] = [];
  const clients: Client[] = [];
  let icecast: Icecast | undefined;
  let ffmpeg: ChildProcess | undefined;
  t.after(async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.stop()));
    if (ffmpeg) await stopProcess(ffmpeg);
    await icecast?.stop();
    tmp.cleanup();
  });
  const mp3 = makeMp3(tmp.dir, 20);
  icecast = await startIcecast(tmp.dir);
  ffmpeg = publish(mp3, icecast.port, '/live.mp3');
  await waitMount(icecast.port, '/live.mp3');
  const origin = `http://127.0.0.1:${icecast.port}`;

  const config = join(tmp.dir, 'edge.json');
  writeFileSync(config, JSON.stringify({ channels: [{ mount: '/ice', relay: `${origin}/live.mp3`, name: 'Operator name' }] }));
  const edge = await startServer(['-config', config, '-relay', `${origin}/live.mp3`, '-icy-metaint', '4000']);
  servers.push(edge);
  // A listener's head is written when it joins: the type is known once the relay has connected.
  await Promise.all(['/', '/ice'].map((mount) => edge.waitLog((l) => l.msg === 'source opened' && l.mount === mount)));

  const plain = new Client(edge.port, '/live.mp3');
  const icy = new Client(edge.port, '/', { headers: { 'Icy-MetaData': '1' } });
  const fromSettings = new Client(edge.port, '/ice');
  clients.push(plain, icy, fromSettings);
  await Promise.all(clients.map((c) => c.gotHead));
  assert.equal(plain.status, 200);
  assert.equal(plain.headers['content-type'], 'audio/mpeg', 'Icecast\'s Content-Type is carried over');
  assert.equal(plain.headers['icy-name'], 'Relay Test');
  assert.equal(plain.headers['icy-genre'], 'Tests');
  assert.equal(plain.headers['icy-description'], 'a tone through Icecast');
  assert.equal(plain.headers['icy-metaint'], undefined, 'no ICY blocks for a listener that did not ask');
  assert.equal(icy.headers['icy-metaint'], '4000');
  assert.equal(fromSettings.status, 200);
  assert.equal(fromSettings.headers['icy-name'], 'Operator name', 'the operator\'s name wins over the origin\'s');
  assert.equal(fromSettings.headers['icy-genre'], 'Tests', 'fields the operator left out come from the origin');

  const song = 'Relayed Artist - Relayed Title';
  const auth = Buffer.from(`admin:${PASSWORD}`).toString('base64');
  const upd = await httpGet(icecast.port, `/admin/metadata?mount=/live.mp3&mode=updinfo&song=${encodeURIComponent(song)}`, { headers: { Authorization: `Basic ${auth}` } });
  assert.equal(upd.status, 200, `icecast took the title: ${upd.body}`);

  // Icecast sends the new title within its 16000-byte interval (2 s at 64 kbit/s); the edge then inserts it every 4000 bytes.
  const deadline = Date.now() + 15_000;
  let titles: (string | undefined)[] = [];
  while (Date.now() < deadline) {
    titles = readIcy(icy.bytes(), 4000).blocks.map((b) => streamTitle(b.text));
    if (titles.includes(song)) break;
    await sleep(200);
  }
  assert.ok(titles.includes(song), `the edge's ICY listener got the origin's title: ${JSON.stringify(titles)}`);
  const { audio } = readIcy(icy.bytes(), 4000);
  for (const [name, bytes] of [['plain', plain.bytes()], ['icy (blocks removed)', audio], ['settings channel', fromSettings.bytes()]] as const) {
    const walk = walkMp3(bytes);
    // Icecast's own blocks would break the frames: they are gone.
    assert.equal(walk.brokeAt, -1, `${name}: whole MPEG frames only (broke at ${walk.brokeAt} of ${bytes.length})`);
    assert.ok(walk.frames > 50, `${name}: ${walk.frames} frames`);
  }

  // Mirror mode against Icecast's /status-json.xsl.
  const mirror = await startServer(['-relay-all', `${origin}/`, '-relay-idle-close', '1s', '-relay-list-interval', '2s']);
  servers.push(mirror);
  await mirror.waitLog((l) => l.msg === 'mirroring channel' && l.mount === '/live.mp3');
  const listed = await status(mirror.port);
  assert.ok(listed.mounts.includes('/live.mp3'), `the mirror lists Icecast's mount: ${listed.mounts}`);
  const before = listed.relay.channels.find((c) => c.mount === '/live.mp3');
  assert.equal(before?.up, false, 'on demand: not connected before a listener');
  const mirrored = new Client(mirror.port, '/live.mp3');
  clients.push(mirrored);
  await mirrored.gotHead;
  assert.equal(mirrored.status, 200);
  // Told before the connection is made (on demand), from Icecast's listing.
  assert.equal(mirrored.headers['content-type'], 'audio/mpeg');
  assert.equal(mirrored.headers['icy-name'], 'Relay Test');
  await mirrored.waitBytes(16_000, 10_000);
  assert.equal(walkMp3(mirrored.bytes()).brokeAt, -1, 'mirrored: whole MPEG frames');
  mirrored.close();
  await mirror.waitLog((l) => l.msg === 'no listeners; disconnecting from the origin until the next one' && l.mount === '/live.mp3', 8000);
  const after = (await status(mirror.port)).relay.channels.find((c) => c.mount === '/live.mp3');
  assert.equal(after?.up, false, 'disconnected once idle');
  assert.equal(after?.outages, 0, 'an idle close is no outage');
});
