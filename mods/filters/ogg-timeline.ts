import type { FrameRewrite } from '../../core/contracts/frame.ts';
import { CAPTURE, pageCrc, pageHeader } from './ogg-page.ts';

/**
 * A chained Ogg stream may restart its granule positions with each link, and
 * players take that in their stride; but a listener moved from one live stream
 * to another (a fallback and back) whose recording is read later sees time step
 * back a little at each move, and ffmpeg reports it. For such a listener the
 * pages of the stream it was moved into get their granule positions shifted so
 * that they go on from the last one it had. Only audio-only, single-stream
 * links are shifted: a video granule (Theora) packs key-frame counts into its
 * bits, and a shift there would mean something else.
 */

/** Granule position of the last whole page in `frames` that has one, or -1. */
export function lastGranule(frames: Buffer): number {
  let found = -1;
  forEachPage(frames, (pos) => {
    const g = pageHeader(frames.subarray(pos)).granule;
    if (g > 0) found = g;
  });
  return found;
}

/** Calls `visit` with the offset of each whole page in `data`, in order; stops at bytes that are not one. */
function forEachPage(data: Buffer, visit: (pos: number, len: number) => void): void {
  let pos = 0;
  while (pos + 27 <= data.length && data.readUInt32BE(pos) === CAPTURE.readUInt32BE(0)) {
    const segments = data[pos + 26]!;
    let len = 27 + segments;
    if (pos + len > data.length) return;
    for (let i = pos + 27; i < pos + 27 + segments; i++) len += data[i]!;
    if (pos + len > data.length) return;
    visit(pos, len);
    pos += len;
  }
}

/** `frames` with every page's granule position raised by `offset` (header pages, at 0, and pages with none stay). */
export function shiftGranules(frames: Buffer, offset: number): Buffer {
  let out: Buffer | undefined;
  forEachPage(frames, (pos, len) => {
    const g = pageHeader(frames.subarray(pos, pos + len)).granule;
    if (g <= 0) return;
    // The frames are shared with every other listener: the first change copies them.
    out ??= Buffer.from(frames);
    const shifted = g + offset;
    out.writeUInt32LE(shifted % 2 ** 32, pos + 6);
    out.writeUInt32LE(Math.floor(shifted / 2 ** 32), pos + 10);
    out.writeUInt32LE(pageCrc(out, pos, len), pos + 22);
  });
  return out ?? frames;
}

/**
 * The rewrite that makes a stream joined at page `start` (after `before`, its
 * previous page, when known) follow a listener whose last page had granule
 * position `seen`; undefined when the stream already goes on from there or
 * further. `unitsPerMs` (the lead stream's rate) spaces the first page when
 * the page before it is unknown.
 */
export function continueTimeline(seen: number, start: Buffer, before: Buffer | undefined, unitsPerMs: number, startMs: number): FrameRewrite | undefined {
  const first = lastGranule(start);
  if (seen < 0 || first < 0) return undefined;
  const previous = before ? lastGranule(before) : -1;
  const step = previous >= 0 && previous < first ? first - previous : Math.max(1, Math.round(startMs * unitsPerMs));
  const offset = seen + step - first;
  if (offset <= 0) return undefined;
  return (frames) => shiftGranules(frames, offset);
}
