/**
 * Test tools for the Annex B filters (h264, hevc): ffmpeg runs, an independent
 * NAL unit splitter, a bit writer for hand-made parameter sets, and a feeder
 * that records what a framer emits.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { Framer } from '../../core/contracts/frame.ts';

export const HAVE_FFMPEG = spawnSync('ffmpeg', ['-version']).status === 0 && spawnSync('ffprobe', ['-version']).status === 0;
export const NO_FFMPEG = HAVE_FFMPEG ? false : 'ffmpeg/ffprobe are not installed';

/** Runs ffmpeg quietly; throws with its error output when it fails. */
export function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-nostdin', '-y', ...args], { timeout: 60_000, encoding: 'utf8' });
  assert.equal(r.status, 0, `ffmpeg ${args.join(' ')} failed: ${r.stderr}`);
}

/** What `ffmpeg -v error` says while decoding `file` as `format` (empty when it decodes cleanly). */
export function decodeErrors(file: string, format: string): string {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-nostdin', '-f', format, '-i', file, '-f', 'null', '-'], { timeout: 60_000, encoding: 'utf8' });
  return `${r.stderr}${r.status === 0 ? '' : `(exit ${r.status})`}`;
}

/** key_frame and pict_type of the first decoded frame, and how many frames decode. */
export function probeFrames(file: string, format: string): { firstKey: string; firstType: string; count: number } {
  const r = spawnSync('ffprobe', ['-v', 'error', '-f', format, '-select_streams', 'v:0', '-show_frames', '-show_entries', 'frame=key_frame,pict_type', '-of', 'csv=p=0', file], { timeout: 60_000, encoding: 'utf8' });
  assert.equal(r.status, 0, `ffprobe failed: ${r.stderr}`);
  // Side data (SEI messages) may add lines of their own; frames are the lines "key_frame,pict_type".
  const frames = r.stdout.split('\n').map((l) => l.split(',')).filter((f) => /^[01]$/.test(f[0] ?? '') && /^[IPB?]$/.test(f[1] ?? ''));
  return { firstKey: frames[0]?.[0] ?? '', firstType: frames[0]?.[1] ?? '', count: frames.length };
}

/** SPS/PPS (and VPS) fields as ffmpeg's own parser reads them: `name -> values in order`. */
export function traceHeaders(file: string, format: string): Map<string, number[]> {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-nostdin', '-f', format, '-i', file, '-c', 'copy', '-bsf:v', 'trace_headers', '-f', 'null', '-'], { timeout: 60_000, encoding: 'utf8' });
  const fields = new Map<string, number[]>();
  for (const m of r.stderr.matchAll(/\]\s+\d+\s+(\S+)\s+[01]+ = (-?\d+)/g)) {
    const list = fields.get(m[1]!) ?? [];
    list.push(Number(m[2]));
    fields.set(m[1]!, list);
  }
  return fields;
}

export interface Nal {
  /** Offset of the start code (with its zero_byte when there is one). */
  start: number;
  /** Offset of the NAL header. */
  at: number;
  /** End of the NAL unit (where the next one's start code begins, or the end). */
  end: number;
}

/** The NAL units of an Annex B stream, found byte by byte (independently of the filters' scanner). */
export function splitNals(data: Buffer): Nal[] {
  const out: Nal[] = [];
  let zeros = 0;
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    if (b === 1 && zeros >= 2) {
      const start = i - (zeros >= 3 ? 3 : 2);
      if (out.length) out[out.length - 1]!.end = start;
      out.push({ start, at: i + 1, end: data.length });
    }
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out;
}

/** `data` without the NAL units `drop` rejects. */
export function withoutNals(data: Buffer, drop: (nal: Nal, index: number) => boolean): Buffer {
  const nals = splitNals(data);
  const keep: Buffer[] = [data.subarray(0, nals[0]?.start ?? data.length)];
  nals.forEach((n, i) => { if (!drop(n, i)) keep.push(data.subarray(n.start, n.end)); });
  return Buffer.concat(keep);
}

/** Writes RBSP bits: fixed-width fields and Exp-Golomb codes, for hand-made parameter sets. */
export class BitWriter {
  private readonly bits: number[] = [];

  u(n: number, v: number): this {
    for (let i = n - 1; i >= 0; i--) this.bits.push(Math.floor(v / 2 ** i) % 2);
    return this;
  }

  flag(v: boolean | number): this {
    return this.u(1, v ? 1 : 0);
  }

  ue(v: number): this {
    const len = Math.floor(Math.log2(v + 1));
    return this.u(len, 0).u(len + 1, v + 1);
  }

  se(v: number): this {
    return this.ue(v > 0 ? 2 * v - 1 : -2 * v);
  }

  /** The NAL unit: `header` bytes, then the bits with the stop bit, alignment and emulation prevention. */
  nal(header: number[]): Buffer {
    const bits = [...this.bits, 1];
    while (bits.length % 8) bits.push(0);
    const rbsp: number[] = [];
    for (let i = 0; i < bits.length; i += 8) rbsp.push(bits.slice(i, i + 8).reduce((a, b) => a * 2 + b, 0));
    const out = [...header];
    let zeros = 0;
    for (const b of rbsp) {
      if (zeros >= 2 && b <= 3) {
        out.push(3);
        zeros = 0;
      }
      out.push(b);
      zeros = b === 0 ? zeros + 1 : 0;
    }
    return Buffer.from(out);
  }
}

export interface Emitted {
  frames: Buffer[];
  durations: number[];
  syncs: boolean[];
  /** The framer's header as read after each emit. */
  headers: (Buffer | undefined)[];
  /** Bytes pushed so far minus bytes emitted and counted invalid: what the framer holds. */
  maxHeld: number;
}

/** Pushes `chunks` and records every frame (copied: a frame may be a view of a chunk). */
export function feed(framer: Framer, chunks: Iterable<Buffer>): Emitted {
  const out: Emitted = { frames: [], durations: [], syncs: [], headers: [], maxHeld: 0 };
  let pushed = 0;
  let emitted = 0;
  for (const c of chunks) {
    pushed += c.length;
    framer.push(c, (frame, ms, sync) => {
      out.frames.push(Buffer.from(frame));
      out.durations.push(ms);
      out.syncs.push(sync !== false);
      out.headers.push(framer.header);
      emitted += frame.length;
    });
    out.maxHeld = Math.max(out.maxHeld, pushed - emitted - framer.invalidBytes);
  }
  return out;
}

export function assertSameFrames(got: Emitted, want: Emitted, what: string): void {
  assert.equal(got.frames.length, want.frames.length, `${what}: frame count`);
  for (let i = 0; i < want.frames.length; i++) {
    assert.ok(got.frames[i]!.equals(want.frames[i]!), `${what}: frame ${i} differs`);
    assert.equal(got.durations[i], want.durations[i], `${what}: duration of frame ${i}`);
    assert.equal(got.syncs[i], want.syncs[i], `${what}: sync flag of frame ${i}`);
  }
}

/**
 * What a listener joining at the first sync point at or after `fraction` of
 * the frames receives (header as of that frame, then the frames), written to
 * `file`; returns the index of that frame.
 */
export function writeLateJoin(out: Emitted, fraction: number, file: string): number {
  const from = out.syncs.findIndex((s, i) => s && i >= out.frames.length * fraction);
  assert.ok(from > 0, 'a sync point after the start');
  const header = out.headers[from];
  assert.ok(header, 'a header is known at the sync point');
  writeFileSync(file, Buffer.concat([header, ...out.frames.slice(from)]));
  return from;
}

/** A start code and a NAL header with forbidden_zero_bit set, then `n` bytes of noise without zeros. */
export function junkNal(n: number, r: () => number): Buffer {
  const b = Buffer.alloc(4 + n);
  b.set([0, 0, 1, 0x80 | Math.floor(r() * 128)]);
  for (let i = 4; i < b.length; i++) b[i] = 1 + Math.floor(r() * 255);
  return b;
}

/** Noise without zero bytes: it can hold no start code. */
export function noZeros(n: number, r: () => number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = 1 + Math.floor(r() * 255);
  return b;
}
