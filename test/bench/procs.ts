/**
 * Processes the bench starts: the server under test, the load generator. Each
 * is spawned through `sh -c 'ulimit -n 20000 && exec ...'` (so its PID is the
 * program's own) and stopped by that PID, never by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onLogLines, shebangFlags } from '../helpers/server.ts';

export const root = fileURLToPath(new URL('../..', import.meta.url));
/** The CLI under test; `npm run bench -- --bin PATH` points it at another build (a patched copy). */
export let serverBin = fileURLToPath(new URL('../../bin/streamserve.js', import.meta.url));
export function useServerBin(path: string): void {
  serverBin = path;
}
export const loadgenFile = fileURLToPath(new URL('./loadgen.ts', import.meta.url));
export const latencySourceFile = fileURLToPath(new URL('./latency-source.ts', import.meta.url));

/** Every process started and not yet reaped, so an interrupted bench leaves nothing behind. */
const live = new Set<ChildProcess>();

export function track(proc: ChildProcess): ChildProcess {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  return proc;
}

export function killAll(): void {
  for (const p of live) {
    try {
      if (p.pid) process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Spawns `argv` with the open-file soft limit raised to the hard limit the bench needs. */
export function spawnWithFiles(argv: string[], opts: { cwd?: string; stdio?: ('ignore' | 'pipe' | 'inherit')[] } = {}): ChildProcess {
  const [cmd, ...args] = argv;
  return track(spawn('sh', ['-c', 'ulimit -n 20000 && exec "$0" "$@"', cmd!, ...args], { cwd: opts.cwd ?? root, stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'] }));
}

export async function waitExit(proc: ChildProcess, ms: number): Promise<boolean> {
  if (proc.exitCode !== null || proc.signalCode !== null) return true;
  const timer = new Promise<false>((r) => setTimeout(() => r(false), ms).unref());
  return Promise.race([once(proc, 'exit').then(() => true), timer]);
}

/** SIGTERM by PID, SIGKILL after 5 s. */
export async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null || !proc.pid) return;
  try {
    process.kill(proc.pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitExit(proc, 5000)) return;
  try {
    process.kill(proc.pid, 'SIGKILL');
  } catch {
    return;
  }
  await waitExit(proc, 2000);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0 }, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface Streamserve {
  proc: ChildProcess;
  pid: number;
  port: number;
  /** JSON log lines so far. */
  logs: Record<string, unknown>[];
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * Starts the real CLI (compiled, from dist/) on a free loopback port; resolves
 * once it logs `listening`. `nodeFlags` go to node itself (`--cpu-prof`).
 */
export async function startStreamserve(args: string[], nodeFlags: string[] = []): Promise<Streamserve> {
  // Run in the CLI's own package, so that its main.mods and config/ are the ones used.
  const proc = spawnWithFiles([process.execPath, ...shebangFlags(serverBin), ...nodeFlags, serverBin, '-address', '127.0.0.1:0', ...args], { cwd: dirname(dirname(serverBin)) });
  const logs: Record<string, unknown>[] = [];
  let err = '';
  proc.stderr!.on('data', (d) => {
    err += d;
    // BENCH_VERBOSE=1 shows the server's stderr as it comes (an instrumented build's figures).
    if (process.env.BENCH_VERBOSE) process.stderr.write(d);
  });
  let onListening: ((port: number) => void) | undefined;
  onLogLines(proc.stdout!, (obj) => {
    logs.push(obj);
    if (obj.msg === 'listening' && !obj.tls) onListening?.(Number(obj.port));
  });
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`streamserve did not listen within 15 s: ${err}`)), 15_000);
    onListening = (p) => { clearTimeout(t); resolve(p); };
    proc.once('exit', (code) => { clearTimeout(t); reject(new Error(`streamserve exited with ${code} before listening: ${err.trim()}`)); });
  });
  return { proc, pid: proc.pid!, port, logs, stderr: () => err, stop: () => stopProcess(proc) };
}
