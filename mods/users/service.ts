import type { AuthDecision, AuthRequest } from '../../core/contracts/auth.ts';

/**
 * What the users module offers other modules through `kernel.service('users')`:
 * the fstream module asks it for tokens. Everyone else, the Icecast module
 * included, asks the authenticate hook, which this module taps with the same
 * `authenticate`.
 */
export interface UsersService {
  /** The users module's own opinion on a request (what its authenticate tap answers). */
  authenticate(request: AuthRequest): Promise<AuthDecision | undefined>;
  /** Checks a user's password, counting failures against the remote address. */
  checkPassword(user: string, password: string, remoteAddress: string): Promise<boolean>;
  /** Whether the user may publish to the mount: their own `/NAME/…`, or one of their `mounts=` patterns. */
  mayPublish(user: string, mount: string): Promise<boolean>;
  /** A new one-time token for the user, replacing any older one. */
  issueToken(user: string): string;
}
