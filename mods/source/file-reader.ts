import { close, open, read } from 'node:fs';
import { Readable } from 'node:stream';
import { releaseSlab, slabPool, type Slab, type SlabPool } from '../../core/engine/slab.ts';

/** A slab this empty is sealed and the next read goes to a fresh one. */
const MIN_READ = 4096;

/**
 * Reads a file or device into reusable slabs (`core/engine/slab.ts`): each chunk it
 * emits is a view carrying one hold, which the source runner releases once the
 * bytes are framed. Short reads are packed into the same slab.
 */
export class SlabFileReader extends Readable {
  private readonly pool: SlabPool;
  private slab: Slab | undefined;
  private fill = 0;
  private reading = false;
  /** A destroy that waits for the read in flight: the thread pool may still be writing into the slab. */
  private afterRead: (() => void) | undefined;

  constructor(private readonly fd: number, readonly chunkBytes: number) {
    super({ highWaterMark: chunkBytes });
    this.pool = slabPool(chunkBytes);
  }

  override _read(): void {
    if (this.reading) return;
    if (!this.slab || this.pool.size - this.fill < Math.min(MIN_READ, this.pool.size)) {
      if (this.slab) releaseSlab(this.slab);
      this.slab = this.pool.take();
      this.fill = 0;
    }
    const slab = this.slab;
    const at = this.fill;
    this.reading = true;
    read(this.fd, slab.buf, at, slab.buf.length - at, null, (err, n) => {
      this.reading = false;
      if (this.afterRead) return this.afterRead();
      if (this.destroyed) return;
      if (err) return void this.destroy(err);
      if (n === 0) return void this.push(null);
      this.fill = at + n;
      slab.refs++;
      this.push(slab.buf.subarray(at, at + n));
    });
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const finish = () => {
      this.afterRead = undefined;
      if (this.slab) releaseSlab(this.slab);
      this.slab = undefined;
      close(this.fd, () => cb(err));
    };
    if (this.reading) this.afterRead = finish;
    else finish();
  }
}

/** Opens `path` for reading with a raw descriptor (closed by the reader, never by a collected FileHandle). */
export function openFileReader(path: string, chunkBytes: number): Promise<SlabFileReader> {
  return new Promise((resolve, reject) => {
    open(path, 'r', (err, fd) => (err ? reject(err) : resolve(new SlabFileReader(fd, chunkBytes))));
  });
}
