import { Channel } from './channel.ts';
import type { ChannelSettings } from './channel-settings.ts';
import type { Kernel } from './kernel.ts';
import type { SourceSpec } from './source.ts';

/** The channels by mount. Creating and removing one fires `channelCreated` / `channelClosed`. */
export class ChannelRegistry {
  private readonly byMount = new Map<string, Channel>();

  constructor(private readonly kernel: Kernel) {}

  /**
   * Adds a channel. With a source spec it pulls from that source (opened now, or
   * on the first listener when it closes on idle); without one it waits for a
   * broadcaster to `attach`.
   */
  create(mount: string, settings: ChannelSettings, spec?: SourceSpec): Channel {
    if (this.byMount.has(mount)) throw new Error(`mount ${mount} is already taken`);
    const channel = new Channel(this.kernel, mount, settings, spec);
    this.byMount.set(mount, channel);
    this.kernel.hooks.channelCreated.call(channel);
    channel.source.start();
    return channel;
  }

  get(mount: string): Channel | undefined {
    return this.byMount.get(mount);
  }

  all(): Channel[] {
    return [...this.byMount.values()];
  }

  get size(): number {
    return this.byMount.size;
  }

  remove(channel: Channel): void {
    if (this.byMount.get(channel.mount) !== channel) return;
    this.byMount.delete(channel.mount);
    channel.close();
    this.kernel.hooks.channelClosed.call(channel);
  }

  closeAll(): void {
    for (const channel of this.all()) this.remove(channel);
  }
}
