/**
 * `npm run bench`: runs the load scenarios against the built server and prints
 * one JSON line per scenario on stdout (progress on stderr). With `go` on the
 * PATH it runs the reference load generator (`../shared/bench`, Go: the
 * instrument the targets are stated against; see reference.ts), with Go
 * streamserve, Icecast and the physical-limit program side by side in the same
 * run; without Go, or with --ts-loadgen, the TypeScript load generator here
 * (loadgen.ts, the scenarios of issue 3).
 *
 *   npm run bench                          every scenario, full length
 *   npm run bench -- --quick               shorter windows, for a smoke run
 *   npm run bench -- --only radio-1000,stall
 *   npm run bench -- --no-icecast          skip the Icecast runs
 *   npm run bench -- --cpu-prof DIR        our server writes a V8 CPU profile per scenario into DIR
 *   npm run bench -- --server-node-flags '--max-semi-space-size=4'   node flags for our server
 *   npm run bench -- --quiet-wait 0         do not wait for an idle machine before each scenario (default: up to 300 s)
 *   npm run bench -- --bin PATH            benchmark another build of the CLI (e.g. a patched copy of the package)
 *   npm run bench -- --go-streamserve PATH  run the original Go streamserve (built binary at PATH) beside us on every
 *                                          scenario; without the option, $GO_STREAMSERVE names it; without either
 *                                          (or when the file is not executable) no peer runs and the firehose line says why
 *   npm run bench -- --repeat 3            (reference) each scenario 3 times, servers interleaved; medians and each run
 *   npm run bench -- --markdown FILE       (reference) also write the table (one row per scenario and server, with the
 *                                          command reproducing it) to FILE
 *   npm run bench -- --reference DIR       the reference bench directory (default: $REFERENCE_BENCH, else shared/bench
 *                                          beside the repository or a parent)
 *   npm run bench -- --ts-loadgen          the TypeScript load generator even when Go is installed
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { icecastAvailable } from './icecast.ts';
import { resolveGoPeer } from './peer.ts';
import { killAll, root, useServerBin } from './procs.ts';
import { buildReference, findReference, goAvailable, markdownTable, REFERENCE_SCENARIOS, runReferenceScenario, type ReferenceScenario } from './reference.ts';
import { scenarios, type BenchContext } from './scenarios.ts';

const USAGE = 'usage: npm run bench -- [--only NAME[,NAME]] [--quick] [--no-icecast] [--cpu-prof DIR] [--server-node-flags FLAGS] [--bin PATH] [--go-streamserve PATH] [--quiet-wait SECONDS] [--keep-tmp]\n' +
  '       [--repeat N] [--markdown FILE] [--reference DIR] [--ts-loadgen]\n' +
  'Go streamserve peer: --go-streamserve PATH, else the environment variable GO_STREAMSERVE\n' +
  `scenarios (reference load generator, when go is on the PATH): ${REFERENCE_SCENARIOS.join(', ')}\n` +
  `scenarios (TypeScript load generator): ${scenarios.map((s) => s.name).join(', ')}\n`;

function parseArgs(argv: string[]) {
  const opts = { only: [] as string[], quick: false, icecast: true, cpuProf: '', nodeFlags: '', bin: '', goStreamserve: '', quietWaitS: 300, keepTmp: false,
    repeat: 1, markdown: '', reference: '', tsLoadgen: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i] ?? '';
    switch (flag) {
      case '--only': opts.only.push(...value().split(',').map((s) => s.trim()).filter(Boolean)); break;
      case '--quick': opts.quick = true; break;
      case '--no-icecast': opts.icecast = false; break;
      case '--cpu-prof': opts.cpuProf = resolve(value()); break;
      case '--keep-tmp': opts.keepTmp = true; break;
      case '--bin': opts.bin = resolve(value()); break;
      case '--go-streamserve': opts.goStreamserve = value(); break;
      case '--server-node-flags': opts.nodeFlags = value(); break;
      case '--quiet-wait': opts.quietWaitS = Number(value()); break;
      case '--repeat': opts.repeat = Math.max(1, Math.floor(Number(value())) || 1); break;
      case '--markdown': opts.markdown = resolve(value()); break;
      case '--reference': opts.reference = value(); break;
      case '--ts-loadgen': opts.tsLoadgen = true; break;
      case '-h': case '--help': process.stderr.write(USAGE); process.exit(0); break;
      default: process.stderr.write(`bench: unknown argument ${a}\n${USAGE}`); process.exit(2);
    }
  }
  const names = [...new Set([...scenarios.map((s) => s.name), ...REFERENCE_SCENARIOS])];
  const unknown = opts.only.filter((n) => !names.includes(n));
  if (unknown.length) {
    process.stderr.write(`bench: unknown scenario ${unknown.join(', ')}; available: ${names.join(', ')}\n`);
    process.exit(2);
  }
  return opts;
}

/** Busy time of the whole machine over `ms`, in % of one core (other work on a shared box shows here). */
async function machineBusyPct(ms: number, clkTck: number): Promise<number> {
  const read = () => {
    const f = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    return f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  return Math.round(((read() - a) / clkTck / (ms / 1000)) * 100);
}

/**
 * The machine may be shared (other people's tests in other sandboxes do not
 * show in ps but do take the cores): wait until it is nearly idle, up to
 * `maxS` seconds, and say what was found.
 */
async function waitQuiet(maxS: number, clkTck: number): Promise<{ busyPct: number; waitedS: number }> {
  const started = Date.now();
  let busy = await machineBusyPct(1000, clkTck);
  while (busy > 20 && Date.now() - started < maxS * 1000) {
    process.stderr.write(`  machine busy (${busy}% of one core used by other processes); waiting for it to settle\n`);
    busy = await machineBusyPct(5000, clkTck);
  }
  return { busyPct: busy, waitedS: Math.round((Date.now() - started) / 1000) };
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(join(root, 'dist', 'core', 'kernel', 'cli.js'))) {
    process.stderr.write('bench: dist/ is missing; run `npm run build` (npm run bench does)\n');
    return 2;
  }
  if (opts.bin) useServerBin(opts.bin);
  const tmp = mkdtempSync(join(tmpdir(), 'streamserve-bench-'));
  let clkTck = 100;
  try {
    clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    // Linux's usual value
  }
  const serverNodeFlags: string[] = opts.nodeFlags.split(/\s+/).filter(Boolean);
  if (opts.cpuProf) {
    mkdirSync(opts.cpuProf, { recursive: true });
    serverNodeFlags.push('--cpu-prof', `--cpu-prof-dir=${opts.cpuProf}`);
  }
  const ctx: BenchContext = {
    tmp,
    quick: opts.quick,
    clkTck,
    icecast: opts.icecast && icecastAvailable(),
    goStreamserve: resolveGoPeer(opts.goStreamserve || undefined, process.env.GO_STREAMSERVE || undefined),
    serverNodeFlags,
    progress: (msg) => process.stderr.write(`  ${msg}\n`),
  };
  const cleanup = () => {
    killAll();
    if (!opts.keepTmp) rmSync(tmp, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanup();
      process.exit(130);
    });
  }
  const reference = opts.tsLoadgen ? { why: '--ts-loadgen' } : !goAvailable() ? { why: 'go is not on the PATH' } : findReference(root, opts.reference || undefined, process.env.REFERENCE_BENCH || undefined);
  if (reference.dir) {
    try {
      return await runReference(opts, reference.dir, tmp, clkTck, serverNodeFlags, ctx.goStreamserve.bin, ctx.icecast);
    } finally {
      cleanup();
    }
  }
  process.stderr.write(`bench: reference load generator not used (${reference.why}); the TypeScript load generator measures\n`);
  process.stderr.write(`bench: ${opts.quick ? 'quick' : 'full'} run, icecast ${ctx.icecast ? 'beside us' : 'not run'}, ` +
    `Go streamserve ${ctx.goStreamserve.bin ? `beside us (${ctx.goStreamserve.bin})` : `not run (${ctx.goStreamserve.why})`}, temp dir ${tmp}\n`);
  let failures = 0;
  try {
    for (const scenario of scenarios) {
      if (opts.only.length && !opts.only.includes(scenario.name)) continue;
      process.stderr.write(`bench: ${scenario.name}\n`);
      const quiet = opts.quietWaitS > 0 ? await waitQuiet(opts.quietWaitS, clkTck) : undefined;
      if (quiet && quiet.busyPct > 20) process.stderr.write(`  machine still busy (${quiet.busyPct}%); running anyway, figures will be disturbed\n`);
      const started = Date.now();
      try {
        const figures = await scenario.run(ctx);
        process.stdout.write(`${JSON.stringify({ scenario: scenario.name, quick: opts.quick || undefined, ...figures, machineBusyBeforePct: quiet?.busyPct })}\n`);
      } catch (err) {
        failures++;
        process.stderr.write(`bench: ${scenario.name} failed: ${(err as Error).stack ?? err}\n`);
        process.stdout.write(`${JSON.stringify({ scenario: scenario.name, error: (err as Error).message })}\n`);
      }
      process.stderr.write(`bench: ${scenario.name} took ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
    }
  } finally {
    cleanup();
  }
  return failures ? 1 : 0;
}

/** The reference scenarios (all of them, or --only), one JSON line each. */
async function runReference(opts: ReturnType<typeof parseArgs>, dir: string, tmp: string, clkTck: number, serverNodeFlags: string[], goStreamserve: string | undefined, icecast: boolean): Promise<number> {
  const work = join(tmp, 'reference');
  const progress = (msg: string) => process.stderr.write(`  ${msg}\n`);
  buildReference(dir, work, progress);
  const chosen = REFERENCE_SCENARIOS.filter((s) => !opts.only.length || opts.only.includes(s));
  if (!chosen.length) {
    process.stderr.write(`bench: none of ${opts.only.join(', ')} is a reference scenario (${REFERENCE_SCENARIOS.join(', ')}); --ts-loadgen runs the others\n`);
    return 2;
  }
  process.stderr.write(`bench: reference load generator (${dir}), ${opts.repeat} run(s) per server, Go streamserve ${goStreamserve ? `beside us (${goStreamserve})` : 'not run (GO_STREAMSERVE not set)'}, icecast ${icecast ? 'beside us' : 'not run'}\n`);
  const lines: { scenario: string; [k: string]: unknown }[] = [];
  let failures = 0;
  for (const scenario of chosen as ReferenceScenario[]) {
    process.stderr.write(`bench: ${scenario}\n`);
    const quiet = opts.quietWaitS > 0 ? await waitQuiet(opts.quietWaitS, clkTck) : undefined;
    const figures = await runReferenceScenario({ dir, work, goStreamserve, icecast, serverNodeFlags, repeat: opts.repeat, quick: opts.quick, progress }, scenario);
    if (figures.errors) failures++;
    const line = { scenario, quick: opts.quick || undefined, ...figures, machineBusyBeforePct: quiet?.busyPct };
    lines.push(line);
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
  if (opts.markdown) writeFileSync(opts.markdown, markdownTable(lines));
  return failures ? 1 : 0;
}

process.exitCode = await main();
