import { randomBytes } from 'node:crypto';

/** The header that names the servers a relayed stream has passed through, origin first. */
export const VIA_HEADER = 'X-Streamserve-Via';

/** More hops than this is no chain an operator builds: the rest of a longer list is ignored. */
const MAX_HOPS = 32;
const ID = /^[A-Za-z0-9._:@[\]-]{1,80}$/;

/** A server id that stays the same while the process runs: the operator's, or a random one. */
export function makeServerId(configured: string): string {
  return configured || `ss-${randomBytes(6).toString('hex')}`;
}

/** The ids in a via header (from a stranger: malformed entries are dropped, the list is bounded). */
export function parseVia(header: string | string[] | undefined): string[] {
  const text = Array.isArray(header) ? header.join(',') : header ?? '';
  const out: string[] = [];
  for (const part of text.split(',')) {
    const id = part.trim();
    if (ID.test(id)) out.push(id);
    if (out.length >= MAX_HOPS) break;
  }
  return out;
}

export function formatVia(ids: readonly string[]): string {
  return ids.slice(-MAX_HOPS).join(', ');
}
