/**
 * SIGHUP reads the settings file again: channels added, changed or removed
 * take effect, listeners of unchanged channels are not touched, an invalid
 * file is refused with the reason, and renewed TLS certificates serve new
 * connections.
 */
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpGet, startServer } from '../helpers/server.ts';
import { selfSignedCert } from './fstream-lib.ts';
import { Client, FrameCounter, parseFrames, tempDir, waitFor } from './streamserve-lib.ts';

const tmp = tempDir();
after(() => tmp.cleanup());
const SIZE = 500;

/** A counter-frame channel (`gen.js`, 200 frames a second). */
const channel = (mount: string, extra: Record<string, unknown> = {}) => ({
  mount, exec: ['node', tmp.gen, String(SIZE), '--rate', '200'], frameBytes: SIZE, burstBytes: 0, ...extra,
});

function writeConfig(file: string, config: unknown): void {
  // Written aside and renamed, as editors and config tools do: the server never reads half a file.
  writeFileSync(`${file}.tmp`, JSON.stringify(config));
  renameSync(`${file}.tmp`, file);
}

test('SIGHUP: channels added, changed and removed; unchanged ones untouched; an invalid file refused', { timeout: 30_000 }, async () => {
  const file = join(tmp.dir, 'reload.json');
  writeConfig(file, { channels: [channel('/keep'), channel('/change'), channel('/drop')] });
  const srv = await startServer(['-config', file]);
  try {
    const keep = new FrameCounter(srv.port, '/keep', SIZE);
    const change = new Client(srv.port, '/change');
    const drop = new FrameCounter(srv.port, '/drop', SIZE);
    await waitFor(() => keep.frames > 50 && change.length > 50 * SIZE && drop.frames > 50, 5000, 'frames on every channel');

    writeConfig(file, { channels: [channel('/keep'), channel('/change', { sourceBuffer: 32 }), channel('/added', { name: 'New one' })] });
    srv.proc.kill('SIGHUP');
    await srv.waitLog((l) => l.msg === 'settings reloaded', 5000);
    const before = keep.frames;
    await sleep(600);
    assert.ok(keep.frames > before + 50, 'the unchanged channel streams on');
    assert.equal(keep.jumps, 0, 'without a skip');
    assert.equal(keep.socket.destroyed, false);
    // The new channel's source is a new run of the generator: its frames follow on the same connection, whole.
    const got = change.bytes();
    const runs = new Set(parseFrames(got.subarray(0, got.length - (got.length % SIZE)), SIZE).map((f) => f.run));
    assert.equal(runs.size, 2, 'the changed channel\'s listener was moved to the new one, not dropped');
    assert.equal(change.ended, false);
    await waitFor(() => drop.socket.destroyed || drop.socket.readableEnded, 3000, 'the removed channel\'s listener to be let go');
    const status = JSON.parse((await httpGet(srv.port, '/status.json')).body.toString());
    const mounts = status.icestats.source.map((s: { mount: string }) => s.mount).sort();
    assert.deepEqual(mounts, ['/added', '/change', '/keep']);
    assert.equal(status.icestats.source.find((s: { mount: string }) => s.mount === '/added').server_name, 'New one');

    writeConfig(file, { channels: [channel('/keep', { sourceBuffer: 'many' })] });
    srv.proc.kill('SIGHUP');
    const refused = await srv.waitLog((l) => l.msg === 'reload refused; the running settings stay', 5000);
    assert.match(String(refused.err), /sourceBuffer/, `the reason names the setting: ${refused.err}`);
    writeConfig(file, { channels: [channel('/keep'), channel('/keep')] });
    srv.proc.kill('SIGHUP');
    await srv.waitLog((l) => l.msg === 'reload refused; the running settings stay' && /listed twice|\/keep/.test(String(l.err)) && l !== refused, 5000);
    await sleep(300);
    const still = JSON.parse((await httpGet(srv.port, '/status.json')).body.toString());
    assert.equal(still.icestats.source.length, 3, 'the running channels stay');
    assert.equal(keep.socket.destroyed, false);
    for (const c of [keep, change, drop]) c.close();
  } finally {
    await srv.stop();
  }
});

/** The SHA-256 fingerprint of the certificate a TLS server presents. */
function fingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.destroy();
    });
    s.once('error', reject);
    s.setTimeout(3000, () => s.destroy(new Error('TLS connect timed out')));
  });
}

const first = selfSignedCert(join(tmp.dir, '.'));

test('SIGHUP: a renewed certificate serves new TLS connections', { timeout: 30_000, skip: first ? false : 'openssl is not installed (needed for a self-signed certificate)' }, async () => {
  const renewedDir = join(tmp.dir, 'renewed');
  mkdirSync(renewedDir, { recursive: true });
  const renewed = selfSignedCert(renewedDir)!;
  const srv = await startServer(['-tls-address', '127.0.0.1:0', '-tls-cert', first!.cert, '-tls-key', first!.key]);
  try {
    const old = await fingerprint(srv.tlsPort!);
    // Renewal in place, as certbot does: same paths, new files.
    renameSync(renewed.cert, first!.cert);
    renameSync(renewed.key, first!.key);
    assert.equal(await fingerprint(srv.tlsPort!), old, 'nothing changes before the signal');
    srv.proc.kill('SIGHUP');
    await srv.waitLog((l) => l.msg === 'TLS certificate reloaded', 5000);
    const now = await fingerprint(srv.tlsPort!);
    assert.notEqual(now, old, 'new connections get the renewed certificate');
  } finally {
    await srv.stop();
  }
});
