import { pickChannelSettings } from '../../core/contracts/channel-settings.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import type { Filler } from './plan.ts';

/**
 * Starts a filler's channel: the file looped in real time, framed by `auto`,
 * so it is live whenever a listener is moved to it. It is an ordinary channel
 * (listed in the status pages, with its listener count).
 */
export function startFiller(kernel: Kernel, filler: Filler): void {
  const settings = pickChannelSettings({ filter: 'auto', realtime: true, reopen: true });
  const channel = kernel.channels.create(filler.mount, settings, { kind: 'path', path: filler.path });
  channel.info = { name: 'filler', description: `played while no source is live: ${filler.path}` };
}
