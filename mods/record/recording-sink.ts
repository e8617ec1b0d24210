import { Writable } from 'node:stream';
import type { OpenTarget, RecordingTarget } from './recording-file.ts';

/** What a sink tells its recorder. */
export interface SinkEvents {
  /** A file was opened for this sink's bytes. */
  opened(name: string): void;
  /** Bytes reached the file. */
  wrote(bytes: number): void;
  /** The file holds at least the size limit: time for the next one. */
  full(): void;
}

/**
 * The "socket" of a recording listener: the engine writes the stream to it as
 * to any listener, and it writes one file. Writes to the file are
 * asynchronous, so `writableLength` is what waits in memory; the engine stops
 * writing a listener past its backlog cap and, once the ring laps it, skips it
 * to a sync point. A file that cannot keep up therefore loses frames (a gap the
 * recorder counts) and never holds more than the cap plus one write.
 *
 * The file is opened, and named, when the first bytes arrive: a channel
 * waiting for its source makes no empty file.
 */
export class RecordingSink extends Writable {
  /** Called before the engine hands over each write (the recorder looks for frames skipped). */
  beforeWrite: (() => void) | undefined;
  private target: RecordingTarget | undefined;
  private fileBytes = 0;
  private saidFull = false;

  constructor(private readonly openTarget: OpenTarget, private readonly limitBytes: number, private readonly events: SinkEvents) {
    super({ decodeStrings: true });
  }

  get fileName(): string | undefined {
    return this.target?.name;
  }

  override write(chunk: unknown, callback?: (error: Error | null | undefined) => void): boolean;
  override write(chunk: unknown, encoding: BufferEncoding, callback?: (error: Error | null | undefined) => void): boolean;
  override write(chunk: unknown, ...rest: unknown[]): boolean {
    this.beforeWrite?.();
    return (super.write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeAll([chunk]).then(() => callback(), callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.writeAll(chunks.map((c) => c.chunk)).then(() => callback(), callback);
  }

  private async writeAll(bufs: Buffer[]): Promise<void> {
    if (!this.target) {
      this.target = await this.openTarget(new Date());
      this.events.opened(this.target.name);
    }
    await this.target.write(bufs);
    let bytes = 0;
    for (const b of bufs) bytes += b.length;
    this.fileBytes += bytes;
    this.events.wrote(bytes);
    if (this.limitBytes > 0 && this.fileBytes >= this.limitBytes && !this.saidFull) {
      this.saidFull = true;
      this.events.full();
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    const target = this.target;
    this.target = undefined;
    if (!target) return callback();
    target.close().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const target = this.target;
    this.target = undefined;
    if (!target) return callback(error);
    // Closing waits for a write still under way; the file keeps what was written.
    target.close().then(() => callback(error), () => callback(error));
  }
}
