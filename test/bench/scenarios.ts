/**
 * The scenarios of issue 3 ("The engine's performance"): firehose, radio-N,
 * stall and latency. Each starts the server under test (and Icecast beside it
 * where the issue asks, and the original Go streamserve when the bench is given
 * one), runs the load generator against it and returns the figures for one
 * JSON line.
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { ffmpegSource, ICECAST_LIMITS, icecastAvailable, putSource, startIcecast, waitMount } from './icecast.ts';
import type { LoadConfig } from './loadgen.ts';
import { openGoSource, startGoStreamserve, type GoPeer, type GoStreamserve } from './peer.ts';
import { latencySourceFile, loadgenFile, spawnWithFiles, startStreamserve, stopProcess, type Streamserve } from './procs.ts';

export interface BenchContext {
  tmp: string;
  quick: boolean;
  clkTck: number;
  /** Run Icecast beside us where the issue asks. */
  icecast: boolean;
  /** The original Go streamserve to run beside us (`--go-streamserve PATH`), or why there is none. */
  goStreamserve: GoPeer;
  /** Extra node flags for our server (`--cpu-prof --cpu-prof-dir=...`). */
  serverNodeFlags: string[];
  progress(msg: string): void;
}

export interface Scenario {
  name: string;
  run(ctx: BenchContext): Promise<Record<string, unknown>>;
}

type Figures = Record<string, any>;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const LOAD_DEFAULTS: Omit<LoadConfig, 'mode' | 'port' | 'serverPid' | 'clkTck' | 'clients'> = {
  host: '127.0.0.1',
  path: '/',
  // 2500 connections/s, opened 25 every 10 ms (not 250 at once) so that neither side sees a clump.
  rampBatch: 25,
  rampIntervalMs: 10,
  connectTimeoutMs: 10_000,
  settleMs: 2000,
  windowMs: 20_000,
  rateBytesPerSec: 0,
  readBufferBytes: 64 * 1024,
  stalled: 0,
  stallFromMs: 0,
  stallToMs: 0,
  totalMs: 0,
  frameBytes: 1000,
};

/** Runs the load generator in its own process and returns its JSON result. */
async function loadgen(ctx: BenchContext, cfg: Partial<LoadConfig> & Pick<LoadConfig, 'mode' | 'port' | 'serverPid' | 'clients'>): Promise<Figures> {
  const full: LoadConfig = { ...LOAD_DEFAULTS, clkTck: ctx.clkTck, ...cfg };
  const proc = spawnWithFiles([process.execPath, '--import', 'tsx', loadgenFile, JSON.stringify(full)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  const line = out.trim().split('\n').pop() ?? '';
  if (code !== 0 || !line.startsWith('{')) throw new Error(`load generator failed (exit ${code})`);
  return JSON.parse(line) as Figures;
}

const ratio = (ours: unknown, theirs: unknown) =>
  typeof ours === 'number' && typeof theirs === 'number' && theirs !== 0 ? Number((ours / theirs).toPrecision(3)) : null;

async function withServer<T>(ctx: BenchContext, args: string[], body: (s: Streamserve) => Promise<T>): Promise<T> {
  const server = await startStreamserve(args, ctx.serverNodeFlags);
  ctx.progress(`streamserve ${args.join(' ')} (pid ${server.pid}, port ${server.port})`);
  try {
    return await body(server);
  } finally {
    await server.stop();
    await sleep(500);
  }
}

/**
 * Runs `body` against the Go streamserve binary started with `args` (its own
 * flags: see each scenario for what was translated). Its source is opened by
 * one request first, since Go streamserve opens a source only when a client
 * asks for it and ours opens it at start.
 */
async function withGoStreamserve<T>(ctx: BenchContext, args: string[], body: (g: GoStreamserve) => Promise<T>): Promise<T> {
  const g = await startGoStreamserve(ctx.goStreamserve.bin!, args);
  ctx.progress(`Go streamserve ${args.join(' ')} (pid ${g.pid}, port ${g.port})`);
  try {
    await openGoSource(g.port);
    return await body(g);
  } catch (err) {
    const tail = g.stderr().trim().split('\n').slice(-5).join(' | ');
    throw new Error(`${(err as Error).message}${tail ? ` (Go streamserve stderr: ${tail})` : ''}`);
  } finally {
    await g.stop();
    await sleep(500);
  }
}

/** Said in every goStreamserve object: where its source is opened. */
const GO_SOURCE_NOTE = 'opened by one request before the load (Go streamserve opens a source on the first request for it; ours at start)';

// ---- firehose ---------------------------------------------------------------------

const firehose: Scenario = {
  name: 'firehose',
  async run(ctx) {
    const args = ['-path', '/dev/zero', '-frame-bytes', '65536'];
    const windowMs = ctx.quick ? 3000 : 10_000;
    const load = { mode: 'firehose' as const, clients: 128, rampBatch: 128, rampIntervalMs: 100, settleMs: 1000, windowMs, readBufferBytes: 1 << 20 };
    const r = await withServer(ctx, args, (s) => loadgen(ctx, { ...load, port: s.port, serverPid: s.pid }));
    const line: Figures = {
      server: 'streamserve',
      flags: args.join(' '),
      clients: 128,
      windowS: r.windowMs / 1000,
      aggregateMBps: r.aggregateMBps,
      serverCpuSecPerGB: r.serverCpuSecPerGB,
      serverCpuPct: r.serverCpuPct,
      perClientMBps: r.perClientMBps,
      connected: r.connected,
      serverRssPeakMB: r.serverRssPeakMB,
      loadgenCpuPct: r.loadgenCpuPct,
      loadgenLoopDelayWindow: r.loadgenLoopDelayWindow,
      machineCpuPct: r.machineCpuPct,
      softirqCpuPct: r.softirqCpuPct,
      otherCpuPct: r.otherCpuPct,
      // Filled in below; here so that they keep their place in the line.
      peer: undefined,
      goStreamserve: undefined,
      target: undefined,
      units: 'MB = 1e6 bytes, GB = 1e9 bytes',
      errors: r.errors || undefined,
    };
    let peerWhy = ctx.goStreamserve.why;
    if (ctx.goStreamserve.bin) {
      // The same flags (all of them are Go streamserve's) and the same load, after ours.
      try {
        const g = await withGoStreamserve(ctx, args, (s) => loadgen(ctx, { ...load, port: s.port, serverPid: s.pid }));
        line.goStreamserve = {
          binary: ctx.goStreamserve.bin,
          flags: args.join(' '),
          source: GO_SOURCE_NOTE,
          note: 'it reads /dev/zero as fast as it can in a busy loop from the first request on, whether or not clients read; its CPU figures include that (its real behaviour)',
          windowS: g.windowMs / 1000,
          aggregateMBps: g.aggregateMBps,
          serverCpuSecPerGB: g.serverCpuSecPerGB,
          serverCpuPct: g.serverCpuPct,
          serverRssPeakMB: g.serverRssPeakMB,
          connected: g.connected,
          perClientMBps: g.perClientMBps,
          loadgenCpuPct: g.loadgenCpuPct,
          machineCpuPct: g.machineCpuPct,
          softirqCpuPct: g.softirqCpuPct,
          otherCpuPct: g.otherCpuPct,
          errors: g.errors || undefined,
          ratio: {
            note: 'ours / Go streamserve',
            aggregateMBps: ratio(r.aggregateMBps, g.aggregateMBps),
            serverCpuSecPerGB: ratio(r.serverCpuSecPerGB, g.serverCpuSecPerGB),
          },
        };
        if (typeof g.aggregateMBps === 'number' && g.aggregateMBps > 0) {
          const goTarget = 1.2 * g.aggregateMBps;
          line.peer = `Go streamserve ${ctx.goStreamserve.bin}: same flags, same load, run after ours`;
          line.target = {
            aggregateMBps: `>= 1.2 x Go streamserve in the same run: >= ${goTarget.toFixed(0)}`,
            measuredRatio: line.goStreamserve.ratio.aggregateMBps,
            met: r.aggregateMBps >= goTarget,
          };
        } else {
          peerWhy = `Go streamserve ${ctx.goStreamserve.bin} delivered nothing (aggregateMBps ${g.aggregateMBps}, connected ${g.connected})`;
        }
      } catch (err) {
        peerWhy = `Go streamserve ${ctx.goStreamserve.bin} failed: ${(err as Error).message}`;
        line.goStreamserve = { binary: ctx.goStreamserve.bin, flags: args.join(' '), error: (err as Error).message };
      }
    }
    if (!line.target) {
      const target = 1.2 * 1728;
      line.peer = `${peerWhy}; falling back to the issue table's 1728 MB/s (measured there with a Go load generator)`;
      line.target = { aggregateMBps: `>= 1.2 x Go streamserve in the same run; with the table's 1728 MB/s: >= ${target.toFixed(0)}`, met: r.aggregateMBps >= target };
    }
    return line;
  },
};

// ---- radio-N --------------------------------------------------------------------------

/** A CBR 128 kbit/s stereo 44.1 kHz mp3, no ID3 or Xing tag: exactly 16000 bytes/s. */
export function makeMp3(tmp: string): string {
  const file = join(tmp, 'radio-128k.mp3');
  try {
    statSync(file);
    return file;
  } catch {
    // make it
  }
  const tone = 'sine=frequency=440:sample_rate=44100:duration=240';
  try {
    execFileSync('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', tone, '-ac', '2', '-c:a', 'libmp3lame', '-b:a', '128k',
      '-write_xing', '0', '-id3v2_version', '0', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch {
    const wav = join(tmp, 'tone.wav');
    execFileSync('sox', ['-n', '-r', '44100', '-c', '2', wav, 'synth', '240', 'sine', '440']);
    execFileSync('lame', ['--quiet', '-b', '128', '--cbr', '-t', wav, file]);
  }
  return file;
}

const MP3_RATE = 16_000;
/** The largest frame of that stream (128 kbit/s at 44.1 kHz, padded): 144 * 128000 / 44100 + 1. */
const MP3_MAX_FRAME = 418;
const RADIO_TARGETS = { connectedPct: 100, shareAtRate95Pct: 99, serverCpuPct: 50, serverRssPeakMB: 120, ttfbP99Ms: 100 };

function radioFigures(r: Figures) {
  return {
    connected: r.connected,
    shareAtRate95Pct: r.shareAtRate95Pct,
    serverCpuPct: r.serverCpuPct,
    serverRssPeakMB: r.serverRssPeakMB,
    ttfbP50Ms: r.ttfb.p50Ms,
    ttfbP99Ms: r.ttfb.p99Ms,
    ttfbMaxMs: r.ttfb.maxMs,
    ttfbP99ByHalfSecondOfRampMs: r.ttfb.p99ByHalfSecondOfRampMs,
    tcpConnectP50Ms: r.ttfb.tcpConnectP50Ms,
    tcpConnectP99Ms: r.ttfb.tcpConnectP99Ms,
    rateShare: r.rateShare,
    serverCpuSecRamp: r.serverCpuSecRamp,
    rampMs: r.rampMs,
    closedByServer: r.closedByServer,
    errors: r.errors,
    errorCodes: Object.keys(r.errorCodes).length ? r.errorCodes : undefined,
    badStatus: r.badStatus || undefined,
    badStatusSample: r.badStatusSample,
    loadgenCpuPct: r.loadgenCpuPct,
    loadgenCpuPctRamp: r.loadgenCpuPctRamp,
    loadgenLoopDelayRamp: r.loadgenLoopDelayRamp,
    loadgenLoopDelayWindow: r.loadgenLoopDelayWindow,
    machineCpuPct: r.machineCpuPct,
    softirqCpuPct: r.softirqCpuPct,
    otherCpuPct: r.otherCpuPct,
  };
}

function radio(n: number): Scenario {
  return {
    name: `radio-${n}`,
    async run(ctx) {
      const file = makeMp3(ctx.tmp);
      const windowMs = ctx.quick ? 5000 : 20_000;
      const args = ['-realtime', '-frame-filter', 'mp3', '-content-type', 'audio/mpeg', '-source-buffer', '400', '-path', file];
      const load = { mode: 'radio' as const, clients: n, windowMs, rateBytesPerSec: MP3_RATE, settleMs: ctx.quick ? 1000 : 2000 };
      const ours = await withServer(ctx, args, async (s) => {
        // Let the ring fill the 2 s burst first, as a station that has been on the air.
        await sleep(2500);
        return loadgen(ctx, { ...load, port: s.port, serverPid: s.pid });
      });
      const line: Figures = {
        server: 'streamserve',
        flags: args.join(' ').replace(file, 'radio-128k.mp3'),
        burst: '2s (the default; ring 400 frames = 10.4 s)',
        stream: 'CBR 128 kbit/s, 44.1 kHz stereo, 16000 bytes/s',
        listeners: n,
        windowS: windowMs / 1000,
        ramp: `${(LOAD_DEFAULTS.rampBatch * 1000) / LOAD_DEFAULTS.rampIntervalMs} connections/s, ${LOAD_DEFAULTS.rampBatch} every ${LOAD_DEFAULTS.rampIntervalMs} ms`,
        ...radioFigures(ours),
      };
      line.targets = { ...RADIO_TARGETS, note: 'the issue table states them for radio-10000' };
      line.met = {
        connected: ours.connected === n,
        shareAtRate95Pct: ours.shareAtRate95Pct >= RADIO_TARGETS.shareAtRate95Pct,
        serverCpuPct: ours.serverCpuPct <= RADIO_TARGETS.serverCpuPct,
        serverRssPeakMB: ours.serverRssPeakMB <= RADIO_TARGETS.serverRssPeakMB,
        ttfbP99Ms: ours.ttfb.p99Ms !== null && ours.ttfb.p99Ms <= RADIO_TARGETS.ttfbP99Ms,
      };
      if (ctx.icecast && icecastAvailable()) {
        const ice = await startIcecast(ctx.tmp);
        ctx.progress(`icecast2 (pid ${ice.pid}, port ${ice.port}), ffmpeg -re source`);
        const ff = ffmpegSource(file, ice.port, '/radio.mp3');
        try {
          await waitMount(ice.port, '/radio.mp3');
          await sleep(2500);
          const theirs = await loadgen(ctx, { ...load, port: ice.port, serverPid: ice.pid, path: '/radio.mp3' });
          const t = radioFigures(theirs);
          line.icecast = { version: '2.4.4', source: 'ffmpeg -re -c copy', limits: ICECAST_LIMITS, ...t };
          line.ratio = {
            note: 'ours / icecast',
            connected: ratio(ours.connected, theirs.connected),
            shareAtRate95Pct: ratio(ours.shareAtRate95Pct, theirs.shareAtRate95Pct),
            serverCpuPct: ratio(ours.serverCpuPct, theirs.serverCpuPct),
            serverRssPeakMB: ratio(ours.serverRssPeakMB, theirs.serverRssPeakMB),
            ttfbP99Ms: ratio(ours.ttfb.p99Ms, theirs.ttfb.p99Ms),
          };
        } finally {
          await stopProcess(ff);
          await ice.stop();
          await sleep(500);
        }
      }
      if (ctx.goStreamserve.bin) {
        // Go streamserve has no -realtime (and no burst): its -source-bandwidth paces the file at the stream's byte
        // rate instead, which for this CBR file is its media rate. Its -frame-bytes is the largest mp3 frame too,
        // and the pacing step: one frame of this stream.
        const goArgs = ['-source-bandwidth', String(MP3_RATE), '-frame-bytes', String(MP3_MAX_FRAME), '-frame-filter', 'mp3', '-content-type', 'audio/mpeg', '-source-buffer', '400', '-path', file];
        const flags = goArgs.join(' ').replace(file, 'radio-128k.mp3');
        try {
          const theirs = await withGoStreamserve(ctx, goArgs, async (g) => {
            // As for ours: the station has been on the air a while before listeners come.
            await sleep(2500);
            return loadgen(ctx, { ...load, port: g.port, serverPid: g.pid });
          });
          line.goStreamserve = {
            binary: ctx.goStreamserve.bin,
            flags,
            flagTranslation: {
              '-realtime': `not a Go streamserve flag: -source-bandwidth ${MP3_RATE} paces the file at 16000 bytes/s instead (CBR, so the same rate as its media time)`,
              '-frame-bytes': `added (${MP3_MAX_FRAME}): Go streamserve's default of 64 is also its largest mp3 frame, below this stream's 417/418-byte frames; ` +
                `it is also the pacing step (one frame per ${((MP3_MAX_FRAME / MP3_RATE) * 1000).toFixed(2)} ms tick); with -frame-bytes 4096 (10 frames per 256 ms tick) ` +
                'one listener got 12.5 to 16.8 kB in a second, against 15.9 to 16.4 kB with 418',
              burst: 'none in Go streamserve: a new listener starts at the newest complete frame (ours sends 2 s first)',
            },
            source: GO_SOURCE_NOTE,
            ...radioFigures(theirs),
            ratio: {
              note: 'ours / Go streamserve',
              connected: ratio(ours.connected, theirs.connected),
              shareAtRate95Pct: ratio(ours.shareAtRate95Pct, theirs.shareAtRate95Pct),
              serverCpuPct: ratio(ours.serverCpuPct, theirs.serverCpuPct),
              serverRssPeakMB: ratio(ours.serverRssPeakMB, theirs.serverRssPeakMB),
              ttfbP99Ms: ratio(ours.ttfb.p99Ms, theirs.ttfb.p99Ms),
            },
          };
        } catch (err) {
          line.goStreamserve = { binary: ctx.goStreamserve.bin, flags, error: (err as Error).message };
        }
      }
      return line;
    },
  };
}

// ---- stall ------------------------------------------------------------------------------

function stallFigures(r: Figures) {
  return {
    serverRssGrowthMB: r.serverRssGrowthMB,
    serverRssBeforeStallMB: r.serverRssBeforeStallMB,
    serverRssPeakMB: r.serverRssPeakMB,
    serverRssEndMB: r.serverRssEndMB,
    othersAtFullRatePct: Number(((r.others.atRate95Whole / r.others.count) * 100).toFixed(1)),
    othersAtFullRateDuringStallPct: Number(((r.others.atRate95DuringStall / r.others.count) * 100).toFixed(1)),
    others: r.others,
    stalledKept: r.stalledOnes.keptOpen,
    stalledSkipped: r.stalledOnes.skipped,
    stalledOnes: r.stalledOnes,
    connected: r.connected,
    closedByServer: r.closedByServer,
    serverCpuPct: r.serverCpuPct,
    loadgenCpuPct: r.loadgenCpuPct,
    loadgenLoopDelay: r.loadgenLoopDelay,
    machineCpuPct: r.machineCpuPct,
    softirqCpuPct: r.softirqCpuPct,
    otherCpuPct: r.otherCpuPct,
    timeline: { pauseMs: r.stallFromMs, resumeMs: r.stallToMs, endMs: r.totalMs },
  };
}

const stall: Scenario = {
  name: 'stall',
  async run(ctx) {
    const ring = 2000;
    const args = ['-path', '/dev/zero', '-frame-bytes', '1000', '-source-bandwidth', '1000000', '-source-buffer', String(ring), '-stat-log-interval', '1s'];
    const load = {
      mode: 'stall' as const, clients: 200, stalled: 20, rampBatch: 5, rampIntervalMs: 10, rateBytesPerSec: 1_000_000,
      stallFromMs: ctx.quick ? 1500 : 2000, stallToMs: ctx.quick ? 6000 : 17_000, totalMs: ctx.quick ? 10_000 : 30_000,
    };
    const ours: Figures = await withServer(ctx, args, async (s): Promise<Figures> => {
      await sleep(500);
      const r = await loadgen(ctx, { ...load, port: s.port, serverPid: s.pid });
      const stats = s.logs.filter((l) => l.msg === 'source stats').pop();
      return { ...r, serverStats: stats ? { framesSkipped: stats.framesSkipped, bytesOut: stats.bytesOut, listeners: stats.listeners } : undefined };
    });
    // The same run with nobody stalling: how much of the RSS growth the stall itself causes.
    const control: Figures = await withServer(ctx, args, async (s) => {
      await sleep(500);
      return loadgen(ctx, { ...load, stallToMs: load.stallFromMs, port: s.port, serverPid: s.pid });
    });
    const line: Figures = {
      server: 'streamserve',
      flags: args.join(' '),
      ring: `${ring} frames of 1000 bytes = 2 s (burst-bytes 64 KiB default)`,
      listeners: 200,
      stalledListeners: 20,
      ...stallFigures(ours),
      serverFramesSkipped: ours.serverStats?.framesSkipped,
      controlWithoutStall: {
        note: 'same run, nobody stops reading: RSS growth the stall does not cause',
        serverRssGrowthMB: control.serverRssGrowthMB,
        serverRssBeforeStallMB: control.serverRssBeforeStallMB,
        serverRssPeakMB: control.serverRssPeakMB,
      },
      targets: { othersAtFullRatePct: 100, stalledKept: 20, stalledSkipped: 20, serverRssGrowthMB: '< 5' },
      met: {
        othersAtFullRate: ours.others.atRate95Whole === ours.others.count && ours.others.atRate95DuringStall === ours.others.count,
        stalledKeptAndSkipped: ours.stalledOnes.keptOpen === 20 && ours.stalledOnes.skipped === 20,
        serverRssGrowthMB: ours.serverRssGrowthMB < 5,
      },
    };
    if (ctx.icecast && icecastAvailable()) {
      const ice = await startIcecast(ctx.tmp);
      ctx.progress(`icecast2 (pid ${ice.pid}, port ${ice.port}), Node PUT source at 1 MB/s`);
      let src: Awaited<ReturnType<typeof putSource>> | undefined;
      try {
        src = await putSource(ice.port, '/stall', 1_000_000);
        await waitMount(ice.port, '/stall');
        await sleep(500);
        const theirs = await loadgen(ctx, { ...load, port: ice.port, serverPid: ice.pid, path: '/stall' });
        line.icecast = { version: '2.4.4', source: 'Node PUT client, 1000-byte pieces on a 1 ms clock', limits: ICECAST_LIMITS, ...stallFigures(theirs) };
        line.ratio = {
          note: 'ours / icecast',
          othersAtFullRatePct: ratio(line.othersAtFullRatePct, line.icecast.othersAtFullRatePct),
          serverRssGrowthMB: ratio(ours.serverRssGrowthMB, theirs.serverRssGrowthMB),
          stalledKept: `${ours.stalledOnes.keptOpen} vs ${theirs.stalledOnes.keptOpen}`,
          serverCpuPct: ratio(ours.serverCpuPct, theirs.serverCpuPct),
        };
      } finally {
        src?.stop();
        await ice.stop();
        await sleep(500);
      }
    }
    if (ctx.goStreamserve.bin) {
      // Every flag of ours here is Go streamserve's too, with the same meaning: the same args.
      try {
        const theirs: Figures = await withGoStreamserve(ctx, args, async (g): Promise<Figures> => {
          await sleep(500);
          const r = await loadgen(ctx, { ...load, port: g.port, serverPid: g.pid });
          // Its per-client lines come as it notices the load generator's resets.
          await sleep(500);
          return { ...r, done: g.clientsDone() };
        });
        const t = stallFigures(theirs);
        line.goStreamserve = {
          binary: ctx.goStreamserve.bin,
          flags: args.join(' '),
          ring: `${ring} frames of 1000 bytes = 2 s (no burst: a new listener starts at the newest complete frame)`,
          source: GO_SOURCE_NOTE,
          ...t,
          serverFramesSkipped: theirs.done.framesSkipped,
          serverFramesSkippedFrom: `its per-client disconnect log lines (${theirs.done.clients} clients, the one opening request included); it logs no per-source skip count`,
          ratio: {
            note: 'ours / Go streamserve',
            othersAtFullRatePct: ratio(line.othersAtFullRatePct, t.othersAtFullRatePct),
            serverRssGrowthMB: ratio(ours.serverRssGrowthMB, theirs.serverRssGrowthMB),
            stalledKept: `${ours.stalledOnes.keptOpen} vs ${theirs.stalledOnes.keptOpen}`,
            serverCpuPct: ratio(ours.serverCpuPct, theirs.serverCpuPct),
          },
        };
      } catch (err) {
        line.goStreamserve = { binary: ctx.goStreamserve.bin, flags: args.join(' '), error: (err as Error).message };
      }
    }
    return line;
  },
};

// ---- latency ----------------------------------------------------------------------------

const latency: Scenario = {
  name: 'latency',
  async run(ctx) {
    const windowMs = ctx.quick ? 5000 : 20_000;
    const exec = ['-exec', process.execPath, '--import', 'tsx', latencySourceFile, '64000', '1000'];
    const args = ['-frame-bytes', '1000', '-burst-bytes', '0', ...exec];
    const load = { mode: 'latency' as const, clients: 1000, windowMs, settleMs: 1000, rateBytesPerSec: 64_000, frameBytes: 1000 };
    const r = await withServer(ctx, args, async (s) => {
      await sleep(1000);
      return loadgen(ctx, { ...load, port: s.port, serverPid: s.pid });
    });
    const line: Figures = {
      server: 'streamserve',
      flags: '-frame-bytes 1000 -burst-bytes 0 -exec node test/bench/latency-source.ts 64000 1000',
      stream: '64000 bytes/s as 1000-byte frames (64 frames/s), each carrying sequence number and send time',
      listeners: 1000,
      windowS: windowMs / 1000,
      ...latencyFigures(r),
      targets: { latencyP50Ms: 5, latencyP99Ms: 10 },
      met: { latencyP50Ms: r.latency.p50Ms <= 5, latencyP99Ms: r.latency.p99Ms <= 10, wellFormedAndOrdered: r.frames.torn === 0 && r.frames.outOfOrder === 0 },
      errors: r.errors || undefined,
    };
    if (ctx.goStreamserve.bin) {
      // -burst-bytes is not a Go streamserve flag; it has no burst: a new client starts at the newest complete
      // frame, which is what -burst-bytes 0 makes ours do. The rest is the same.
      const goArgs = ['-frame-bytes', '1000', ...exec];
      const flags = '-frame-bytes 1000 -exec node test/bench/latency-source.ts 64000 1000';
      try {
        const theirs = await withGoStreamserve(ctx, goArgs, async (g) => {
          await sleep(1000);
          return loadgen(ctx, { ...load, port: g.port, serverPid: g.pid });
        });
        const t = latencyFigures(theirs);
        line.goStreamserve = {
          binary: ctx.goStreamserve.bin,
          flags,
          flagTranslation: { '-burst-bytes 0': 'dropped: not a Go streamserve flag; it has no burst and starts a new client at the newest complete frame, as -burst-bytes 0 does ours' },
          source: GO_SOURCE_NOTE,
          ...t,
          errors: theirs.errors || undefined,
          ratio: {
            note: 'ours / Go streamserve',
            latencyP50Ms: ratio(r.latency.p50Ms, theirs.latency.p50Ms),
            latencyP99Ms: ratio(r.latency.p99Ms, theirs.latency.p99Ms),
            latencyP999Ms: ratio(r.latency.p999Ms, theirs.latency.p999Ms),
            serverCpuPct: ratio(r.serverCpuPct, theirs.serverCpuPct),
            serverRssPeakMB: ratio(r.serverRssPeakMB, theirs.serverRssPeakMB),
            ttfbP99Ms: ratio(r.ttfb.p99Ms, theirs.ttfb.p99Ms),
          },
        };
      } catch (err) {
        line.goStreamserve = { binary: ctx.goStreamserve.bin, flags, error: (err as Error).message };
      }
    }
    return line;
  },
};

function latencyFigures(r: Figures) {
  return {
    connected: r.connected,
    latencyP50Ms: r.latency.p50Ms,
    latencyP99Ms: r.latency.p99Ms,
    latencyP999Ms: r.latency.p999Ms,
    latencyMaxMs: r.latency.maxMs,
    samples: r.latency.samples,
    frames: r.frames,
    wellFormedAndOrdered: r.frames.torn === 0 && r.frames.outOfOrder === 0,
    serverCpuPct: r.serverCpuPct,
    serverRssPeakMB: r.serverRssPeakMB,
    ttfbP99Ms: r.ttfb.p99Ms,
    loadgenCpuPct: r.loadgenCpuPct,
    loadgenLoopDelayWindow: r.loadgenLoopDelayWindow,
    machineCpuPct: r.machineCpuPct,
    softirqCpuPct: r.softirqCpuPct,
    otherCpuPct: r.otherCpuPct,
    latencyWorstBySecondMs: r.latency.worstBySecondMs,
  };
}

export const scenarios: Scenario[] = [firehose, radio(1000), radio(5000), radio(10_000), stall, latency];
