import { createHash } from 'node:crypto';
import type { SegmentKind } from './kind.ts';

/** One cut segment: its bytes are copied once when cut and dropped when it leaves the window. */
export interface Segment {
  sequence: number;
  kind: SegmentKind;
  durationMs: number;
  /** Wall-clock time of its first sample (EXT-X-PROGRAM-DATE-TIME). */
  startedAt: Date;
  /** A discontinuity comes before it: a new source run, a format change, or frames the segmenter missed. */
  discontinuity: boolean;
  body: Buffer;
  /** Strong: a hash of the bytes, so a cache can trust it across restarts. */
  etag: string;
}

export function segmentName(epoch: string, s: Pick<Segment, 'sequence' | 'kind'>): string {
  return `seg-${epoch}-${s.sequence}.${s.kind.extension}`;
}

export function strongEtag(body: Buffer | string): string {
  return `"${createHash('sha1').update(body).digest('base64url')}"`;
}
