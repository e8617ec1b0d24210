import { spawn } from 'node:child_process';
import type { Logger } from '../../core/kernel/log.ts';
import type { OpenedSource } from '../../core/contracts/source.ts';

const KILL_AFTER_MS = 2000;

/**
 * Runs a command and reads its stdout. Its stderr goes to ours, as with
 * streamserve (arecord and lame report there). Closing ends the process:
 * SIGTERM, then SIGKILL if it lingers.
 */
export function openExec(command: readonly string[], log: Logger): Promise<OpenedSource> {
  const [file, ...args] = command;
  return new Promise((resolve, reject) => {
    const child = spawn(file!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const describe = command.join(' ');
    const stdout = child.stdout!;
    let exited = false;
    child.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' ? `program "${file}" not found` : err.code === 'EACCES' ? `program "${file}" is not executable` : err.message;
      const error = new Error(`cannot run ${describe}: ${why}`);
      if (child.pid === undefined) reject(error);
      else stdout.destroy(error);
    });
    child.once('exit', (code, signal) => {
      exited = true;
      log.info({ childPid: child.pid, code, signal, command: describe }, 'source command exited');
    });
    child.once('spawn', () => {
      log.info({ childPid: child.pid, command: describe }, 'source command started');
      resolve({
        readable: stdout,
        describe,
        close() {
          stdout.destroy();
          if (exited) return;
          child.kill('SIGTERM');
          setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, KILL_AFTER_MS).unref();
        },
      });
    });
  });
}
