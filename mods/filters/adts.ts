import { frameLimit, type FrameEmit, type Framer, type FramerOptions, type StreamFormat } from '../../core/contracts/frame.ts';
import { Carry } from './carry.ts';

/** The filter's own bound on a frame (see `frameLimit`): frame_length is 13 bits, so 8191 at most. */
const ADTS_FRAME_LIMIT = 8192;

const SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
/** The profile field is the MPEG-4 audio object type minus one. */
const PROFILES = ['Main', 'LC', 'SSR', 'LTP'];
const SAMPLES_PER_BLOCK = 1024;
/** Header bytes needed to tell a frame's length: the 56-bit header without its optional CRC. */
const HEADER = 7;

/**
 * What must stay the same from frame to frame of one stream: sync, ID (MPEG-2
 * or MPEG-4), layer, profile, sampling frequency index and channel
 * configuration. The protection, private, original and home bits may vary
 * without harm to a decoder, so they are left out.
 */
function signature(data: Buffer, p: number): number {
  return ((data[p + 1]! & 0xfe) << 10) | ((data[p + 2]! & 0xfd) << 2) | (data[p + 3]! >> 6);
}

/**
 * Length of the ADTS frame whose header starts at `p` (7 bytes must be
 * there), or 0 when no frame can start there: no 12-bit sync, layer not 00
 * (an MPEG audio layer I–III header has the same sync but a layer of 1–3),
 * a reserved sampling frequency index, or a length shorter than the header.
 */
export function adtsFrameLength(data: Buffer, p: number): number {
  if (data[p] !== 0xff || (data[p + 1]! & 0xf6) !== 0xf0) return 0;
  if (((data[p + 2]! >> 2) & 15) >= SAMPLE_RATES.length) return 0;
  const length = ((data[p + 3]! & 3) << 11) | (data[p + 4]! << 3) | (data[p + 5]! >> 5);
  const headerBytes = data[p + 1]! & 1 ? HEADER : HEADER + 2;
  return length > headerBytes ? length : 0;
}

function durationMs(data: Buffer, p: number): number {
  const blocks = (data[p + 6]! & 3) + 1;
  return (blocks * SAMPLES_PER_BLOCK * 1000) / SAMPLE_RATES[(data[p + 2]! >> 2) & 15]!;
}

function describe(data: Buffer, p: number): StreamFormat {
  const rate = SAMPLE_RATES[(data[p + 2]! >> 2) & 15]!;
  const config = ((data[p + 2]! & 1) << 2) | (data[p + 3]! >> 6);
  // Configuration 0 leaves the layout to a program_config_element inside the audio.
  const channels = config === 0 ? 'pce' : `${config === 7 ? 8 : config}ch`;
  return { name: 'adts', codec: 'aac', params: `${rate}Hz ${channels} ${PROFILES[data[p + 2]! >> 6]}` };
}

/**
 * Cuts an ADTS stream (AAC in Audio Data Transport Stream frames, as
 * `ffmpeg -f adts` and most AAC internet radio send it) into frames. Every
 * frame is a sync point and needs no stream header: each carries its own.
 *
 * Synchronisation is confirmed as the mp3 filter does: out of sync, a frame
 * counts only when the next frame's header follows it with the same
 * signature; in sync, a frame whose header matches is emitted as soon as it
 * is complete, and anything else drops back to searching. The optional
 * CRC is not checked: besides the header it covers a selection of bits inside
 * the channel elements, which only an AAC syntax parser can pick out (faad
 * and ffmpeg read past it unchecked as well).
 *
 * At most one candidate frame plus a header is held back, so junk cannot
 * grow memory, and each junk byte is looked at a bounded number of times.
 */
export class AdtsFramer implements Framer {
  invalidBytes = 0;
  format: StreamFormat | undefined;
  readonly contentType = 'audio/aac';
  readonly header = undefined;
  /** Largest frame accepted. */
  readonly maxFrame: number;
  private readonly carry = new Carry();
  /** How many bytes must be there before it is worth looking again. */
  private need = 0;
  /** The locked stream's signature, or -1 while searching. */
  private lock = -1;

  constructor(options: FramerOptions) {
    this.maxFrame = frameLimit(options, ADTS_FRAME_LIMIT);
  }

  push(chunk: Buffer, emit: FrameEmit): void {
    if (!chunk.length) return;
    const data = this.carry.join(chunk);
    if (data.length < this.need) {
      this.carry.keep(data, 0);
      return;
    }
    this.need = 0;
    this.carry.keep(data, this.scan(data, emit));
  }

  reset(): void {
    // A frame cut short by the end of a source is as lost as junk.
    this.invalidBytes += this.carry.length;
    this.carry.clear();
    this.need = 0;
    this.lock = -1;
  }

  /** Emits what `data` completes; returns where the undecided tail starts and sets `need` for it. */
  private scan(data: Buffer, emit: FrameEmit): number {
    const end = data.length;
    let pos = 0;
    while (pos < end) {
      if (this.lock !== -1) {
        if (end - pos < HEADER) return this.wait(pos, HEADER);
        const size = adtsFrameLength(data, pos);
        if (size && size <= this.maxFrame && signature(data, pos) === this.lock) {
          if (end - pos < size) return this.wait(pos, size);
          emit(data.subarray(pos, pos + size), durationMs(data, pos));
          pos += size;
          continue;
        }
        this.lock = -1;
      }

      const at = data.indexOf(0xff, pos);
      const next = at < 0 ? end : at;
      this.invalidBytes += next - pos;
      pos = next;
      if (pos === end) break;

      if (end - pos < HEADER) return this.wait(pos, HEADER);
      const size = adtsFrameLength(data, pos);
      if (size && size <= this.maxFrame) {
        if (end - pos < size + HEADER) return this.wait(pos, size + HEADER);
        const sig = signature(data, pos);
        if (adtsFrameLength(data, pos + size) && signature(data, pos + size) === sig) {
          this.lock = sig;
          const format = describe(data, pos);
          if (this.format?.params !== format.params) this.format = format;
          emit(data.subarray(pos, pos + size), durationMs(data, pos));
          pos += size;
          continue;
        }
      }
      this.invalidBytes++;
      pos++;
    }
    return end;
  }

  private wait(pos: number, need: number): number {
    this.need = need;
    return pos;
  }
}

/**
 * Whether `head` (the first bytes of a stream, possibly mid-frame or after
 * junk) looks like ADTS: from the first place where three frames follow each
 * other with the same signature, frames go on back to back to the end of
 * `head`. MPEG audio (mp3) never passes, its layer bits are never 00; nor does
 * ADTS inside MPEG-TS packets, whose headers break the chain.
 */
export function sniffAdts(head: Buffer): boolean {
  const end = head.length;
  for (let p = head.indexOf(0xff); p >= 0 && end - p >= HEADER; p = head.indexOf(0xff, p + 1)) {
    const sig = signature(head, p);
    let q = p;
    let frames = 0;
    let size = 0;
    while (end - q >= HEADER && (size = adtsFrameLength(head, q)) && signature(head, q) === sig && end - q >= size) {
      q += size;
      frames++;
    }
    // Three frames in a row are no accident: whether they go on to the end is the answer.
    if (frames >= 3) return end - q < HEADER || (size > 0 && signature(head, q) === sig);
  }
  return false;
}
