/**
 * The reference load generator (Go, in the shared bench directory next to the
 * repository: `../shared/bench`) as `npm run bench`'s instrument when `go` is on
 * the PATH. The project's performance targets are stated against it: it costs
 * the client side as little CPU as a client can (epoll reader threads, one
 * buffer per thread, `recv(MSG_TRUNC)` for firehose10), so on a 2-core machine
 * the server, not the load generator, is what is measured.
 *
 * Its binaries are built into a temp dir. Every scenario is run by its own
 * driver (`run.sh`: starts one server in its own process group, runs the load,
 * prints one JSON line, stops exactly that group), for us and, in the same run,
 * for Go streamserve (GO_STREAMSERVE), Icecast (when installed) and, on the
 * firehose scenarios, the physical-limit program. The line per scenario has
 * each server's figures (medians over `--repeat` runs), the ratios and the
 * command that reproduces each row.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { shebangFlags } from '../helpers/server.ts';
import { icecastAvailable } from './icecast.ts';
import { serverBin, track } from './procs.ts';

export const REFERENCE_SCENARIOS = ['firehose', 'firehose10', 'radio-1000', 'radio-5000', 'radio-10000', 'stall', 'stall-1m', 'latency'] as const;
export type ReferenceScenario = (typeof REFERENCE_SCENARIOS)[number];

/** The source each scenario needs, as run.sh's presets name them. */
function kindOf(s: ReferenceScenario): 'zero' | 'radio' | 'ts' {
  if (s.startsWith('firehose')) return 'zero';
  if (s.startsWith('radio') || s === 'stall') return 'radio';
  return 'ts';
}

export type Reference = { dir: string; why?: undefined } | { dir?: undefined; why: string };

/** On the PATH, and works: `go version`. */
export function goAvailable(): boolean {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * `--reference DIR`, else $REFERENCE_BENCH, else the first `shared/bench` found
 * beside the repository or one of its parents (a git worktree lives deeper).
 */
export function findReference(root: string, option?: string, env?: string): Reference {
  const given = option || env;
  const ok = (dir: string) => existsSync(join(dir, 'run.sh')) && existsSync(join(dir, 'loadgen', 'go.mod'));
  if (given) {
    const dir = resolve(given);
    return ok(dir) ? { dir } : { why: `${dir} (${option ? '--reference' : 'REFERENCE_BENCH'}) has no run.sh and loadgen/go.mod` };
  }
  for (let d = resolve(root); ; d = dirname(d)) {
    const dir = join(dirname(d), 'shared', 'bench');
    if (ok(dir)) return { dir };
    if (dirname(d) === d) break;
  }
  return { why: `no shared/bench beside ${root} or its parents: pass --reference DIR or set REFERENCE_BENCH` };
}

export interface ReferenceContext {
  dir: string;
  /** Where the binaries, the tone and run.sh's logs go. */
  work: string;
  goStreamserve: string | undefined;
  icecast: boolean;
  serverNodeFlags: string[];
  repeat: number;
  quick: boolean;
  progress(msg: string): void;
}

/** Builds loadgen, tsframe, srcpush and limit offline (they need only Go's standard library) and makes the tone. */
export function buildReference(dir: string, work: string, progress: (msg: string) => void): void {
  mkdirSync(work, { recursive: true });
  // Started as root, Icecast drops to nobody (make-config.sh) and must still reach its config and logs in here.
  for (const d of [dirname(work), work]) chmodSync(d, 0o755);
  const env = { ...process.env, GOFLAGS: '-mod=mod', GOPROXY: 'off', GOTOOLCHAIN: 'local' };
  const go = (cwd: string, out: string, pkg = '.') => execFileSync('go', ['build', '-o', join(work, out), pkg], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  progress(`building the reference load generator from ${dir} into ${work}`);
  go(join(dir, 'loadgen'), 'loadgen');
  go(join(dir, 'loadgen'), 'tsframe', './cmd/tsframe');
  go(join(dir, 'loadgen'), 'srcpush', './cmd/srcpush');
  go(join(dir, 'limit'), 'limit');
  const tone = join(work, 'tone.mp3');
  if (existsSync(tone)) return;
  const has = (cmd: string) => {
    try {
      execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (has('sox') && has('lame')) {
    // As the reference README makes it: 60 s of two sines, CBR 128 kbit/s, no tag.
    execFileSync('sox', ['-n', '-r', '44100', '-c', '2', '-b', '16', join(work, 'tone.wav'), 'synth', '60', 'sine', '440', 'sine', '660', 'vol', '0.5']);
    execFileSync('lame', ['--quiet', '-t', '-b', '128', '--cbr', join(work, 'tone.wav'), tone]);
  } else {
    execFileSync('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=60:sample_rate=44100',
      '-ac', '2', '-c:a', 'libmp3lame', '-b:a', '128k', '-write_xing', '0', '-id3v2_version', '0', tone]);
  }
}

/** Our server's command for run.sh, for a source kind ({port} is filled in by run.sh). */
function oursCommand(ctx: ReferenceContext, kind: 'zero' | 'radio' | 'ts'): string {
  const node = [process.execPath, ...shebangFlags(serverBin), ...ctx.serverNodeFlags, serverBin, '-address', '127.0.0.1:{port}'].join(' ');
  switch (kind) {
    case 'zero':
      return `${node} -path /dev/zero -frame-bytes 65536 -source-buffer 256`;
    case 'radio':
      return `${node} -content-type audio/mpeg -frame-filter mp3 -frame-bytes 1024 -source-buffer 1024 -close-idle=false -exec ffmpeg -hide_banner -nostdin -loglevel error -re -stream_loop -1 -i ${join(ctx.work, 'tone.mp3')} -c copy -write_xing 0 -id3v2_version 0 -f mp3 -`;
    case 'ts':
      // run.sh exports TS_RATE for stall-1m; the inner shell expands it.
      return `${node} -frame-bytes 1000 -source-buffer 1024 -close-idle=false -exec ${join(ctx.work, 'tsframe')} -size 1000 -rate \${TS_RATE:-64000}`;
  }
}

type Who = 'ours' | 'goStreamserve' | 'icecast' | 'limit';
type Report = Record<string, any>;

/** The run.sh arguments for one server, and the same as a command line someone can paste. */
function invocation(ctx: ReferenceContext, scen: ReferenceScenario, who: Who): { args: string[]; env: Record<string, string>; command: string } {
  const base = ['--scenario', scen];
  const extra = ctx.quick ? ['--', '-duration', '4', '-warmup', '1'] : [];
  let args: string[];
  const env: Record<string, string> = { BENCH_BIN: ctx.work, BENCH_WORK: ctx.work, TONE: join(ctx.work, 'tone.mp3') };
  if (who === 'ours') args = [...base, '--name', 'ours', '--server', oursCommand(ctx, kindOf(scen))];
  else {
    args = who === 'goStreamserve' ? [...base, '--preset', 'streamserve', '--name', 'go-streamserve'] : [...base, '--preset', who, '--name', who];
    // servers.sh wants it set for every preset; only the streamserve preset runs it.
    env.STREAMSERVE = who === 'goStreamserve' ? ctx.goStreamserve! : 'unused';
  }
  args.push(...extra);
  const quote = (a: string) => (/^[\w@%+=:,./{}-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  const command = `cd ${ctx.dir} && ${Object.entries(env).map(([k, v]) => `${k}=${quote(v)}`).join(' ')} ./run.sh ${args.map(quote).join(' ')}`;
  return { args, env, command };
}

/** One run.sh run; its JSON line (the last line on stdout). */
function runOne(ctx: ReferenceContext, inv: { args: string[]; env: Record<string, string> }): Promise<Report> {
  return new Promise((resolveRun, reject) => {
    const proc = track(spawn('bash', [join(ctx.dir, 'run.sh'), ...inv.args], { cwd: ctx.dir, env: { ...process.env, ...inv.env }, stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (err += d));
    // run.sh stops its own server on TERM (its EXIT trap); a run never takes this long.
    const timer = setTimeout(() => proc.kill('SIGTERM'), 300_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolveRun(JSON.parse(line));
      } catch (e) {
        reject(new Error(`run.sh ${inv.args.slice(0, 4).join(' ')} failed (${(e as Error).message}): ${err.trim().split('\n').slice(-3).join(' | ')}`));
      }
    });
  });
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const r1 = (v: number | undefined) => (v === undefined ? undefined : Math.round(v * 10) / 10);
const median = (xs: (number | undefined)[]): number | undefined => {
  const v = xs.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  if (!v.length) return undefined;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};

/** The figures that matter for a scenario, from one run.sh report. */
export function figuresOf(scen: ReferenceScenario, r: Report): Record<string, number | undefined> {
  const w = r.watch?.server ?? {};
  const common = {
    cpuPctOfOneCore: num(w.cpu_window_self_pct_of_one_core),
    cpuTreePct: num(w.cpu_window_tree_pct_of_one_core),
    rssPeakMB: r1(num(w.rss_self_peak_kb) !== undefined ? w.rss_self_peak_kb / 1024 : undefined),
    ttfbP50Ms: r1(num(r.ttfb_ms?.p50)),
    ttfbP99Ms: r1(num(r.ttfb_ms?.p99)),
  };
  if (scen.startsWith('firehose')) {
    const gb = (num(r.window_bytes) ?? 0) / 1e9;
    return {
      connected: num(r.clients_connected),
      aggregateMBps: r1(num(r.aggregate_MBps)),
      cpuSecPerGB: gb && num(w.cpu_window_self_s) !== undefined ? Math.round((w.cpu_window_self_s / gb) * 1000) / 1000 : undefined,
      avgBytesPerRead: Math.round(num(r.avg_bytes_per_read) ?? 0) || undefined,
      loadgenCpuPct: num(r.loadgen_cpu_window?.pct_of_one_core),
      ...common,
    };
  }
  if (scen.startsWith('radio')) {
    return { connected: num(r.clients_connected), pctClientsAtRate: num(r.pct_clients_ge_95pct), perClientBpsP1: Math.round(num(r.window_Bps_per_client?.p1) ?? 0), ...common };
  }
  if (scen === 'latency') {
    return {
      connected: num(r.clients_connected),
      pctClientsAtRate: num(r.pct_clients_ge_95pct),
      latencyP50Ms: num(r.ts?.latency_ms_p50),
      latencyP99Ms: num(r.ts?.latency_ms_p99),
      latencyP999Ms: num(r.ts?.latency_ms_p999),
      tornFrames: num(r.ts?.torn_frames),
      seqBackwards: num(r.ts?.seq_backwards),
      framesSkipped: num(r.ts?.frames_skipped),
      ...common,
    };
  }
  const start = num(w.rss_self_window_start_kb);
  const end = num(w.rss_self_window_end_kb);
  return {
    othersPctAtRate: num(r.stall?.others?.pct_clients_ge_95pct),
    othersBpsP1: Math.round(num(r.stall?.others?.window_Bps_per_client?.p1) ?? 0),
    stalledClosedByServer: num(r.stall?.stalled?.closed_seen_when_drained ?? r.stall?.stalled?.server_closed) ?? 0,
    stalledStillOpen: num(r.stall?.stalled?.still_open_when_drained) ?? 0,
    latencyP99Ms: num(r.ts?.latency_ms_p99),
    tornFrames: num(r.ts?.torn_frames),
    rssGrowthInWindowMB: start !== undefined && end !== undefined ? r1((end - start) / 1024) : undefined,
    ...common,
  };
}

/** The servers run beside us for a scenario, and why others are not. */
function peers(ctx: ReferenceContext, scen: ReferenceScenario): { who: Who[]; notRun: Record<string, string> } {
  const who: Who[] = ['ours'];
  const notRun: Record<string, string> = {};
  if (ctx.goStreamserve) who.push('goStreamserve');
  else notRun.goStreamserve = 'GO_STREAMSERVE (or --go-streamserve) does not name a built binary';
  if (ctx.icecast && icecastAvailable()) who.push('icecast');
  else notRun.icecast = ctx.icecast ? 'icecast2 is not installed' : '--no-icecast';
  if (kindOf(scen) === 'zero') who.push('limit');
  return { who, notRun };
}

/**
 * Runs one scenario for every server, `repeat` times, interleaved (ours, the
 * peers, ours again...) so that a disturbance on a shared machine hits all of
 * them alike; the line has the medians, each run's figures and the ratios of
 * runs made side by side.
 */
export async function runReferenceScenario(ctx: ReferenceContext, scen: ReferenceScenario): Promise<Record<string, unknown>> {
  const { who, notRun } = peers(ctx, scen);
  const runs: Record<string, Record<string, number | undefined>[]> = {};
  const errors: string[] = [];
  const commands: Record<string, string> = {};
  for (let i = 0; i < ctx.repeat; i++) {
    for (const w of who) {
      const inv = invocation(ctx, scen, w);
      commands[w] = inv.command;
      ctx.progress(`${scen} ${w} (run ${i + 1} of ${ctx.repeat})`);
      try {
        (runs[w] ??= []).push(figuresOf(scen, await runOne(ctx, inv)));
      } catch (err) {
        errors.push(`${w}: ${(err as Error).message}`);
        (runs[w] ??= []).push({});
      }
    }
  }
  const medians: Record<string, Record<string, number | undefined>> = {};
  for (const [w, list] of Object.entries(runs)) {
    const keys = new Set(list.flatMap((f) => Object.keys(f)));
    medians[w] = Object.fromEntries([...keys].map((k) => [k, median(list.map((f) => f[k]))]));
  }
  // Throughput ratios of runs made side by side, then their median.
  const ratio = (peer: Who) => {
    if (!scen.startsWith('firehose') || !runs[peer]) return undefined;
    const each = runs.ours!.map((f, i) => {
      const a = f.aggregateMBps;
      const b = runs[peer]![i]?.aggregateMBps;
      return a !== undefined && b ? Math.round((a / b) * 100) / 100 : undefined;
    });
    return { median: median(each), runs: each };
  };
  return {
    instrument: 'reference load generator (Go)',
    repeat: ctx.repeat,
    ours: medians.ours,
    goStreamserve: medians.goStreamserve,
    icecast: medians.icecast,
    limit: medians.limit,
    oursVsGoStreamserve: ratio('goStreamserve'),
    oursVsIcecast: ratio('icecast'),
    oursShareOfLimit: ratio('limit'),
    perRun: runs,
    notRun: Object.keys(notRun).length ? notRun : undefined,
    commands,
    errors: errors.length ? errors : undefined,
  };
}

/** One markdown row per scenario and server, with the command that reproduces it (for the README's table). */
export function markdownTable(lines: { scenario: string; [k: string]: unknown }[]): string {
  const out = ['| scenario | server | figures (medians) | command |', '| --- | --- | --- | --- |'];
  for (const line of lines) {
    for (const w of ['ours', 'goStreamserve', 'icecast', 'limit'] as const) {
      const f = line[w] as Record<string, number | undefined> | undefined;
      if (!f) continue;
      const figures = Object.entries(f).filter(([, v]) => v !== undefined).map(([k, v]) => `${k} ${v}`).join(', ');
      const cmd = (line.commands as Record<string, string>)[w] ?? '';
      out.push(`| ${line.scenario} | ${w} | ${figures} | \`${cmd.replace(/\|/g, '\\|')}\` |`);
    }
  }
  return out.join('\n') + '\n';
}
