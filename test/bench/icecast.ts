/**
 * Icecast 2.4 as the bench's peer: a config in a temp dir, the server itself,
 * and its sources (ffmpeg for the mp3 radio, a Node PUT client for the stall
 * stream). Every process started here is stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { freePort, stopProcess, track, waitExit } from './procs.ts';

export const ICECAST_BIN = '/usr/bin/icecast2';
const PASSWORD = 'benchsource';

export function icecastAvailable(): boolean {
  return existsSync(ICECAST_BIN);
}

export interface Icecast {
  proc: ChildProcess;
  pid: number;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/** What the bench sets in icecast.xml (reported in the JSON line). */
export const ICECAST_LIMITS = { clients: 19000, queueSize: 524288, burstSize: 65535, burstOnConnect: 1 };

function configXml(port: number, dir: string, root: boolean): string {
  const L = ICECAST_LIMITS;
  return `<icecast>
  <location>bench</location>
  <admin>bench@localhost</admin>
  <limits>
    <clients>${L.clients}</clients>
    <sources>4</sources>
    <queue-size>${L.queueSize}</queue-size>
    <client-timeout>30</client-timeout>
    <header-timeout>15</header-timeout>
    <source-timeout>10</source-timeout>
    <burst-on-connect>${L.burstOnConnect}</burst-on-connect>
    <burst-size>${L.burstSize}</burst-size>
  </limits>
  <authentication>
    <source-password>${PASSWORD}</source-password>
    <relay-password>${PASSWORD}</relay-password>
    <admin-user>admin</admin-user>
    <admin-password>${PASSWORD}</admin-password>
  </authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket>
    <port>${port}</port>
    <bind-address>127.0.0.1</bind-address>
  </listen-socket>
  <fileserve>1</fileserve>
  <paths>
    <basedir>${dir}</basedir>
    <logdir>${dir}/log</logdir>
    <webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot>
  </paths>
  <logging>
    <accesslog>access.log</accesslog>
    <errorlog>error.log</errorlog>
    <loglevel>2</loglevel>
    <logsize>100000</logsize>
  </logging>
  <security>
    <chroot>0</chroot>${root ? `
    <changeowner>
      <user>nobody</user>
      <group>nogroup</group>
    </changeowner>` : ''}
  </security>
</icecast>
`;
}

/** Starts icecast2 on a free loopback port (as `nobody` when we are root: it refuses to stay root). */
export async function startIcecast(tmp: string): Promise<Icecast> {
  const dir = join(tmp, 'icecast');
  mkdirSync(join(dir, 'log'), { recursive: true });
  const root = process.getuid?.() === 0;
  if (root) {
    chmodSync(tmp, 0o755);
    chownSync(dir, 65534, 65534);
    chownSync(join(dir, 'log'), 65534, 65534);
  }
  const port = await freePort();
  const xml = join(dir, 'icecast.xml');
  writeFileSync(xml, configXml(port, dir, root));
  const proc = track(spawn('sh', ['-c', 'ulimit -n 20000 && exec "$0" "$@"', ICECAST_BIN, '-c', xml], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      await stopProcess(proc);
      throw new Error(`icecast2 did not start: ${out.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, pid: proc.pid!, port, dir, stop: () => stopProcess(proc) };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

/** Status code of `GET path` (0 when the connection fails). */
export function probe(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let head = '';
    const done = (code: number) => { s.destroy(); resolve(code); };
    s.setTimeout(2000, () => done(0));
    s.on('error', () => done(0));
    s.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      const m = /^\S+ (\d{3})/.exec(head);
      if (m) done(Number(m[1]));
    });
    s.write(`GET ${path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n`);
  });
}

export async function waitMount(port: number, mount: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if ((await probe(port, mount)) === 200) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`icecast mount ${mount} did not come up`);
}

/** ffmpeg publishing an mp3 file in real time (`-re`, looped, stream copy). */
export function ffmpegSource(file: string, port: number, mount: string): ChildProcess {
  return track(spawn('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', file,
    '-c', 'copy', '-content_type', 'audio/mpeg', '-f', 'mp3', `icecast://source:${PASSWORD}@127.0.0.1:${port}${mount}`,
  ], { stdio: ['ignore', 'ignore', 'inherit'] }));
}

export interface PutSource {
  bytes(): number;
  stop(): void;
}

/**
 * A Node PUT source client writing `rate` bytes/s of zeros, in pieces of
 * rate/1000 bytes (1000-byte frames at 1 MB/s) as the clock makes them due,
 * checked every millisecond. (Pieces of 50 KB every 50 ms, as our
 * `-source-bandwidth` releases them, made Icecast deliver about half the rate
 * to 200 listeners.)
 */
export function putSource(port: number, mount: string, rate: number, contentType = 'application/octet-stream'): Promise<PutSource> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const auth = Buffer.from(`source:${PASSWORD}`).toString('base64');
    s.write(`PUT ${mount} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Basic ${auth}\r\nContent-Type: ${contentType}\r\nIce-Public: 0\r\nIce-Name: bench\r\nExpect: 100-continue\r\n\r\n`);
    let head = '';
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const piece = Buffer.alloc(Math.max(1, Math.floor(rate / 1000)));
    s.on('error', (err) => { clearInterval(timer); reject(err); });
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (!m || !head.includes('\r\n\r\n')) return;
      s.off('data', onData);
      if (m[1] !== '100' && m[1] !== '200') return reject(new Error(`icecast refused the PUT source: ${head.split('\r\n')[0]}`));
      const start = Date.now();
      timer = setInterval(() => {
        // Keep to the clock: write every piece that is due.
        while (sent < ((Date.now() - start) / 1000) * rate) {
          s.write(piece);
          sent += piece.length;
        }
      }, 1);
      resolve({ bytes: () => sent, stop: () => { clearInterval(timer); s.destroy(); } });
    };
    s.on('data', onData);
  });
}

export { waitExit };
