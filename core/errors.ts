/**
 * An error a user caused (bad flag, bad setting, bad module list). The CLI prints
 * its message as one line and exits non-zero, without a stack trace.
 */
export class UserError extends Error {
  override name = 'UserError';
}

/** An error thrown by a module's tap, named after the hook and the module. */
export class HookError extends Error {
  override name = 'HookError';
  constructor(readonly hook: string, readonly module: string, override readonly cause: unknown) {
    super(`hook ${hook} failed in module ${module}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/** Client disconnects are ordinary events, not failures worth a stack trace. */
export function isDisconnect(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_WRITE_AFTER_END';
}
