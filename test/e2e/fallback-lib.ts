/**
 * Shared pieces of the fallback end-to-end tests: a server with Icecast
 * publishing and a settings file, ffmpeg broadcasters that can be dropped and
 * brought back, and a listener whose recording is checked by ffmpeg's decoder.
 * Not a test file itself.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Server } from '../helpers/server.ts';
import { decodeErrors, fixture, has, listen, parseResponse, startWith, type Fixture, type Peer } from './icecast-lib.ts';

export const noFfmpeg = has('ffmpeg') ? false : 'ffmpeg is not installed (apt-get install ffmpeg)';

/** Just what the tests need, in main.mods order. */
export const MODS = ['server', 'filters', 'http', 'source', 'channels', 'fallback', 'status', 'metrics', 'icecast', 'users'];

/** ffmpeg arguments that encode a sine tone in real time, for one format, up to the output. */
export const ENCODE = {
  mp3: (hz: number) => ['-re', '-f', 'lavfi', '-i', `sine=frequency=${hz}:sample_rate=44100`, '-c:a', 'libmp3lame', '-b:a', '128k'],
  opus: (hz: number) => ['-re', '-f', 'lavfi', '-i', `sine=frequency=${hz}:sample_rate=48000`, '-c:a', 'libopus', '-b:a', '64k', '-page_duration', '100000'],
};
const MUXER = { mp3: 'mp3', opus: 'ogg' } as const;
const TYPE = { mp3: 'audio/mpeg', opus: 'audio/ogg' } as const;

/** An `exec` channel's command: the tone on standard output. */
export function toneCommand(format: keyof typeof ENCODE, hz: number): string[] {
  return ['ffmpeg', '-v', 'error', ...ENCODE[format](hz), '-f', MUXER[format], '-'];
}

/** A fixture (user fier, password 123) whose working directory holds `.streamserverc.json` with `settings`. */
export function fallbackFixture(settings: (f: Fixture) => Record<string, unknown>): Fixture {
  const f = fixture({ fier: 'password=123' }, MODS);
  writeFileSync(join(f.dir, '.streamserverc.json'), JSON.stringify(settings(f)));
  return f;
}

export function start(f: Fixture): Promise<Server> {
  return startWith(f);
}

export interface Broadcaster { kill(): Promise<void> }

/** ffmpeg publishing a tone to `mount` over Icecast (PUT), until killed. */
export async function broadcast(s: Server, mount: string, format: keyof typeof ENCODE, hz: number): Promise<Broadcaster> {
  const before = s.logs.filter((l) => l.msg === 'source connected' && l.mount === mount).length;
  const proc = spawn('ffmpeg', ['-v', 'error', ...ENCODE[format](hz), '-content_type', TYPE[format], '-f', MUXER[format],
    `icecast://fier:123@127.0.0.1:${s.port}${mount}`], { stdio: ['ignore', 'ignore', 'ignore'] });
  const exited = once(proc, 'exit');
  await s.waitLog((l) => l.msg === 'source connected' && l.mount === mount
    && s.logs.filter((x) => x.msg === 'source connected' && x.mount === mount).length > before, 8000);
  return {
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** The number of log lines matching so far. */
export function count(s: Server, match: (l: Record<string, unknown>) => boolean): number {
  return s.logs.filter(match).length;
}

/** Waits for the `n`th log line matching. */
export function nth(s: Server, n: number, match: (l: Record<string, unknown>) => boolean, ms = 8000): Promise<Record<string, unknown>> {
  return s.waitLog((l) => match(l) && count(s, match) >= n, ms);
}

export const movedTo = (home: string, to: string) => (l: Record<string, unknown>) => l.mod === 'fallback' && l.mount === home && l.to === to;

export function bodyOf(peer: Peer): Buffer {
  return parseResponse(peer.received())?.body ?? Buffer.alloc(0);
}

/** Waits until the listener has `more` body bytes beyond what it had: the stream goes on. */
export async function flows(peer: Peer, more: number, what: string, ms = 6000): Promise<void> {
  const had = bodyOf(peer).length;
  await peer.until(() => bodyOf(peer).length >= had + more, what, ms);
}

/** Writes what the listener got to a file and returns ffmpeg's complaints ('' when it decodes cleanly). */
export async function recordingErrors(f: Fixture, peer: Peer, name: string): Promise<string> {
  const file = join(f.dir, name);
  writeFileSync(file, bodyOf(peer));
  return decodeErrors(file);
}

export async function statusJson(s: Server): Promise<Record<string, any>> {
  const res = await fetch(`http://127.0.0.1:${s.port}/status.json?listeners=0`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  return (await res.json()) as Record<string, any>;
}

/** Listeners on a mount as /status.json tells them. */
export async function listenersOn(s: Server, mount: string): Promise<number> {
  const st = await statusJson(s);
  const src = (st.icestats.source as Record<string, any>[]).find((x) => x.mount === mount || x.listenurl?.endsWith(mount));
  return Number(src?.listeners ?? 0);
}

export { listen, sleep };
