import type { FrameEmit, Framer, FramerOptions, FrameRewrite, StreamFormat } from '../../core/contracts/frame.ts';
import { frameLimit } from '../../core/contracts/frame.ts';
import { describeParams, flacHeaderKind, granuleUnits, identify, isAudio, isTheoraKeyFrame, type OggStreamInfo } from './ogg-codecs.ts';
import { continueTimeline, lastGranule } from './ogg-timeline.ts';
import { BOS, CAPTURE, CONTINUED, EOS, examinePage, NOT_A_PAGE, OGG_MAX_PAGE, packetsEnding, pageHeader, pagePackets, type PageHeader } from './ogg-page.ts';

/**
 * Header pages kept for one chain link at most. Real headers are a few KiB
 * (Vorbis setup ~4 KiB); comments with cover art can reach hundreds. A link
 * whose headers go beyond this is given up, so a stream that never stops
 * sending header packets cannot grow memory.
 */
export const MAX_HEADER_BYTES = 1 << 20;

/** One logical stream (serial number) of a chain link. */
interface LogicalStream {
  info: OggStreamInfo;
  /** Header packets seen whole so far. */
  headerPackets: number;
  headerDone: boolean;
  /** FLAC without a header count: the packet now arriving is the last header. */
  lastHeader: boolean;
  /** Granule units (samples, frames) at the end of this stream's previous page. */
  position: number;
}

/**
 * A chain link: the logical streams that begin together (their BOS pages
 * come first, one after the other) and the header pages collected for them.
 */
interface ChainLink {
  streams: Map<number, LogicalStream>;
  /** Copies of the BOS and header pages, in order. */
  pages: Buffer[];
  bytes: number;
  /** A page other than a BOS page has been seen: a BOS page now begins a new link. */
  pastBos: boolean;
  /** The stream whose key frames (video) or packet starts (audio) are the sync points. */
  syncLead?: LogicalStream;
  /** The stream whose granule positions give the frame durations (audio before video). */
  timeLead?: LogicalStream;
}

/**
 * Cuts an Ogg stream (Opus, Vorbis, FLAC, Speex, Theora, chained or not) into
 * its pages. Each page's checksum is verified; anything else (junk, pages with
 * a bad checksum or larger than the limit) is skipped until the next "OggS"
 * and counted invalid.
 *
 * The BOS and header pages of each chain link become `header` once all of the
 * link's streams have their headers, just before its first data page is
 * emitted, so the header always belongs to the link of the frames around it.
 * The first link's header pages are only in `header`. A later link's are also
 * emitted then, as frames nobody starts at, because a listener already reading
 * the old link needs them inline to decode the new one; unless they are the
 * very pages of the header in force (a relay that reconnected and was sent the
 * same stream's headers again), which such a listener already has.
 *
 * Sync points: for audio, a page of the lead stream that does not continue a
 * packet; with Theora, a page whose first packet begun on it is a key frame.
 * Durations come from the granule positions of one lead stream (audio first),
 * so they add up to the media time; the other streams' pages last 0.
 */
export class OggFramer implements Framer {
  invalidBytes = 0;
  header?: Buffer;
  format?: StreamFormat;
  contentType?: string;
  /** Largest page accepted. */
  readonly maxPage: number;
  /** Bytes of a page not complete at the end of the last push (always starting with "OggS" or a prefix of it). */
  private tail: Buffer | undefined;
  private tailLength = 0;
  /** How many bytes `tail` must hold before it can be examined again. */
  private need = 0;
  /** The link whose data pages are being emitted, and one whose headers are being collected. */
  private active: ChainLink | undefined;
  private pending: ChainLink | undefined;
  /** A frame has been emitted since the start (so a later link's headers are emitted too). */
  private emitted = false;

  constructor(options: FramerOptions) {
    this.maxPage = Math.min(frameLimit(options, OGG_MAX_PAGE), OGG_MAX_PAGE);
  }

  /** Audio-only, single-stream links go on from a listener's last granule position (`ogg-timeline.ts`). */
  continueFrom(seen: Buffer, start: Buffer, before: Buffer | undefined, startMs: number): FrameRewrite | undefined {
    const link = this.active;
    const lead = link?.timeLead;
    if (!link || !lead || link.streams.size !== 1 || !isAudio(lead.info) || !lead.info.rate) return undefined;
    return continueTimeline(lastGranule(seen), start, before, lead.info.rate / 1000, startMs);
  }

  /** Memory held on behalf of the input: an incomplete page and the header pages of a link not yet complete. */
  get heldBytes(): number {
    return this.tailLength + (this.pending?.bytes ?? 0);
  }

  push(chunk: Buffer, emit: FrameEmit): void {
    if (this.tail) {
      const rest = this.completeTail(chunk, emit);
      if (!rest) return;
      chunk = rest;
    }
    this.scan(chunk, emit);
  }

  /**
   * Drops the incomplete page. The chain links are kept: a reopened source
   * begins with BOS pages, a new link, and until that is complete the header
   * in force stays the one of the frames still in the ring.
   */
  reset(): void {
    // A page cut short by the end of a source is as lost as junk.
    this.invalidBytes += this.tailLength;
    this.tail = undefined;
    this.tailLength = 0;
    this.need = 0;
  }

  /**
   * Adds the start of `chunk` to the page begun in `tail` until that can be
   * told a page or not. Returns the bytes still to scan, or undefined when the
   * whole chunk went into the tail.
   */
  private completeTail(chunk: Buffer, emit: FrameEmit): Buffer | undefined {
    for (;;) {
      const take = Math.min(this.need - this.tailLength, chunk.length);
      if (this.tail!.length < this.need) {
        // Grown at most three times a page: to the fixed header, the segment table, the whole page.
        const grown = Buffer.allocUnsafe(this.need);
        this.tail!.copy(grown, 0, 0, this.tailLength);
        this.tail = grown;
      }
      chunk.copy(this.tail!, this.tailLength, 0, take);
      this.tailLength += take;
      chunk = chunk.subarray(take);
      if (this.tailLength < this.need) return undefined;
      const tail = this.tail!;
      const result = examinePage(tail, 0, this.tailLength, this.maxPage);
      if (result < 0) {
        this.need = -result;
        continue;
      }
      const held = this.tailLength;
      this.tail = undefined;
      this.tailLength = 0;
      this.need = 0;
      if (result !== NOT_A_PAGE) {
        // The tail is exactly the page, in memory of its own: emitted as it is.
        this.page(tail.subarray(0, result), emit);
        return chunk;
      }
      // Not a page after all: look for one from its second byte on, across the tail and the chunk.
      this.invalidBytes++;
      return Buffer.concat([tail.subarray(1, held), chunk]);
    }
  }

  private scan(data: Buffer, emit: FrameEmit): void {
    const end = data.length;
    let pos = 0;
    while (pos < end) {
      if (!startsCapture(data, pos, end)) {
        const at = data.indexOf(CAPTURE, pos);
        if (at < 0) {
          // "O", "Og" or "Ogg" at the very end may begin a page the next chunk completes.
          const keep = capturePrefixAt(data, pos, end);
          this.invalidBytes += keep - pos;
          if (keep < end) this.hold(data, keep, end, 4);
          return;
        }
        this.invalidBytes += at - pos;
        pos = at;
      }
      const result = examinePage(data, pos, end, this.maxPage);
      if (result > 0) {
        this.page(data.subarray(pos, pos + result), emit);
        pos += result;
      } else if (result < 0) {
        this.hold(data, pos, end, -result);
        return;
      } else {
        this.invalidBytes++;
        pos++;
      }
    }
  }

  /** Keeps data[from, end) (a copy: the chunk's memory is reused) until `need` bytes are there. */
  private hold(data: Buffer, from: number, end: number, need: number): void {
    this.tail = Buffer.allocUnsafe(Math.max(need, end - from));
    this.tailLength = data.copy(this.tail, 0, from, end);
    this.need = need;
  }

  /** Acts on one checked page (a view valid until the next push). */
  private page(page: Buffer, emit: FrameEmit): void {
    const h = pageHeader(page);
    if (h.flags & BOS) return this.beginStream(page, h, emit);
    const pending = this.pending;
    const starting = pending?.streams.get(h.serial);
    if (pending && starting) {
      pending.pastBos = true;
      if (!starting.headerDone) return this.headerPage(pending, starting, page, h, emit);
      // Data before every stream of the link had its headers: the link starts with what it has.
      this.activate(pending, emit);
    }
    this.dataPage(this.active?.streams.get(h.serial), page, h, emit);
  }

  private beginStream(page: Buffer, h: PageHeader, emit: FrameEmit): void {
    let link = this.pending;
    if (!link || link.pastBos || link.streams.has(h.serial)) {
      if (link) this.abandon(link);
      link = this.pending = { streams: new Map(), pages: [], bytes: 0, pastBos: false };
    }
    const first = pagePackets(page)[0];
    const info = identify(first ? page.subarray(first.start, first.start + first.length) : Buffer.alloc(0));
    const stream: LogicalStream = { info, headerPackets: 0, headerDone: false, lastHeader: false, position: info.preSkip ?? 0 };
    link.streams.set(h.serial, stream);
    this.headerPage(link, stream, page, h, emit);
  }

  /** A page of `stream` before its headers are complete: its packets counted, the page kept for the header. */
  private headerPage(link: ChainLink, stream: LogicalStream, page: Buffer, h: PageHeader, emit: FrameEmit): void {
    const info = stream.info;
    for (const piece of pagePackets(page)) {
      if (stream.headerDone) break;
      if (piece.begins && info.codec === 'flac' && info.headerPackets === Infinity && stream.headerPackets > 0 && piece.length > 0) {
        const kind = flacHeaderKind(page[piece.start]!);
        if (kind === 'audio') stream.headerDone = true;
        else if (kind === 'last') stream.lastHeader = true;
        if (stream.headerDone) break;
      }
      if (!piece.ends) continue;
      stream.headerPackets++;
      if (stream.headerPackets >= info.headerPackets || stream.lastHeader) stream.headerDone = true;
    }
    // A stream that ends has no more headers to send (Skeleton ends right after its own).
    if (h.flags & EOS) stream.headerDone = true;

    if (link.bytes + page.length > MAX_HEADER_BYTES) {
      this.invalidBytes += page.length;
      this.abandon(link);
      return;
    }
    link.pages.push(Buffer.from(page));
    link.bytes += page.length;
    if (link.pastBos && [...link.streams.values()].every((s) => s.headerDone)) this.activate(link, emit);
  }

  /**
   * Drops the pages of a link that will never be complete (a new one began,
   * or its headers are too large); its later pages go on as frames of no
   * known stream.
   */
  private abandon(link: ChainLink): void {
    this.invalidBytes += link.bytes;
    if (this.pending === link) this.pending = undefined;
  }

  private activate(link: ChainLink, emit: FrameEmit): void {
    this.pending = undefined;
    this.active = link;
    const header = Buffer.concat(link.pages, link.bytes);
    if (!this.header?.equals(header)) {
      if (this.emitted) for (const page of link.pages) this.emitFrame(emit, page, 0, false);
      this.header = header;
    }
    link.pages = [];
    link.bytes = 0;
    const streams = [...link.streams.values()];
    const video = streams.find((s) => s.info.codec === 'theora');
    const audio = streams.find((s) => isAudio(s.info) && s.info.rate > 0);
    link.timeLead = audio ?? (video && video.info.rate > 0 ? video : undefined);
    link.syncLead = video ?? link.timeLead ?? streams[0];
    const media = [...streams.filter((s) => s.info.codec === 'theora'), ...streams.filter((s) => isAudio(s.info))];
    const codec = media.map((s) => s.info.codec).join('+');
    const params = media.map((s) => describeParams(s.info)).join('; ');
    this.format = { name: 'ogg', ...(codec ? { codec } : {}), ...(params ? { params } : {}) };
    this.contentType = video ? 'video/ogg' : audio || media.length ? 'audio/ogg' : 'application/ogg';
  }

  private dataPage(stream: LogicalStream | undefined, page: Buffer, h: PageHeader, emit: FrameEmit): void {
    // A page of no stream whose headers were seen (the source began mid-stream): no listener can start at it.
    if (!stream) return this.emitFrame(emit, page, 0, false);
    const link = this.active!;
    const sync = stream === link.syncLead && startsSync(stream.info, page, h);
    const ms = stream === link.timeLead ? this.duration(stream, page, h) : 0;
    this.emitFrame(emit, page, ms, sync);
  }

  private duration(stream: LogicalStream, page: Buffer, h: PageHeader): number {
    const info = stream.info;
    if (h.granule < 0 || !info.rate) return 0;
    const position = granuleUnits(info, h.granule);
    const delta = position - stream.position;
    stream.position = position;
    // A granule going back or further than the page's packets can last is a discontinuity, not time.
    if (delta <= 0 || delta > packetsEnding(page) * info.maxPerPacket) return 0;
    return (delta * 1000) / info.rate;
  }

  private emitFrame(emit: FrameEmit, page: Buffer, ms: number, sync: boolean): void {
    this.emitted = true;
    emit(page, ms, sync);
  }
}

function startsSync(info: OggStreamInfo, page: Buffer, h: PageHeader): boolean {
  if (info.codec === 'theora') {
    const first = pagePackets(page).find((p) => p.begins);
    return first !== undefined && first.length > 0 && isTheoraKeyFrame(page[first.start]!);
  }
  return (h.flags & CONTINUED) === 0 && h.segments > 0;
}

function startsCapture(data: Buffer, pos: number, end: number): boolean {
  return end - pos >= 4 && data[pos] === 0x4f && data[pos + 1] === 0x67 && data[pos + 2] === 0x67 && data[pos + 3] === 0x53;
}

/** Where a prefix of "OggS" ending exactly at `end` starts (within data[from, end)), or `end` if none. */
function capturePrefixAt(data: Buffer, from: number, end: number): number {
  for (let k = 3; k >= 1; k--) {
    if (end - k < from) continue;
    let match = true;
    for (let i = 0; i < k && match; i++) match = data[end - k + i] === CAPTURE[i];
    if (match) return end - k;
  }
  return end;
}

/**
 * Whether a stream's first bytes look like Ogg: a page with a good checksum
 * somewhere in `head` (which may start with junk or mid-page), or one that
 * `head` ends inside with a plausible fixed header (version 0, known flags).
 */
export function sniffOgg(head: Buffer): boolean {
  // A few candidates suffice for a real stream; more would only let a hostile head cost a checksum each.
  let candidates = 0;
  for (let at = head.indexOf(CAPTURE); at >= 0 && candidates++ < 32; at = head.indexOf(CAPTURE, at + 1)) {
    const result = examinePage(head, at, head.length, OGG_MAX_PAGE);
    if (result > 0) return true;
    if (result < 0 && head.length - at >= 27 && (head[at + 5]! & ~(CONTINUED | BOS | EOS)) === 0) return true;
  }
  return false;
}
