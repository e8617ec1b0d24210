import type { AuthDecision, AuthRequest } from '../../core/contracts/auth.ts';
import type { ChannelRegistry } from '../../core/engine/channels.ts';
import type { Logger } from '../../core/kernel/log.ts';
import type { FailureThrottle } from './failure-throttle.ts';
import { mayPublishTo } from './mounts.ts';
import { verifyHash } from './password-hash.ts';
import { sameSecret } from '../../core/contracts/secret.ts';
import type { UsersService } from './service.ts';
import type { TokenBook } from './tokens.ts';
import type { UserStore } from './user-store.ts';
import type { UserRecord } from './user-file.ts';

/** One message for every credential failure, so a client cannot tell which user names exist. */
export const AUTH_FAILED = 'authentication failed';
export const THROTTLED = 'too many failed attempts from this address; try again later';

/**
 * The users module's decisions: credentials for `broadcast` and `token`, the
 * channel password for `watch`, admin users for `admin`. No opinion on anything else, so an operator's
 * module (or the caller's default) decides that.
 */
export class Users implements UsersService {
  constructor(
    private readonly store: UserStore,
    private readonly tokens: TokenBook,
    private readonly throttle: FailureThrottle,
    private readonly channels: ChannelRegistry,
    private readonly log: Logger,
  ) {}

  async authenticate(req: AuthRequest): Promise<AuthDecision | undefined> {
    switch (req.action) {
      case 'broadcast':
      case 'token':
        return this.credentials(req);
      case 'watch':
        return this.channelPassword(req);
      case 'admin':
        return this.admin(req);
      default:
        return undefined;
    }
  }

  private async credentials(req: AuthRequest): Promise<AuthDecision> {
    const addr = req.remoteAddress;
    if (this.throttle.blocked(addr)) return { allow: false, reason: THROTTLED };
    const user = req.user ?? '';
    const record = await this.store.get(user);
    let ok: boolean;
    if (req.action === 'broadcast' && req.token !== undefined) ok = this.tokens.consume(user, req.token) && record !== undefined;
    else ok = await verifyPassword(record, req.password ?? '');
    if (!ok) {
      this.throttle.fail(addr);
      this.log.debug({ user, remote: addr, action: req.action, known: record !== undefined }, 'credentials refused');
      return { allow: false, reason: AUTH_FAILED };
    }
    if (req.action === 'broadcast' && req.mount !== undefined && !mayPublishTo(user, record!.mounts, req.mount)) {
      return { allow: false, reason: `user ${user} may not publish to ${req.mount}`, forbidden: true };
    }
    return { allow: true, user };
  }

  /** Admin users (`admin=true`) may do admin actions; anyone else is left to the caller (a mount's owner, for instance). */
  private async admin(req: AuthRequest): Promise<AuthDecision | undefined> {
    const record = await this.store.get(req.user ?? '');
    if (!record?.admin || this.throttle.blocked(req.remoteAddress)) return undefined;
    if (await verifyPassword(record, req.password ?? '')) return { allow: true, user: record.name };
    this.throttle.fail(req.remoteAddress);
    return undefined;
  }

  private channelPassword(req: AuthRequest): AuthDecision | undefined {
    const expected = req.mount === undefined ? undefined : this.channels.get(req.mount)?.info.password;
    if (!expected) return undefined;
    if (this.throttle.blocked(req.remoteAddress)) return { allow: false, reason: THROTTLED };
    if (sameSecret(req.channelPassword ?? '', expected)) return { allow: true };
    this.throttle.fail(req.remoteAddress);
    return { allow: false, reason: 'wrong channel password' };
  }

  async checkPassword(user: string, password: string, remoteAddress: string): Promise<boolean> {
    const decision = await this.credentials({ action: 'token', protocol: 'service', user, password, remoteAddress });
    return decision.allow;
  }

  async mayPublish(user: string, mount: string): Promise<boolean> {
    const record = await this.store.get(user);
    return record !== undefined && mayPublishTo(user, record.mounts, mount);
  }

  issueToken(user: string): string {
    return this.tokens.issue(user);
  }
}

/**
 * A hashed password wins over a plaintext one; a user with neither (or an empty
 * `password=`) cannot log in with a password. Unknown users cost the same
 * comparison as known ones.
 */
async function verifyPassword(record: UserRecord | undefined, password: string): Promise<boolean> {
  if (record?.passwordHash !== undefined) return verifyHash(password, record.passwordHash);
  const stored = record?.password;
  const same = sameSecret(password, stored || '\0');
  return same && !!stored;
}
