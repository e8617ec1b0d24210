import type { Kernel } from '../../core/kernel/kernel.ts';
import type { HttpRequest } from '../http/index.ts';

export type AdminVerdict = { ok: true; user: string } | { ok: false; status: 401 | 403; reason: string };

/**
 * Is the request's Basic login an admin's? The authenticate hook's `admin`
 * action decides (the users module says yes for `admin=true`). When no module
 * vouches, the login is checked as an ordinary user's: right credentials
 * without admin rights are 403, wrong or missing ones 401 (the client may
 * retry with others).
 */
export async function authorizeAdmin(kernel: Kernel, req: HttpRequest): Promise<AdminVerdict> {
  if (!req.basic) return { ok: false, status: 401, reason: 'credentials required' };
  const { user, password } = req.basic;
  const remoteAddress = req.remoteAddress;
  const decision = await kernel.authenticate({ action: 'admin', protocol: 'http', user, password, remoteAddress });
  if (decision?.allow) return { ok: true, user: decision.user ?? user };
  if (decision) return { ok: false, status: decision.forbidden ? 403 : 401, reason: decision.reason };
  const users = kernel.service('users');
  if (!users) return { ok: false, status: 401, reason: 'no authentication module knows admins (is users in main.mods?)' };
  if (await users.checkPassword(user, password, remoteAddress)) return { ok: false, status: 403, reason: `user ${user} is not an admin` };
  return { ok: false, status: 401, reason: 'authentication failed' };
}

/**
 * A browser's request made from another site's page (an `<img>` pointing at
 * `/admin/killsource`, sent with the Basic login the browser remembers) is
 * refused. Scripts and curl send no `Sec-Fetch-Site`; the status page's own
 * requests are `same-origin`, a typed address `none`.
 */
export function crossSite(req: HttpRequest): boolean {
  const site = req.headers['sec-fetch-site'];
  return site !== undefined && site !== 'same-origin' && site !== 'none';
}
