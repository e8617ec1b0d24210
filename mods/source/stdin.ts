import { createReadStream, fstatSync, statSync } from 'node:fs';
import net from 'node:net';
import type { OpenedSource } from '../../core/contracts/source.ts';

/**
 * What standard input is: a stream to serve (pipe, fifo, socket, file) or
 * nothing (a terminal, /dev/null, closed), when the demo channel runs instead.
 */
export function stdinKind(): 'stream' | 'file' | 'none' {
  try {
    const st = fstatSync(0);
    if (st.isFIFO() || st.isSocket()) return 'stream';
    if (st.isFile()) return 'file';
    if (st.isCharacterDevice()) {
      const devNull = statSync('/dev/null');
      // Other character devices (a sound card) are real sources; a tty or /dev/null is not.
      return st.rdev === devNull.rdev || process.stdin.isTTY ? 'none' : 'file';
    }
    return 'none';
  } catch {
    return 'none';
  }
}

/** Standard input can be read once; it cannot be reopened. */
export function openStdin(): OpenedSource {
  const readable = stdinKind() === 'stream'
    ? new net.Socket({ fd: 0, readable: true, writable: false })
    : createReadStream('', { fd: 0, autoClose: false, highWaterMark: 1 << 20 });
  return { readable, describe: 'standard input', close: () => readable.destroy() };
}
