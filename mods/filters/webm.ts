import { type FrameEmit, type Framer, type FramerOptions, frameLimit, type StreamFormat } from '../../core/contracts/frame.ts';
import { BAD, type ElementHeader, NEED_MORE, OK, readHeader, readUint, UNKNOWN_SIZE } from './ebml-reader.ts';
import { ANCHORS, blockHead, CLUSTER_EXTRAS, checkAnchor, ENDS_CLUSTER, ID, SKIPPED_AT_SEGMENT_LEVEL } from './webm-elements.ts';
import { describeTracks, readDocType, readTimecodeScale, readTracks } from './webm-tracks.ts';

/** The largest frame (a block, or a cluster's opening run of blocks) when the operator sets no -frame-bytes. */
export const WEBM_FRAME_DEFAULT = 8 * 1024 * 1024;

/** The largest stream header (EBML header + Segment + Info + Tracks) accepted. */
export const WEBM_HEADER_CAP = 1024 * 1024;

/**
 * How far into a cluster audio blocks may run while its first video block is
 * awaited: past this the cluster gives up being a sync point, so that audio
 * is not held back longer.
 */
const PREFIX_HOLD_MS = 1000;

/** A jump in the lead track's timestamps larger than this is a discontinuity, not a frame's duration. */
const MAX_GAP_MS = 30_000;

/** A Segment of unknown size: a live stream has no end to declare, and a listener joins wherever. */
const SEGMENT_UNKNOWN = Buffer.from([0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** A Cluster of unknown size, ended by the next Cluster whatever a listener skipped in between. */
const CLUSTER_UNKNOWN = Buffer.from([0x1f, 0x43, 0xb6, 0x75, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

const EMPTY = Buffer.alloc(0);

const OUTER = 0; // between Segment children (or before the EBML header)
const CLUSTER = 1; // between a Cluster's children
const SKIP = 2; // dropping a Segment child nobody needs
const SEARCH = 3; // looking for a Cluster, EBML header or Segment after junk

/**
 * Cuts live WebM / Matroska into frames a listener can join at.
 *
 * The stream header is the EBML header, the Segment (rewritten to unknown
 * size) and copies of Info and Tracks; it is learned when Tracks has been read
 * and is not emitted as frames. SeekHead, Cues, Chapters, Tags, Attachments
 * and Void at Segment level are dropped: a decoder joining mid-stream needs none.
 *
 * A cluster is the unit a decoder can start at, but a live encoder writes
 * clusters of seconds, so frames are blocks: the cluster's first frame runs
 * from its ID (and Timecode) to its first block on the lead track (video if
 * there is a video track, else audio), each later block is a frame of its own.
 * The first frame is a sync point when that lead block is a key frame, or
 * always for audio only; no other frame is. An unknown-size cluster ends at
 * the next Segment-level ID.
 *
 * Cluster sizes are rewritten as unknown in the frames (the one byte-level
 * change besides the header's): a listener that skips from inside a cluster
 * to a later sync point, or a stream that lost the end of one, would
 * otherwise leave a cluster whose size runs over the next, which demuxers
 * report as an error. With unknown sizes every cluster ends where the next
 * begins, and Segment-level elements between clusters are not in the frames.
 *
 * Durations are the lead track's timestamp steps (cluster Timecode + block
 * offset, times TimecodeScale), given to the frame holding the later block.
 *
 * Sizes that lie, unknown sizes where none may be, IDs that belong nowhere
 * and units over the frame limit send the filter looking for the next
 * Cluster (or EBML header or Segment), checked beyond its ID; what it passes
 * counts as invalid. Memory held is bounded by the frame limit (one unit) or
 * the header cap.
 */
export class WebmFramer implements Framer {
  invalidBytes = 0;
  header: Buffer | undefined;
  format: StreamFormat | undefined;
  contentType: string | undefined;
  /** Largest frame accepted. */
  readonly maxFrame: number;

  /** Bytes kept from earlier pushes: stream bytes from `tailBase`, `accLen` of them. Never written after a frame was cut from it. */
  private acc: Buffer = EMPTY;
  private accLen = 0;
  private tailBase = 0;
  /** Stream offset just past the last byte pushed. */
  private streamEnd = 0;
  /** Stream offset the data must reach before another look is worthwhile. */
  private need = 0;
  /** Whether the current pass emitted a frame (then the bytes it looked at must not be written to again). */
  private emitted = false;

  private mode = OUTER;
  /** Stream offset of the next element to read (or byte to search or skip). */
  private next = 0;
  private skipLeft = 0;
  /** Stream offset where the frame being assembled starts, -1 when none. */
  private unitStart = -1;

  /** Stream offset where the current cluster ends, -1 when its size is unknown. */
  private clusterEnd = -1;
  /** Stream offset of the current cluster's ID, and the length of its ID and size field. */
  private clusterStart = -1;
  private clusterHeaderLength = 0;
  /** The current cluster's Timecode in ms, undefined until read. */
  private clusterMs: number | undefined;
  /** True while the current cluster's first lead block has not been seen. */
  private opening = false;

  private ebml: Buffer | undefined;
  private info: Buffer | undefined;
  private tracks: Buffer | undefined;
  private docType = 'webm';
  /** Nanoseconds per timecode tick. */
  private timecodeScale = 1_000_000;
  /** The track whose key frames and timestamps decide; -1 to take the first block's track. */
  private leadTrack = -1;
  /** Whether the lead block's key flag decides a cluster's sync: for video, or while no Tracks tell what the lead is. */
  private keyDecides = true;
  private lastLeadMs: number | undefined;

  private readonly h: ElementHeader = { id: 0, size: 0, length: 0 };
  private readonly child: ElementHeader = { id: 0, size: 0, length: 0 };
  /** Where each of ANCHORS occurs next in the current pass (stream offsets; the pass's end when it does not). */
  private readonly anchorAt: number[] = ANCHORS.map(() => -1);

  constructor(options: FramerOptions) {
    this.maxFrame = frameLimit(options, WEBM_FRAME_DEFAULT);
  }

  /** Bytes held back between pushes (a partial unit or header element). */
  get held(): number {
    return this.accLen;
  }

  push(chunk: Buffer, emit: FrameEmit): void {
    if (!chunk.length) return;
    let base = this.streamEnd;
    this.streamEnd += chunk.length;
    if (this.accLen === 0 && this.mode === SKIP) {
      // Dropping an element nobody needs costs no copying.
      const n = Math.min(this.skipLeft, chunk.length);
      this.skipLeft -= n;
      this.next += n;
      if (this.skipLeft > 0) return;
      this.mode = OUTER;
      base += n;
      chunk = chunk.subarray(n);
      if (!chunk.length) return;
    }
    const fromAcc = this.accLen > 0;
    if (fromAcc) this.append(chunk);
    if (this.streamEnd < this.need) {
      if (!fromAcc) this.keep(chunk, base);
      return;
    }
    const data = fromAcc ? this.acc.subarray(0, this.accLen) : chunk;
    if (fromAcc) base = this.tailBase;
    this.emitted = false;
    try {
      this.parse(data, base, emit);
    } finally {
      // Kept consistent even when a consumer's emit throws.
      const from = Math.min(this.retainFrom(), base + data.length);
      const rest = data.subarray(from - base);
      if (fromAcc && !this.emitted) {
        this.acc.copyWithin(0, from - base, this.accLen);
        this.accLen = rest.length;
        this.tailBase = from;
      } else {
        this.acc = EMPTY;
        this.accLen = 0;
        this.keep(rest, from);
      }
    }
  }

  reset(): void {
    // A unit cut short by the end of a source is as lost as junk.
    this.invalidBytes += this.accLen;
    this.acc = EMPTY;
    this.accLen = 0;
    this.tailBase = this.streamEnd;
    this.need = 0;
    this.mode = OUTER;
    this.next = this.streamEnd;
    this.skipLeft = 0;
    this.unitStart = -1;
    this.opening = false;
    this.lastLeadMs = undefined;
  }

  /** Keeps a copy of `bytes` (at stream offset `at`) as the held tail, with room for what is awaited. */
  private keep(bytes: Buffer, at: number): void {
    this.tailBase = at;
    if (!bytes.length) return;
    this.acc = Buffer.allocUnsafe(Math.max(bytes.length, Math.min(this.need - at, this.maxFrame + WEBM_HEADER_CAP)));
    bytes.copy(this.acc, 0);
    this.accLen = bytes.length;
  }

  /** Adds `chunk` to the held tail; the buffer grows by doubling, so bytes trickling in are not copied over and over. */
  private append(chunk: Buffer): void {
    const want = this.accLen + chunk.length;
    if (want > this.acc.length) {
      const grown = Buffer.allocUnsafe(Math.max(want, Math.min(Math.max(this.acc.length * 2, 256), this.maxFrame + WEBM_HEADER_CAP)));
      this.acc.copy(grown, 0, 0, this.accLen);
      this.acc = grown;
    }
    chunk.copy(this.acc, this.accLen);
    this.accLen = want;
  }

  /** The stream offset from which bytes must be kept: the unit being assembled, or the next element. */
  private retainFrom(): number {
    return this.unitStart >= 0 ? Math.min(this.unitStart, this.next) : this.next;
  }

  /** Reads what `data` (stream offset `base`) completes, stopping where more bytes are needed. */
  private parse(data: Buffer, base: number, emit: FrameEmit): void {
    const end = base + data.length;
    this.need = 0;
    this.anchorAt.fill(-1);
    for (;;) {
      let more: boolean;
      if (this.mode === OUTER) more = this.outer(data, base, end);
      else if (this.mode === CLUSTER) more = this.cluster(data, base, end, emit);
      else if (this.mode === SEARCH) more = this.search(data, base, end);
      else {
        const n = Math.min(this.skipLeft, end - this.next);
        this.skipLeft -= n;
        this.next += n;
        more = this.skipLeft === 0;
        if (more) this.mode = OUTER;
      }
      if (!more) return;
    }
  }

  /** One step of the search for an anchor (see `checkAnchor`) after junk; every byte passed is invalid. */
  private search(data: Buffer, base: number, end: number): boolean {
    let q = end;
    for (let i = 0; i < ANCHORS.length; i++) {
      let at = this.anchorAt[i]!;
      if (at < this.next) {
        const k = data.indexOf(ANCHORS[i]!, this.next - base);
        at = k < 0 ? end : base + k;
        this.anchorAt[i] = at;
      }
      if (at < q) q = at;
    }
    if (q === end) {
      // The last three bytes may begin an ID the next push completes.
      const from = Math.max(this.next, end - 3);
      this.invalidBytes += from - this.next;
      this.next = from;
      return this.wait(end + 1);
    }
    this.invalidBytes += q - this.next;
    this.next = q;
    const r = checkAnchor(data, q - base, WEBM_HEADER_CAP);
    if (r === NEED_MORE) return this.wait(end + 1);
    if (r === BAD) {
      this.invalidBytes++;
      this.next = q + 1;
      return true;
    }
    this.mode = OUTER;
    return true;
  }

  /** Waits for the stream to reach `at`; always false (the pass stops). */
  private wait(at: number): boolean {
    this.need = at;
    return false;
  }

  /** Gives up on the element at `p` and what is held of the unit, and looks for the next anchor after it. */
  private lost(p: number): boolean {
    if (this.unitStart >= 0) this.invalidBytes += p - this.unitStart;
    this.unitStart = -1;
    this.opening = false;
    this.invalidBytes++;
    this.next = p + 1;
    this.mode = SEARCH;
    return true;
  }

  /** One Segment-level (or top-level) element. */
  private outer(data: Buffer, base: number, end: number): boolean {
    const p = this.next;
    const h = this.h;
    const r = readHeader(data, p - base, h);
    if (r === NEED_MORE) return this.wait(end + 1);
    if (r === BAD) return this.lost(p);
    const s = p + h.length;
    if (h.id === ID.SEGMENT) {
      // Its size is not needed: the header always says unknown, and frames carry clusters only.
      this.startSegment();
      this.next = s;
      return true;
    }
    if (h.id === ID.CLUSTER) {
      this.clusterEnd = h.size === UNKNOWN_SIZE ? -1 : s + h.size;
      this.clusterStart = p;
      this.clusterHeaderLength = h.length;
      this.clusterMs = undefined;
      this.opening = true;
      this.unitStart = p;
      this.next = s;
      this.mode = CLUSTER;
      return true;
    }
    if (h.size === UNKNOWN_SIZE) return this.lost(p);
    if (SKIPPED_AT_SEGMENT_LEVEL.has(h.id)) {
      if (h.size > this.maxFrame) return this.lost(p);
      this.next = s;
      this.skipLeft = h.size;
      this.mode = SKIP;
      return true;
    }
    if (h.id !== ID.EBML && h.id !== ID.INFO && h.id !== ID.TRACKS) return this.lost(p);
    // A new EBML header starts a new stream: only what comes before an element in the header counts against the cap.
    const others = h.id === ID.EBML ? 0 : (this.ebml?.length ?? 0) + (h.id === ID.TRACKS ? (this.info?.length ?? 0) : 0);
    if (h.length + h.size > WEBM_HEADER_CAP - SEGMENT_UNKNOWN.length - others) return this.lost(p);
    const e = s + h.size;
    if (e > end) return this.wait(e);
    const el = Buffer.from(data.subarray(p - base, e - base));
    this.next = e;
    if (h.id === ID.EBML) {
      this.ebml = el;
      this.docType = readDocType(el);
      this.startSegment();
      this.format = { name: 'webm' };
    } else if (h.id === ID.INFO) {
      this.info = el;
      this.timecodeScale = readTimecodeScale(el);
      if (this.tracks) this.learnHeader();
    } else {
      this.tracks = el;
      this.learnHeader();
    }
    return true;
  }

  /** A new Segment (or stream): its Info and Tracks are still to come; the header in force stays until they have. */
  private startSegment(): void {
    this.info = undefined;
    this.tracks = undefined;
    this.timecodeScale = 1_000_000;
    this.lastLeadMs = undefined;
  }

  private learnHeader(): void {
    const tracks = readTracks(this.tracks!);
    const video = tracks.find((t) => t.kind === 'video');
    const lead = video ?? tracks.find((t) => t.kind === 'audio');
    this.leadTrack = lead ? lead.number : -1;
    this.keyDecides = video !== undefined || lead === undefined;
    const { format, contentType } = describeTracks(tracks, this.docType);
    this.format = format;
    this.contentType = contentType;
    const parts = [SEGMENT_UNKNOWN, this.info ?? Buffer.alloc(0), this.tracks!];
    if (this.ebml) parts.unshift(this.ebml);
    this.header = Buffer.concat(parts);
  }

  /** One Cluster child, or the end of the cluster. */
  private cluster(data: Buffer, base: number, end: number, emit: FrameEmit): boolean {
    const p = this.next;
    if (this.clusterEnd >= 0 && p >= this.clusterEnd) return this.endCluster(data, base, p, emit);
    const h = this.h;
    const r = readHeader(data, p - base, h);
    if (r === NEED_MORE) return this.wait(end + 1);
    if (r === BAD) return this.lost(p);
    // A Segment-level ID where a child should be: the cluster is over, whatever its size said.
    if (ENDS_CLUSTER.has(h.id)) return this.endCluster(data, base, p, emit);
    const isBlock = h.id === ID.SIMPLE_BLOCK || h.id === ID.BLOCK_GROUP;
    if (h.size === UNKNOWN_SIZE || (!isBlock && !CLUSTER_EXTRAS.has(h.id))) return this.lost(p);
    const e = p + h.length + h.size;
    if (this.clusterEnd >= 0 && e > this.clusterEnd) return this.lost(p);
    if (e - p > this.maxFrame) return this.lost(p);
    // What is held goes out on its own rather than grow past the limit.
    if (this.unitStart < p && e - this.unitStart + this.growth() > this.maxFrame) this.emitHeld(data, base, p, emit);
    if (e > end) return this.wait(e);
    const s = p + h.length;
    this.next = e;
    if (h.id === ID.TIMECODE) {
      const v = readUint(data, s - base, e - base);
      if (!Number.isFinite(v)) return this.lost(p);
      this.clusterMs = (v * this.timecodeScale) / 1e6;
      return true;
    }
    if (!isBlock) return true;
    const block = h.id === ID.SIMPLE_BLOCK ? this.simpleBlock(data, s - base, e - base) : this.blockGroup(data, s - base, e - base);
    if (!block) return this.lost(p);
    this.onBlock(block.track, block.relative, block.key, data, base, e, emit);
    return true;
  }

  private simpleBlock(data: Buffer, s: number, e: number): { track: number; relative: number; key: boolean } | undefined {
    const b = blockHead(data, s, e);
    return b && { track: b.track, relative: b.relative, key: (b.flags & 0x80) !== 0 };
  }

  /** A BlockGroup is a key frame when it refers to no other block. */
  private blockGroup(data: Buffer, s: number, e: number): { track: number; relative: number; key: boolean } | undefined {
    const h = this.child;
    const view = data.subarray(0, e);
    let block: { track: number; relative: number } | undefined;
    let key = true;
    for (let p = s; p < e;) {
      if (readHeader(view, p, h) !== OK || h.size === UNKNOWN_SIZE || h.size > e - p - h.length) return undefined;
      const cs = p + h.length;
      if (h.id === ID.BLOCK) block = blockHead(data, cs, cs + h.size);
      else if (h.id === ID.REFERENCE_BLOCK) key = false;
      p = cs + h.size;
    }
    return block && { track: block.track, relative: block.relative, key };
  }

  private onBlock(track: number, relative: number, key: boolean, data: Buffer, base: number, e: number, emit: FrameEmit): void {
    if (this.leadTrack < 0) this.leadTrack = track;
    const lead = track === this.leadTrack;
    const ms = this.clusterMs === undefined ? undefined : this.clusterMs + (relative * this.timecodeScale) / 1e6;
    let sync = false;
    if (this.opening) {
      if (!lead) {
        if (ms !== undefined && ms - this.clusterMs! > PREFIX_HOLD_MS) this.emitHeld(data, base, e, emit);
        return;
      }
      this.opening = false;
      sync = this.keyDecides ? key : true;
    }
    this.emitUnit(data, base, e, lead ? this.leadStep(ms) : 0, sync, emit);
  }

  /** How many bytes the unit being assembled grows by when its cluster's size is rewritten as unknown. */
  private growth(): number {
    return this.unitStart === this.clusterStart && this.clusterEnd >= 0 ? CLUSTER_UNKNOWN.length - this.clusterHeaderLength : 0;
  }

  /** Emits the unit up to `e`; the unit opening a cluster of known size gets the size rewritten as unknown. */
  private emitUnit(data: Buffer, base: number, e: number, ms: number, sync: boolean, emit: FrameEmit): void {
    let frame = data.subarray(this.unitStart - base, e - base);
    if (this.unitStart === this.clusterStart && this.clusterEnd >= 0) frame = Buffer.concat([CLUSTER_UNKNOWN, frame.subarray(this.clusterHeaderLength)]);
    this.unitStart = e;
    this.emitted = true;
    emit(frame, ms, sync);
  }

  /** How far the lead track has advanced with the block at `ms`. */
  private leadStep(ms: number | undefined): number {
    if (ms === undefined) return 0;
    const last = this.lastLeadMs;
    if (last === undefined || Math.abs(ms - last) > MAX_GAP_MS) {
      this.lastLeadMs = ms;
      return 0;
    }
    // Blocks in decode order (B-frames) step back: only the furthest point reached counts.
    if (ms <= last) return 0;
    this.lastLeadMs = ms;
    return ms - last;
  }

  /** Emits what is held up to `e` as a frame no decoder starts at. */
  private emitHeld(data: Buffer, base: number, e: number, emit: FrameEmit): void {
    this.opening = false;
    this.emitUnit(data, base, e, 0, false, emit);
  }

  /** The cluster ends at `p`: anything held after its last frame (Void, CRC-32, a cluster without blocks) goes out on its own. */
  private endCluster(data: Buffer, base: number, p: number, emit: FrameEmit): boolean {
    this.mode = OUTER;
    this.next = p;
    if (this.unitStart < p) this.emitHeld(data, base, p, emit);
    this.unitStart = -1;
    return true;
  }
}

/**
 * Whether `head`, the first bytes of a stream, looks like WebM / Matroska:
 * the EBML magic at the very start, or further in (after junk, or joining
 * mid-stream) an EBML header or Segment checked beyond its ID, or a Cluster
 * whose Timecode is followed by a block: the weakest sign, so it must go on
 * further before it counts.
 */
export function sniffWebm(head: Buffer): boolean {
  if (head.length >= 4 && head.readUInt32BE(0) === ID.EBML) return true;
  for (const anchor of ANCHORS) {
    for (let q = head.indexOf(anchor); q >= 0; q = head.indexOf(anchor, q + 1)) {
      if (checkAnchor(head, q, WEBM_HEADER_CAP) !== OK) continue;
      if (anchor.readUInt32BE(0) !== ID.CLUSTER || blockFollows(head, q)) return true;
    }
  }
  return false;
}

/** Whether the cluster at `q` goes on, after its CRC-32 and Timecode, with a block that fits its size. */
function blockFollows(head: Buffer, q: number): boolean {
  const h: ElementHeader = { id: 0, size: 0, length: 0 };
  if (readHeader(head, q, h) !== OK) return false;
  const clusterEnd = h.size === UNKNOWN_SIZE ? Infinity : q + h.length + h.size;
  for (let p = q + h.length; p < clusterEnd;) {
    if (readHeader(head, p, h) !== OK || h.size === UNKNOWN_SIZE) return false;
    const e = p + h.length + h.size;
    if (e > clusterEnd) return false;
    if (h.id === ID.SIMPLE_BLOCK) return blockHead(head, p + h.length, Math.min(e, head.length)) !== undefined;
    if (h.id === ID.BLOCK_GROUP) return h.size > 0;
    if (h.id !== ID.CRC32 && h.id !== ID.TIMECODE) return false;
    p = e;
  }
  return false;
}
