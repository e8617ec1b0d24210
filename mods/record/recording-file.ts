import { constants, open as openFd } from 'node:fs';
import { lstat, mkdir, open, type FileHandle } from 'node:fs/promises';
import { Socket } from 'node:net';
import { dirname } from 'node:path';
import { expandPattern, numberedName } from './file-name.ts';

/** Where a recording's bytes go: one file, written in order. */
export interface RecordingTarget {
  readonly name: string;
  /** Resolves once every byte of `bufs` is written. */
  write(bufs: Buffer[]): Promise<void>;
  close(): Promise<void>;
}

/** Opens the file a recording continues in: given the time it starts, returns where to write. */
export type OpenTarget = (when: Date) => Promise<RecordingTarget>;

/** Names tried after the first before giving up (`name-1.mp3` … `name-999.mp3`). */
const MAX_NUMBERED = 999;

/**
 * Opens a new file named by `pattern` at `when`, making its directories. An
 * existing file is never overwritten or appended to (a restart within the same
 * second, a pattern without time fields): the next free `name-N.ext` is used.
 * An existing fifo is written to (a program that uploads or re-encodes the
 * recording reads it); with nobody reading it yet, opening fails at once.
 */
export async function openRecordingFile(pattern: string, when: Date): Promise<RecordingTarget> {
  const first = expandPattern(pattern, when);
  if ((await lstat(first).catch(() => undefined))?.isFIFO()) return openFifo(first);
  await mkdir(dirname(first), { recursive: true });
  for (let n = 0; n <= MAX_NUMBERED; n++) {
    const name = n === 0 ? first : numberedName(first, n);
    try {
      return new FileTarget(name, await open(name, 'wx'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  throw new Error(`${first} and ${MAX_NUMBERED} numbered names beside it exist already`);
}

class FileTarget implements RecordingTarget {
  constructor(readonly name: string, private readonly fh: FileHandle) {}

  async write(bufs: Buffer[]): Promise<void> {
    let rest = bufs;
    // A short write (a full disk about to fail, a signal) leaves the rest to write again.
    for (let tries = 0; rest.length; tries++) {
      const { bytesWritten } = await this.fh.writev(rest);
      if (bytesWritten === 0 && tries > 0) throw new Error(`writing ${this.name} makes no progress`);
      rest = remainder(rest, bytesWritten);
    }
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** What is left of `bufs` after the first `done` bytes. */
function remainder(bufs: Buffer[], done: number): Buffer[] {
  let i = 0;
  while (i < bufs.length && done >= bufs[i]!.length) done -= bufs[i++]!.length;
  if (i === bufs.length) return [];
  return [bufs[i]!.subarray(done), ...bufs.slice(i + 1)];
}

/** How long closing a fifo waits for its reader to take what is queued. */
const FIFO_CLOSE_MS = 1000;

/**
 * A fifo opened without blocking (no reader: ENXIO at once, never a thread
 * stuck in open) and written through a socket, as Node writes pipes: a slow
 * reader holds back the writes, which is what the recording's backlog measures.
 */
async function openFifo(name: string): Promise<RecordingTarget> {
  const fd = await new Promise<number>((resolve, reject) => {
    openFd(name, constants.O_WRONLY | constants.O_NONBLOCK, (err, fd) => (err ? reject(err) : resolve(fd)));
  });
  return new FifoTarget(name, new Socket({ fd, readable: false, writable: true }));
}

class FifoTarget implements RecordingTarget {
  private failure: Error | undefined;

  constructor(readonly name: string, private readonly socket: Socket) {
    socket.on('error', (err) => { this.failure = err; });
  }

  write(bufs: Buffer[]): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      const socket = this.socket;
      socket.cork();
      bufs.forEach((b, i) => socket.write(b, i < bufs.length - 1 ? undefined : (err) => (err ? reject(err) : resolve())));
      socket.uncork();
    });
  }

  close(): Promise<void> {
    const socket = this.socket;
    if (socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      // A reader that stopped reading does not hold the recording: what it did not take is dropped.
      const bound = setTimeout(() => socket.destroy(), FIFO_CLOSE_MS);
      socket.once('close', () => {
        clearTimeout(bound);
        resolve();
      });
      socket.end();
    });
  }
}
