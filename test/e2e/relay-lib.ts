/**
 * Shared pieces of the relay end-to-end tests: an MP3 fixture made with
 * ffmpeg, a walker that checks a listener's bytes are whole MPEG audio frames
 * back to back, and a look at a server's /status.json. Not a test file itself.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { httpGet } from '../helpers/server.ts';

/** A CBR 64 kbit/s 44.1 kHz MPEG-1 Layer III tone of `seconds`, written into `dir`. */
export function makeMp3(dir: string, seconds = 20, freq = 440): string {
  const file = join(dir, `tone-${freq}.mp3`);
  const r = spawnSync('ffmpeg', ['-hide_banner', '-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=${freq}:duration=${seconds}`,
    '-c:a', 'libmp3lame', '-b:a', '64k', '-ar', '44100', '-ac', '1', '-write_xing', '0', '-id3v2_version', '0', file]);
  if (r.status !== 0) throw new Error(`ffmpeg could not make the fixture: ${r.stderr}`);
  return file;
}

const BITRATES_V1_L3 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0];
const RATES_V1 = [44100, 48000, 32000, 0];

/** Length of the MPEG-1 Layer III frame whose header is at `at`, or 0 when there is none. */
function frameLength(b: Buffer, at: number): number {
  if (at + 4 > b.length || b[at] !== 0xff || (b[at + 1]! & 0xfe) !== 0xfa) return 0;
  const kbps = BITRATES_V1_L3[b[at + 2]! >> 4]!;
  const rate = RATES_V1[(b[at + 2]! >> 2) & 3]!;
  if (!kbps || !rate) return 0;
  return Math.floor((144 * kbps * 1000) / rate) + ((b[at + 2]! >> 1) & 1);
}

/**
 * Walks MPEG-1 Layer III frames from the first byte: how many whole frames,
 * and where the walk broke (-1: it did not; a trailing partial frame is no break).
 */
export function walkMp3(b: Buffer): { frames: number; brokeAt: number } {
  let at = 0;
  let frames = 0;
  while (at + 4 <= b.length) {
    const len = frameLength(b, at);
    if (!len) return { frames, brokeAt: at };
    if (at + len > b.length) break;
    at += len;
    frames++;
  }
  return { frames, brokeAt: -1 };
}

export interface RelayFigures {
  mount: string;
  up: boolean;
  via: string[];
  outages: number;
  outageMs: number;
  down: boolean;
  lastError?: string;
  mirrored: boolean;
}

/** The server's /status.json: its channels' mounts and its relay section. */
export async function status(port: number): Promise<{ mounts: string[]; relay: { serverId: string; channels: RelayFigures[] }; raw: Record<string, unknown> }> {
  const res = await httpGet(port, '/status.json', { ms: 3000 });
  const doc = JSON.parse(res.body.toString('utf8')) as { icestats: { source: { mount: string }[] }; relay: { serverId: string; channels: RelayFigures[] } };
  return { mounts: doc.icestats.source.map((s) => s.mount), relay: doc.relay, raw: doc as unknown as Record<string, unknown> };
}
