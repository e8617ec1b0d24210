import type { StreamFormat } from '../../core/contracts/frame.ts';
import { elementData, forEachChild, readFloat, readString, readUint } from './ebml-reader.ts';
import { ID } from './webm-elements.ts';

/** What the webm filter needs to know of a TrackEntry. */
export interface WebmTrack {
  number: number;
  kind: 'video' | 'audio' | 'other';
  /** The CodecID as written (`V_VP8`, `A_OPUS`, …). */
  codecId: string;
  width?: number;
  height?: number;
  rate?: number;
  channels?: number;
}

const TRACK_ENTRY = 0xae;
const TRACK_NUMBER = 0xd7;
const TRACK_TYPE = 0x83;
const CODEC_ID = 0x86;
const VIDEO = 0xe0;
const AUDIO = 0xe1;
const PIXEL_WIDTH = 0xb0;
const PIXEL_HEIGHT = 0xba;
const SAMPLING_FREQUENCY = 0xb5;
const CHANNELS = 0x9f;

/** The DocType of an EBML header element (`webm`, `matroska`); Matroska's default when it has none. */
export function readDocType(el: Buffer): string {
  const span = elementData(el);
  let docType = 'matroska';
  if (span) forEachChild(el, span.start, span.end, (id, s, e) => { if (id === ID.DOC_TYPE) docType = readString(el, s, e); });
  return docType;
}

/** The TimecodeScale of an Info element in nanoseconds per timecode tick (default 1 ms). */
export function readTimecodeScale(el: Buffer): number {
  const span = elementData(el);
  let scale = 1_000_000;
  if (span) {
    forEachChild(el, span.start, span.end, (id, s, e) => {
      if (id !== ID.TIMECODE_SCALE) return;
      const v = readUint(el, s, e);
      if (v > 0) scale = v;
    });
  }
  return scale;
}

/** The entries of a Tracks element, in the order written; entries without a track number are left out. */
export function readTracks(el: Buffer): WebmTrack[] {
  const span = elementData(el);
  const tracks: WebmTrack[] = [];
  if (!span) return tracks;
  forEachChild(el, span.start, span.end, (id, s, e) => {
    if (id !== TRACK_ENTRY) return;
    const t: WebmTrack = { number: 0, kind: 'other', codecId: '' };
    let type = 0;
    forEachChild(el, s, e, (cid, cs, ce) => {
      if (cid === TRACK_NUMBER) t.number = readUint(el, cs, ce);
      else if (cid === TRACK_TYPE) type = readUint(el, cs, ce);
      else if (cid === CODEC_ID) t.codecId = readString(el, cs, ce);
      else if (cid === VIDEO) {
        forEachChild(el, cs, ce, (vid, vs, ve) => {
          if (vid === PIXEL_WIDTH) t.width = readUint(el, vs, ve);
          else if (vid === PIXEL_HEIGHT) t.height = readUint(el, vs, ve);
        });
      } else if (cid === AUDIO) {
        t.rate = 8000;
        t.channels = 1;
        forEachChild(el, cs, ce, (aid, as, ae) => {
          if (aid === SAMPLING_FREQUENCY) t.rate = readFloat(el, as, ae);
          else if (aid === CHANNELS) t.channels = readUint(el, as, ae);
        });
      }
    });
    // TrackType says it; the CodecID's prefix is the fallback for writers that leave it out.
    t.kind = type === 1 || (!type && t.codecId.startsWith('V_')) ? 'video' : type === 2 || (!type && t.codecId.startsWith('A_')) ? 'audio' : 'other';
    if (t.number > 0 && Number.isSafeInteger(t.number)) tracks.push(t);
  });
  return tracks;
}

const CODEC_NAMES: [prefix: string, name: string][] = [
  ['V_VP8', 'vp8'], ['V_VP9', 'vp9'], ['V_AV1', 'av1'], ['V_MPEG4/ISO/AVC', 'h264'], ['V_MPEGH/ISO/HEVC', 'hevc'],
  ['V_MPEG4/', 'mpeg4'], ['V_MPEG2', 'mpeg2'], ['V_MPEG1', 'mpeg1'], ['V_THEORA', 'theora'], ['V_PRORES', 'prores'],
  ['V_FFV1', 'ffv1'], ['V_MJPEG', 'mjpeg'], ['A_OPUS', 'opus'], ['A_VORBIS', 'vorbis'], ['A_AAC', 'aac'],
  ['A_MPEG/L3', 'mp3'], ['A_MPEG/L2', 'mp2'], ['A_MPEG/L1', 'mp1'], ['A_FLAC', 'flac'], ['A_EAC3', 'eac3'],
  ['A_AC3', 'ac3'], ['A_DTS', 'dts'], ['A_TRUEHD', 'truehd'], ['A_ALAC', 'alac'], ['A_PCM/', 'pcm'],
];

/** A short codec name for a CodecID: the common ones by name, others lower-cased without the `V_`/`A_` prefix. */
export function codecName(codecId: string): string {
  for (const [prefix, name] of CODEC_NAMES) if (codecId.startsWith(prefix)) return name;
  return codecId.replace(/^[A-Z]_/, '').toLowerCase() || 'unknown';
}

/** The stream format and Content-Type the tracks make: video tracks first, then audio; other tracks are not media codecs. */
export function describeTracks(tracks: WebmTrack[], docType: string): { format: StreamFormat; contentType: string } {
  const media = [...tracks.filter((t) => t.kind === 'video'), ...tracks.filter((t) => t.kind === 'audio')];
  const codec = media.map((t) => codecName(t.codecId)).join('+');
  const params = media
    .map((t) => (t.kind === 'video' ? `${codecName(t.codecId)} ${t.width ?? '?'}x${t.height ?? '?'}` : `${codecName(t.codecId)} ${t.rate}Hz ${t.channels}ch`))
    .join(', ');
  const hasVideo = media.some((t) => t.kind === 'video');
  const kind = hasVideo ? 'video' : 'audio';
  const contentType = docType === 'webm' ? `${kind}/webm` : `${kind}/x-matroska`;
  const format: StreamFormat = { name: 'webm' };
  if (codec) format.codec = codec;
  if (params) format.params = params;
  return { format, contentType };
}
