import { constants, open } from 'node:fs';
import { stat } from 'node:fs/promises';
import net from 'node:net';
import type { OpenedSource } from '../../core/contracts/source.ts';
import { openFileReader } from './file-reader.ts';

/** Large reads keep the thread-pool round trips few on fast files and devices (/dev/zero). */
const READ_CHUNK = 1 << 20;

/**
 * How much to read at once: a source limited to B bytes/s is read in pieces of
 * about B/20, so that megabyte buffers do not pile up as garbage at a trickle.
 */
export function readSize(bandwidth: number): number {
  return bandwidth > 0 ? Math.min(READ_CHUNK, Math.max(16 * 1024, Math.floor(bandwidth / 20))) : READ_CHUNK;
}

/**
 * Opens a file, device or fifo. A fifo is opened non-blocking and read as a
 * stream socket, so waiting for its writer never ties up a thread-pool thread.
 */
export async function openPath(path: string, chunkBytes = READ_CHUNK): Promise<OpenedSource> {
  const st = await stat(path);
  if (st.isDirectory()) throw new Error(`${path} is a directory`);
  if (st.isFIFO() || st.isSocket()) {
    // A raw descriptor, not a FileHandle: the socket owns and closes it, and a
    // FileHandle would try to close it again when collected (EBADF kills the process).
    const fd = await new Promise<number>((resolve, reject) => {
      open(path, constants.O_RDONLY | constants.O_NONBLOCK, (err, fd) => (err ? reject(err) : resolve(fd)));
    });
    const readable = new net.Socket({ fd, readable: true, writable: false });
    return { readable, describe: path, close: () => readable.destroy() };
  }
  const readable = await openFileReader(path, chunkBytes);
  return { readable, describe: path, close: () => readable.destroy() };
}
