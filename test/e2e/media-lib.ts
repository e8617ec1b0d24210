/**
 * Shared pieces of the media end-to-end tests (media-*.test.ts): the formats
 * with the ffmpeg lines that make their samples, the real CLI serving a sample
 * looped by ffmpeg, recordings that end at a frame boundary, and ffmpeg's and
 * ffprobe's verdicts on them. Not a test file itself.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, type Server } from '../helpers/server.ts';
import { Client } from './streamserve-lib.ts';

export function has(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
}

/** Why the media tests cannot run here, or false. */
export const noFfmpeg = has('ffmpeg') && has('ffprobe') ? false : 'needs ffmpeg and ffprobe (apt-get install ffmpeg)';

/** Seconds of media in a sample (unless its format says); the source loops it. */
export const SAMPLE_SECONDS = 4;

const VIDEO_IN = ['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25'];
const TONE_IN = ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'];
const X264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p'];

export interface MediaFormat {
  /** The name tests use for it. */
  label: string;
  /** The frame filter that cuts it (`-frame-filter`). */
  filter: string;
  /** ffmpeg input and codec arguments for the sample, and its file name. */
  encode: string[];
  sample: string;
  /** The sample's length when not SAMPLE_SECONDS. */
  seconds?: number;
  /** ffmpeg's muxer for the source's output (`-f`). */
  muxer: string;
  /** `-f` to read a recording with: raw elementary streams are not probed reliably. */
  demuxer?: string;
  video: boolean;
  /** Content-Types the filter may announce (the media type, without parameters). */
  contentTypes: readonly string[];
  /** Why a recording does not begin as a stream of this format must; undefined when it does. */
  badStart(rec: Buffer): string | undefined;
  /**
   * Where the recording begins in the stream, in media seconds, for formats
   * whose units say (timestamps, granule positions, frame numbers): a late
   * listener that got the stream's beginning instead was not tested as one.
   */
  startSeconds?(file: string, rec: Buffer): Promise<number | undefined>;
}

const hex = (b: Buffer) => b.subarray(0, 16).toString('hex');

/** An Annex B stream must begin with a start code and then one of the NAL types a decoder can begin with. */
function annexBStart(rec: Buffer, nalType: (b: number) => number, allowed: number[], names: string): string | undefined {
  const nal = rec[2] === 1 && rec.readUInt16BE(0) === 0 ? 3 : rec.readUInt32BE(0) === 1 ? 4 : -1;
  if (nal < 0) return `no start code at the beginning: ${hex(rec)}`;
  const type = nalType(rec[nal]!);
  return allowed.includes(type) ? undefined : `first NAL unit is of type ${type}, not ${names}: ${hex(rec)}`;
}

function oggStart(rec: Buffer): string | undefined {
  if (rec.subarray(0, 4).toString('latin1') !== 'OggS') return `no OggS capture pattern: ${hex(rec)}`;
  return rec[5]! & 2 ? undefined : `the first page is not a beginning-of-stream page (header_type ${rec[5]})`;
}

function webmStart(rec: Buffer): string | undefined {
  return rec.readUInt32BE(0) === 0x1a45dfa3 ? undefined : `no EBML magic: ${hex(rec)}`;
}

/** The first packet's presentation time, by ffprobe. */
async function firstPts(file: string): Promise<number | undefined> {
  const r = await run('ffprobe', ['-v', 'error', '-show_entries', 'packet=pts_time', '-read_intervals', '%+#1', '-of', 'csv=p=0', file]);
  const t = Number.parseFloat(r.stdout.toString());
  return Number.isFinite(t) ? t : undefined;
}

/** The granule position of the first Ogg page that ends audio (header pages have 0), as 48 kHz samples: our samples' rate, and Opus's always. */
function oggStartSeconds(rec: Buffer): number | undefined {
  for (let p = 0; p + 27 <= rec.length && rec.toString('latin1', p, p + 4) === 'OggS';) {
    const granule = rec.readBigInt64LE(p + 6);
    if (granule > 0n) {
      // ffmpeg's pages hold about a second: the first one ends a second after it begins.
      return Number(granule) / 48_000 - 1;
    }
    const segments = rec[p + 26]!;
    let size = 27 + segments;
    for (let i = 0; i < segments; i++) size += rec[p + 27 + i]!;
    p += size;
  }
  return undefined;
}

/** The position of the first FLAC frame after the metadata blocks, from its frame or sample number and STREAMINFO. */
function flacStartSeconds(rec: Buffer): number | undefined {
  if (rec.toString('latin1', 0, 4) !== 'fLaC' || rec.length < 42) return undefined;
  // STREAMINFO comes first: minimum block size, then the 20-bit sample rate 10 bytes on.
  const blockSize = rec.readUInt16BE(8);
  const rate = (rec[18]! << 12) | (rec[19]! << 4) | (rec[20]! >> 4);
  let p = 4;
  for (let last = false; !last && p + 4 <= rec.length;) {
    last = (rec[p]! & 0x80) !== 0;
    p += 4 + rec.readUIntBE(p + 1, 3);
  }
  if (p + 5 > rec.length || rec[p] !== 0xff || (rec[p + 1]! & 0xfe) !== 0xf8) return undefined;
  const variable = (rec[p + 1]! & 1) === 1;
  // The number is coded as UTF-8 is, extended to 7 bytes.
  let at = p + 4;
  const first = rec[at++]!;
  let extra = 0;
  while (extra < 7 && first & (0x80 >> extra)) extra++;
  let n = extra === 0 ? first : first & (0x7f >> extra);
  for (let i = 1; i < extra; i++) n = n * 64 + (rec[at++]! & 0x3f);
  return rate ? (variable ? n : n * blockSize) / rate : undefined;
}

export const FORMATS = {
  h264: {
    label: 'h264', filter: 'h264', sample: 'h264.mkv', muxer: 'h264', demuxer: 'h264', video: true, contentTypes: ['video/h264'],
    encode: [...VIDEO_IN, ...X264],
    // SPS (7) or access unit delimiter (9).
    badStart: (rec) => annexBStart(rec, (b) => b & 0x1f, [7, 9], 'an SPS or AUD'),
  },
  hevc: {
    label: 'hevc', filter: 'hevc', sample: 'hevc.mkv', muxer: 'hevc', demuxer: 'hevc', video: true, contentTypes: ['video/h265'],
    // x265's own choices otherwise (open GOPs: CRA pictures are its sync points).
    encode: [...VIDEO_IN, '-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'keyint=25:min-keyint=25:log-level=error', '-pix_fmt', 'yuv420p'],
    // VPS (32) or access unit delimiter (35).
    badStart: (rec) => annexBStart(rec, (b) => (b >> 1) & 0x3f, [32, 35], 'a VPS or AUD'),
  },
  mpegts: {
    label: 'mpegts', filter: 'mpegts', sample: 'av.ts', muxer: 'mpegts', video: true, contentTypes: ['video/mp2t'],
    // H.264 and MP2, as DVB has it. With AAC, ffmpeg's -stream_loop itself repeats a timestamp where the
    // sample starts over (AAC's priming shifts the audio's start), and the decode check would see that.
    encode: [...VIDEO_IN, ...TONE_IN, ...X264, '-c:a', 'mp2', '-b:a', '128k'],
    // ffmpeg's TS muxer starts the clock at 1.4 s.
    startSeconds: async (file) => ((await firstPts(file)) ?? 0) - 1.4,
    badStart: (rec) => {
      if (rec.length < 376 || rec[0] !== 0x47 || rec[188] !== 0x47) return `no 0x47 sync byte every 188 bytes: ${hex(rec)}`;
      const pid = ((rec[1]! & 0x1f) << 8) | rec[2]!;
      return pid === 0 ? undefined : `the first packet has PID ${pid}, not the PAT's 0`;
    },
  },
  oggOpus: {
    label: 'ogg/opus', filter: 'ogg', sample: 'opus.ogg', muxer: 'ogg', video: false, contentTypes: ['audio/ogg'],
    encode: [...TONE_IN, '-c:a', 'libopus', '-b:a', '64k'],
    badStart: oggStart,
    startSeconds: async (_file, rec) => oggStartSeconds(rec),
  },
  oggVorbis: {
    label: 'ogg/vorbis', filter: 'ogg', sample: 'vorbis.ogg', muxer: 'ogg', video: false, contentTypes: ['audio/ogg'],
    encode: [...TONE_IN, '-c:a', 'libvorbis', '-q:a', '3'],
    // Where ffmpeg's -stream_loop starts Vorbis over, its granules step back (decoding its own output
    // complains): the sample outlasts a test's recording.
    seconds: 10,
    badStart: oggStart,
    startSeconds: async (_file, rec) => oggStartSeconds(rec),
  },
  webm: {
    label: 'webm', filter: 'webm', sample: 'av.webm', muxer: 'webm', video: true, contentTypes: ['video/webm'],
    encode: [...VIDEO_IN, ...TONE_IN, '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '400k', '-g', '25', '-c:a', 'libopus', '-b:a', '64k'],
    badStart: webmStart,
    startSeconds: firstPts,
  },
  webmAudio: {
    label: 'webm (audio only)', filter: 'webm', sample: 'audio.webm', muxer: 'webm', video: false, contentTypes: ['audio/webm'],
    encode: [...TONE_IN, '-c:a', 'libopus', '-b:a', '64k'],
    badStart: webmStart,
    startSeconds: firstPts,
  },
  adts: {
    label: 'adts', filter: 'adts', sample: 'tone.aac', muxer: 'adts', video: false, contentTypes: ['audio/aac'],
    encode: [...TONE_IN, '-c:a', 'aac', '-b:a', '96k'],
    // 12 bits of sync, then MPEG version, layer 00 (which tells it from MP3).
    badStart: (rec) => (rec[0] === 0xff && (rec[1]! & 0xf6) === 0xf0 ? undefined : `no ADTS sync word: ${hex(rec)}`),
  },
  flac: {
    label: 'flac', filter: 'flac', sample: 'tone.flac', muxer: 'flac', video: false, contentTypes: ['audio/flac'],
    // Copied FLAC frames keep their frame numbers, which start again at 0 when the source loops (ffmpeg
    // then rightly complains of timestamps going back): the sample outlasts a test's recording.
    seconds: 10,
    encode: ['-f', 'lavfi', '-i', 'anoisesrc=sample_rate=44100:amplitude=0.05', '-c:a', 'flac'],
    badStart: (rec) => (rec.subarray(0, 4).toString('latin1') === 'fLaC' ? undefined : `no fLaC marker: ${hex(rec)}`),
    startSeconds: async (_file, rec) => flacStartSeconds(rec),
  },
} satisfies Record<string, MediaFormat>;

export interface Run { code: number | null; stdout: Buffer; stderr: string }

/** Runs a program to completion (killed after `ms`), without blocking the event loop: listeners keep reading meanwhile. */
export async function run(program: string, args: string[], ms = 20_000): Promise<Run> {
  const proc = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  proc.stdout.on('data', (d: Buffer) => out.push(d));
  proc.stderr.on('data', (d) => { err += d; });
  const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
  const [code] = await once(proc, 'close');
  clearTimeout(timer);
  return { code: code as number | null, stdout: Buffer.concat(out), stderr: err };
}

/** A temp dir for samples and recordings. */
export function mediaDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'streamserve-media-e2e-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Encodes the sample of `format` into `dir`, with `extra` output options; returns its path. */
export async function makeSample(dir: string, format: MediaFormat, extra: string[] = [], name = format.sample): Promise<string> {
  const file = join(dir, name);
  const r = await run('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...format.encode, '-t', String(secondsOf(format)), ...extra, file], 60_000);
  if (r.code !== 0 || !statSync(file, { throwIfNoEntry: false })?.size) throw new Error(`ffmpeg could not make the ${format.label} sample: ${r.stderr}`);
  return file;
}

export function secondsOf(format: MediaFormat): number {
  return format.seconds ?? SAMPLE_SECONDS;
}

/** Encodes several samples, two at a time (the machine has two cores). */
export async function makeSamples(dir: string, formats: MediaFormat[]): Promise<Map<MediaFormat, string>> {
  const out = new Map<MediaFormat, string>();
  const queue = [...formats];
  const worker = async () => {
    for (let f = queue.shift(); f; f = queue.shift()) out.set(f, await makeSample(dir, f));
  };
  await Promise.all([worker(), worker()]);
  return out;
}

/** The source command: ffmpeg playing `sample` in real time, in a loop, rewrapped into `muxer` on stdout. */
export function loopCommand(sample: string, muxer: string): string[] {
  return ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', sample, '-c', 'copy', '-f', muxer, '-'];
}

/** The real CLI with `filter` serving `sample` looped by ffmpeg at `/`. `-exec` takes the rest of the line, so it comes last. */
export function serveLoop(sample: string, muxer: string, filter: string, extra: string[] = [], sourceBuffer = 500): Promise<Server> {
  return startServer(['-frame-filter', filter, '-source-buffer', String(sourceBuffer), ...extra, '-exec', ...loopCommand(sample, muxer)]);
}

/** The source figures of `mount` in /status.json (the status module). */
export async function sourceStatus(port: number, mount = '/'): Promise<{ bytes_in: number; frames_skipped: number } | undefined> {
  const res = await fetch(`http://127.0.0.1:${port}/status.json`, { signal: AbortSignal.timeout(3000) });
  const status = await res.json() as { icestats: { source: { mount: string; bytes_in: number; frames_skipped: number }[] } };
  return status.icestats.source.find((s) => s.mount === mount);
}

/**
 * Waits until the server has read about `seconds` of media at `mount`, going
 * by the sample's bytes per second: on a loaded machine ffmpeg may start late,
 * and a listener joining early would get the stream's beginning in its burst.
 */
export async function mediaRead(server: Server, mount: string, seconds: number, sample: string, format: MediaFormat): Promise<void> {
  const wanted = (statSync(sample).size / secondsOf(format)) * seconds;
  const until = Date.now() + 20_000;
  for (;;) {
    if (server.proc.exitCode !== null) throw new Error(`streamserve exited with ${server.proc.exitCode}: ${server.stderr().trim()}`);
    const read = (await sourceStatus(server.port, mount).catch(() => undefined))?.bytes_in ?? 0;
    if (read >= wanted) return;
    if (Date.now() > until) throw new Error(`the server read only ${read} of ${Math.round(wanted)} bytes of ${mount} within 20 s; stderr: ${server.stderr().trim()}`);
    await sleep(100);
  }
}

/** Waits until the source has been up for `ms` (the server logs when it opened it); fails at once if the server exits. */
export async function sourceUpFor(server: Server, ms: number): Promise<void> {
  const exited = once(server.proc, 'exit').then(([code]) => { throw new Error(`streamserve exited with ${code}: ${server.stderr().trim()}`); });
  exited.catch(() => {});
  await Promise.race([server.waitLog((l) => l.msg === 'source opened'), exited]);
  const opened = Date.now();
  await sleep(Math.max(0, ms - (Date.now() - opened)));
}

export interface Recording { status: number; contentType: string; body: Buffer }

/**
 * Listens at `path` for `ms`, then stops the server: it writes every listener
 * the frames it is owed and closes, so the recording ends with a whole frame
 * (a recording cut by the listener would end mid-frame, and decoders complain
 * about the torn end).
 */
export async function recordUntilStop(server: Server, path: string, ms: number): Promise<Recording> {
  const client = new Client(server.port, path);
  await sleep(ms);
  await server.stop();
  // The server has exited, so the socket is closed or about to be.
  const timer = setTimeout(() => client.close(), 5000);
  await client.closed;
  clearTimeout(timer);
  return { status: client.status, contentType: (client.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase(), body: client.bytes() };
}

export interface Decoded {
  /** What `ffmpeg -v error` printed, and its exit status if not 0: '' when it decoded cleanly. */
  errors: string;
  /** Media seconds decoded (ffmpeg's progress report). */
  seconds: number;
}

/** Decodes `file` to nothing: ffmpeg's complaints and how much it decoded. */
export async function decode(file: string, demuxer?: string): Promise<Decoded> {
  const r = await run('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', ...(demuxer ? ['-f', demuxer] : []), '-i', file, '-f', 'null', '-', '-progress', 'pipe:1']);
  const times = [...r.stdout.toString().matchAll(/^out_time_us=(\d+)$/gm)].map((m) => Number(m[1]));
  const errors = r.stderr.trim() + (r.code === 0 ? '' : ` (exit ${r.code})`);
  return { errors: errors.trim(), seconds: (times.at(-1) ?? 0) / 1e6 };
}

/** The first decoded video frame of `file`: whether it is a key frame, and its picture type. */
export async function firstVideoFrame(file: string, demuxer?: string): Promise<{ key: boolean; pictType: string } | undefined> {
  const r = await run('ffprobe', ['-v', 'error', ...(demuxer ? ['-f', demuxer] : []), '-select_streams', 'v:0', '-show_frames', '-read_intervals', '%+#1',
    '-show_entries', 'frame=key_frame,pict_type', '-of', 'json', file]);
  const frame = (JSON.parse(r.stdout.toString() || '{}') as { frames?: { key_frame?: number; pict_type?: string }[] }).frames?.[0];
  return frame ? { key: frame.key_frame === 1, pictType: frame.pict_type ?? '' } : undefined;
}

export interface NalUnit {
  /** Where its start code begins. */
  at: number;
  /** Where its header byte is. */
  payload: number;
  end: number;
}

/** The NAL units of an Annex B stream (each up to the next start code). */
export function nalUnits(buf: Buffer): NalUnit[] {
  const out: NalUnit[] = [];
  let i = buf.indexOf(Buffer.from([0, 0, 1]));
  while (i >= 0) {
    const at = i > 0 && buf[i - 1] === 0 ? i - 1 : i;
    const next = buf.indexOf(Buffer.from([0, 0, 1]), i + 3);
    let end = next < 0 ? buf.length : next;
    if (next >= 0 && buf[next - 1] === 0) end = next - 1;
    out.push({ at, payload: i + 3, end });
    i = next;
  }
  return out;
}

/** A late listener joins once this much media has been read: past the start and past a burst. */
export const JOIN_AFTER_SECONDS = 3;
/** The burst the flag-served channels give (short, so that even a filter that knows no durations gives little). */
export const BURST = ['-burst', '1s', '-burst-bytes', '16384'];
/** How long a listener records before the server is stopped. */
export const RECORD_MS = 2500;

/** Where the format tells, that the recording begins well into the stream (it joined late, its burst did not reach back to the start). */
export async function assertLate(format: MediaFormat, file: string, rec: Buffer, server?: Server): Promise<void> {
  if (!format.startSeconds) return;
  const at = await format.startSeconds(file, rec);
  const story = server ? `; the server's source log: ${JSON.stringify(server.logs.filter((l) => /source/.test(String(l.msg))).map((l) => [l.msg, l.reason ?? l.err ?? '']))}` : '';
  assert.ok(at !== undefined && at >= 0.5, `the recording begins ${at} s into the stream: a late join${story}`);
}

/**
 * Serves `sample` with `filter`, joins late, records, and checks what a player
 * needs: the format's own beginning, a clean decode of a few seconds starting
 * with a key frame, and the Content-Type the filter announces.
 */
export async function assertLateJoin(dir: string, format: MediaFormat, sample: string, filter: string, extra: string[] = []): Promise<void> {
  const server = await serveLoop(sample, format.muxer, filter, [...BURST, ...extra]);
  try {
    await mediaRead(server, '/', JOIN_AFTER_SECONDS, sample, format);
    const rec = await recordUntilStop(server, '/', RECORD_MS);
    assert.equal(rec.status, 200);
    assert.ok(rec.body.length > 0, 'the listener got media');
    assert.equal(format.badStart(rec.body), undefined, 'the recording begins as the format does');
    const file = join(dir, `${format.label.replace(/\W+/g, '-')}-${filter}.rec`);
    writeFileSync(file, rec.body);
    await assertLate(format, file, rec.body, server);
    const decoded = await decode(file, format.demuxer);
    assert.equal(decoded.errors, '', 'ffmpeg decodes the recording without a complaint');
    assert.ok(decoded.seconds >= 2, `a few seconds of media decoded, not ${decoded.seconds} s`);
    if (format.video) {
      const first = await firstVideoFrame(file, format.demuxer);
      assert.ok(first?.key, `the first decoded video frame is a key frame (got ${JSON.stringify(first)})`);
    }
    assert.ok(format.contentTypes.includes(rec.contentType), `Content-Type ${JSON.stringify(rec.contentType)}, expected ${format.contentTypes.join(' or ')}`);
  } finally {
    await server.stop();
  }
}
