import { BAD, type ElementHeader, NEED_MORE, OK, readHeader, UNKNOWN_SIZE, vintLength } from './ebml-reader.ts';

/** The Matroska element IDs the webm filter looks at (IDs keep their length marker, as written). */
export const ID = {
  EBML: 0x1a45dfa3,
  DOC_TYPE: 0x4282,
  SEGMENT: 0x18538067,
  SEEK_HEAD: 0x114d9b74,
  INFO: 0x1549a966,
  TIMECODE_SCALE: 0x2ad7b1,
  TRACKS: 0x1654ae6b,
  CLUSTER: 0x1f43b675,
  CUES: 0x1c53bb6b,
  CHAPTERS: 0x1043a770,
  TAGS: 0x1254c367,
  ATTACHMENTS: 0x1941a469,
  VOID: 0xec,
  CRC32: 0xbf,
  TIMECODE: 0xe7,
  SILENT_TRACKS: 0x5854,
  POSITION: 0xa7,
  PREV_SIZE: 0xab,
  SIMPLE_BLOCK: 0xa3,
  BLOCK_GROUP: 0xa0,
  BLOCK: 0xa1,
  REFERENCE_BLOCK: 0xfb,
  ENCRYPTED_BLOCK: 0xaf,
} as const;

/** Children of the Segment, plus what starts a new stream: any of them ends a Cluster (of unknown size above all). */
export const ENDS_CLUSTER = new Set<number>([ID.EBML, ID.SEGMENT, ID.SEEK_HEAD, ID.INFO, ID.TRACKS, ID.CLUSTER, ID.CUES, ID.CHAPTERS, ID.TAGS, ID.ATTACHMENTS]);

/** Segment children a decoder joining mid-stream does without: index, metadata, padding. */
export const SKIPPED_AT_SEGMENT_LEVEL = new Set<number>([ID.SEEK_HEAD, ID.CUES, ID.CHAPTERS, ID.TAGS, ID.ATTACHMENTS, ID.VOID, ID.CRC32]);

/** Cluster children other than blocks, passed through inside the frames. */
export const CLUSTER_EXTRAS = new Set<number>([ID.TIMECODE, ID.SILENT_TRACKS, ID.POSITION, ID.PREV_SIZE, ID.VOID, ID.CRC32, ID.ENCRYPTED_BLOCK]);

const EBML_HEADER_CHILDREN = new Set<number>([0x4286, 0x42f7, 0x42f2, 0x42f3, ID.DOC_TYPE, 0x4287, 0x4285, ID.VOID, ID.CRC32]);
const SEGMENT_FIRST_CHILDREN = new Set<number>([...ENDS_CLUSTER, ID.VOID, ID.CRC32]);
SEGMENT_FIRST_CHILDREN.delete(ID.EBML);
SEGMENT_FIRST_CHILDREN.delete(ID.SEGMENT);

/** The four bytes of each ID a resynchronising reader looks for. */
export const ANCHORS: readonly Buffer[] = [ID.CLUSTER, ID.EBML, ID.SEGMENT].map((id) => Buffer.from([id >>> 24, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]));

/**
 * Whether a Cluster, EBML header or Segment really starts at `p`, where one of
 * the ANCHORS' bytes are (OK, BAD, or NEED_MORE when `data` ends too soon to
 * tell): four matching bytes are not enough among junk or audio data, so the
 * element's size must be well-formed and its first child one that element
 * begins with. `headerCap` bounds an EBML header's size.
 */
export function checkAnchor(data: Buffer, p: number, headerCap: number): number {
  const h: ElementHeader = { id: 0, size: 0, length: 0 };
  const r = readHeader(data, p, h);
  if (r !== OK) return r;
  const c: ElementHeader = { id: 0, size: 0, length: 0 };
  const rc = readHeader(data, p + h.length, c);
  if (rc !== OK) return rc;
  switch (h.id) {
    case ID.CLUSTER:
      // A Timecode (1–8 bytes) opens a cluster, after a CRC-32 in Matroska files written with one.
      if (c.id === ID.TIMECODE) return c.size >= 1 && c.size <= 8 ? OK : BAD;
      return c.id === ID.CRC32 && c.size === 4 ? OK : BAD;
    case ID.EBML:
      if (h.size === UNKNOWN_SIZE || h.size > headerCap) return BAD;
      return EBML_HEADER_CHILDREN.has(c.id) && c.size !== UNKNOWN_SIZE && c.size <= h.size ? OK : BAD;
    case ID.SEGMENT:
      return SEGMENT_FIRST_CHILDREN.has(c.id) ? OK : BAD;
    default:
      return BAD;
  }
}

/** The track number and relative timecode of the (Simple)Block whose data starts at `s`; undefined when it is too short. */
export function blockHead(data: Buffer, s: number, end: number): { track: number; relative: number; flags: number } | undefined {
  if (s >= end) return undefined;
  const n = vintLength(data[s]!);
  if (n > 8 || end - s < n + 3) return undefined;
  let track = data[s]! & (0xff >> n);
  for (let i = 1; i < n; i++) track = track * 256 + data[s + i]!;
  return { track, relative: data.readInt16BE(s + n), flags: data[s + n + 2]! };
}
