import { segmentName, type Segment } from './segment.ts';

export interface PlaylistInput {
  epoch: string;
  targetSeconds: number;
  discontinuitySequence: number;
  segments: readonly Segment[];
}

/**
 * A live media playlist (RFC 8216): no EXT-X-ENDLIST, a sliding window whose
 * EXT-X-MEDIA-SEQUENCE is the first listed segment's. Segment URIs are relative,
 * so the playlist works behind any prefix a cache or CDN puts in front.
 */
export function renderPlaylist(p: PlaylistInput): string {
  const first = p.segments[0];
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    `#EXT-X-TARGETDURATION:${p.targetSeconds}`,
    `#EXT-X-MEDIA-SEQUENCE:${first ? first.sequence : 0}`,
  ];
  if (p.discontinuitySequence > 0) lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${p.discontinuitySequence}`);
  for (const seg of p.segments) {
    if (seg.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${seg.startedAt.toISOString()}`);
    lines.push(`#EXTINF:${(seg.durationMs / 1000).toFixed(3)},`);
    lines.push(segmentName(p.epoch, seg));
  }
  return lines.join('\n') + '\n';
}
