import type { Channel } from '../../core/engine/channel.ts';

/** A server that asked for a channel this long ago no longer counts as waiting on it. */
const REMEMBER_MS = 60_000;
const MAX_IDS = 32;

/**
 * The servers that asked us for each relayed channel (their via lists), so
 * the connection we open upstream for that channel names them too: if the
 * upstream is one of them, or reached through one of them, it sees its own id
 * and refuses. This finds a loop even before any byte flows (A relays B, B
 * relays A: each waits on the other and neither ever has a stream).
 */
export class Downstream {
  private readonly byChannel = new WeakMap<Channel, Map<string, number>>();

  note(channel: Channel, ids: readonly string[]): void {
    let seen = this.byChannel.get(channel);
    if (!seen) this.byChannel.set(channel, (seen = new Map()));
    const now = performance.now();
    for (const id of ids) {
      seen.delete(id);
      seen.set(id, now);
    }
    // Oldest first in a Map's order: drop from the front past the bound.
    while (seen.size > MAX_IDS) seen.delete(seen.keys().next().value!);
  }

  of(channel: Channel): string[] {
    const seen = this.byChannel.get(channel);
    if (!seen) return [];
    const now = performance.now();
    for (const [id, at] of seen) if (now - at > REMEMBER_MS) seen.delete(id);
    return [...seen.keys()];
  }
}
