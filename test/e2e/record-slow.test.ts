// A recording whose target cannot keep up, with the real CLI: a fifo whose
// reader takes 2 KB/s of a 320 kbit/s stream. The recording skips frames as a
// slow listener does (a counted, logged gap), its backlog stays at the
// engine's cap, the server's memory stays flat and listeners get the stream.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { httpGet, startServer, type Server } from '../helpers/server.ts';
import { has, rss } from './streamserve-lib.ts';

const skip = has('ffmpeg') ? false : 'needs ffmpeg (not installed)';
const dir = mkdtempSync(join(tmpdir(), 'streamserve-record-slow-e2e-'));
const servers: Server[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

test('a recording to a reader that cannot keep up (a fifo read at 2 KB/s) skips frames as a counted, logged gap; memory stays flat, listeners get the stream', { skip: skip || (has('mkfifo') ? false : 'needs mkfifo'), timeout: 40_000 }, async () => {
  const src = join(dir, 'fast.mp3');
  const made = spawnSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'anoisesrc=d=20:c=pink:a=0.3', '-ac', '2', '-ar', '44100', '-b:a', '320k', '-f', 'mp3', src],
    { encoding: 'utf8', timeout: 30_000 });
  assert.equal(made.status, 0, `ffmpeg made the source: ${made.stderr}`);
  const fifo = join(dir, 'slow.fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  // The reader opens first (the recording opens a fifo without waiting for one) and takes 1 KiB every half second.
  const reader = spawn(process.execPath, ['-e', `const fs = require('fs'); const fd = fs.openSync(${JSON.stringify(fifo)}, 'r'); const b = Buffer.alloc(1024);
    setInterval(() => { if (fs.readSync(fd, b, 0, 1024, null) === 0) process.exit(0); }, 500);`], { stdio: 'ignore' });
  after(() => { reader.kill('SIGKILL'); });
  const s = await startServer(['-path', src, '-filter', 'mp3', '-realtime', '-record', fifo]);
  servers.push(s);
  const backlog: number[] = [];
  const sample = async () => {
    const st = JSON.parse((await httpGet(s.port, '/status.json')).body.toString()) as { icestats: { source: { recording: Record<string, number> }[] } };
    backlog.push(st.icestats.source[0]!.recording.backlog_bytes);
    return st.icestats.source[0]!.recording;
  };
  await sample();
  const rssBefore = rss(s.proc.pid!);
  // A listener during the stall gets the stream at its rate (its 2 s burst, then 40 KB/s).
  const listening = httpGet(s.port, '/', { ms: 4000 });
  const gap = await s.waitLog((l) => l.msg === 'recording could not keep up: frames skipped', 15_000);
  assert.ok((gap.framesSkipped as number) > 0, 'the gap says how many frames were skipped');
  const heard = await listening;
  assert.ok(heard.body.length >= 0.9 * 4 * 40_000, `the listener got ${heard.body.length} bytes in 4 s`);
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 500));
    await sample();
  }
  const rec = await sample();
  assert.ok(rec.gaps >= 1 && rec.frames_skipped >= 1, `gaps counted: ${JSON.stringify(rec)}`);
  assert.equal(rec.file, fifo, 'still recording to the fifo');
  // The engine's 64 KiB cap plus one write, which the ring bounds (64 frames of about 1045 bytes).
  assert.ok(Math.max(...backlog) <= 64 * 1024 + 64 * 1045, `the backlog stayed bounded: ${backlog.join(', ')}`);
  const grown = rss(s.proc.pid!) - rssBefore;
  assert.ok(grown < 16 << 20, `the server's memory stayed flat: ${grown} bytes more`);
  const metrics = (await httpGet(s.port, '/metrics')).body.toString();
  assert.match(metrics, /^streamserve_recording_gaps_total\{mount="\/"\} [1-9]\d*$/m);
  assert.match(metrics, /^streamserve_recording_frames_skipped_total\{mount="\/"\} [1-9]\d*$/m);
  assert.equal(await s.stop(), 0);
});
