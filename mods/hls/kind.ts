import type { StreamFormat } from '../../core/contracts/frame.ts';

/** How a format is segmented: packed audio (an ID3 timestamp, then whole frames) or transport-stream segments. */
export interface SegmentKind {
  extension: 'aac' | 'mp3' | 'ts';
  contentType: string;
  /** Packed audio carries its own timeline in an ID3 tag; TS segments carry PES timestamps and need PAT/PMT first. */
  packed: boolean;
}

const KINDS: Record<string, SegmentKind> = {
  adts: { extension: 'aac', contentType: 'audio/aac', packed: true },
  mp3: { extension: 'mp3', contentType: 'audio/mpeg', packed: true },
  mpegts: { extension: 'ts', contentType: 'video/mp2t', packed: false },
};

/** The formats HLS can carry as they are; others (Ogg, WebM, FLAC, raw) get no playlist. */
export function segmentKind(format: StreamFormat | undefined): SegmentKind | undefined {
  return format ? KINDS[format.name] : undefined;
}
