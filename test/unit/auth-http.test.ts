import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AnswerCache } from '../../mods/auth-http/answer-cache.ts';
import { backendRequest, BadAnswer, parseAnswer } from '../../mods/auth-http/protocol.ts';

test('parseAnswer: 200 decides, 204/404 have no opinion, 401/403 refuse, anything else is a bad answer', () => {
  assert.deepEqual(parseAnswer(200, '{"allow":true}'), { decision: { allow: true } });
  assert.deepEqual(parseAnswer(200, '{"allow":true,"user":"bob","maxDuration":90}'), { decision: { allow: true, user: 'bob', maxDurationMs: 90_000 } });
  assert.deepEqual(parseAnswer(200, '{"allow":true,"maxDuration":"1m30s"}'), { decision: { allow: true, maxDurationMs: 90_000 } });
  assert.deepEqual(parseAnswer(200, '{"allow":false,"reason":"over\\nquota"}'), { decision: { allow: false, reason: 'over quota', forbidden: false } });
  assert.deepEqual(parseAnswer(200, '{"allow":false}'), { decision: { allow: false, reason: 'refused by the authentication backend', forbidden: false } });
  assert.deepEqual(parseAnswer(204, ''), { decision: undefined });
  assert.deepEqual(parseAnswer(404, 'not here'), { decision: undefined });
  assert.deepEqual(parseAnswer(403, '{"reason":"not yours"}'), { decision: { allow: false, reason: 'not yours', forbidden: true } });
  assert.deepEqual(parseAnswer(401, 'plain text'), { decision: { allow: false, reason: 'refused by the authentication backend', forbidden: false } });
  assert.equal((parseAnswer(200, JSON.stringify({ allow: false, reason: 'x'.repeat(1000) })).decision as { reason: string }).reason.length, 200);
  for (const [status, body] of [[500, ''], [302, ''], [200, 'yes'], [200, '[true]'], [200, '{"allow":"yes"}'], [200, '{"allow":true,"maxDuration":-1}'], [200, '{"allow":true,"maxDuration":"soon"}']] as const) {
    assert.throws(() => parseAnswer(status, body), BadAnswer, `${status} ${body}`);
  }
});

test('backendRequest: the documented fields, the mount as channel, an empty query left out', () => {
  assert.deepEqual(JSON.parse(JSON.stringify(backendRequest({ action: 'watch', protocol: 'http', remoteAddress: '::1', mount: '/a', query: {} }))),
    { action: 'watch', protocol: 'http', remoteAddress: '::1', channel: '/a' });
});

test('AnswerCache: reuses an answer for its TTL, holds at most maxEntries (oldest out), never keys a one-time token', () => {
  const cache = new AnswerCache(1000, 2);
  const q = (user: string) => backendRequest({ action: 'watch', protocol: 'http', remoteAddress: '127.0.0.1', user });
  const yes = { decision: { allow: true as const } };
  cache.set(cache.keyOf(q('a'))!, yes, 0);
  assert.deepEqual(cache.get(cache.keyOf(q('a'))!, 999), yes);
  assert.equal(cache.get(cache.keyOf(q('a'))!, 1000), undefined, 'expired at its TTL');
  for (const u of ['a', 'b', 'c']) cache.set(cache.keyOf(q(u))!, yes, 0);
  assert.equal(cache.size, 2);
  assert.equal(cache.get(cache.keyOf(q('a'))!, 1), undefined, 'the oldest went first');
  assert.deepEqual(cache.get(cache.keyOf(q('c'))!, 1), yes);
  assert.equal(cache.keyOf({ ...q('a'), token: 't' }), undefined);
  assert.equal(new AnswerCache(0, 10).keyOf(q('a')), undefined, 'TTL 0: no cache');
  assert.equal(cache.keyOf(q('a'))!.length, 44, 'a key is a hash, whatever the question holds');
});
