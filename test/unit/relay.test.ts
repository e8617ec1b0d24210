import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import type { Channel } from '../../core/engine/channel.ts';
import { channelDefaults } from '../../core/contracts/channel-settings.ts';
import { relayChannelSettings } from '../../mods/relay/index.ts';
import { Downstream } from '../../mods/relay/downstream.ts';
import { IcyStrip, titleOf } from '../../mods/relay/icy-strip.ts';
import { listedChannels, mountUrl } from '../../mods/relay/origin-list.ts';
import { originInfo } from '../../mods/relay/origin-info.ts';
import { Outages } from '../../mods/relay/outages.ts';
import { openRelay, type RelayContext } from '../../mods/relay/relay-source.ts';
import { formatVia, parseVia } from '../../mods/relay/via.ts';

function icyBlock(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const len = Math.ceil(body.length / 16);
  const out = Buffer.alloc(1 + len * 16);
  out[0] = len;
  body.copy(out, 1);
  return out;
}

/** `audio` with a block after every `metaint` bytes, as an ICY server sends it. */
function withBlocks(audio: Buffer, metaint: number, titleAt: (i: number) => string): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0, i = 0; at < audio.length; at += metaint, i++) {
    parts.push(audio.subarray(at, at + metaint));
    if (at + metaint <= audio.length) parts.push(i % 2 ? Buffer.from([0]) : icyBlock(`StreamTitle='${titleAt(i)}';StreamUrl='';`));
  }
  return Buffer.concat(parts);
}

function strip(input: Buffer, metaint: number, piece: (i: number) => number): Promise<{ audio: Buffer; titles: string[] }> {
  return new Promise((resolve, reject) => {
    const titles: string[] = [];
    const s = new IcyStrip(metaint, (t) => titles.push(t));
    const out: Buffer[] = [];
    s.on('data', (d: Buffer) => out.push(d));
    s.on('end', () => resolve({ audio: Buffer.concat(out), titles }));
    s.on('error', reject);
    for (let at = 0, i = 0; at < input.length; i++) {
      const n = piece(i);
      s.write(input.subarray(at, at + n));
      at += n;
    }
    s.end();
  });
}

test('IcyStrip leaves the audio alone and reports every title, however the bytes are cut', async () => {
  const audio = Buffer.alloc(10_000);
  for (let i = 0; i < audio.length; i++) audio[i] = (i * 31) & 0xff;
  const input = withBlocks(audio, 1000, (i) => `Song ${i}`);
  for (const cut of [(_: number) => 1, (i: number) => 1 + ((i * 37) % 1500), (_: number) => input.length]) {
    const { audio: out, titles } = await strip(input, 1000, cut);
    assert.ok(out.equals(audio), 'the audio without the blocks');
    assert.deepEqual(titles, ['Song 0', 'Song 2', 'Song 4', 'Song 6', 'Song 8']);
  }
});

test('titleOf reads StreamTitle: escaped quotes (our server), UTF-8, latin1, none', () => {
  assert.equal(titleOf(Buffer.from("StreamTitle='It\\'s \\\\ here';\0\0")), "It's \\ here");
  assert.equal(titleOf(Buffer.from("StreamTitle='Björk - Jóga';")), 'Björk - Jóga');
  assert.equal(titleOf(Buffer.from("StreamTitle='Caf\xe9';", 'latin1')), 'Café');
  assert.equal(titleOf(Buffer.from("StreamUrl='x';")), undefined);
});

test('via headers: ids kept in order, malformed entries dropped, the list bounded', () => {
  assert.deepEqual(parseVia('origin, edge-1 ,bad id,,x;y,ss-abc@127.0.0.1:8000'), ['origin', 'edge-1', 'ss-abc@127.0.0.1:8000']);
  assert.deepEqual(parseVia(undefined), []);
  assert.equal(parseVia(Array.from({ length: 100 }, (_, i) => `s${i}`).join(',')).length, 32);
  assert.equal(formatVia(['a', 'b']), 'a, b');
});

test('listedChannels reads our /status.json and Icecast\'s /status-json.xsl', () => {
  const ours = { icestats: { source: [
    { mount: '/a', listenurl: 'http://h:1/a', server_name: 'Radio A', server_type: 'audio/mpeg', genre: 'various', bitrate: 128 },
    { mount: '/b b', server_name: 'Unspecified name', server_type: 'application/octet-stream' },
    { mount: 'no-slash' }, 'junk', null,
  ] } };
  assert.deepEqual(listedChannels(ours), [
    { mount: '/a', info: { name: 'Radio A', bitrate: '128' }, contentType: 'audio/mpeg' },
    { mount: '/b b', info: {}, contentType: undefined },
  ]);
  // Icecast: one source is an object, the mount only in the listen URL.
  const icecast = { icestats: { source: { listenurl: 'http://127.0.0.1:8000/live%20one.mp3', server_name: 'Live', server_type: 'audio/mpeg' } } };
  assert.deepEqual(listedChannels(icecast)?.map((c) => c.mount), ['/live one.mp3']);
  assert.deepEqual(listedChannels({ icestats: {} }), [], 'Icecast without sources');
  assert.equal(listedChannels({ hello: 1 }), undefined, 'not a status document');
  assert.equal(listedChannels('x'), undefined);
  assert.equal(mountUrl(new URL('http://u:p@h:1/base?q=1'), '/live one.mp3').href, 'http://u:p@h:1/live%20one.mp3');
});

test('originInfo maps icy-* (and ice-*) response headers onto channel fields, UTF-8 decoded', () => {
  const info = originInfo({ 'icy-name': Buffer.from('Café FM', 'utf8').toString('latin1'), 'icy-genre': 'Jazz', 'icy-br': '128', 'ice-audio-info': 'bitrate=128', 'icy-pub': '1' });
  assert.deepEqual(info, { name: 'Café FM', genre: 'Jazz', bitrate: '128', audioInfo: 'bitrate=128', public: '1' });
});

test('a relay channel nobody chose a filter for uses auto', () => {
  assert.equal(relayChannelSettings({ ...channelDefaults }).filter, 'auto');
  assert.equal(relayChannelSettings({ ...channelDefaults, filter: 'mp3' }).filter, 'mp3');
  assert.equal(relayChannelSettings({ ...channelDefaults, frameBytes: 188 }).filter, 'raw', 'raw with a chosen size is a choice');
});

test('Downstream remembers a bounded number of requesting servers per channel', () => {
  const d = new Downstream();
  const ch = {} as Channel;
  d.note(ch, ['a', 'b']);
  d.note(ch, Array.from({ length: 40 }, (_, i) => `s${i}`));
  const ids = d.of(ch);
  assert.equal(ids.length, 32);
  assert.ok(ids.includes('s39') && !ids.includes('a'), 'the newest are kept');
});

test('Outages count from the end of a connection to the next, never for a failing start or an idle close', () => {
  const o = new Outages();
  const ch = {} as Channel;
  o.ended(ch, 'refused');
  o.opened(ch);
  assert.equal(o.figures(ch).outages, 0, 'a start that failed first is no outage');
  o.ended(ch, 'reset');
  o.ended(ch, 'refused again');
  assert.equal(o.figures(ch).down, true);
  o.opened(ch);
  assert.equal(o.figures(ch).outages, 1);
  assert.equal(o.figures(ch).lastError, 'refused again');
  o.closingOnPurpose(ch);
  o.ended(ch);
  o.opened(ch);
  assert.equal(o.figures(ch).outages, 1, 'an idle close is no outage');
});

// --- the client, against origins scripted here ---

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function withOrigin(handler: Handler, body: (base: string) => Promise<void>): Promise<void> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await body(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

function context(timeoutMs = 2000): RelayContext {
  return {
    serverId: 'me',
    request: { timeoutMs, maxHeaderBytes: 4096, maxRedirects: 3 },
    log: pino({ level: 'silent' }),
    upstream: new WeakMap(),
    current: new Map(),
    downstream: new Downstream(),
  };
}

function fakeChannel(): Channel {
  return { mount: '/r', info: {} } as unknown as Channel;
}

function read(r: Readable, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    r.on('data', (d: Buffer) => {
      parts.push(d);
      n += d.length;
      if (n >= bytes) resolve(Buffer.concat(parts));
    });
    r.once('error', reject);
  });
}

test('openRelay: asks for ICY, strips blocks, keeps the title, carries type and fields, records the chain', async () => {
  const audio = Buffer.alloc(4000, 7);
  let asked: IncomingMessage | undefined;
  await withOrigin((req, res) => {
    asked = req;
    res.writeHead(200, { 'Content-Type': 'audio/mpeg', 'icy-metaint': '1000', 'icy-name': 'Origin FM', 'X-Streamserve-Via': 'o1, o2' });
    res.write(withBlocks(audio, 1000, () => 'Now Playing'));
  }, async (base) => {
    const channel = fakeChannel();
    const ctx = context();
    ctx.downstream.note(channel, ['down1']);
    const src = await openRelay(new URL(`${base}/live`), channel, ctx);
    const got = await read(src.readable, 4000);
    assert.ok(got.subarray(0, 4000).equals(audio), 'the audio alone');
    assert.equal(channel.info.title, 'Now Playing');
    assert.equal(channel.info.name, 'Origin FM');
    assert.equal(src.contentType, 'audio/mpeg');
    assert.deepEqual(ctx.upstream.get(channel), ['o1', 'o2']);
    assert.equal(asked?.headers['icy-metadata'], '1');
    assert.equal(asked?.headers['x-streamserve-via'], 'down1, me', 'the servers waiting on us are named upstream');
    assert.equal(ctx.current.get(channel), src);
    src.close();
    assert.equal(ctx.current.get(channel), undefined);
  });
});

test('openRelay follows up to 3 redirects, and refuses more', async () => {
  await withOrigin((req, res) => {
    const n = Number(/^\/hop(\d+)$/.exec(req.url ?? '')?.[1] ?? -1);
    if (n > 0) res.writeHead(302, { Location: `/hop${n - 1}` }).end();
    else if (n === 0) res.writeHead(200, { 'Content-Type': 'audio/aac' }).write('x');
    else res.writeHead(404).end();
  }, async (base) => {
    const src = await openRelay(new URL(`${base}/hop3`), fakeChannel(), context());
    assert.equal(src.contentType, 'audio/aac');
    src.close();
    await assert.rejects(openRelay(new URL(`${base}/hop4`), fakeChannel(), context()), /more than 3 redirects/);
  });
});

test('openRelay refuses what is no stream, with the URL and the reason', async () => {
  await withOrigin((req, res) => {
    switch (req.url) {
      case '/missing': res.writeHead(404).end(); break;
      case '/page': res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end('<html>'); break;
      case '/metaint': res.writeHead(200, { 'icy-metaint': 'lots' }).write('x'); break;
      case '/zip': res.writeHead(200, { 'Content-Encoding': 'gzip' }).write('x'); break;
      case '/loop': res.writeHead(200, { 'X-Streamserve-Via': 'a, me, b' }).write('x'); break;
      case '/huge': res.writeHead(200, { 'X-Big': 'y'.repeat(8000) }).write('x'); break;
      default: res.writeHead(500).end();
    }
  }, async (base) => {
    const open = (path: string) => openRelay(new URL(base + path), fakeChannel(), context());
    await assert.rejects(open('/missing'), new RegExp(`${base}/missing answered 404`));
    await assert.rejects(open('/page'), /answered a page \(text\/html/);
    await assert.rejects(open('/metaint'), /icy-metaint "lots" is not a byte count/);
    await assert.rejects(open('/zip'), /Content-Encoding gzip/);
    await assert.rejects(open('/loop'), /relay loop: this stream already passed through this server \(via a, me, b\)/);
    await assert.rejects(open('/huge'), /response head larger than 4096 bytes/);
    await assert.rejects(openRelay(new URL('http://127.0.0.1:1/x'), fakeChannel(), context()), /127\.0\.0\.1:1\/x: connection refused/);
  });
});

test('openRelay: an origin that stops sending fails the stream after the timeout', async () => {
  await withOrigin((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'audio/mpeg' });
    res.write('abc');
  }, async (base) => {
    const src = await openRelay(new URL(`${base}/stall`), fakeChannel(), context(300));
    const started = Date.now();
    const err = await new Promise<Error>((resolve) => { src.readable.once('error', resolve); src.readable.resume(); });
    assert.match(err.message, /no bytes for 300 ms/);
    assert.ok(Date.now() - started < 2000, 'within the timeout, not much later');
    src.close();
  });
});
