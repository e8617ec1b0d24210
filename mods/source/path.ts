import { constants, createReadStream, open } from 'node:fs';
import { stat } from 'node:fs/promises';
import net from 'node:net';
import type { OpenedSource } from '../../core/source.ts';

/** Large reads keep the thread-pool round trips few on fast files and devices (/dev/zero). */
const READ_CHUNK = 1 << 20;

/**
 * Opens a file, device or fifo. A fifo is opened non-blocking and read as a
 * stream socket, so waiting for its writer never ties up a thread-pool thread.
 */
export async function openPath(path: string): Promise<OpenedSource> {
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
  const readable = createReadStream(path, { highWaterMark: READ_CHUNK });
  await new Promise<void>((resolve, reject) => {
    readable.once('open', () => resolve());
    readable.once('error', reject);
  });
  return { readable, describe: path, close: () => readable.destroy() };
}
