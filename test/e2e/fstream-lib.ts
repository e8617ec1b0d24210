/**
 * Shared pieces of the fstream end-to-end tests: temporary users directories
 * and module lists, the server started with them, a raw-socket implementation
 * of the handshake (written independently of mods/fstream, so the client and
 * server are checked against it), and a runner for the `fstream` client bin.
 * Not a test file itself.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { startServer, type Server } from '../helpers/server.ts';

export const clientBin = fileURLToPath(new URL('../../bin/fstream.js', import.meta.url));
/** The built-in modules these tests need, in main.mods order. */
export const BUILTINS = ['server', 'filters', 'http', 'users', 'fstream'];

/** A temporary folder with `users/NAME.ini` for each user (plaintext passwords) and a module list. */
export function fixture(users: Record<string, string>, mods: string[] = BUILTINS): { dir: string; usersDir: string; mods: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'fstream-e2e-'));
  const usersDir = join(dir, 'users');
  mkdirSync(usersDir);
  for (const [name, password] of Object.entries(users)) writeFileSync(join(usersDir, `${name}.ini`), `[DEFAULT]\npassword=${password}\n`);
  const modsFile = join(dir, 'test.mods');
  writeFileSync(modsFile, mods.join('\n') + '\n');
  return { dir, usersDir, mods: modsFile, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function startWith(f: { usersDir: string; mods: string }, args: string[] = [], opts: Parameters<typeof startServer>[1] = {}): Promise<Server> {
  return startServer(['-mods', f.mods, '-address', '127.0.0.1:0', '-users-dir', f.usersDir, ...args], opts);
}

/** The handshake, built by hand: preamble, 4-byte big-endian length, 0x00, UTF-8 payload. */
export function rawHandshake(payload: string | Buffer, preamble: string | Buffer = '\n\n'): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([Buffer.from(preamble), len, Buffer.from([0]), body]);
}

export interface Peer {
  socket: net.Socket;
  /** Everything received so far. */
  received(): Buffer;
  /** Resolves once at least `bytes` arrived (or rejects after `ms`). */
  waitBytes(bytes: number, ms?: number): Promise<Buffer>;
  /** Resolves with everything received once the server closed (or rejects after `ms`). */
  closed(ms?: number): Promise<Buffer>;
}

/** Connects (optionally over TLS, trusting `ca`), sends `first` and records what comes back. */
export async function connect(port: number, first?: Buffer, opts: { ca?: Buffer } = {}): Promise<Peer> {
  const socket = opts.ca
    ? tls.connect({ host: '127.0.0.1', port, ca: opts.ca })
    : net.connect({ host: '127.0.0.1', port });
  await once(socket, opts.ca ? 'secureConnect' : 'connect');
  const chunks: Buffer[] = [];
  let total = 0;
  let isClosed = false;
  const wake = new Set<() => void>();
  socket.on('data', (d: Buffer) => { chunks.push(d); total += d.length; for (const w of wake) w(); });
  socket.on('error', () => {});
  socket.on('close', () => { isClosed = true; for (const w of wake) w(); });
  if (first) socket.write(first);
  const received = () => Buffer.concat(chunks);
  const until = (done: () => boolean, what: string, ms: number) => new Promise<Buffer>((resolve, reject) => {
    if (done()) return resolve(received());
    const t = setTimeout(() => { wake.delete(check); reject(new Error(`${what} within ${ms} ms (got ${total} bytes${isClosed ? ', closed' : ''}: ${JSON.stringify(received().subarray(0, 80).toString('latin1'))})`)); }, ms);
    const check = () => { if (done()) { clearTimeout(t); wake.delete(check); resolve(received()); } };
    wake.add(check);
  });
  return {
    socket,
    received,
    waitBytes: (bytes, ms = 5000) => until(() => total >= bytes, `no ${bytes} bytes`, ms),
    closed: (ms = 5000) => until(() => isClosed, 'not closed', ms),
  };
}

/** Writes `data` in pieces of `piece` bytes at about `bytesPerSecond`, respecting backpressure. */
export async function pacedWrite(socket: net.Socket, data: Buffer, piece: number, bytesPerSecond: number): Promise<void> {
  const started = Date.now();
  for (let i = 0; i < data.length; i += piece) {
    if (!socket.write(data.subarray(i, i + piece))) await once(socket, 'drain');
    const due = started + ((i + piece) / bytesPerSecond) * 1000;
    const wait = due - Date.now();
    if (wait > 1) await sleep(wait);
  }
}

export interface ClientRun { code: number | null; stdout: Buffer; stderr: string }

/** Runs the `fstream` client bin with `fserv_arg_*` variables, feeding `stdin`; killed after `ms`. */
export function runClient(args: string[], env: Record<string, string>, opts: { stdin?: Buffer | NodeJS.ReadableStream; ms?: number } = {}): { done: Promise<ClientRun>; kill(): void } {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('fserv_arg_')));
  const proc = spawn(process.execPath, [clientBin, ...args], { env: { ...clean, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  proc.stdout.on('data', (d: Buffer) => out.push(d));
  proc.stderr.on('data', (d) => { err += d; });
  proc.stdin.on('error', () => {});
  if (Buffer.isBuffer(opts.stdin)) proc.stdin.end(opts.stdin);
  else if (opts.stdin) opts.stdin.pipe(proc.stdin);
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.ms ?? 8000);
  const done = once(proc, 'close').then(([code]) => {
    clearTimeout(timer);
    return { code: code as number | null, stdout: Buffer.concat(out), stderr: err };
  });
  return { done, kill: () => proc.kill('SIGKILL') };
}

/** A self-signed certificate for 127.0.0.1 made with openssl, or undefined when openssl is missing. */
export function selfSignedCert(dir: string): { cert: string; key: string } | undefined {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  return r.status === 0 ? { cert, key } : undefined;
}

/** Index of `part` in `whole` (both Buffers), or -1. */
export function offsetOf(whole: Buffer, part: Buffer): number {
  return whole.indexOf(part.subarray(0, Math.min(part.length, 64)));
}
