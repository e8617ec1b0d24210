/**
 * Shared pieces of the streamserve end-to-end tests: a frame-sequence generator
 * run with `-exec node gen.js`, a frame checker, a controllable raw HTTP
 * client, and process figures. Not a test file itself.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The generator: `node gen.js FRAME_BYTES [options]` writes frames of FRAME_BYTES
 * bytes to stdout: a 4-byte big-endian counter from 0, a 4-byte run id (its pid),
 * then a pattern derived from the counter, so a torn or spliced frame shows.
 *   --rate N      frames per second (default: as fast as the pipe takes them)
 *   --count N     exit after N frames (default: never)
 *   --header TXT  write TXT first (the -header-bytes header)
 *   --header-run FILE  write "RUN<n>" padded to 8 bytes first, n counting runs in FILE
 */
const GENERATOR = `
const args = process.argv.slice(2);
const size = Number(args[0]);
const opt = (name, def) => { const i = args.indexOf('--' + name); return i < 0 ? def : args[i + 1]; };
const rate = Number(opt('rate', 0));
const count = Number(opt('count', 0));
const header = opt('header', '');
const runFile = opt('header-run', '');
const fs = require('node:fs');
const out = process.stdout;
if (header) out.write(header);
if (runFile) {
  let n = 0;
  try { n = Number(fs.readFileSync(runFile, 'utf8')) || 0; } catch {}
  fs.writeFileSync(runFile, String(n + 1));
  out.write(('RUN' + n).padEnd(8, '.'));
}
function frame(n) {
  const b = Buffer.allocUnsafe(size);
  b.writeUInt32BE(n >>> 0, 0);
  b.writeUInt32BE(process.pid, 4);
  for (let i = 8; i < size; i++) b[i] = (n * 7 + i) & 0xff;
  return b;
}
let n = 0;
const done = () => count && n >= count;
out.on('error', () => process.exit(0));
if (rate > 0) {
  const started = Date.now();
  const tick = () => {
    const due = Math.floor(((Date.now() - started) / 1000) * rate) + 1;
    let ok = true;
    while (n < due && !done()) ok = out.write(frame(n++));
    if (done()) return out.end(() => process.exit(0));
    if (ok) setTimeout(tick, Math.max(1, Math.min(20, 1000 / rate)));
    else out.once('drain', tick);
  };
  tick();
} else {
  const pump = () => {
    while (!done()) { if (!out.write(frame(n++))) return out.once('drain', pump); }
    out.end(() => process.exit(0));
  };
  pump();
}
`;

/** `node slowcat.js FILE BYTES_PER_SECOND`: a file written out at a steady rate (an encoder's pace), in a loop. */
const SLOWCAT = `
const fs = require('node:fs');
const data = fs.readFileSync(process.argv[2]);
const rate = Number(process.argv[3]);
const piece = Math.max(1, Math.floor(rate / 20));
let at = 0;
process.stdout.on('error', () => process.exit(0));
setInterval(() => {
  const end = Math.min(data.length, at + piece);
  process.stdout.write(data.subarray(at, end));
  at = end === data.length ? 0 : end;
}, 50);
`;

export interface TempDir {
  dir: string;
  gen: string;
  slowcat: string;
  cleanup(): void;
}

/** A temp dir holding gen.js. */
export function tempDir(): TempDir {
  const dir = mkdtempSync(join(tmpdir(), 'streamserve-e2e-'));
  const gen = join(dir, 'gen.js');
  writeFileSync(gen, GENERATOR);
  const slowcat = join(dir, 'slowcat.js');
  writeFileSync(slowcat, SLOWCAT);
  writeFileSync(join(dir, 'package.json'), '{"type":"commonjs"}');
  return { dir, gen, slowcat, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface GenFrame { n: number; run: number }

/** Splits generator output into frames, asserting every one is whole and untouched. */
export function parseFrames(bytes: Buffer, size: number): GenFrame[] {
  assert.equal(bytes.length % size, 0, `received ${bytes.length} bytes: not a whole number of ${size}-byte frames`);
  const out: GenFrame[] = [];
  for (let off = 0; off < bytes.length; off += size) {
    const n = bytes.readUInt32BE(off);
    const run = bytes.readUInt32BE(off + 4);
    for (let i = 8; i < size; i++) {
      if (bytes[off + i] !== ((n * 7 + i) & 0xff)) assert.fail(`torn frame at byte ${off}: counter ${n}, byte ${i} is ${bytes[off + i]}`);
    }
    out.push({ n, run });
  }
  return out;
}

/** Counter jumps (skips) in a frame sequence of one run; asserts it is strictly increasing. */
export function jumps(frames: GenFrame[]): number {
  let count = 0;
  for (let i = 1; i < frames.length; i++) {
    const [a, b] = [frames[i - 1]!, frames[i]!];
    if (a.run !== b.run) continue;
    assert.ok(b.n > a.n, `frame ${b.n} after frame ${a.n}: out of order`);
    if (b.n > a.n + 1) count++;
  }
  return count;
}

/**
 * A listener that checks generator frames as they arrive and keeps none: for
 * streams too fast to collect. `error` holds the first torn or out-of-order
 * frame.
 */
export class FrameCounter {
  readonly socket: net.Socket;
  frames = 0;
  jumps = 0;
  error = '';
  private last = -1;
  private head = Buffer.alloc(0);
  private headDone = false;
  private partial: Buffer;
  private fill = 0;

  constructor(port: number, path: string, private readonly size: number) {
    this.partial = Buffer.alloc(size);
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    this.socket.on('error', () => {});
    this.socket.on('data', (d: Buffer) => {
      if (!this.headDone) {
        this.head = Buffer.concat([this.head, d]);
        const end = this.head.indexOf('\r\n\r\n');
        if (end < 0) return;
        this.headDone = true;
        d = this.head.subarray(end + 4);
      }
      for (let at = 0; at < d.length;) {
        const n = d.copy(this.partial, this.fill, at);
        at += n;
        this.fill += n;
        if (this.fill === size) {
          this.check(this.partial);
          this.fill = 0;
        }
      }
    });
  }

  private check(f: Buffer): void {
    if (this.error) return;
    const n = f.readUInt32BE(0);
    for (let i = 8; i < this.size; i++) {
      if (f[i] !== ((n * 7 + i) & 0xff)) {
        this.error = `torn frame after ${this.frames} frames: counter ${n}, byte ${i}`;
        return;
      }
    }
    if (this.last >= 0 && n <= this.last) this.error = `frame ${n} after frame ${this.last}: out of order`;
    else if (this.last >= 0 && n > this.last + 1) this.jumps++;
    this.last = n;
    this.frames++;
  }

  pause(): void { this.socket.pause(); }
  resume(): void { this.socket.resume(); }
  close(): void { this.socket.destroy(); }
}

/** A raw HTTP client that keeps the connection: response head parsed, body collected, reading pausable. */
export class Client {
  readonly socket: net.Socket;
  status = 0;
  head = '';
  headers: Record<string, string> = {};
  body: Buffer = Buffer.alloc(0);
  private raw: Buffer[] = [];
  private headDone = false;
  ended = false;
  readonly closed: Promise<void>;
  readonly gotHead: Promise<void>;
  private onHead!: () => void;

  constructor(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; paused?: boolean } = {}) {
    this.gotHead = new Promise((r) => { this.onHead = r; });
    this.socket = net.connect(port, '127.0.0.1');
    const extra = Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    this.socket.write(`${opts.method ?? 'GET'} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`);
    if (opts.paused) this.socket.pause();
    this.socket.on('data', (d: Buffer) => this.take(d));
    this.socket.on('error', () => {});
    this.closed = new Promise((r) => this.socket.once('close', () => { this.ended = true; this.onHead(); r(); }));
  }

  private take(d: Buffer): void {
    if (this.headDone) {
      this.raw.push(d);
      return;
    }
    this.raw.push(d);
    const all = Buffer.concat(this.raw);
    const end = all.indexOf('\r\n\r\n');
    if (end < 0) return;
    this.headDone = true;
    this.head = all.subarray(0, end).toString('latin1');
    const [statusLine, ...lines] = this.head.split('\r\n');
    this.status = Number(statusLine!.split(' ')[1]);
    for (const l of lines) {
      const c = l.indexOf(':');
      this.headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
    }
    this.raw = [all.subarray(end + 4)];
    this.onHead();
  }

  /** Body bytes received so far (consolidated). */
  bytes(): Buffer {
    if (this.raw.length !== 1) this.raw = [Buffer.concat(this.raw)];
    this.body = this.raw[0] ?? Buffer.alloc(0);
    return this.body;
  }

  get length(): number {
    let n = 0;
    for (const b of this.raw) n += b.length;
    return n;
  }

  /** Waits until at least `n` body bytes arrived (or the connection closed, or `ms` passed). */
  async waitBytes(n: number, ms = 5000): Promise<void> {
    const until = Date.now() + ms;
    while (this.length < n && !this.ended && Date.now() < until) await sleep(10);
  }

  pause(): void { this.socket.pause(); }
  resume(): void { this.socket.resume(); }
  close(): void { this.socket.destroy(); }
}

/** Resident memory of a process in bytes (Linux). */
export function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Whether a program is on PATH. */
export function has(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
}

/** Runs ffmpeg decoding `input` (bytes on stdin) to nothing; returns its stderr and status. */
export function ffmpegDecode(input: Buffer): { status: number | null; stderr: string } {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-v', 'error', '-f', 'mp3', '-i', '-', '-f', 'null', '-'], { input, maxBuffer: 64 << 20 });
  return { status: r.status, stderr: r.stderr.toString() };
}
