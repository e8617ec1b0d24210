import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChunkFramer } from '../../mods/filters/chunk.ts';
import { encodeHandshake, parsePayload, readHandshake, type HandshakeLimits } from '../../mods/fstream/handshake.ts';
import { preambleEnd, sniff } from '../../mods/fstream/preamble.ts';
import { errorLine, scanErrorLine } from '../../mods/fstream/reply.ts';

const limits: HandshakeLimits = { maxPayload: 4096, maxPreamble: 8192, maxBufsize: 262144 };
const lengthOf = (n: number) => { const b = Buffer.alloc(5); b.writeUInt32BE(n); return b; };
const hs = (payload: string | Buffer, preamble = '\n\n') => {
  const p = Buffer.from(payload);
  return Buffer.concat([Buffer.from(preamble), lengthOf(p.length), p]);
};

test('preambleEnd finds the blank line after LF, CRLF or mixed line ends', () => {
  assert.equal(preambleEnd(Buffer.from('\n\nX')), 2);
  assert.equal(preambleEnd(Buffer.from('\r\n\r\nX')), 4);
  assert.equal(preambleEnd(Buffer.from('Host: a\r\nX-Y: b\n\nX')), 17);
  assert.equal(preambleEnd(Buffer.from('Host: a\r\n')), -1);
  assert.equal(preambleEnd(Buffer.from('Host: a\r\n\r')), -1);
});

test('sniff: a blank line or a header line first is fstream at once', () => {
  assert.equal(sniff(Buffer.from('\n'), 4096, 8192), 'fstream');
  assert.equal(sniff(Buffer.from('\r\n'), 4096, 8192), 'fstream');
  assert.equal(sniff(Buffer.from('\r'), 4096, 8192), 'undecided');
  assert.equal(sniff(Buffer.from('X-Stream: yes'), 4096, 8192), 'fstream');
  assert.equal(sniff(Buffer.from('X-Str'), 4096, 8192), 'undecided');
});

test('sniff: a request line is HTTP unless a handshake length follows its head at once', () => {
  const head = 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n';
  assert.equal(sniff(Buffer.from('GET /x HT'), 4096, 8192), 'undecided');
  assert.equal(sniff(Buffer.from('GET /x HTTP/1.1\r\nHost: a\r\n'), 4096, 8192), 'undecided');
  assert.equal(sniff(Buffer.from(head), 4096, 8192), 'other');
  assert.equal(sniff(hs('watch,user=a', head), 4096, 8192), 'fstream');
  assert.equal(sniff(Buffer.concat([Buffer.from(head), Buffer.from([0, 0])]), 4096, 8192), 'undecided');
  assert.equal(sniff(Buffer.concat([Buffer.from(head), Buffer.from([0xff, 0xfb])]), 4096, 8192), 'other');
  assert.equal(sniff(Buffer.concat([Buffer.from(head), lengthOf(100_000)]), 4096, 8192), 'other');
  assert.equal(sniff(Buffer.from('SOURCE /live ICE/1.0\r\n\r\n'), 4096, 8192), 'other');
  assert.equal(sniff(Buffer.from('hello world\r\n'), 4096, 8192), 'other');
});

test('sniff: anything else passes', () => {
  assert.equal(sniff(Buffer.from([0x16, 0x03, 0x01]), 4096, 8192), 'other');
  assert.equal(sniff(Buffer.from('secret\r\n'), 4096, 8192), 'other');
  assert.equal(sniff(Buffer.alloc(0), 4096, 8192), 'undecided');
});

test('readHandshake reads every preamble form and leaves what follows', () => {
  for (const pre of ['\n\n', '\r\n\r\n', 'Host: x\nUser-Agent: y\n\n', 'Host: x\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n']) {
    const buf = Buffer.concat([hs('watch,user=fier,channel=default,channel_password=456', pre), Buffer.from('tail')]);
    const r = readHandshake(buf, limits);
    assert.equal(r.kind, 'done', pre);
    if (r.kind !== 'done') continue;
    assert.deepEqual(r.request, { action: 'watch', user: 'fier', channel: 'default', channelPassword: '456', wantsReason: false });
    assert.equal(r.rest.toString(), 'tail');
  }
});

test('readHandshake waits for more bytes, one at a time', () => {
  const buf = hs('broadcast,user=fier,user_password=123,bufsize=4096');
  for (let i = 0; i < buf.length; i++) assert.equal(readHandshake(buf.subarray(0, i), limits).kind, 'more', `at ${i}`);
  const r = readHandshake(buf, limits);
  assert.equal(r.kind, 'done');
  if (r.kind === 'done') assert.deepEqual(r.request, { action: 'broadcast', user: 'fier', userPassword: '123', token: undefined, channel: 'default', channelPassword: undefined, bufsize: 4096, wantsReason: false });
});

test('readHandshake refuses hostile input as early as it can', () => {
  const reason = (buf: Buffer) => { const r = readHandshake(buf, limits); return r.kind === 'error' ? r.reason : r.kind; };
  assert.match(reason(Buffer.from([0x0a, 0x0a, 0xff, 0xff, 0xff, 0xff, 0])), /longer than 4096/);
  assert.match(reason(Buffer.from([0x0a, 0x0a, 0xff])), /longer than 4096/);
  assert.match(reason(Buffer.from([0x0a, 0x0a, 0, 0, 0, 0, 0])), /empty payload/);
  assert.match(reason(Buffer.from([0x0a, 0x0a, 0, 0, 0, 3, 7, 1, 2, 3])), /0x00/);
  assert.match(reason(hs(Buffer.from([0x77, 0xff, 0xfe, 0xc3]))), /UTF-8/);
  assert.match(reason(hs('watch,user=../../etc/passwd')), /invalid user name/);
  assert.match(reason(Buffer.concat([Buffer.from('X: '), Buffer.alloc(9000, 0x61)])), /preamble longer/);
  assert.match(reason(hs('x', 'Host: a\r\n\x01\x02\r\n\r\n')), /preamble line 2/);
});

test('parsePayload: actions, defaults and bad values', () => {
  assert.deepEqual(parsePayload('token,user=fier,user_password=a=b', limits), { action: 'token', user: 'fier', userPassword: 'a=b', wantsReason: false });
  assert.deepEqual(parsePayload('watch,user=fier,channel=live.mp3', limits), { action: 'watch', user: 'fier', channel: 'live.mp3', channelPassword: undefined, wantsReason: false });
  assert.deepEqual(parsePayload('watch,user=fier', limits), { action: 'watch', user: 'fier', channel: 'default', channelPassword: undefined, wantsReason: false });
  assert.deepEqual(parsePayload('watch,user=fier,channel=cam,future=1,', limits), { action: 'watch', user: 'fier', channel: 'cam', channelPassword: undefined, wantsReason: false });
  const bad: [string, RegExp][] = [
    ['dance,user=fier', /unknown action "dance"/],
    ['watch', /missing field user/],
    ['token,user=fier', /missing field user_password/],
    ['broadcast,user=fier', /user_password or token/],
    ['broadcast,user=fier,user_password=1,bufsize=-1', /bufsize/],
    ['broadcast,user=fier,user_password=1,bufsize=99999999', /larger than/],
    ['broadcast,user=fier,token=a b', /malformed token/],
    ['watch,user=fier,channel=a/b', /invalid channel/],
    ['watch,user=fier,channel=..', /invalid channel/],
    ['watch,user=fier,channel=.x', /invalid channel/],
    ['watch,user=fier,user=x', /twice/],
    ['watch,user=.hidden', /invalid user/],
    ['watch,user=a,garbage', /^field 3 is not key=value$/],
  ];
  for (const [text, re] of bad) assert.match(String(parsePayload(text, limits)), re, text);
});

test('a refusal reason never echoes a password', () => {
  for (const text of ['broadcast,user=fier,user_password=hunter2,bufsize=x', 'broadcast,user=fier,user_password=hun,ter2', 'token,user=fier,user_password=hunter2,user_password=hunter2']) {
    const r = parsePayload(text, limits);
    assert.equal(typeof r, 'string', text);
    assert.doesNotMatch(String(r), /hun|ter2/, text);
  }
});

test('encodeHandshake round-trips through readHandshake and refuses commas', () => {
  const buf = encodeHandshake({ action: 'broadcast', user: 'fier', token: 'abc_-1', channel: 'cam', channel_password: 'p', bufsize: 1024 });
  assert.deepEqual(buf.subarray(0, 2), Buffer.from('\n\n'));
  const r = readHandshake(buf, limits);
  assert.equal(r.kind, 'done');
  if (r.kind === 'done') assert.deepEqual(r.request, { action: 'broadcast', user: 'fier', userPassword: undefined, token: 'abc_-1', channel: 'cam', channelPassword: 'p', bufsize: 1024, wantsReason: false });
  assert.throws(() => encodeHandshake({ action: 'watch', user: 'fier', channel_password: 'a,b' }), /channel_password must not contain ","/);
  const asking = encodeHandshake({ action: 'watch', user: 'fier', errors: 1 });
  assert.equal(asking.subarray(7).toString(), 'watch,user=fier,errors=1', 'our own field goes last');
  const back = readHandshake(asking, limits);
  assert.ok(back.kind === 'done' && back.request.wantsReason);
});

test('errors=1 is a field like any unknown one, except that it asks for the reason of a refusal', () => {
  const wants = (text: string) => { const r = parsePayload(text, limits); return typeof r === 'string' ? r : r.wantsReason; };
  assert.deepEqual(parsePayload('watch,user=fier,channel=cam,errors=1', limits), { action: 'watch', user: 'fier', channel: 'cam', channelPassword: undefined, wantsReason: true });
  assert.equal(wants('token,errors=1,user=fier,user_password=x'), true, 'anywhere after the action');
  assert.equal(wants('watch,user=fier,errors=1,errors=1'), true, 'twice is harmless, as for any unknown key');
  for (const text of ['watch,user=fier,errors=0', 'watch,user=fier,errors=yes', 'watch,user=fier,errors=', 'watch,user=fier,xerrors=1', 'watch,user=fier']) {
    assert.equal(wants(text), false, text);
  }
  assert.equal(wants('errors=1,user=fier'), 'unknown action "errors=1" (expected token, broadcast or watch)', 'the action comes first');
  // A refused payload still says whether the client asked, so that it can be told why.
  const refused = (payload: string) => readHandshake(hs(payload), limits);
  assert.deepEqual(refused('dance,user=fier,errors=1'), { kind: 'error', reason: 'unknown action "dance" (expected token, broadcast or watch)', wantsReason: true });
  assert.deepEqual(refused('watch,user=../x,errors=1'), { kind: 'error', reason: 'invalid user name (letters, digits, _ and -, at most 64)', wantsReason: true });
  assert.deepEqual(refused('watch,user=fier,garbage,errors=1'), { kind: 'error', reason: 'field 3 is not key=value', wantsReason: true });
  assert.deepEqual(refused('watch,user=../x'), { kind: 'error', reason: 'invalid user name (letters, digits, _ and -, at most 64)', wantsReason: false });
  // Before the payload is read nobody has asked.
  const early = readHandshake(Buffer.from([0x0a, 0x0a, 0xff, 0xff, 0xff, 0xff, 0]), limits);
  assert.ok(early.kind === 'error' && !early.wantsReason);
});

test('the ERROR line is recognised whole, and only whole', () => {
  assert.equal(errorLine('bad\nthing'), 'ERROR bad thing\n');
  assert.deepEqual(scanErrorLine(Buffer.from('ERROR authentication failed\n')), { kind: 'error', reason: 'authentication failed', length: 28 });
  assert.deepEqual(scanErrorLine(Buffer.from('ERR')), { kind: 'maybe' });
  assert.deepEqual(scanErrorLine(Buffer.from('ERROR no newline yet')), { kind: 'maybe' });
  assert.deepEqual(scanErrorLine(Buffer.from('ERRATA')), { kind: 'no' });
  assert.deepEqual(scanErrorLine(Buffer.from([0x47, 0x40])), { kind: 'no' });
  assert.deepEqual(scanErrorLine(Buffer.alloc(600, 'ERROR ')), { kind: 'no' });
});

test('the chunk filter passes chunks through, cut to the largest frame', () => {
  const framer = new ChunkFramer({ frameBytes: 4 });
  const frames: string[] = [];
  framer.push(Buffer.from('abcdefghij'), (f, ms) => { frames.push(f.toString()); assert.equal(ms, 0); });
  framer.push(Buffer.from('k'), (f) => frames.push(f.toString()));
  assert.deepEqual(frames, ['abcd', 'efgh', 'ij', 'k']);
});
