/**
 * Shared pieces of the admin tests: a station with an admin, an ordinary user
 * and a few pulled channels, and raw listeners. Not a test file itself.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root, startServer, type Server } from '../helpers/server.ts';

export const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
export const ADMIN = basic('boss', 'boss-pw');
export const ORDINARY = basic('fier', '123');

/** Pulled from /dev/zero at a few kB/s: always live, cheap for the machine. */
const channel = (mount: string, contentType = 'application/octet-stream') =>
  ({ mount, path: '/dev/zero', frameBytes: 500, sourceBandwidth: 8000, contentType });

export interface Station { server: Server; dir: string; stop(): Promise<void> }

/** The shipped main.mods, users boss (admin) and fier, channels /a and /b (same type) and /ogg (another). */
export async function startStation(extraConfig: Record<string, unknown> = {}, mods = join(root, 'main.mods')): Promise<Station> {
  const dir = mkdtempSync(join(tmpdir(), 'streamserve-admin-'));
  mkdirSync(join(dir, 'users'));
  writeFileSync(join(dir, 'users', 'boss.ini'), '[DEFAULT]\npassword=boss-pw\nadmin=true\n');
  writeFileSync(join(dir, 'users', 'fier.ini'), '[DEFAULT]\npassword=123\n');
  writeFileSync(join(dir, '.streamserverc.json'), JSON.stringify({
    channels: [channel('/a'), channel('/b'), channel('/ogg', 'audio/ogg')],
    ...extraConfig,
  }));
  const server = await startServer(['-mods', mods, '-users-dir', join(dir, 'users')], { cwd: dir });
  return {
    server, dir,
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RawListener {
  socket: net.Socket;
  /** Stream bytes received so far (past the response head). */
  bytes(): number;
  closed: Promise<void>;
}

/** A listener on a raw socket; resolves once stream bytes arrive. */
export function listen(port: number, path: string, headers: Record<string, string> = {}): Promise<RawListener> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let head = Buffer.alloc(0);
    let body = 0;
    let started = false;
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no stream bytes from ${path}`)); }, 8000);
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extra}\r\n`);
    socket.on('error', (e) => { clearTimeout(timer); reject(e); });
    socket.on('data', (d: Buffer) => {
      if (started) { body += d.length; return; }
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!head.subarray(0, end).toString('latin1').startsWith('HTTP/1.0 200')) {
        clearTimeout(timer);
        socket.destroy();
        return reject(new Error(`listener on ${path} refused: ${head.toString('latin1').slice(0, 200)}`));
      }
      body = head.length - end - 4;
      if (body === 0) return;
      started = true;
      clearTimeout(timer);
      resolve({ socket, bytes: () => body, closed });
    });
  });
}

export async function get(port: number, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers, signal: AbortSignal.timeout(5000) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', auth: res.headers.get('www-authenticate'), text: await res.text() };
}

/** Polls until `probe` gives a value, for at most `ms`. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
