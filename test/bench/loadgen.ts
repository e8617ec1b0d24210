/**
 * The bench's load generator: its own process, raw `net` sockets, no HTTP
 * library. Every socket reads into one shared buffer (`onread`), so reading
 * allocates nothing per chunk; per-connection figures live in typed arrays.
 *
 * It also watches the server process: CPU from /proc/PID/stat (utime+stime),
 * RSS from /proc/PID/status (VmRSS sampled for the peak, and VmHWM).
 *
 * Usage: node --import tsx test/bench/loadgen.ts '<LoadConfig JSON>'
 * Prints one JSON result line on stdout; progress goes to stderr.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

export type LoadMode = 'firehose' | 'radio' | 'stall' | 'latency';

export interface LoadConfig {
  mode: LoadMode;
  host: string;
  port: number;
  /** Request path (`/radio.mp3`). */
  path: string;
  /** The server process to watch (CPU, RSS). */
  serverPid: number;
  /** Clock ticks per second of /proc/PID/stat. */
  clkTck: number;
  clients: number;
  /** Connections opened per ramp step, and the step interval. */
  rampBatch: number;
  rampIntervalMs: number;
  /** Longest wait for every connection to get its first body byte after the ramp. */
  connectTimeoutMs: number;
  /** Wait after the ramp before the measured window opens. */
  settleMs: number;
  /** The measured window. */
  windowMs: number;
  /** The stream's nominal rate in bytes/s (radio, stall). */
  rateBytesPerSec: number;
  /** Size of the shared read buffer. */
  readBufferBytes: number;
  /** stall: how many listeners stop reading, when (ms after the first connect) and until when; the run's total length. */
  stalled: number;
  stallFromMs: number;
  stallToMs: number;
  totalMs: number;
  /** latency: size of the frames carrying sequence number and send time. */
  frameBytes: number;
}

/** Frame layout of test/bench/latency-source.ts. */
export const FRAME_MAGIC = 0x53534231; // 'SSB1' at offset 16
export const FRAME_TRAILER = 0x454e4421; // 'END!' in the last 4 bytes

const cfg = JSON.parse(process.argv[2] ?? '{}') as LoadConfig;
const N = cfg.clients;
const log = (msg: string) => process.stderr.write(`  [loadgen ${cfg.mode}] ${msg}\n`);

// ---- the server process ----------------------------------------------------

function cpuTicks(): number {
  try {
    const text = readFileSync(`/proc/${cfg.serverPid}/stat`, 'latin1');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime) are 12 and 13 after the command name.
    return Number(f[11]) + Number(f[12]);
  } catch {
    return NaN;
  }
}

function statusKb(field: 'VmRSS' | 'VmHWM'): number {
  try {
    const text = readFileSync(`/proc/${cfg.serverPid}/status`, 'latin1');
    const m = new RegExp(`${field}:\\s+(\\d+)`).exec(text);
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Clock ticks of the whole machine (every core): busy in all, and in softirq (loopback TCP is mostly there). */
function machineTicks(): { busy: number; softirq: number } {
  try {
    const f = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    return { busy: f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!, softirq: f[6]! };
  } catch {
    return { busy: NaN, softirq: NaN };
  }
}

/**
 * What the machine did beside the server and us, as % of one core: all busy
 * time, the softirq part of it (loopback TCP), and what neither the server nor
 * the load generator account for (other processes, softirq run outside them;
 * when it is high, other work on the box disturbed the figures).
 */
function machineFigures(a: { busy: number; softirq: number }, b: { busy: number; softirq: number }, serverTicks: number, loadgenSec: number, sec: number) {
  const pct = (ticks: number) => round((ticks / cfg.clkTck / sec) * 100, 1);
  return {
    machineCpuPct: pct(b.busy - a.busy),
    softirqCpuPct: pct(b.softirq - a.softirq),
    // A process's system time already holds the softirq work done in its context, so softirq is not subtracted.
    otherCpuPct: pct(b.busy - a.busy - serverTicks - loadgenSec * cfg.clkTck),
  };
}

let rssPeakKb = 0;
let rssLastKb = 0;
const sampleRss = () => {
  const kb = statusKb('VmRSS');
  if (kb > 0) {
    rssLastKb = kb;
    if (kb > rssPeakKb) rssPeakKb = kb;
  }
};
const rssStartKb = statusKb('VmRSS');
sampleRss();
const rssTimer = setInterval(sampleRss, 100);
/** The load generator's own event-loop delay: when it is high, measured delays are partly ours. */
const LOOP_RESOLUTION_MS = 10;
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
loopDelay.enable();
/** Delay beyond the sampling timer's own interval (which the histogram includes). */
const lateMs = (ns: number) => round(Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS), 1);
const loopFigures = () => ({ p50Ms: lateMs(loopDelay.percentile(50)), p99Ms: lateMs(loopDelay.percentile(99)), maxMs: lateMs(loopDelay.max) });

// ---- connections -------------------------------------------------------------

const OPEN = 1;
const STREAMING = 2;
const CLOSED = 3;

const request = Buffer.from(`GET ${cfg.path} HTTP/1.0\r\nHost: ${cfg.host}:${cfg.port}\r\nUser-Agent: streamserve-bench\r\nAccept: */*\r\n\r\n`, 'latin1');
const shared = Buffer.allocUnsafe(cfg.readBufferBytes);
const sockets: net.Socket[] = new Array(N);
const state = new Uint8Array(N);
/** Body bytes received. */
const bytes = new Float64Array(N);
const connectAt = new Float64Array(N);
const ttfb = new Float64Array(N).fill(NaN);
/** From connect() to the socket's 'connect' event: the TCP handshake as this process sees it. */
const tcpMs = new Float64Array(N).fill(NaN);
const heads: string[] = new Array(N).fill('');
let t0 = 0;
let errors = 0;
const errorCodes = new Map<string, number>();
let badStatus = 0;
let badStatusSample = '';
let closedByServer = 0;
let ending = false;

// ---- latency frames ------------------------------------------------------------

const F = cfg.frameBytes || 1000;
const latency = cfg.mode === 'latency';
const framePos = latency ? new Int32Array(N) : undefined;
const frameAsm: (Buffer | undefined)[] = latency ? new Array(N) : [];
const lastSeq = latency ? new Float64Array(N).fill(-1) : undefined;
/** Latency histogram: 10 µs buckets up to 2 s, then one overflow bucket. */
const BUCKET_US = 10;
const hist = latency ? new Uint32Array(200_001) : undefined;
let measuringLatency = false;
let latencyMax = 0;
let latencyWindowStart = 0;
/** Worst latency in each second of the window (ms), to tell a steady delay from pauses. */
const latencyWorstBySecond: number[] = [];
let latencySamples = 0;
let framesOk = 0;
let framesTorn = 0;
let framesOutOfOrder = 0;
let framesMissing = 0;
const tornConnections = new Set<number>();

function checkFrame(i: number, b: Buffer, o: number, nowUs: number): void {
  if (b.readUInt32BE(o + 16) !== FRAME_MAGIC || b.readUInt32BE(o + F - 4) !== FRAME_TRAILER) {
    framesTorn++;
    tornConnections.add(i);
    return;
  }
  const seq = b.readDoubleBE(o);
  const sentUs = b.readDoubleBE(o + 8);
  const last = lastSeq![i]!;
  if (seq <= last) framesOutOfOrder++;
  else if (last >= 0 && seq !== last + 1) framesMissing += seq - last - 1;
  lastSeq![i] = seq;
  framesOk++;
  if (measuringLatency) {
    const us = nowUs - sentUs;
    const bucket = us <= 0 ? 0 : Math.min(hist!.length - 1, Math.floor(us / BUCKET_US));
    hist![bucket]!++;
    latencySamples++;
    if (us > latencyMax) latencyMax = us;
    const sec = Math.floor((performance.now() - latencyWindowStart) / 1000);
    if (!(latencyWorstBySecond[sec]! >= us)) latencyWorstBySecond[sec] = us;
  }
}

function parseFrames(i: number, buf: Buffer, off: number, end: number): void {
  const nowUs = (performance.timeOrigin + performance.now()) * 1000;
  let p = framePos![i]!;
  while (off < end) {
    if (p === 0 && end - off >= F) {
      checkFrame(i, buf, off, nowUs);
      off += F;
      continue;
    }
    const take = Math.min(F - p, end - off);
    const a = (frameAsm[i] ??= Buffer.allocUnsafe(F));
    buf.copy(a, p, off, off + take);
    p += take;
    off += take;
    if (p === F) {
      checkFrame(i, a, 0, nowUs);
      p = 0;
    }
  }
  framePos![i] = p;
}

// ---- reading -----------------------------------------------------------------

function onRead(i: number, n: number, buf: Buffer): void {
  if (state[i] === STREAMING) {
    bytes[i]! += n;
    if (latency) parseFrames(i, buf, 0, n);
    return;
  }
  // The response head: only the first read or two of a connection.
  const prev = heads[i]!;
  const text = prev + buf.toString('latin1', 0, Math.min(n, 8192));
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) {
    if (text.length > 16384) fail(i, 'response head too long');
    else heads[i] = text;
    return;
  }
  heads[i] = '';
  if (!/^(HTTP\/1\.[01]|ICY) 200/.test(text)) {
    badStatus++;
    badStatusSample ||= text.slice(0, text.indexOf('\r\n'));
    fail(i, 'status');
    return;
  }
  state[i] = STREAMING;
  const bodyOff = end + 4 - prev.length;
  if (bodyOff < n) {
    ttfb[i] = performance.now() - connectAt[i]!;
    bytes[i]! += n - bodyOff;
    if (latency) parseFrames(i, buf, bodyOff, n);
  }
}

function fail(i: number, why: string): void {
  errorCodes.set(why, (errorCodes.get(why) ?? 0) + 1);
  sockets[i]?.destroy();
}

function open(i: number): void {
  connectAt[i] = performance.now();
  state[i] = OPEN;
  const socket = net.connect({
    host: cfg.host,
    port: cfg.port,
    noDelay: true,
    onread: {
      buffer: shared,
      callback: (n: number, buf: Buffer) => {
        // The first body byte: stamp it before counting.
        if (state[i] === STREAMING && bytes[i] === 0 && n > 0) ttfb[i] = performance.now() - connectAt[i]!;
        onRead(i, n, buf);
        return true;
      },
    },
  });
  sockets[i] = socket;
  socket.once('connect', () => {
    tcpMs[i] = performance.now() - connectAt[i]!;
  });
  socket.write(request);
  socket.on('error', (err: NodeJS.ErrnoException) => {
    errors++;
    const code = err.code ?? err.message;
    errorCodes.set(code, (errorCodes.get(code) ?? 0) + 1);
  });
  socket.on('close', () => {
    if (!ending) closedByServer++;
    state[i] = CLOSED;
  });
}

// ---- timeline helpers ----------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));
const since = () => performance.now() - t0;
const at = (ms: number) => sleep(ms - since());

/** Opens `count` connections at rampBatch per rampIntervalMs, on the clock (a late tick opens what is due). */
function ramp(count: number): Promise<void> {
  return new Promise((resolve) => {
    const start = performance.now();
    let next = 0;
    const step = () => {
      const due = Math.min(count, (Math.floor((performance.now() - start) / cfg.rampIntervalMs) + 1) * cfg.rampBatch);
      for (; next < due; next++) open(next);
      if (next >= count) resolve();
      else setTimeout(step, Math.max(0, start + (next / cfg.rampBatch) * cfg.rampIntervalMs - performance.now()));
    };
    step();
  });
}

async function waitFirstBytes(timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    let pending = 0;
    for (let i = 0; i < N; i++) if (state[i] !== CLOSED && Number.isNaN(ttfb[i]!)) pending++;
    if (!pending || performance.now() > deadline) return performance.now() - t0;
    await sleep(50);
  }
}

const snapshot = () => Float64Array.from(bytes);

function percentile(sorted: ArrayLike<number>, p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function histPercentile(p: number): number {
  const want = Math.ceil((p / 100) * latencySamples);
  let seen = 0;
  for (let b = 0; b < hist!.length; b++) {
    seen += hist![b]!;
    if (seen >= want) return ((b + 0.5) * BUCKET_US) / 1000;
  }
  return NaN;
}

const round = (x: number, digits = 2) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null);
const mb = (kb: number) => round(kb / 1024, 1);

function ttfbFigures() {
  const got = Array.from(ttfb).filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  // The worst and the 99th percentile by the half-second of the ramp in which the connection was opened.
  const slots: number[][] = [];
  for (let i = 0; i < N; i++) {
    if (Number.isNaN(ttfb[i]!)) continue;
    const slot = Math.floor((connectAt[i]! - t0) / 500);
    (slots[slot] ??= []).push(ttfb[i]!);
  }
  const bySlot = Array.from(slots, (a) => (a ? a.sort((x, y) => x - y) : []));
  const tcp = Array.from(tcpMs).filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return {
    withFirstByte: got.length,
    tcpConnectP50Ms: round(percentile(tcp, 50), 1),
    tcpConnectP99Ms: round(percentile(tcp, 99), 1),
    p50Ms: round(percentile(got, 50), 1),
    p99Ms: round(percentile(got, 99), 1),
    maxMs: round(got[got.length - 1] ?? NaN, 1),
    p99ByHalfSecondOfRampMs: bySlot.map((a) => round(percentile(a, 99), 0)),
  };
}

function openCount(): number {
  let c = 0;
  for (let i = 0; i < N; i++) if (state[i] === STREAMING) c++;
  return c;
}

/** Bytes each listener got between two snapshots, as a share of the nominal rate. */
function rateShares(a: Float64Array, b: Float64Array, ms: number, indices: number[]): number[] {
  const expected = (cfg.rateBytesPerSec * ms) / 1000;
  return indices.map((i) => (b[i]! - a[i]!) / expected);
}

const atLeast = (shares: number[], min: number) => shares.filter((s) => s >= min).length;

// ---- scenarios -------------------------------------------------------------------

async function run(): Promise<Record<string, unknown>> {
  const cpu0 = process.cpuUsage();
  t0 = performance.now();
  const ticksStart = cpuTicks();
  log(`connecting ${N} listeners, ${cfg.rampBatch} every ${cfg.rampIntervalMs} ms`);

  if (cfg.mode === 'stall') return runStall(cpu0, ticksStart);

  await ramp(N);
  const rampMs = since();
  const allMs = await waitFirstBytes(cfg.connectTimeoutMs);
  const loopRamp = loopFigures();
  const loadRamp = process.cpuUsage(cpu0);
  log(`ramp done in ${Math.round(rampMs)} ms, first bytes by ${Math.round(allMs)} ms; settling`);
  await sleep(cfg.settleMs);
  const connectedAtStart = openCount();
  const ticksA = cpuTicks();
  const machineA = machineTicks();
  const loadA = process.cpuUsage();
  loopDelay.reset();
  const a = snapshot();
  const wa = performance.now();
  latencyWindowStart = performance.now();
  measuringLatency = true;
  log(`measuring ${cfg.windowMs} ms with ${connectedAtStart} listeners streaming`);
  await sleep(cfg.windowMs);
  measuringLatency = false;
  const wb = performance.now();
  const b = snapshot();
  const ticksB = cpuTicks();
  const machineB = machineTicks();
  const loadB = process.cpuUsage(loadA);
  const windowMs = wb - wa;
  const cpuSec = (ticksB - ticksA) / cfg.clkTck;
  const connected = openCount();
  const all = Array.from({ length: N }, (_, i) => i);
  let windowBytes = 0;
  for (let i = 0; i < N; i++) windowBytes += b[i]! - a[i]!;

  const common = {
    clients: N,
    connected,
    connectedAtWindowStart: connectedAtStart,
    closedByServer,
    errors,
    errorCodes: Object.fromEntries(errorCodes),
    badStatus,
    badStatusSample: badStatusSample || undefined,
    rampMs: Math.round(rampMs),
    windowMs: Math.round(windowMs),
    serverCpuSec: round(cpuSec, 2),
    serverCpuPct: round((cpuSec / (windowMs / 1000)) * 100, 1),
    serverCpuSecRamp: round((ticksA - ticksStart) / cfg.clkTck, 2),
    serverRssStartMB: mb(rssStartKb),
    serverRssPeakMB: mb(Math.max(rssPeakKb, statusKb('VmHWM') || 0)),
    serverRssEndMB: mb(rssLastKb),
    loadgenCpuPct: round(((loadB.user + loadB.system) / 1000 / windowMs) * 100, 1),
    ...machineFigures(machineA, machineB, ticksB - ticksA, (loadB.user + loadB.system) / 1e6, windowMs / 1000),
    loadgenCpuPctRamp: round(((loadRamp.user + loadRamp.system) / 1000 / allMs) * 100, 1),
    loadgenLoopDelayRamp: loopRamp,
    loadgenLoopDelayWindow: loopFigures(),
    loadgenCpuSecTotal: round((process.cpuUsage(cpu0).user + process.cpuUsage(cpu0).system) / 1e6, 2),
  };

  if (cfg.mode === 'firehose') {
    const per = all.map((i) => ((b[i]! - a[i]!) / windowMs) * 1000 / 1e6).sort((x, y) => x - y);
    return {
      ...common,
      aggregateMBps: round((windowBytes / windowMs) * 1000 / 1e6, 1),
      windowBytes,
      serverCpuSecPerGB: round(cpuSec / (windowBytes / 1e9), 3),
      perClientMBps: { min: round(per[0]!, 2), p50: round(percentile(per, 50), 2), max: round(per[per.length - 1]!, 2) },
      ttfb: ttfbFigures(),
    };
  }

  const shares = rateShares(a, b, windowMs, all);
  const sortedShares = [...shares].sort((x, y) => x - y);
  if (cfg.mode === 'radio') {
    return {
      ...common,
      atRate95: atLeast(shares, 0.95),
      shareAtRate95Pct: round((atLeast(shares, 0.95) / N) * 100, 2),
      rateShare: { min: round(sortedShares[0]!, 3), p1: round(percentile(sortedShares, 1), 3), p50: round(percentile(sortedShares, 50), 3) },
      ttfb: ttfbFigures(),
    };
  }

  // latency
  return {
    ...common,
    atRate95: atLeast(shares, 0.95),
    ttfb: ttfbFigures(),
    latency: {
      samples: latencySamples,
      p50Ms: round(histPercentile(50), 2),
      p99Ms: round(histPercentile(99), 2),
      p999Ms: round(histPercentile(99.9), 2),
      maxMs: round(latencyMax / 1000, 2),
      worstBySecondMs: Array.from(latencyWorstBySecond, (us) => round((us ?? 0) / 1000, 1)),
    },
    frames: {
      ok: framesOk,
      torn: framesTorn,
      tornConnections: tornConnections.size,
      outOfOrder: framesOutOfOrder,
      missing: framesMissing,
    },
  };
}

/** 20 of 200 stop reading from 2 s to 17 s, then read again; 30 s in all. */
async function runStall(cpu0: NodeJS.CpuUsage, ticksStart: number): Promise<Record<string, unknown>> {
  const K = cfg.stalled;
  const stalled = Array.from({ length: K }, (_, i) => i * Math.floor(N / K));
  const isStalled = new Uint8Array(N);
  for (const i of stalled) isStalled[i] = 1;
  const others = Array.from({ length: N }, (_, i) => i).filter((i) => !isStalled[i]);

  await ramp(N);
  await waitFirstBytes(Math.min(cfg.connectTimeoutMs, cfg.stallFromMs - 500));
  await at(1000);
  const s1 = snapshot();
  const t1 = since();
  const ticks1 = cpuTicks();
  const machine1 = machineTicks();
  const load1 = process.cpuUsage();
  await at(cfg.stallFromMs - 100);
  sampleRss();
  const rssBeforeKb = rssLastKb;
  rssPeakKb = rssBeforeKb;
  await at(cfg.stallFromMs);
  const sPause = snapshot();
  const tPause = since();
  for (const i of stalled) sockets[i]!.pause();
  log(`paused ${K} listeners at ${Math.round(tPause)} ms (server RSS ${mb(rssBeforeKb)} MB)`);
  await at(cfg.stallToMs);
  const sResume = snapshot();
  const tResume = since();
  for (const i of stalled) sockets[i]!.resume();
  const rssAtResumeKb = rssLastKb;
  log(`resumed them at ${Math.round(tResume)} ms (server RSS peak ${mb(rssPeakKb)} MB)`);
  // The stalled sockets' kernel buffers drain in the first moments: the resumed rate is taken from 2 s after.
  await at(cfg.stallToMs + 2000);
  const sAfter = snapshot();
  const tAfter = since();
  await at(cfg.totalMs);
  const sEnd = snapshot();
  const tEnd = since();
  const ticksEnd = cpuTicks();
  const machineEnd = machineTicks();
  const load1End = process.cpuUsage(load1);
  sampleRss();
  const runSec = (tEnd - t1) / 1000;

  const othersAll = rateShares(s1, sEnd, tEnd - t1, others);
  const othersDuring = rateShares(sPause, sResume, tResume - tPause, others);
  const stalledAfter = rateShares(sAfter, sEnd, tEnd - tAfter, stalled);
  const streamBytes = (cfg.rateBytesPerSec * (tEnd - t1)) / 1000;
  const othersGot = others.map((i) => sEnd[i]! - s1[i]!).sort((x, y) => x - y);
  const stalledGot = stalled.map((i) => sEnd[i]! - s1[i]!).sort((x, y) => x - y);
  const stalledDuring = stalled.map((i) => sResume[i]! - sPause[i]!).sort((x, y) => x - y);
  const keptOpen = stalled.filter((i) => state[i] === STREAMING).length;
  const medianOthers = percentile(othersGot, 50);
  const skipped = stalled.filter((i) => state[i] === STREAMING && sEnd[i]! - s1[i]! < medianOthers - 1_000_000).length;
  const loadCpu = process.cpuUsage(cpu0);
  return {
    clients: N,
    stalled: K,
    connected: openCount(),
    closedByServer,
    errors,
    errorCodes: Object.fromEntries(errorCodes),
    badStatus,
    stallFromMs: Math.round(tPause),
    stallToMs: Math.round(tResume),
    totalMs: Math.round(tEnd),
    serverRssBeforeStallMB: mb(rssBeforeKb),
    serverRssPeakMB: mb(rssPeakKb),
    serverRssAtResumeMB: mb(rssAtResumeKb),
    serverRssEndMB: mb(rssLastKb),
    serverRssGrowthMB: round((rssPeakKb - rssBeforeKb) / 1024, 2),
    serverCpuPct: round(((ticksEnd - ticks1) / cfg.clkTck / ((tEnd - t1) / 1000)) * 100, 1),
    serverCpuSecRamp: round((ticks1 - ticksStart) / cfg.clkTck, 2),
    others: {
      count: others.length,
      atRate95Whole: atLeast(othersAll, 0.95),
      atRate95DuringStall: atLeast(othersDuring, 0.95),
      rateShareMinWhole: round(Math.min(...othersAll), 3),
      rateShareMinDuringStall: round(Math.min(...othersDuring), 3),
      medianMB: round(medianOthers / 1e6, 2),
    },
    stalledOnes: {
      keptOpen,
      skipped,
      atRate95AfterResume: atLeast(stalledAfter, 0.95),
      rateShareMinAfterResume: round(Math.min(...stalledAfter), 3),
      receivedMB: { min: round(stalledGot[0]! / 1e6, 2), max: round(stalledGot[stalledGot.length - 1]! / 1e6, 2) },
      receivedWhilePausedMB: round(stalledDuring[stalledDuring.length - 1]! / 1e6, 2),
      deficitVsOthersMB: round((medianOthers - percentile(stalledGot, 50)) / 1e6, 2),
    },
    streamMBOverRun: round(streamBytes / 1e6, 2),
    loadgenCpuSecTotal: round((loadCpu.user + loadCpu.system) / 1e6, 2),
    loadgenCpuPct: round(((load1End.user + load1End.system) / 1e6 / runSec) * 100, 1),
    ...machineFigures(machine1, machineEnd, ticksEnd - ticks1, (load1End.user + load1End.system) / 1e6, runSec),
    loadgenLoopDelay: loopFigures(),
  };
}

/** BENCH_TTFB_TRACE=FILE: one line per connection (local port, connect and first-byte wall-clock µs) for matching with a server-side trace. */
function writeTrace(): void {
  const file = process.env.BENCH_TTFB_TRACE;
  if (!file) return;
  const lines: string[] = [];
  for (let i = 0; i < N; i++) {
    const port = sockets[i]?.localPort ?? 0;
    const us = (ms: number) => ((performance.timeOrigin + connectAt[i]! + ms) * 1000).toFixed(0);
    lines.push(`${port} ${us(0)} ${us(ttfb[i]!)} ${us(tcpMs[i]!)}`);
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}

run()
  .then((result) => {
    writeTrace();
    ending = true;
    clearInterval(rssTimer);
    for (const s of sockets) {
      if (!s || s.destroyed) continue;
      // A reset leaves no TIME_WAIT behind, so ten thousand connections per run do not exhaust the local ports.
      if (s.readyState === 'open') s.resetAndDestroy();
      else s.destroy();
    }
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
  })
  .catch((err) => {
    process.stderr.write(`loadgen failed: ${(err as Error).stack}\n`);
    process.exit(1);
  });
