// Recording with the real CLI: an MP3 file played in real time (-realtime) is
// recorded with -record and a rotation by time or by size, and the server is
// stopped before the file ends. Every file decodes on its own, and the files,
// less the frame a rotation repeats at the start of the next file, are one
// unbroken run of the source's frames up to the stop.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { httpGet, startServer, type Server } from '../helpers/server.ts';
import { has } from './streamserve-lib.ts';

const skip = has('ffmpeg') ? false : 'needs ffmpeg (not installed)';
const dir = mkdtempSync(join(tmpdir(), 'streamserve-record-e2e-'));
const servers: Server[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

const SECONDS = 12;
/** How long the server records before it is stopped. */
const RECORD_MS = 6500;
let source: Buffer | undefined;
/** Pink noise (no two frames alike) as bare MPEG-1 layer III frames: no ID3 tag, no Xing frame. */
function noiseMp3(): Buffer {
  if (source) return source;
  const file = join(dir, 'noise.mp3');
  const r = spawnSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `anoisesrc=d=${SECONDS}:c=pink:a=0.3`, '-ac', '1', '-ar', '44100', '-b:a', '64k',
    '-write_xing', '0', '-id3v2_version', '0', '-f', 'mp3', file], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `ffmpeg made the source: ${r.stderr}`);
  return (source = readFileSync(file));
}

/** Frames of a CBR MPEG-1 layer III stream, read from their headers. */
function frames(bytes: Buffer): Buffer[] {
  const kbps = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
  const hz = [44100, 48000, 32000];
  const out: Buffer[] = [];
  for (let p = 0; p < bytes.length;) {
    assert.ok(bytes[p] === 0xff && (bytes[p + 1]! & 0xfe) === 0xfa, `an MPEG-1 layer III header at ${p}`);
    const size = Math.floor((144 * kbps[bytes[p + 2]! >> 4]! * 1000) / hz[(bytes[p + 2]! >> 2) & 3]!) + ((bytes[p + 2]! >> 1) & 1);
    out.push(bytes.subarray(p, p + size));
    p += size;
  }
  return out;
}

/** Runs the server on the noise file with `flags`, stops it after RECORD_MS; returns the files in the order made. */
async function record(name: string, flags: string[], during?: (s: Server) => Promise<void>): Promise<string[]> {
  const src = join(dir, `${name}.mp3`);
  writeFileSync(src, noiseMp3());
  const started = Date.now();
  const s = await startServer(['-path', src, '-filter', 'mp3', '-realtime', '-record', join(dir, name, '%Y%m%d-%H%M%S.mp3'), ...flags]);
  servers.push(s);
  await during?.(s);
  await new Promise((r) => setTimeout(r, started + RECORD_MS - Date.now()));
  assert.equal(await s.stop(), 0, `exit code 0 after SIGTERM; stderr: ${s.stderr()}`);
  assert.ok(!s.logs.some((l) => l.msg === 'recording could not keep up: frames skipped'), 'no gap');
  assert.equal(s.logs.filter((l) => l.msg === 'source opened').length, 1, 'the source played once, without a reopen');
  const made = s.logs.filter((l) => l.msg === 'recording to a new file');
  opened.set(name, made.map((l) => Number(l.time)));
  return made.map((l) => String(l.file));
}
/** When each recording's files were opened (log times, ms), by recording name. */
const opened = new Map<string, number[]>();

/**
 * Each file decodes without a word from ffmpeg; together, less repeated frames
 * at the joins, they are the source's frames from (about) its start up to the
 * stop, with none missing, none torn and none out of order.
 */
function checkFiles(files: string[]): void {
  const all: Buffer[] = [];
  for (const file of files) {
    const dec = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(dec.status, 0, `ffmpeg decodes ${file} (${statSync(file).size} bytes): ${dec.stderr}`);
    assert.equal(dec.stdout + dec.stderr, '', `ffmpeg has nothing to say about ${file}`);
    const own = frames(readFileSync(file));
    // A rotation starts the next file at the newest frame, which the last file may already have.
    if (all.length && own[0]!.equals(all.at(-1)!)) own.shift();
    all.push(...own);
  }
  const want = frames(noiseMp3());
  // The recording joins as the channel is made, before the source's first frame or within its first few.
  const first = want.findIndex((f) => f.equals(all[0]!));
  assert.ok(first >= 0 && first < 10, `the recording starts at source frame ${first}`);
  // 38.28 MPEG-1 layer III frames a second at 44.1 kHz; the server ran RECORD_MS less its start-up.
  assert.ok(all.length > 4 * 38 && first + all.length < want.length, `the files hold ${all.length} frames of ${want.length}`);
  for (let i = 0; i < all.length; i++) assert.ok(all[i]!.equals(want[first + i]!), `recorded frame ${i} is source frame ${first + i}`);
}

test('time rotation: a file every 2 s, each decodes, together they are the stream; status and metrics count the bytes', { skip, timeout: 40_000 }, async () => {
  let status: Record<string, unknown> | undefined;
  let metrics = '';
  const files = await record('time', ['-record-rotate-every', '2s'], async (s) => {
    await new Promise((r) => setTimeout(r, 3000));
    const st = await httpGet(s.port, '/status.json');
    status = (JSON.parse(st.body.toString()) as { icestats: { source: Record<string, unknown>[] } }).icestats.source[0]!.recording as Record<string, unknown>;
    metrics = (await httpGet(s.port, '/metrics')).body.toString();
  });
  assert.ok(status, 'the status has a recording');
  assert.equal(status.path, join(dir, 'time', '%Y%m%d-%H%M%S.mp3'));
  assert.ok((status.bytes as number) > 10_000 && (status.files as number) >= 1, `bytes and files: ${JSON.stringify(status)}`);
  assert.equal(status.gaps, 0);
  assert.equal(status.frames_skipped, 0);
  assert.equal(status.errors, 0);
  assert.match(String(status.file), /time\/\d{8}-\d{6}(-\d+)?\.mp3$/);
  assert.match(metrics, /^streamserve_recording_bytes_total\{mount="\/"\} [1-9]\d*$/m);
  assert.match(metrics, /^streamserve_recording_gaps_total\{mount="\/"\} 0$/m);
  assert.match(metrics, /^streamserve_recording_frames_skipped_total\{mount="\/"\} 0$/m);
  assert.ok(files.length >= 3, `a file about every 2 s: ${files.join(', ')}`);
  // After the first, files start on the 2 s boundaries (a loaded machine may delay a timer, never skip one).
  const times = opened.get('time')!;
  for (let i = 2; i < times.length; i++) {
    const apart = times[i]! - times[i - 1]!;
    assert.ok(apart > 1000 && apart < 3000, `files ${i - 1} and ${i} opened ${apart} ms apart`);
  }
  checkFiles(files);
});

test('size rotation: a new file once one holds 16000 bytes', { skip, timeout: 40_000 }, async () => {
  const files = await record('size', ['-record-rotate-bytes', '16000']);
  assert.ok(files.length >= 3, `over 5 s of 64 kbit/s in files of 16000 bytes: ${files.join(', ')}`);
  for (const f of files.slice(0, -1)) {
    const size = statSync(f).size;
    assert.ok(size >= 16000 && size <= 16000 + 2000, `${f} holds ${size} bytes: the limit and the frames on their way`);
  }
  checkFiles(files);
});

test('a recording that cannot open its file is a counted error and leaves listeners alone', { skip, timeout: 30_000 }, async () => {
  const src = join(dir, 'err.mp3');
  writeFileSync(src, noiseMp3());
  const notADir = join(dir, 'plain-file');
  writeFileSync(notADir, 'x');
  const s = await startServer(['-path', src, '-filter', 'mp3', '-realtime', '-record', join(notADir, '%s.mp3')]);
  servers.push(s);
  const res = await httpGet(s.port, '/', { ms: 2500 });
  assert.equal(res.status, 200);
  assert.ok(res.body.length > 2 * 8000, `the listener got the stream: ${res.body.length} bytes`);
  const failed = await s.waitLog((l) => l.msg === 'recording failed; trying again shortly', 5000);
  assert.match(String(failed.reason), /ENOTDIR|EEXIST/);
  const st = JSON.parse((await httpGet(s.port, '/status.json')).body.toString()) as { icestats: { source: { recording: Record<string, unknown> }[] } };
  const rec = st.icestats.source[0]!.recording;
  assert.ok((rec.errors as number) >= 1, `errors counted: ${JSON.stringify(rec)}`);
  assert.equal(rec.file, null);
  assert.equal(await s.stop(), 0);
});
