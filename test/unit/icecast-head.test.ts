import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChunkedDecoder } from '../../mods/icecast/chunked-body.ts';
import { decodeHeaderText, sourceInfo } from '../../mods/icecast/ice-headers.ts';
import { parseMetadataQuery, percentBytes } from '../../mods/icecast/metadata-query.ts';
import { validMount } from '../../mods/icecast/mount-name.ts';
import { filterFor, mediaType } from '../../mods/icecast/stream-format.ts';

function decodeAll(parts: Buffer[]): { payload: Buffer; done: boolean } {
  const d = new ChunkedDecoder();
  const out: Buffer[] = [];
  for (const p of parts) d.push(p, (b) => out.push(b));
  return { payload: Buffer.concat(out), done: d.done };
}

const BODY = Buffer.from('5\r\nhello\r\n1A;name=value\r\nabcdefghijklmnopqrstuvwxyz\r\n3\nxyz\n0\r\nX-Trailer: 1\r\n\r\nafter', 'latin1');

test('chunked bodies decode whatever the read boundaries, extensions, bare LF and trailers included', () => {
  const whole = decodeAll([BODY]);
  assert.equal(whole.payload.toString(), 'helloabcdefghijklmnopqrstuvwxyzxyz');
  assert.ok(whole.done);
  const bytewise = decodeAll([...BODY].map((b) => Buffer.from([b])));
  assert.equal(bytewise.payload.toString(), whole.payload.toString());
  assert.ok(bytewise.done);
  const open = decodeAll([Buffer.from('4\r\nabcd\r\n')]);
  assert.equal(open.payload.toString(), 'abcd');
  assert.ok(!open.done, 'no last chunk yet');
});

test('malformed chunked bodies throw', () => {
  for (const bad of ['zz\r\n', '4\r\nabcdE\r\n', `${'1'.repeat(2000)}`, '-1\r\n', '10000000000000\r\n']) {
    assert.throws(() => new ChunkedDecoder().push(Buffer.from(bad), () => {}), /chunked body/, bad.slice(0, 20));
  }
});

test('/admin/metadata queries: song, title and artist, charsets, and what is malformed', () => {
  assert.deepEqual(parseMetadataQuery('/admin/metadata?mount=/fier/radio&mode=updinfo&song=Hello+World%21'), { ok: true, mount: '/fier/radio', title: 'Hello World!' });
  assert.deepEqual(parseMetadataQuery('/admin/metadata?mode=updinfo&mount=%2Fm&title=Song&artist=Band'), { ok: true, mount: '/m', title: 'Band - Song' });
  assert.deepEqual(parseMetadataQuery('/admin/metadata?mode=updinfo&mount=/m&title=Only'), { ok: true, mount: '/m', title: 'Only' });
  assert.deepEqual(parseMetadataQuery('/admin/metadata?mode=updinfo&mount=/m&song='), { ok: true, mount: '/m', title: '' });
  assert.deepEqual(parseMetadataQuery('/admin/metadata?mode=updinfo&mount=/m&song=%C3%84rger'), { ok: true, mount: '/m', title: 'Ärger' });
  // Latin-1 bytes, declared or not (Icecast's default for MP3).
  assert.deepEqual(parseMetadataQuery('/admin/metadata?mode=updinfo&mount=/m&song=%C4rger&charset=ISO-8859-1'), { ok: true, mount: '/m', title: 'Ärger' });
  assert.deepEqual(parseMetadataQuery('/admin/metadata?mode=updinfo&mount=/m&song=%C4rger'), { ok: true, mount: '/m', title: 'Ärger' });
  for (const bad of [
    '/admin/metadata',
    '/admin/metadata?mount=/m&song=x',
    '/admin/metadata?mode=killsource&mount=/m&song=x',
    '/admin/metadata?mode=updinfo&song=x',
    '/admin/metadata?mode=updinfo&mount=m&song=x',
    '/admin/metadata?mode=updinfo&mount=/m',
  ]) {
    const q = parseMetadataQuery(bad);
    assert.equal(q.ok, false, bad);
    assert.ok(!q.ok && q.reason.length > 0);
  }
});

test('percent decoding keeps broken escapes as text', () => {
  assert.deepEqual([...percentBytes('%41%zz+%4')], [0x41, 0x25, 0x7a, 0x7a, 0x20, 0x25, 0x34]);
});

test('ice-* headers (or icy-*) become the channel info; UTF-8 values are decoded', () => {
  const utf8AsLatin1 = Buffer.from('Radio Ü', 'utf8').toString('latin1');
  assert.deepEqual(sourceInfo({
    'ice-name': utf8AsLatin1, 'ice-description': 'desc', 'ice-genre': 'Jazz', 'ice-url': 'http://r', 'ice-public': '1',
    'ice-audio-info': 'ice-samplerate=44100;ice-bitrate=128;ice-channels=2',
  }), { name: 'Radio Ü', description: 'desc', genre: 'Jazz', url: 'http://r', bitrate: '128', public: '1', audioInfo: 'ice-samplerate=44100;ice-bitrate=128;ice-channels=2' });
  assert.deepEqual(sourceInfo({ 'icy-name': 'N', 'icy-br': '64', 'icy-pub': '0', 'ice-bitrate': '96' }), {
    name: 'N', description: undefined, genre: undefined, url: undefined, bitrate: '96', public: '0', audioInfo: undefined,
  });
  assert.equal(decodeHeaderText('\u00c4rger'), '\u00c4rger', 'not UTF-8: kept as latin1');
});

test('mounts a source may create', () => {
  for (const ok of ['/live.mp3', '/fier/radio', '/a/b/c']) assert.ok(validMount(ok), ok);
  for (const bad of ['/', '', 'live', '/a//b', '/a/../b', '/./a', '/a/', '/a b', '/a\u0000', `/${'x'.repeat(300)}`]) assert.ok(!validMount(bad), JSON.stringify(bad));
});

test('Content-Type picks the frame filter', () => {
  assert.equal(mediaType('Audio/MPEG; charset=x'), 'audio/mpeg');
  assert.equal(mediaType('nonsense'), undefined);
  assert.equal(filterFor('audio/mpeg', ['chunk', 'mp3', 'raw']), 'mp3');
  assert.equal(filterFor('audio/x-mp3', ['chunk', 'mp3', 'raw']), 'mp3');
  assert.equal(filterFor('audio/ogg', ['chunk', 'mp3', 'raw']), 'chunk');
  assert.equal(filterFor('audio/aac', ['mp3', 'raw']), 'raw');
});
