import { DEFAULT_FRAME_BYTES, type FrameEmit, type Framer, type FramerOptions, type StreamFormat } from '../../core/contracts/frame.ts';

/** A filter `auto` may pick, and how it recognises the first bytes of its format. */
export interface Candidate {
  name: string;
  sniff(head: Buffer): boolean;
}

export type FramerFactory = (name: string, options: FramerOptions) => Framer | undefined;

/** Source Content-Types (as Icecast sources declare them) and the filter each names. */
const BY_CONTENT_TYPE: Record<string, string> = {
  'audio/ogg': 'ogg', 'application/ogg': 'ogg', 'audio/opus': 'ogg', 'video/ogg': 'ogg',
  'audio/aac': 'adts', 'audio/aacp': 'adts', 'audio/x-aac': 'adts',
  'video/mp2t': 'mpegts',
  'audio/webm': 'webm', 'video/webm': 'webm', 'video/x-matroska': 'webm', 'audio/x-matroska': 'webm',
  'audio/flac': 'flac', 'audio/x-flac': 'flac',
  'audio/mpeg': 'mp3', 'audio/mp3': 'mp3', 'audio/mpeg3': 'mp3', 'audio/x-mpeg': 'mp3', 'audio/x-mp3': 'mp3', 'audio/mpg': 'mp3',
  'video/h264': 'h264', 'video/h265': 'hevc', 'video/hevc': 'hevc',
};

/** The filter a Content-Type names, if any (`audio/ogg; codecs=opus` → `ogg`). */
export function filterForContentType(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  return BY_CONTENT_TYPE[contentType.split(';')[0]!.trim().toLowerCase()];
}

/** Bytes looked at before a sniffer's yes is believed: enough for several packets or frames of any format. */
const SNIFF_MIN = 4096;
/**
 * Bytes after which the filter stops waiting for a format and passes the
 * stream through in chunks; a stream slower than that is decided on after
 * `SETTLE_MS` (`core/contracts/frame.ts`).
 */
const SNIFF_MAX = 64 * 1024;
/** What streams of no recognised format are cut into. */
const FALLBACK = 'chunk';

/**
 * `auto`: holds the first bytes of each source run, picks a filter by them
 * (the source's declared Content-Type first, when its format's sniffer agrees;
 * then every candidate in order), and hands it everything from the first byte.
 * A stream nothing recognises passes through in chunks, as fstream's `bufsize=0`.
 * It holds a stream back until SNIFF_MIN bytes or SETTLE_MS have passed.
 *
 * The chosen media filter gets its own bound on units (`-frame-bytes` here is
 * the fallback's chunk size, and the operator did not choose the format).
 */
export class AutoFramer implements Framer {
  private delegate: Framer | undefined;
  private chosen: string | undefined;
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Invalid bytes of the filters of earlier source runs. */
  private invalidBefore = 0;
  private readonly hinted: string | undefined;

  constructor(
    private readonly options: FramerOptions,
    private readonly candidates: readonly Candidate[],
    private readonly create: FramerFactory,
  ) {
    this.hinted = filterForContentType(options.contentType);
  }

  get invalidBytes(): number {
    return this.invalidBefore + (this.delegate?.invalidBytes ?? 0);
  }

  get header(): Buffer | undefined {
    return this.delegate?.header;
  }

  get format(): StreamFormat | undefined {
    return this.delegate?.format ?? (this.chosen && this.chosen !== FALLBACK ? { name: this.chosen } : undefined);
  }

  /** The declared type while it agrees with the data (it may say more, `audio/aacp`), else what the filter found. */
  get contentType(): string | undefined {
    if (!this.chosen || this.chosen === this.hinted) return this.options.contentType ?? this.delegate?.contentType;
    return this.delegate?.contentType;
  }

  /** The filter in use, once chosen. */
  get filterName(): string | undefined {
    return this.chosen;
  }

  push(chunk: Buffer, emit: FrameEmit): void {
    if (this.delegate) return this.delegate.push(chunk, emit);
    // A copy: the chunk's memory is reused after this push (`core/contracts/frame.ts`), and sniffing may take several.
    this.held.push(Buffer.from(chunk));
    this.heldBytes += chunk.length;
    if (this.heldBytes < SNIFF_MIN) return;
    const head = this.head();
    const name = this.pick(head, this.heldBytes >= SNIFF_MAX);
    if (name) this.start(name, head, emit);
  }

  get holding(): boolean {
    return !this.delegate && this.heldBytes > 0;
  }

  /** The bytes held have waited long enough (a tiny or slow stream): decide with what there is. */
  settle(emit: FrameEmit): void {
    if (!this.holding) return;
    const head = this.head();
    this.start(this.pick(head, true)!, head, emit);
  }

  flush(emit: FrameEmit): void {
    this.settle(emit);
    this.delegate?.flush?.(emit);
  }

  reset(): void {
    // The next source run may be another format altogether: sniff it anew.
    this.invalidBefore = this.invalidBytes;
    this.delegate = undefined;
    this.chosen = undefined;
    this.held = [];
    this.heldBytes = 0;
  }

  private head(): Buffer {
    if (this.held.length > 1) this.held = [Buffer.concat(this.held)];
    return this.held[0]!;
  }

  /** The filter for these first bytes; undefined: wait for more (never when `final`). */
  private pick(head: Buffer, final: boolean): string | undefined {
    const hinted = this.candidates.find((c) => c.name === this.hinted);
    if (hinted?.sniff(head)) return hinted.name;
    for (const c of this.candidates) if (c.sniff(head)) return c.name;
    // Not even the declared format's own sniffer knows these bytes: pass them on as they are.
    return final ? FALLBACK : undefined;
  }

  private start(name: string, head: Buffer, emit: FrameEmit): void {
    const media = name !== FALLBACK;
    const framer = this.create(name, media ? { ...this.options, frameBytes: DEFAULT_FRAME_BYTES } : this.options)
      ?? this.create(FALLBACK, this.options);
    if (!framer) throw new Error(`auto: neither the ${name} nor the ${FALLBACK} filter is available`);
    this.delegate = framer;
    this.chosen = name;
    this.held = [];
    this.heldBytes = 0;
    framer.push(head, emit);
  }
}
