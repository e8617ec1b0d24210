import { mkdir, open, type FileHandle } from 'node:fs/promises';
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
 */
export async function openRecordingFile(pattern: string, when: Date): Promise<RecordingTarget> {
  const first = expandPattern(pattern, when);
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
