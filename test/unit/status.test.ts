import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import type { Channel } from '../../core/engine/channel.ts';
import { channelDefaults } from '../../core/contracts/channel-settings.ts';
import { Kernel } from '../../core/kernel/kernel.ts';
import { createChannels } from '../../core/engine/channels.ts';
import { createHttpHooks, type HttpApi, type HttpRequest } from '../../mods/http/api.ts';
import status from '../../mods/status/index.ts';
import { root } from '../helpers/server.ts';
import { detailedStatus, icecastDate, icecastIsoDate, icecastSource, icecastStatus, type ChannelStats, type ServerIdentity } from '../../mods/status/icestats.ts';
import { scriptJson } from '../../mods/status/page.ts';

const id: ServerIdentity = {
  admin: 'ops@example.org', location: 'Lab', host: 'radio.example.org:8000', scheme: 'http',
  serverId: 'streamserve 0.1.0', startedAt: new Date(2024, 0, 2, 3, 4, 5),
};

function channel(mount: string, info: Omit<ChannelStats['info'], 'password'> = {}): ChannelStats {
  return {
    mount, contentType: 'audio/mpeg', filter: 'mp3', format: undefined, info: { ...info, password: undefined }, listeners: 2, listenerPeak: 3, sourceUp: true, source: 'x',
    sourceStartedAt: new Date(2024, 0, 2, 3, 4, 6), reconnects: 1, bytesIn: 10, framesIn: 1, invalidBytes: 0,
    bytesOut: 20, framesSkipped: 4, uptimeSeconds: 9,
  };
}

test('Icecast date formats: local time with a strftime %z offset', () => {
  const d = new Date(2024, 0, 2, 3, 4, 5);
  assert.match(icecastDate(d), /^Tue, 02 Jan 2024 03:04:05 [+-]\d{4}$/);
  assert.match(icecastIsoDate(d), /^2024-01-02T03:04:05[+-]\d{4}$/);
});

test('source fields: Icecast defaults for missing names, bitrate from ice-bitrate or audio_info', () => {
  const bare = icecastSource(channel('/live.mp3'), id);
  assert.equal(bare.server_name, 'Unspecified name');
  assert.equal(bare.server_description, 'Unspecified description');
  assert.equal(bare.genre, 'various');
  assert.equal(bare.title, '');
  assert.equal(bare.bitrate, null);
  assert.equal(bare.listenurl, 'http://radio.example.org:8000/live.mp3');
  assert.equal(icecastSource(channel('/a', { bitrate: '128' }), id).bitrate, 128);
  assert.equal(icecastSource(channel('/a', { audioInfo: 'channels=2;samplerate=44100;bitrate=96' }), id).bitrate, 96);
  assert.equal(icecastSource(channel('/a b/ü'), id).listenurl, 'http://radio.example.org:8000/a%20b/%C3%BC');
});

test('status-json.xsl: no source omitted, one an object, several a list; status.json always a list', () => {
  assert.equal('source' in icecastStatus([], id).icestats, false);
  const one = icecastStatus([channel('/a')], id).icestats;
  assert.equal(one.host, 'radio.example.org');
  assert.ok(!Array.isArray(one.source));
  assert.ok(Array.isArray(icecastStatus([channel('/a'), channel('/b')], id).icestats.source));
  const detailed = detailedStatus([channel('/a')], id, () => undefined).icestats;
  assert.equal(detailed.source.length, 1);
  assert.equal(detailed.source[0]!.frames_skipped, 4);
  assert.equal(detailed.source[0]!.listener_list, undefined);
});

test('JSON embedded in a script element cannot close it', () => {
  const text = scriptJson({ name: '</script><script>alert(1)</script>&\u2028' });
  assert.ok(!/[<>&\u2028]/.test(text));
  assert.deepEqual(JSON.parse(text), { name: '</script><script>alert(1)</script>&\u2028' });
});

/** The status module on a kernel with a stand-in http service; `get` returns status and body. */
async function statusModule(claimed?: (path: string) => Channel | undefined) {
  const kernel = new Kernel({ channels: createChannels, log: pino({ level: 'silent' }), settings: {}, packageRoot: root });
  const http: HttpApi = { hooks: createHttpHooks(), resolve: (path) => kernel.channels.get(path) ?? claimed?.(path) };
  kernel.provide('http', http);
  await status.apply(kernel, { admin: 'a', location: 'l', host: '' });
  const get = async (target: string) => {
    let sent = '';
    const socket = { destroyed: false, resume() {}, end(b: Buffer | string) { sent = b.toString(); }, localAddress: '127.0.0.1', localPort: 8000 };
    const url = new URL(target, 'http://x');
    const req = { method: 'GET', path: url.pathname, query: url.searchParams, headers: { host: 'h:1' }, socket, conn: { secure: false } };
    const handled = await http.hooks.request.promise(req as unknown as HttpRequest);
    if (!handled) return { status: 0, body: '' };
    return { status: Number(sent.split(' ')[1]), body: sent.slice(sent.indexOf('\r\n\r\n') + 4) };
  };
  return { kernel, get };
}

test('channels with a watch password are left out of the public status', async () => {
  const { kernel, get } = await statusModule();
  kernel.channels.create('/pub', { ...channelDefaults });
  kernel.channels.create('/priv', { ...channelDefaults }).info = { name: 'secret', password: 'x' };
  const json = JSON.parse((await get('/status.json')).body);
  assert.deepEqual(json.icestats.source.map((s: { mount: string }) => s.mount), ['/pub']);
  assert.equal(JSON.parse((await get('/status-json.xsl')).body).icestats.source.listenurl, 'http://h:1/pub');
  assert.doesNotMatch((await get('/status')).body, /secret/);
  kernel.channels.closeAll();
});

test('the page takes / only while no channel streams there', async () => {
  const free = await statusModule();
  assert.equal((await free.get('/')).status, 200);
  const kernel = new Kernel({ channels: createChannels, log: pino({ level: 'silent' }), settings: {}, packageRoot: root });
  const stream = kernel.channels.create('/', { ...channelDefaults });
  const claimed = await statusModule((path) => (path === '/' ? stream : undefined));
  assert.equal((await claimed.get('/')).status, 0, 'left to the stream');
  assert.equal((await claimed.get('/status')).status, 200);
  kernel.channels.closeAll();
});
