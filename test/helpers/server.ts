import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const bin = fileURLToPath(new URL('../../bin/streamserve.js', import.meta.url));

/** The node flags in a bin's `#!/usr/bin/env -S node …` line, so tests and the bench run the server as operators do. */
export function shebangFlags(file = bin): string[] {
  const first = readFileSync(file, 'utf8').split('\n', 1)[0]!;
  return first.startsWith('#!') ? first.replace(/^#!.*?\bnode\b/, '').trim().split(/\s+/).filter(Boolean) : [];
}

/** Calls `each` with every JSON log line the server writes to `stream` (other lines are skipped). */
export function onLogLines(stream: NodeJS.ReadableStream, each: (line: Record<string, unknown>) => void): void {
  let buf = '';
  stream.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let obj: Record<string, unknown>;
      try { obj = JSON.parse(line); } catch { continue; }
      each(obj);
    }
  });
}

export interface Server {
  proc: ChildProcess;
  port: number;
  /** TLS port when -tls-address was given. */
  tlsPort?: number;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  stderr: () => string;
  /** Resolves with the first log line matching, waiting up to `ms`. */
  waitLog(match: (line: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
  /** SIGTERM, then the exit code (SIGKILL after 5 s). */
  stop(): Promise<number | null>;
}

/**
 * Starts the real CLI on a free loopback port and resolves once it logs that it
 * listens. `-address 127.0.0.1:0` is added unless args name an address.
 * `listens: false` is for a module list without the server module: nothing
 * listens, no address is added, and the sign of life is the started line.
 */
export async function startServer(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: 'pipe' | 'ignore' | number; timeoutMs?: number; listens?: boolean } = {}): Promise<Server> {
  const listens = opts.listens ?? true;
  const full = !listens || args.some((a) => /^--?address(=|$)/.test(a)) ? args : ['-address', '127.0.0.1:0', ...args];
  const proc = spawn(process.execPath, [...shebangFlags(), bin, ...full], {
    cwd: opts.cwd ?? root,
    env: { ...process.env, ...opts.env },
    stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: { match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let err = '';
  proc.stderr!.on('data', (d) => { err += d; });
  onLogLines(proc.stdout!, (obj) => {
    logs.push(obj);
    for (const w of [...waiters]) if (w.match(obj)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(obj); }
  });
  const waitLog = (match: (l: Record<string, unknown>) => boolean, ms = 10_000) => {
    const found = logs.find(match);
    if (found) return Promise.resolve(found);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const w = { match, resolve: (l: Record<string, unknown>) => { clearTimeout(t); resolve(l); } };
      const t = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`no matching log line within ${ms} ms; stderr: ${err}; last logs: ${JSON.stringify(logs.slice(-5))}`));
      }, ms);
      waiters.push(w);
    });
  };
  const exited = once(proc, 'exit');
  const listening = waitLog((l) => (listens ? l.msg === 'listening' && !l.tls : l.msg === 'streamserve started'), opts.timeoutMs ?? 15_000);
  const failed = exited.then(([code]) => { throw new Error(`streamserve exited with ${code} before listening: ${err}`); });
  const line = await Promise.race([listening, failed]).catch((err) => {
    proc.kill('SIGKILL');
    throw err;
  });
  let tlsPort: number | undefined;
  if (args.some((a) => /tls-address/.test(a))) tlsPort = Number((await waitLog((l) => l.msg === 'listening' && l.tls === true)).port);
  return {
    proc, port: Number(line.port), tlsPort, logs, waitLog,
    stderr: () => err,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode) return proc.exitCode;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      const [code] = await exited;
      clearTimeout(t);
      return code as number | null;
    },
  };
}

/** Runs the CLI to completion (for bad-input tests): exit code, stdout, stderr. */
export async function runCli(args: string[], opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [bin, ...args], { cwd: opts.cwd ?? root, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => { stdout += d; });
  proc.stderr.on('data', (d) => { stderr += d; });
  const t = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 15_000);
  const [code] = await once(proc, 'exit');
  clearTimeout(t);
  return { code: code as number | null, stdout, stderr };
}

export interface HttpResponse { status: number; headers: Record<string, string>; head: string; body: Buffer }

/**
 * A raw HTTP GET that collects the body for `ms` or until `bytes` arrived or the
 * server closed. Raw so the test sees exactly what a player sees.
 */
export function httpGet(port: number, path: string, opts: { ms?: number; bytes?: number; headers?: Record<string, string>; method?: string } = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const extra = Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    sock.write(`${opts.method ?? 'GET'} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`);
    const chunks: Buffer[] = [];
    let total = 0;
    const finish = () => {
      clearTimeout(timer);
      sock.destroy();
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no response head from ${path}: ${JSON.stringify(all.subarray(0, 200).toString())}`));
      const head = all.subarray(0, end).toString('latin1');
      const [statusLine, ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const c = l.indexOf(':');
        headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
      }
      let body = all.subarray(end + 4);
      if (opts.bytes !== undefined && body.length > opts.bytes) body = body.subarray(0, opts.bytes);
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, head, body });
    };
    const timer = setTimeout(finish, opts.ms ?? 2000);
    sock.on('data', (d) => {
      chunks.push(d);
      total += d.length;
      if (opts.bytes !== undefined && total > opts.bytes + 4096) finish();
    });
    sock.on('end', finish);
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}
