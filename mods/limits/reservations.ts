import type { Channel } from '../../core/engine/channel.ts';

/**
 * Places promised to listeners let in but not yet joined. A protocol joins a
 * listener in the same turn as its admission resolves, so two admissions
 * resolving in one turn would both see the last free place: each holds one
 * until it joins (`listenerJoined`) or, at the latest, until the turn is over
 * (a HEAD request, or a client gone meanwhile, never joins).
 */
export class Reservations {
  private readonly held = new Map<Channel, Set<object>>();
  private all = 0;

  hold(channel: Channel): void {
    const token = {};
    let set = this.held.get(channel);
    if (!set) this.held.set(channel, (set = new Set()));
    set.add(token);
    this.all++;
    setImmediate(() => this.drop(channel, token));
  }

  /** A listener joined `channel`: it now counts itself, so its reservation goes. */
  joined(channel: Channel): void {
    const first = this.held.get(channel)?.values().next().value;
    if (first) this.drop(channel, first);
  }

  on(channel: Channel): number {
    return this.held.get(channel)?.size ?? 0;
  }

  get total(): number {
    return this.all;
  }

  private drop(channel: Channel, token: object): void {
    const set = this.held.get(channel);
    if (!set?.delete(token)) return;
    this.all--;
    if (!set.size) this.held.delete(channel);
  }
}
