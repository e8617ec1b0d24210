import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forwardedHops, hopAddress, TrustedProxies } from '../../mods/http/forwarded.ts';

const xff = (value: string) => ({ 'x-forwarded-for': value });

test('a hop is an IPv4 or IPv6 address, with or without a port, brackets or quotes; anything else is no address', () => {
  assert.equal(hopAddress('203.0.113.7'), '203.0.113.7');
  assert.equal(hopAddress(' 203.0.113.7:4711 '), '203.0.113.7');
  assert.equal(hopAddress('2001:DB8::1'), '2001:db8::1');
  assert.equal(hopAddress('"[2001:db8::1]:4711"'), '2001:db8::1');
  assert.equal(hopAddress('[2001:db8::1]'), '2001:db8::1');
  assert.equal(hopAddress('::ffff:192.0.2.1'), '192.0.2.1');
  for (const junk of ['', 'unknown', '_hidden', 'example.com', '1.2.3', '999.1.1.1', '[1.2.3.4]', '[2001:db8::1]:x', '2001:db8::1]', '1.2.3.4:99999', '<script>']) {
    assert.equal(hopAddress(junk), undefined, junk);
  }
});

test('Forwarded: the for= of each element, quoted values with commas and semicolons kept whole', () => {
  assert.deepEqual(forwardedHops('for="[2001:db8::1]:4711"'), ['"[2001:db8::1]:4711"']);
  assert.deepEqual(forwardedHops('for=192.0.2.60;proto=http;by=203.0.113.43, proto=https, For="a,b;c"'), ['192.0.2.60', '', '"a,b;c"']);
});

test('only from a trusted peer: the right-most hop that is not a trusted proxy', () => {
  const trusted = new TrustedProxies(['127.0.0.0/8', '10.0.0.0/8', 'fd00::/8']);
  assert.equal(trusted.clientAddress('127.0.0.1', xff('203.0.113.9'), 'x-forwarded-for'), '203.0.113.9');
  assert.equal(trusted.clientAddress('::ffff:127.0.0.1', xff('203.0.113.9'), 'x-forwarded-for'), '203.0.113.9', 'an IPv4-mapped peer');
  assert.equal(trusted.clientAddress('fd00::5', xff('203.0.113.9'), 'x-forwarded-for'), '203.0.113.9', 'an IPv6 peer');
  assert.equal(trusted.clientAddress('127.0.0.1', xff('6.6.6.6, 203.0.113.9, 10.1.2.3'), 'x-forwarded-for'), '203.0.113.9', 'what the client wrote itself is passed over');
  assert.equal(trusted.clientAddress('127.0.0.1', xff('10.0.0.7, 10.1.2.3'), 'x-forwarded-for'), '10.0.0.7', 'all trusted: the left-most');
  assert.equal(trusted.clientAddress('192.0.2.50', xff('203.0.113.9'), 'x-forwarded-for'), '192.0.2.50', 'an untrusted peer\'s header is ignored');
  assert.equal(trusted.clientAddress('127.0.0.1', {}, 'x-forwarded-for'), '127.0.0.1', 'no header');
  assert.equal(trusted.clientAddress('127.0.0.1', xff('203.0.113.9, junk'), 'x-forwarded-for'), '127.0.0.1', 'junk where the client should be');
  assert.equal(trusted.clientAddress('127.0.0.1', xff(''), 'x-forwarded-for'), '127.0.0.1');
  assert.equal(trusted.clientAddress('127.0.0.1', { forwarded: 'for="[2001:db8::1]:4711"' }, 'forwarded'), '2001:db8::1');
  assert.equal(trusted.clientAddress('127.0.0.1', { forwarded: 'for=unknown' }, 'forwarded'), '127.0.0.1');
  assert.equal(trusted.clientAddress('127.0.0.1', { forwarded: 'for=203.0.113.9', ...xff('198.51.100.1') }, 'x-forwarded-for'), '198.51.100.1', 'only the configured header counts');
  const long = Array.from({ length: 5000 }, () => '10.0.0.1').join(', ');
  assert.equal(trusted.clientAddress('127.0.0.1', xff(`198.51.100.1, ${long}`), 'x-forwarded-for'), '10.0.0.1', 'a bounded walk from the right');
});

test('no trusted proxies: the peer, whatever the headers say', () => {
  assert.equal(new TrustedProxies([]).clientAddress('127.0.0.1', xff('203.0.113.9'), 'x-forwarded-for'), '127.0.0.1');
});

test('an entry that is neither an address nor address/prefix is refused by name', () => {
  for (const bad of ['10.0.0.0/33', 'fd00::/129', 'example.com/8', '10.0.0.0/8/1', '10.0.0.0/x', '']) {
    assert.throws(() => new TrustedProxies([bad]), (err: Error) => err.message === bad, bad);
  }
  assert.ok(new TrustedProxies(['192.0.2.1', '::1']).has('::1'), 'single addresses');
});
