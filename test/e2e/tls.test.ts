// The TLS port (-tls-address, -tls-cert, -tls-key) serves every protocol: fetch
// a token over TLS, broadcast over plain TCP, watch over TLS and over HTTPS.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { connect, fixture, rawHandshake, runClient, selfSignedCert, startWith } from './fstream-lib.ts';

const f = fixture({ fier: '123' });
after(() => f.cleanup());
const cert = selfSignedCert(f.dir);

test('token over TLS, then broadcast over plain TCP; watch over TLS and HTTPS', { timeout: 15_000, skip: cert ? false : 'openssl is not installed (needed for a self-signed certificate)' }, async () => {
  const s = await startWith(f, ['-tls-address', '127.0.0.1:0', '-tls-cert', cert!.cert, '-tls-key', cert!.key]);
  try {
    const ca = readFileSync(cert!.cert);
    const tok = await runClient(['--tls', '--ca', cert!.cert, `127.0.0.1:${s.tlsPort}`, 'token'], { fserv_arg_user: 'fier', fserv_arg_user_password: '123' }).done;
    assert.equal(tok.code, 0, tok.stderr);
    const token = tok.stdout.toString().trim();
    assert.ok(s.logs.some((l) => l.msg === 'fstream token issued' && l.tls === true), 'the token came over TLS');

    const b = await connect(s.port, rawHandshake(`broadcast,user=fier,token=${token},channel_password=456`));
    await s.waitLog((l) => l.msg === 'fstream broadcaster accepted' && l.mount === '/fier/default' && l.tls === undefined);
    const w = await connect(s.tlsPort!, rawHandshake('watch,user=fier,channel_password=456'), { ca });
    await s.waitLog((l) => l.msg === 'fstream watcher accepted' && l.tls === true);
    const https = await connect(s.tlsPort!, Buffer.from('GET /fier/default?password=456 HTTP/1.1\r\nHost: localhost\r\n\r\n'), { ca });
    const data = randomBytes(1_000_000);
    b.socket.write(data);
    assert.ok((await w.waitBytes(data.length)).equals(data), 'the TLS watcher got the plain-TCP broadcast byte-exact');
    const head = (await https.waitBytes(1000)).toString('latin1');
    assert.match(head, /^HTTP\/1\.[01] 200/, 'HTTP over the TLS port');

    const untrusted = await runClient(['--tls', `127.0.0.1:${s.tlsPort}`, 'token'], { fserv_arg_user: 'fier', fserv_arg_user_password: '123' }).done;
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /^fstream: cannot connect to 127\.0\.0\.1:\d+ \(TLS\): .*(self[- ]signed|certificate)/i);
    for (const p of [b, w, https]) p.socket.destroy();
  } finally {
    await s.stop();
  }
});
