import type { ChannelRegistry } from '../../core/engine/channels.ts';
import type { LimitKind } from './refusals.ts';
import { limitsAt, type LimitsSettings } from './settings.ts';

export interface Refused {
  kind: LimitKind;
  reason: string;
}

/** Listeners on every channel now. */
export function serverListeners(channels: ChannelRegistry): number {
  let n = 0;
  for (const c of channels.all()) n += c.listeners.length;
  return n;
}

/** Broadcasters live now: channels fed by a pushed source (configured sources are the operator's own). */
export function liveBroadcasters(channels: ChannelRegistry): number {
  let n = 0;
  for (const c of channels.all()) if (c.source.up && !c.source.spec) n++;
  return n;
}

/** Whether one more listener fits at `mount`, given the live counts; the reason is what the listener is told. */
export function listenerRefusal(s: LimitsSettings, mount: string, channelCount: number, serverCount: number): Refused | undefined {
  const { maxListeners } = limitsAt(s, mount);
  if (maxListeners > 0 && channelCount >= maxListeners) {
    return { kind: 'channelListeners', reason: `${mount} is full: it takes at most ${maxListeners} listeners` };
  }
  if (s.maxListeners > 0 && serverCount >= s.maxListeners) {
    return { kind: 'serverListeners', reason: `server is full: it takes at most ${s.maxListeners} listeners` };
  }
  return undefined;
}

/** Whether one more broadcaster fits on the server. */
export function sourceRefusal(s: LimitsSettings, live: number): Refused | undefined {
  if (s.maxSources > 0 && live >= s.maxSources) {
    return { kind: 'sources', reason: `server is full: it takes at most ${s.maxSources} broadcasters` };
  }
  return undefined;
}
