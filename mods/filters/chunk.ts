import type { FrameEmit, Framer, FramerOptions } from '../../core/contracts/frame.ts';

/**
 * The `chunk` frame filter, for streams of no known format (fstream
 * broadcasters with `bufsize=0`, and `auto` when nothing matches): each chunk
 * as it arrives is a frame (lowest delay), cut to at most `frameBytes` so that
 * one huge read cannot make a frame larger than a listener's backlog allowance.
 */
export class ChunkFramer implements Framer {
  readonly invalidBytes = 0;
  private readonly max: number;

  constructor(options: FramerOptions) {
    this.max = Math.max(1, options.frameBytes);
  }

  push(chunk: Buffer, emit: FrameEmit): void {
    for (let i = 0; i < chunk.length; i += this.max) emit(chunk.subarray(i, i + this.max), 0);
  }

  reset(): void {}
}
