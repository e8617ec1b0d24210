/**
 * The original Go streamserve (2015) as the bench's side-by-side peer:
 * `npm run bench -- --go-streamserve PATH` (or GO_STREAMSERVE=PATH) names a
 * built binary. It has our command line, but does not log its bound port, so
 * the bench picks a free port, passes `-address 127.0.0.1:PORT` and waits for a
 * TCP connect. It is started through spawnWithFiles (ulimit -n 20000) and
 * stopped by its PID only.
 */
import { type ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import net from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { freePort, spawnWithFiles, stopProcess } from './procs.ts';

/** The peer to run, or why there is none (said in the firehose line). */
export type GoPeer = { bin: string; why?: undefined } | { bin?: undefined; why: string };

const HOW = 'pass --go-streamserve PATH or set GO_STREAMSERVE';

/** `--go-streamserve PATH`, else $GO_STREAMSERVE; usable only when it is an executable file. */
export function resolveGoPeer(option: string | undefined, env: string | undefined): GoPeer {
  const from = option ? '--go-streamserve' : 'GO_STREAMSERVE';
  if (!(option || env)) return { why: `Go streamserve not given: ${HOW}` };
  const path = resolvePath((option || env)!);
  try {
    if (!statSync(path).isFile()) return { why: `Go streamserve ${path} (${from}) is not a file: ${HOW}` };
    accessSync(path, constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { why: `Go streamserve ${path} (${from}) does not exist: ${HOW}` };
    return { why: `Go streamserve ${path} (${from}) is not executable (${code ?? (err as Error).message}): ${HOW}` };
  }
  return { bin: path };
}

export interface GoStreamserve {
  proc: ChildProcess;
  pid: number;
  port: number;
  /** The last 32 KB of its stderr (it logs every client connect and disconnect there). */
  stderr(): string;
  /** From its per-client disconnect lines (`N frames + S skipped`) so far: clients gone, frames they skipped in all. */
  clientsDone(): { clients: number; framesSkipped: number };
  stop(): Promise<void>;
}

const TAIL = 32 * 1024;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

/** Starts the Go binary on a free loopback port; resolves once a TCP connect to it succeeds (10 s at most). */
export async function startGoStreamserve(bin: string, args: string[]): Promise<GoStreamserve> {
  const port = await freePort();
  const proc = spawnWithFiles([bin, '-address', `127.0.0.1:${port}`, ...args]);
  let err = '';
  let partial = '';
  const done = { clients: 0, framesSkipped: 0 };
  // Drained whatever it says: a full pipe would block its logging, and with it the server.
  proc.stderr!.on('data', (d: Buffer) => {
    const text = d.toString('latin1');
    err += text;
    if (err.length > 2 * TAIL) err = err.slice(-TAIL);
    if (process.env.BENCH_VERBOSE) process.stderr.write(d);
    const lines = (partial + text).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      const m = / frames \+ (\d+) skipped$/.exec(line);
      if (m) {
        done.clients++;
        done.framesSkipped += Number(m[1]);
      }
    }
  });
  proc.stdout!.resume();
  const stderr = () => err.slice(-TAIL);
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`Go streamserve ${bin} exited (${proc.exitCode ?? proc.signalCode}) before listening on 127.0.0.1:${port}: ${stderr().trim()}`);
    }
    if (Date.now() > deadline) {
      await stopProcess(proc);
      throw new Error(`Go streamserve ${bin} did not accept a connection on 127.0.0.1:${port} within 10 s: ${stderr().trim()}`);
    }
    await sleep(100);
  }
  return { proc, pid: proc.pid!, port, stderr, clientsDone: () => ({ ...done }), stop: () => stopProcess(proc) };
}

/**
 * Go streamserve opens a source on the first request for it (and, without
 * -close-idle, keeps it open); ours opens it at start. One request that waits
 * for a body byte puts the Go source on the air before the load, as ours is.
 */
export function openGoSource(port: number, path = '/', ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let head = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`Go streamserve sent no body byte for GET ${path} within ${ms} ms`)); }, ms);
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!/^HTTP\/1\.[01] 200/.test(head)) {
        clearTimeout(timer);
        s.destroy();
        reject(new Error(`Go streamserve answered GET ${path} with ${head.split('\r\n', 1)[0]}`));
      } else if (head.length > end + 4) {
        clearTimeout(timer);
        s.destroy();
        resolve();
      }
    });
    s.write(`GET ${path} HTTP/1.0\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  });
}
