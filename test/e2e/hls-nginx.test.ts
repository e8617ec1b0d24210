import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { root } from '../helpers/server.ts';
import { hlsStats, noFfmpeg, parsePlaylist, SOURCES, startHlsServer, type HlsServer } from './hls-lib.ts';

const NGINX = '/usr/sbin/nginx';
const skip = noFfmpeg || (existsSync(NGINX) ? false : `${NGINX} is missing (apt-get install nginx)`);
const CLIENTS = 50;
const RUN_MS = 20_000;

async function freePort(): Promise<number> {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as net.AddressInfo;
  srv.close();
  return port;
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${port} after ${ms} ms`);
}

interface ClientLog { sequences: number[]; hashes: Map<string, string>; errors: string[]; hits: number }

/** A player's loop: reload the playlist about twice per target duration, fetch each new segment once, in order. */
async function client(base: string, until: number): Promise<ClientLog> {
  const log: ClientLog = { sequences: [], hashes: new Map(), errors: [], hits: 0 };
  let last = -1;
  while (Date.now() < until) {
    try {
      const res = await fetch(`${base}/radio/index.m3u8`);
      if (res.status !== 200) throw new Error(`playlist: ${res.status}`);
      const { segments } = parsePlaylist(await res.text());
      // Like a player, start three segments from the live edge.
      const todo = segments.filter((s) => (last < 0 ? s.sequence >= segments.at(-1)!.sequence - 2 : s.sequence > last));
      for (const s of todo) {
        const seg = await fetch(`${base}/radio/${s.uri}`);
        if (seg.status !== 200) throw new Error(`${s.uri}: ${seg.status}`);
        if (seg.headers.get('x-cache-status') === 'HIT') log.hits++;
        log.hashes.set(s.uri, createHash('sha1').update(Buffer.from(await seg.arrayBuffer())).digest('hex'));
        log.sequences.push(s.sequence);
        last = s.sequence;
      }
    } catch (err) {
      log.errors.push(String(err));
    }
    await sleep(900 + Math.random() * 200);
  }
  return log;
}

describe('HLS through a real nginx cache', { skip, timeout: 60_000 }, () => {
  let hls: HlsServer;
  let dir: string;
  let nginx: ChildProcess | undefined;
  let nginxErr = '';
  let nginxPort = 0;
  before(async () => {
    hls = await startHlsServer({ radio: SOURCES.mp3 });
    dir = mkdtempSync(join(tmpdir(), 'streamserve-nginx-'));
    // The master runs as us; when that is root, the workers run as nobody and must write the cache.
    chmodSync(dir, 0o777);
    nginxPort = await freePort();
    const shipped = readFileSync(join(root, 'config', 'examples', 'nginx-hls-cache.conf'), 'utf8');
    const conf = shipped
      .replace('listen 8080;', `listen 127.0.0.1:${nginxPort};`)
      .replace('server 127.0.0.1:8000;', `server 127.0.0.1:${hls.server.port};`)
      .replaceAll('/var/cache/nginx/', `${dir}/`);
    assert.notEqual(conf, shipped, 'the shipped config has the parts the test adapts');
    writeFileSync(join(dir, 'nginx.conf'), conf);
    nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    nginx.stderr!.on('data', (d) => { nginxErr += d; });
    await waitForPort(nginxPort, 5000).catch((err) => { throw new Error(`${err.message}; nginx: ${nginxErr}`); });
  });
  after(async () => {
    if (nginx && nginx.exitCode === null) {
      nginx.kill('SIGQUIT');
      await Promise.race([once(nginx, 'exit'), sleep(5000)]);
      if (nginx.exitCode === null) nginx.kill('SIGKILL');
    }
    await hls?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test(`${CLIENTS} clients for ${RUN_MS / 1000} s: every client gets every segment, the server sends each about once`, { timeout: 45_000 }, async (t) => {
    const base = `http://127.0.0.1:${nginxPort}`;
    // The first playlist holds until a segment is cut; after that the clients arrive over two seconds.
    assert.equal((await fetch(`${base}/radio/index.m3u8`)).status, 200);
    const before = await hlsStats(hls.base);
    const until = Date.now() + RUN_MS;
    const logs = await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
      await sleep((i * 2000) / CLIENTS);
      return client(base, until);
    }));
    const afterStats = await hlsStats(hls.base);

    const distinct = new Map<string, string>();
    for (const [i, log] of logs.entries()) {
      assert.deepEqual(log.errors, [], `client ${i} had no failed request`);
      assert.ok(log.sequences.length >= 6, `client ${i} got ${log.sequences.length} segments`);
      for (let k = 1; k < log.sequences.length; k++) {
        assert.equal(log.sequences[k], log.sequences[k - 1]! + 1, `client ${i} got every segment in order (${log.sequences.join(',')})`);
      }
      for (const [uri, hash] of log.hashes) {
        const seen = distinct.get(uri);
        if (seen) assert.equal(hash, seen, `every client got the same bytes of ${uri}`);
        else distinct.set(uri, hash);
      }
    }
    const newest = Math.max(...logs.map((l) => l.sequences.at(-1)!));
    for (const [i, log] of logs.entries()) assert.ok(log.sequences.at(-1)! >= newest - 1, `client ${i} kept up with the live edge`);

    const served = afterStats.segmentRequests - before.segmentRequests;
    const fetched = logs.reduce((n, l) => n + l.sequences.length, 0);
    assert.ok(served >= distinct.size, `the server served each of the ${distinct.size} segments (${served} requests)`);
    assert.ok(served <= distinct.size + 2, `the cache carried the rest: ${served} segment requests reached the server for ${distinct.size} segments and ${fetched} client fetches`);
    const playlists = afterStats.playlistRequests - before.playlistRequests;
    assert.ok(playlists <= 2 * (RUN_MS / 1000) + 6, `playlists reached the server about once a max-age (${playlists} in ${RUN_MS / 1000} s)`);
    const hits = logs.reduce((n, l) => n + l.hits, 0);
    t.diagnostic(`${distinct.size} segments, ${fetched} client fetches, ${served} reached the server, ${hits} cache hits, ${playlists} playlist requests at the server`);
    assert.ok(hits >= fetched - distinct.size * 2, `nginx reports cache hits (${hits} of ${fetched})`);
  });
});
