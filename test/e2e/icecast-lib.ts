/**
 * Shared pieces of the Icecast end-to-end tests: a temporary users directory and
 * module list, raw sockets that play sources and listeners byte for byte, and
 * synthetic MP3 frames whose sequence numbers show where a listener's stream
 * was cut or reframed. Not a test file itself.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { root, startServer, type Server } from '../helpers/server.ts';

export function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Built-in modules listed in the package's main.mods (comments and blanks ignored). */
export function listedModules(): string[] {
  return readFileSync(join(root, 'main.mods'), 'utf8').split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
}

export interface Fixture { dir: string; usersDir: string; mods: string; cleanup(): void }

/** A temporary folder with `users/NAME.ini` files (extra ini lines allowed) and a module list. */
export function fixture(users: Record<string, string>, mods: string[]): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'icecast-e2e-'));
  const usersDir = join(dir, 'users');
  mkdirSync(usersDir);
  for (const [name, body] of Object.entries(users)) writeFileSync(join(usersDir, `${name}.ini`), `[DEFAULT]\n${body}\n`);
  const modsFile = join(dir, 'test.mods');
  writeFileSync(modsFile, mods.join('\n') + '\n');
  return { dir, usersDir, mods: modsFile, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function startWith(f: Fixture, args: string[] = []): Promise<Server> {
  return startServer(['-mods', f.mods, '-address', '127.0.0.1:0', '-users-dir', f.usersDir, ...args], { cwd: f.dir });
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export interface Peer {
  socket: net.Socket;
  received(): Buffer;
  /** Resolves with everything received once `done` holds for it; rejects after `ms`. */
  until(done: (got: Buffer) => boolean, what: string, ms?: number): Promise<Buffer>;
  isClosed(): boolean;
  closed(ms?: number): Promise<Buffer>;
}

/** A raw connection that sends `first` and records every byte that comes back. */
export async function connect(port: number, first?: string | Buffer): Promise<Peer> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  let isClosed = false;
  const wake = new Set<() => void>();
  socket.on('data', (d: Buffer) => { chunks.push(d); for (const w of wake) w(); });
  socket.on('error', () => {});
  socket.on('close', () => { isClosed = true; for (const w of wake) w(); });
  if (first !== undefined) socket.write(typeof first === 'string' ? Buffer.from(first, 'latin1') : first);
  const received = () => Buffer.concat(chunks);
  const until = (done: (got: Buffer) => boolean, what: string, ms = 5000) => new Promise<Buffer>((resolve, reject) => {
    const check = () => {
      const got = received();
      if (!done(got)) return false;
      clearTimeout(t);
      wake.delete(check);
      resolve(got);
      return true;
    };
    const t = setTimeout(() => {
      wake.delete(check);
      reject(new Error(`${what} within ${ms} ms (got ${received().length} bytes${isClosed ? ', closed' : ''}: ${JSON.stringify(received().subarray(0, 200).toString('latin1'))})`));
    }, ms);
    if (!check()) wake.add(check);
  });
  return { socket, received, until, isClosed: () => isClosed, closed: (ms = 5000) => until(() => isClosed, 'not closed', ms) };
}

export interface Response { status: number; statusLine: string; headers: Record<string, string>; body: Buffer }

/** Splits a response at its head; undefined while the head is incomplete. */
export function parseResponse(buf: Buffer): Response | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const c = l.indexOf(':');
    headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
  }
  return { status: Number(statusLine!.split(' ')[1]), statusLine: statusLine!, headers, body: buf.subarray(end + 4) };
}

/** A whole short response (the server closes after errors and pages). */
export async function request(port: number, head: string): Promise<Response> {
  const peer = await connect(port, head);
  const all = await peer.closed();
  const res = parseResponse(all);
  if (!res) throw new Error(`no response head: ${JSON.stringify(all.toString('latin1'))}`);
  return res;
}

/** A listener: GET with the given extra header lines, its body collected as it arrives. */
export async function listen(port: number, path: string, extra = ''): Promise<Peer & { response(): Promise<Response> }> {
  const peer = await connect(port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`);
  return { ...peer, response: async () => parseResponse(await peer.until((b) => parseResponse(b) !== undefined, 'no response head'))! };
}

/** MPEG-1 layer III, 128 kbit/s, 44.1 kHz, no padding: 417 bytes, 26 ms. */
export const FRAME_BYTES = 417;

/** A valid MP3 frame header whose payload carries its sequence number (bytes 4..7). */
export function frame(seq: number): Buffer {
  const f = Buffer.alloc(FRAME_BYTES);
  f.writeUInt32BE(0xfffb9064, 0);
  f.writeUInt32BE(seq, 4);
  return f;
}

export function frames(from: number, count: number): Buffer {
  return Buffer.concat(Array.from({ length: count }, (_, i) => frame(from + i)));
}

/** The sequence numbers in a stream of synthetic frames; throws where the framing is broken. */
export function sequence(audio: Buffer): number[] {
  const seqs: number[] = [];
  let pos = 0;
  for (; pos + FRAME_BYTES <= audio.length; pos += FRAME_BYTES) {
    if (audio.readUInt32BE(pos) !== 0xfffb9064) throw new Error(`no frame header at byte ${pos}`);
    seqs.push(audio.readUInt32BE(pos + 4));
  }
  return seqs;
}

/** The sequence numbers of the whole synthetic frames in a listener's response body so far. */
export function heardSequence(received: Buffer): number[] {
  const body = parseResponse(received)?.body ?? Buffer.alloc(0);
  return sequence(body.subarray(0, body.length - (body.length % FRAME_BYTES)));
}

/** True when the numbers count up by one (whole frames, in order, none lost in between). */
export function consecutive(seqs: readonly number[]): boolean {
  return seqs.every((n, i) => i === 0 || n === seqs[i - 1]! + 1);
}

/** Sends `data` in pieces of `piece` bytes every `everyMs`. */
export async function trickle(socket: net.Socket, data: Buffer, piece: number, everyMs: number): Promise<void> {
  for (let i = 0; i < data.length && !socket.destroyed; i += piece) {
    socket.write(data.subarray(i, i + piece));
    await sleep(everyMs);
  }
}

/** Runs a command to completion (killed after `ms`): exit code and output. */
export async function run(command: string, args: string[], opts: { ms?: number; stdin?: Buffer; cwd?: string } = {}): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const proc = spawn(command, args, { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  proc.stdout.on('data', (d: Buffer) => out.push(d));
  proc.stderr.on('data', (d) => { err += d; });
  proc.stdin.on('error', () => {});
  proc.stdin.end(opts.stdin);
  const t = setTimeout(() => proc.kill('SIGKILL'), opts.ms ?? 10_000);
  const [code] = await once(proc, 'close');
  clearTimeout(t);
  return { code: code as number | null, stdout: Buffer.concat(out), stderr: err };
}

/** ffmpeg's verdict on an MP3 file: '' when it decodes without a single error. */
export async function decodeErrors(file: string): Promise<string> {
  if (!existsSync(file)) return `${file} missing`;
  const r = await run('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'], { ms: 15_000 });
  return r.code === 0 ? r.stderr.trim() : `exit ${r.code}: ${r.stderr.trim()}`;
}
