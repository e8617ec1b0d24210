import { randomBytes } from 'node:crypto';
import { sameSecret } from '../../core/contracts/secret.ts';

/**
 * One-time broadcast tokens: at most one per user (a new one replaces the old),
 * single use, expiring. 32 random bytes in base64url without padding, so a token
 * holds no `,`, `=` or white space and needs no escaping in a handshake.
 */
export class TokenBook {
  private readonly byUser = new Map<string, { token: string; expires: number }>();

  constructor(private readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  issue(user: string): string {
    const token = randomBytes(32).toString('base64url');
    this.byUser.delete(user);
    this.byUser.set(user, { token, expires: this.now() + this.ttlMs });
    this.sweep();
    return token;
  }

  /** True, and the token is spent, when it is the user's current unexpired token. */
  consume(user: string, token: string): boolean {
    const entry = this.byUser.get(user);
    const valid = entry !== undefined && entry.expires > this.now();
    // Compare even when there is nothing to compare with, so timing shows nothing.
    const same = sameSecret(token, entry?.token ?? '\0');
    if (entry && !valid) this.byUser.delete(user);
    if (!valid || !same) return false;
    this.byUser.delete(user);
    return true;
  }

  get size(): number {
    return this.byUser.size;
  }

  /** Entries are in issue order, so expired ones are at the front. */
  private sweep(): void {
    const now = this.now();
    for (const [user, entry] of this.byUser) {
      if (entry.expires > now) break;
      this.byUser.delete(user);
    }
  }
}
