import type { FrameEmit, Framer, FramerOptions } from '../../core/contracts/frame.ts';

/**
 * streamserve's raw filter: fixed-size frames, content ignored. Frames that lie
 * inside one chunk are views of it (the firehose path never copies); only a
 * frame straddling chunks is assembled in a buffer of its own.
 */
export class RawFramer implements Framer {
  readonly invalidBytes = 0;
  private readonly frameBytes: number;
  private partial: Buffer | undefined;
  private filled = 0;

  constructor(options: FramerOptions) {
    if (!Number.isInteger(options.frameBytes) || options.frameBytes < 1) {
      throw new RangeError(`raw filter: frameBytes must be a positive integer, got ${options.frameBytes}`);
    }
    this.frameBytes = options.frameBytes;
  }

  push(chunk: Buffer, emit: FrameEmit): void {
    const size = this.frameBytes;
    let pos = 0;
    if (this.partial) {
      pos = chunk.copy(this.partial, this.filled, 0, size - this.filled);
      this.filled += pos;
      if (this.filled < size) return;
      const frame = this.partial;
      // Cleared before emitting so a throwing consumer cannot make us emit it twice.
      this.partial = undefined;
      this.filled = 0;
      emit(frame, 0);
    }
    const end = chunk.length;
    for (; end - pos >= size; pos += size) emit(chunk.subarray(pos, pos + size), 0);
    if (pos < end) {
      this.partial = Buffer.allocUnsafe(size);
      this.filled = chunk.copy(this.partial, 0, pos);
    }
  }

  reset(): void {
    this.partial = undefined;
    this.filled = 0;
  }
}
