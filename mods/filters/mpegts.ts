import { frameLimit, type FrameEmit, type Framer, type FramerOptions, type StreamFormat } from '../../core/contracts/frame.ts';
import { isSliceCodec, KeyFrameScanner } from './mpegts-keyframe.ts';
import { PACKET, parsePat, parsePmt, SectionReader, type ElementaryStream, type ProgramMap } from './mpegts-psi.ts';
import { LOCK_PACKETS, PacketSync } from './mpegts-sync.ts';

/** A frame is one access unit of the lead stream with whatever is interleaved: a key frame of a few MB fits. */
export const MPEGTS_FRAME_LIMIT = 4 * 1024 * 1024;

/** PES timestamps count a 90 kHz clock in 33 bits. */
const CLOCK_HZ = 90_000;
const WRAP = 2 ** 33;
/** A step between two access units longer than this is a jump (a splice, a restart), not a duration. */
const MAX_STEP = 10 * CLOCK_HZ;

/** PIDs 0x00–0x1F carry tables (PAT, CAT, SDT, …), 0x1FFF null packets: none starts a PES. */
const FIRST_PES_PID = 0x20;
const NULL_PID = 0x1fff;

interface PmtState {
  pid: number;
  map: ProgramMap;
  /** Copies of the packets that carried the latest PMT section. */
  packets: Buffer[];
}

/**
 * Cuts an MPEG transport stream into runs of whole 188-byte packets, one per
 * access unit of the *lead* stream: the program's video, or its first audio
 * stream when it has none. A frame starts at each packet that starts a PES on
 * the lead PID and takes everything up to the next (other streams' packets,
 * tables, null packets), so the frames together are the stream, junk removed.
 *
 * A frame is a sync point when it starts a video key frame (the first slice
 * of an H.264 or HEVC access unit; the random_access_indicator for other
 * codecs) or, without video, any audio PES; and only once the PMT is known.
 * The header is copies of the latest PAT and PMT packets seen before the frame
 * starts: their continuity counters run on into the tables in the frames that
 * follow, so a late listener's demuxer sees the same sequence as one there
 * from the start. Durations come from the lead's DTS (or PTS) steps.
 *
 * A frame is emitted when the next one starts, since only then is it whole.
 */
export class MpegTsFramer implements Framer {
  readonly contentType = 'video/mp2t';
  header: Buffer | undefined;
  format: StreamFormat | undefined;
  /** Largest frame accepted. */
  readonly maxFrame: number;

  private readonly sync = new PacketSync();
  /** Bytes of frames dropped as too large or cut short by a reset. */
  private dropped = 0;
  private emitFn: FrameEmit | undefined;
  private failure: { error: unknown } | undefined;
  private readonly sink = (buf: Buffer, at: number, owned: boolean): void => this.onPacket(buf, at, owned);

  // Tables.
  private readonly patReader = new SectionReader();
  private readonly pmtReaders = new Map<number, SectionReader>();
  private patVersion = -1;
  private patLast = -1;
  private readonly patSections = new Map<number, { programs: Array<{ program: number; pid: number }>; packets: Buffer[] }>();
  /** Programs of the latest complete PAT, in its order, and copies of the packets that carried it. */
  private programs: Array<{ program: number; pid: number }> | undefined;
  private patPackets: Buffer[] | undefined;
  private readonly pmts = new Map<number, PmtState>();
  private tables: Buffer | undefined;
  private tablesChanged = false;

  // The lead stream.
  private lead = -1;
  private leadAudio = false;
  private leadCodec: string | undefined;

  // The frame being gathered: segments (owned, or views of the chunk being pushed) and what its start said.
  private segments: Buffer[] = [];
  private frameLen = 0;
  /** Index of the first segment that is a view of the current chunk, or -1. */
  private firstView = -1;
  private runBuf: Buffer | undefined;
  private runStart = 0;
  private runEnd = 0;
  private open = false;
  /** Dropping packets until the next frame start (the frame grew past maxFrame). */
  private dropping = false;
  private startsLead = false;
  private startPid = -1;
  private startTs: number | undefined;
  private startRandomAccess = false;
  private startAudio = false;
  private startHeader: Buffer | undefined;
  private scanner: KeyFrameScanner | undefined;

  constructor(options: FramerOptions) {
    // Not less than a packet: a frame is at least one.
    this.maxFrame = Math.max(PACKET, frameLimit(options, MPEGTS_FRAME_LIMIT));
  }

  get invalidBytes(): number {
    return this.sync.invalidBytes + this.dropped;
  }

  /** Source bytes held back: the packet layer's undecided tail and the frame being gathered. */
  get heldBytes(): number {
    return this.sync.heldBytes + this.frameLen;
  }

  push(chunk: Buffer, emit: FrameEmit): void {
    this.emitting(emit, () => this.sync.push(chunk, this.sink));
  }

  /** The source ended: the frame in progress is complete, though no next one started. */
  flush(emit: FrameEmit): void {
    this.emitting(emit, () => {
      this.sync.flush(this.sink);
      this.finish(undefined);
      this.open = false;
    });
  }

  /** Runs `work` with `emit` as the consumer; the consumer's own error is passed on once the stream state is whole again. */
  private emitting(emit: FrameEmit, work: () => void): void {
    this.emitFn = emit;
    try {
      work();
    } finally {
      this.emitFn = undefined;
      this.ownViews();
    }
    const failure = this.failure;
    if (failure) {
      this.failure = undefined;
      throw failure.error;
    }
  }

  reset(): void {
    this.sync.reset();
    this.dropped += this.frameLen;
    this.clearFrame();
    this.dropping = false;
    this.patReader.reset();
    this.pmtReaders.clear();
    this.patSections.clear();
    this.patVersion = this.patLast = -1;
    this.programs = this.patPackets = undefined;
    this.pmts.clear();
    this.tables = undefined;
    this.tablesChanged = false;
    // The next source may be another stream altogether: nothing learned from this one holds.
    this.header = undefined;
    this.format = undefined;
    this.lead = -1;
    this.leadCodec = undefined;
  }

  private onPacket(buf: Buffer, at: number, owned: boolean): void {
    if (!this.format) this.format = { name: 'mpegts' };
    const b1 = buf[at + 1]!;
    const pid = ((b1 & 0x1f) << 8) | buf[at + 2]!;
    const control = (buf[at + 3]! >> 4) & 3;
    let payload = 0; // offset of the payload in the packet; 0 for none (or a packet flagged as errored)
    if (!(b1 & 0x80) && control & 1) {
      payload = control === 3 ? 5 + buf[at + 4]! : 4;
      if (payload >= PACKET) payload = 0;
    }
    const unitStart = payload > 0 && (b1 & 0x40) !== 0;
    if (unitStart && this.startsFrame(pid, buf, at + payload)) this.cut(buf, at, payload, pid);
    this.keep(buf, at, owned);
    if (payload === 0) return;
    if (pid === this.startPid && this.scanner && !this.scanner.done) this.scanner.feed(buf, at + payload, at + PACKET);
    const reader = pid === 0 ? this.patReader : this.pmtReaders.get(pid);
    if (reader) {
      const packet = owned && at === 0 && buf.length === PACKET ? buf : Buffer.from(buf.subarray(at, at + PACKET));
      reader.feed(packet, payload, unitStart, (section, packets) => (pid === 0 ? this.onPat(section, packets) : this.onPmt(pid, section, packets)));
    }
  }

  /** Whether a packet starting a payload unit on `pid` starts a frame; `p` is its payload. */
  private startsFrame(pid: number, buf: Buffer, p: number): boolean {
    if (this.lead >= 0) return pid === this.lead;
    // Until a PMT names the lead, every PES start cuts, so frames stay small and nothing waits on a table.
    return pid >= FIRST_PES_PID && pid !== NULL_PID && !this.pmtReaders.has(pid) && buf[p] === 0 && buf[p + 1] === 0 && buf[p + 2] === 1;
  }

  /** Ends the frame in progress at the packet `buf[at..]` and opens the next with it. */
  private cut(buf: Buffer, at: number, payload: number, pid: number): void {
    const isLead = pid === this.lead;
    const pes = isLead ? readPes(buf, at + payload, at + PACKET) : undefined;
    this.finish(pes?.ts);
    this.dropping = false;
    this.open = true;
    this.startPid = pid;
    this.startsLead = pes !== undefined;
    this.startTs = pes?.ts;
    this.startAudio = this.leadAudio;
    const control = (buf[at + 3]! >> 4) & 3;
    this.startRandomAccess = (control & 2) !== 0 && buf[at + 4]! > 0 && (buf[at + 5]! & 0x40) !== 0;
    this.startHeader = this.headerNow();
    this.scanner = pes && !this.leadAudio && isSliceCodec(this.leadCodec) ? new KeyFrameScanner(this.leadCodec, pes.dataOffset) : undefined;
  }

  /** Emits the frame in progress, if any; `nextTs` is the timestamp of the frame that follows. */
  private finish(nextTs: number | undefined): void {
    if (!this.open || this.frameLen === 0 || !this.emitFn) {
      this.clearFrame();
      return;
    }
    let durationMs = 0;
    if (this.startTs !== undefined && nextTs !== undefined) {
      const step = (nextTs - this.startTs + WRAP) % WRAP; // a step back becomes huge, so it is refused too
      if (step <= MAX_STEP) durationMs = (step * 1000) / CLOCK_HZ;
    }
    const key = this.startAudio || (this.scanner?.verdict ?? this.startRandomAccess);
    const sync = this.startsLead && this.startHeader !== undefined && key;
    this.header = this.startHeader;
    const frame = this.takeFrame();
    try {
      this.emitFn(frame, durationMs, sync);
    } catch (error) {
      this.failure ??= { error };
    }
  }

  /** Adds a packet to the frame in progress. */
  private keep(buf: Buffer, at: number, owned: boolean): void {
    if (this.dropping) {
      this.dropped += PACKET;
      return;
    }
    if (this.frameLen + PACKET > this.maxFrame) {
      this.dropped += this.frameLen + PACKET;
      this.clearFrame();
      this.dropping = true;
      return;
    }
    if (!this.open) {
      // Packets before any frame start: a frame no decoder can start at, with the tables known so far.
      this.open = true;
      this.startsLead = false;
      this.startPid = -1;
      this.startTs = undefined;
      this.startHeader = this.headerNow();
      this.scanner = undefined;
    }
    this.frameLen += PACKET;
    if (!owned && this.runBuf === buf && this.runEnd === at) {
      this.runEnd += PACKET;
      return;
    }
    this.closeRun();
    if (owned) {
      this.segments.push(at === 0 && buf.length === PACKET ? buf : buf.subarray(at, at + PACKET));
      return;
    }
    if (this.firstView < 0) this.firstView = this.segments.length;
    this.runBuf = buf;
    this.runStart = at;
    this.runEnd = at + PACKET;
  }

  private closeRun(): void {
    if (!this.runBuf) return;
    this.segments.push(this.runBuf.subarray(this.runStart, this.runEnd));
    this.runBuf = undefined;
  }

  /** Copies what the frame in progress holds of the chunk just pushed: the chunk's memory is reused. */
  private ownViews(): void {
    this.closeRun();
    if (this.firstView < 0) return;
    const tail = Buffer.concat(this.segments.slice(this.firstView));
    this.segments.length = this.firstView;
    this.segments.push(tail);
    this.firstView = -1;
  }

  private takeFrame(): Buffer {
    this.closeRun();
    const frame = this.segments.length === 1 ? this.segments[0]! : Buffer.concat(this.segments, this.frameLen);
    this.clearFrame();
    return frame;
  }

  private clearFrame(): void {
    this.segments = [];
    this.frameLen = 0;
    this.firstView = -1;
    this.runBuf = undefined;
    this.open = false;
    this.scanner = undefined;
  }

  private onPat(section: Buffer, packets: Buffer[]): void {
    const pat = parsePat(section);
    if (!pat || pat.section > pat.lastSection) return;
    if (pat.version !== this.patVersion || pat.lastSection !== this.patLast) {
      this.patSections.clear();
      this.patVersion = pat.version;
      this.patLast = pat.lastSection;
    }
    this.patSections.set(pat.section, { programs: pat.programs, packets });
    if (this.patSections.size <= pat.lastSection) return; // a section still missing
    const programs: Array<{ program: number; pid: number }> = [];
    const patPackets: Buffer[] = [];
    for (let i = 0; i <= pat.lastSection; i++) {
      const part = this.patSections.get(i)!;
      programs.push(...part.programs);
      patPackets.push(...part.packets);
    }
    this.patPackets = patPackets;
    this.tablesChanged = true;
    if (this.programs && samePrograms(this.programs, programs)) return;
    this.programs = programs;
    const pids = new Set(programs.map((p) => p.pid));
    for (const pid of this.pmtReaders.keys()) if (!pids.has(pid)) this.pmtReaders.delete(pid);
    for (const pid of pids) if (pid !== 0 && !this.pmtReaders.has(pid)) this.pmtReaders.set(pid, new SectionReader());
    for (const [program, pmt] of this.pmts) {
      if (!programs.some((p) => p.program === program && p.pid === pmt.pid)) this.pmts.delete(program);
    }
    this.chooseLead();
  }

  private onPmt(pid: number, section: Buffer, packets: Buffer[]): void {
    const map = parsePmt(section);
    if (!map || !this.programs?.some((p) => p.program === map.program && p.pid === pid)) return;
    const old = this.pmts.get(map.program);
    this.pmts.set(map.program, { pid, map, packets });
    this.tablesChanged = true;
    if (!old || !sameStreams(old.map.streams, map.streams)) this.chooseLead();
  }

  /** The lead: the video of the first program (in PAT order) with audio or video, else its first audio. */
  private chooseLead(): void {
    this.lead = -1;
    this.leadCodec = undefined;
    for (const { program } of this.programs ?? []) {
      const map = this.pmts.get(program)?.map;
      if (!map) continue;
      const media = [...map.streams.filter((s) => s.kind === 'video'), ...map.streams.filter((s) => s.kind === 'audio')];
      const lead = media[0];
      if (!lead) continue;
      this.lead = lead.pid;
      this.leadAudio = lead.kind === 'audio';
      this.leadCodec = lead.codec;
      this.setFormat(describe(media), `program ${program}: ${media.map(streamName).join(', ')}`);
      return;
    }
    this.setFormat(undefined, undefined);
  }

  private setFormat(codec: string | undefined, params: string | undefined): void {
    const f = this.format;
    if (f && f.codec === codec && f.params === params) return;
    this.format = { name: 'mpegts', ...(codec ? { codec } : {}), ...(params ? { params } : {}) };
  }

  /** The header as the tables stand now: a new Buffer when they changed. */
  private headerNow(): Buffer | undefined {
    if (!this.tablesChanged) return this.tables;
    this.tablesChanged = false;
    if (!this.patPackets) return (this.tables = undefined);
    const packets = new Set(this.patPackets);
    for (const { program } of this.programs ?? []) for (const p of this.pmts.get(program)?.packets ?? []) packets.add(p);
    return (this.tables = Buffer.concat([...packets]));
  }
}

function samePrograms(a: Array<{ program: number; pid: number }>, b: Array<{ program: number; pid: number }>): boolean {
  return a.length === b.length && a.every((p, i) => p.program === b[i]!.program && p.pid === b[i]!.pid);
}

function sameStreams(a: ElementaryStream[], b: ElementaryStream[]): boolean {
  return a.length === b.length && a.every((s, i) => s.pid === b[i]!.pid && s.type === b[i]!.type && s.codec === b[i]!.codec);
}

function streamName(s: ElementaryStream): string {
  return `0x${s.pid.toString(16)} ${s.codec ?? `type 0x${s.type.toString(16)}`}`;
}

/** `h264+aac`: the distinct codecs, video first. */
function describe(media: ElementaryStream[]): string | undefined {
  const names = [...new Set(media.map((s) => s.codec).filter((c): c is string => c !== undefined))];
  return names.length ? names.join('+') : undefined;
}

/** Stream IDs whose PES has no optional header (ISO/IEC 13818-1 table 2-21): padding, private 2, ECM, EMM, DSM-CC, … */
const BARE_PES = new Set([0xbc, 0xbe, 0xbf, 0xf0, 0xf1, 0xf2, 0xf8, 0xff]);

/**
 * Reads the PES header at `buf[p..end)`: the access unit's timestamp (DTS when
 * there is one: PTS jumps around in decode order with B-frames) and where the
 * elementary stream starts, relative to `p`. Undefined when no PES starts there.
 */
function readPes(buf: Buffer, p: number, end: number): { ts: number | undefined; dataOffset: number } | undefined {
  if (end - p < 9 || buf[p] !== 0 || buf[p + 1] !== 0 || buf[p + 2] !== 1) return undefined;
  if (BARE_PES.has(buf[p + 3]!)) return { ts: undefined, dataOffset: 6 };
  if ((buf[p + 6]! & 0xc0) !== 0x80) return undefined;
  const flags = buf[p + 7]! >> 6;
  let ts: number | undefined;
  if (flags & 2 && end - p >= 14) ts = timestamp(buf, p + 9);
  if (flags === 3 && end - p >= 19) ts = timestamp(buf, p + 14);
  return { ts, dataOffset: 9 + buf[p + 8]! };
}

/** A 33-bit PTS/DTS spread over 5 bytes with marker bits. */
export function timestamp(buf: Buffer, p: number): number {
  return ((buf[p]! >> 1) & 7) * 2 ** 30 + ((buf[p + 1]! << 7) | (buf[p + 2]! >> 1)) * 2 ** 15 + ((buf[p + 3]! << 7) | (buf[p + 4]! >> 1));
}

/**
 * Whether `head` (the first bytes of a stream, possibly starting with junk or
 * mid-packet) looks like a transport stream: LOCK_PACKETS sync bytes a packet
 * apart, each packet with a valid adaptation_field_control.
 */
export function sniffMpegTs(head: Buffer): boolean {
  const span = (LOCK_PACKETS - 1) * PACKET;
  for (let p = head.indexOf(0x47); p >= 0 && p + span + 4 <= head.length; p = head.indexOf(0x47, p + 1)) {
    let k = 0;
    while (k < LOCK_PACKETS && head[p + k * PACKET] === 0x47 && head[p + k * PACKET + 3]! & 0x30) k++;
    if (k === LOCK_PACKETS) return true;
  }
  return false;
}
