/**
 * Shared pieces of the HLS end-to-end tests: a server with live channels made
 * by ffmpeg in real time, playlist parsing, and fetching. Not a test file itself.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root, startServer, type Server } from '../helpers/server.ts';

export function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

export const noFfmpeg = has('ffmpeg') ? false : 'ffmpeg is not installed (apt-get install ffmpeg)';

/** ffmpeg making a sine tone in real time to stdout, in the given output format. */
function tone(codec: string[], format: string): string[] {
  return ['ffmpeg', '-v', 'error', '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', ...codec, '-f', format, '-'];
}

export const SOURCES = {
  mp3: { filter: 'mp3', exec: tone(['-c:a', 'libmp3lame', '-b:a', '64k'], 'mp3') },
  aac: { filter: 'adts', exec: tone(['-c:a', 'aac', '-b:a', '64k'], 'adts') },
  ts: { filter: 'mpegts', exec: tone(['-c:a', 'aac', '-b:a', '64k'], 'mpegts') },
} as const;

export interface HlsServer { server: Server; dir: string; base: string; stop(): Promise<void> }

/** An admin user (`users/admin.ini`) who may set any channel's title through /admin/metadata. */
export const ADMIN = { user: 'admin', password: 'hls-test-secret' };

/** A server with one channel per entry (`/NAME`), each fed by its ffmpeg tone, and the ADMIN user; `hls` settings may be given. */
export async function startHlsServer(channels: Record<string, { filter: string; exec: readonly string[] }>, hls: Record<string, unknown> = {}): Promise<HlsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'streamserve-hls-'));
  mkdirSync(join(dir, 'users'));
  writeFileSync(join(dir, 'users', `${ADMIN.user}.ini`), `[DEFAULT]\npassword=${ADMIN.password}\nadmin=true\n`);
  writeFileSync(join(dir, '.streamserverc.json'), JSON.stringify({
    hls,
    channels: Object.entries(channels).map(([name, c]) => ({ mount: `/${name}`, filter: c.filter, exec: [...c.exec] })),
  }));
  const server = await startServer(['-mods', join(root, 'main.mods'), '-users-dir', join(dir, 'users')], { cwd: dir });
  return {
    server, dir, base: `http://127.0.0.1:${server.port}`,
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Listed { sequence: number; uri: string; durationMs: number; programDateTime: number; discontinuity: boolean }

/** The parts of a live media playlist the tests look at. */
export function parsePlaylist(text: string): { targetSeconds: number; mediaSequence: number; segments: Listed[] } {
  const lines = text.split('\n');
  const num = (tag: string) => Number(lines.find((l) => l.startsWith(tag))?.slice(tag.length) ?? NaN);
  const mediaSequence = num('#EXT-X-MEDIA-SEQUENCE:');
  const segments: Listed[] = [];
  let pdt = NaN;
  let dur = NaN;
  let disc = false;
  for (const line of lines) {
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdt = Date.parse(line.slice(25));
    else if (line.startsWith('#EXTINF:')) dur = Number(line.slice(8).split(',')[0]) * 1000;
    else if (line === '#EXT-X-DISCONTINUITY') disc = true;
    else if (line && !line.startsWith('#')) {
      segments.push({ sequence: mediaSequence + segments.length, uri: line, durationMs: dur, programDateTime: pdt, discontinuity: disc });
      disc = false;
    }
  }
  return { targetSeconds: num('#EXT-X-TARGETDURATION:'), mediaSequence, segments };
}

/** Runs a command to its end (killed after `ms`), with its stderr. */
export function run(cmd: string, args: string[], ms: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), ms);
    p.on('close', (code) => { clearTimeout(t); resolve({ code, stderr }); });
  });
}

/** The server's own HLS figures (`/status.json`'s `hls` section). */
export async function hlsStats(base: string): Promise<{ playlistRequests: number; segmentRequests: number; notModified: number; channels: { mount: string; segmentsCut: number; listed: number[] }[] }> {
  const res = await fetch(`${base}/status.json?listeners=0`);
  return ((await res.json()) as { hls: never }).hls;
}
