import type { Channel } from '../../core/engine/channel.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';

export type Verdict = { ok: true; user: string } | { ok: false; status: 401 | 403; reason: string };

interface Credentials {
  user: string;
  password: string;
}

/**
 * May these Basic credentials publish to the mount? 401 for wrong credentials
 * (or when no module vouches for them), 403 when they are right but the mount
 * is not the user's.
 */
export async function authorizeSource(kernel: Kernel, { user, password }: Credentials, mount: string, remoteAddress: string): Promise<Verdict> {
  const decision = await kernel.authenticate({ action: 'broadcast', protocol: 'icecast', user, password, mount, remoteAddress });
  if (!decision) return { ok: false, status: 401, reason: 'no authentication module knows this user (is users in main.mods?)' };
  if (decision.allow) return { ok: true, user: decision.user ?? user };
  // `forbidden`: the credentials are right but the mount is not theirs (the users module's mounts= rule).
  return { ok: false, status: decision.forbidden ? 403 : 401, reason: decision.reason };
}

/**
 * May these credentials set the channel's title? An admin may (the authenticate
 * hook's `admin` action), and so may the mount's owner with the password that
 * lets them publish there: libshout, liquidsoap and butt send the source's own
 * credentials.
 */
export async function authorizeMetadata(kernel: Kernel, credentials: Credentials, channel: Channel, remoteAddress: string): Promise<Verdict> {
  const { user, password } = credentials;
  const mount = channel.mount;
  const admin = await kernel.authenticate({ action: 'admin', protocol: 'icecast', user, password, mount, remoteAddress });
  if (admin?.allow) return { ok: true, user: admin.user ?? user };
  if (channel.info.owner !== undefined && user === channel.info.owner) {
    const owner = await authorizeSource(kernel, credentials, mount, remoteAddress);
    if (owner.ok) return owner;
    return owner.status === 403 ? { ...owner, reason: `user ${user} may no longer publish to ${mount}` } : owner;
  }
  if (admin && !admin.allow && !admin.forbidden) return { ok: false, status: 401, reason: admin.reason };
  return { ok: false, status: 403, reason: `only the owner of ${mount} or an admin may set its title` };
}
