import { Channel } from './channel.ts';
import type { ChannelSettings } from '../contracts/channel-settings.ts';
import type { Hooks } from '../kernel/hooks.ts';
import type { Logger } from '../kernel/log.ts';
import type { OpenedSource, SourceSpec } from '../contracts/source.ts';

/** What the engine needs of the kernel: the hooks it calls and the log. */
export interface EngineHost {
  readonly hooks: Hooks;
  readonly log: Logger;
}

/** What channels and their sources reach: the host's hooks and log, and the way out of the registry. */
export interface EngineContext extends EngineHost {
  /** Removes a channel whose stream is over for good. */
  remove(channel: Channel): void;
}

/** Why a pushed source was not attached: `limit` when a `sourceAttach` tap refused it (its reason comes along). */
export type AttachRefusal = 'configured' | 'busy' | 'limit';

export interface AttachOptions {
  /**
   * Whether a channel left in its grace period by an earlier source can take
   * this one (its listeners are cursors into frames of its format); when not,
   * the old channel is closed and a new one made. Default: it can.
   */
  compatible?(existing: Channel): boolean;
}

/** The channels by mount. Creating and removing one fires `channelCreated` / `channelClosed`. */
export class ChannelRegistry {
  private readonly byMount = new Map<string, Channel>();
  private readonly context: EngineContext;

  constructor(private readonly host: EngineHost) {
    this.context = { hooks: host.hooks, log: host.log, remove: (channel) => this.remove(channel) };
  }

  /**
   * Adds a channel. With a source spec it pulls from that source (opened now, or
   * on the first listener when it closes on idle); without one it waits for a
   * broadcaster to `attach`.
   */
  create(mount: string, settings: ChannelSettings, spec?: SourceSpec): Channel {
    if (this.byMount.has(mount)) throw new Error(`mount ${mount} is already taken`);
    const channel = new Channel(this.context, mount, settings, spec);
    this.byMount.set(mount, channel);
    this.host.hooks.channelCreated.call(channel);
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
    this.host.hooks.channelClosed.call(channel);
  }

  /**
   * Puts a new channel at `mount` in place of the one there (new settings or
   * source), moving its listeners over without disconnecting them: they go on
   * at the new channel's first sync point. The old channel closes.
   */
  replace(mount: string, settings: ChannelSettings, spec?: SourceSpec): Channel {
    const old = this.byMount.get(mount);
    if (!old) return this.create(mount, settings, spec);
    this.byMount.delete(mount);
    const channel = this.create(mount, settings, spec);
    for (const l of [...old.listeners]) old.moveListener(l, channel);
    old.close();
    this.host.hooks.channelClosed.call(old);
    return channel;
  }

  /**
   * The one way a pushed source (a broadcaster) gets in: onto the channel at
   * `mount`, made now with `settings`, or the one an earlier source left in its
   * grace period (its listeners resume). Refused while the mount is fed from the
   * configuration or the command line, or by another live source.
   */
  attachSource(mount: string, settings: ChannelSettings, source: OpenedSource, opts: AttachOptions = {}):
    { channel: Channel; resumed: boolean } | { refused: AttachRefusal; reason?: string } {
    let channel = this.byMount.get(mount);
    if (channel?.source.spec) return { refused: 'configured' };
    if (channel?.source.up) return { refused: 'busy' };
    const reason = this.host.hooks.sourceAttach.call(mount, source);
    if (reason) return { refused: 'limit', reason };
    if (channel && opts.compatible && !opts.compatible(channel)) {
      this.remove(channel);
      channel = undefined;
    }
    const resumed = channel !== undefined;
    channel ??= this.create(mount, settings);
    if (!channel.source.attach(source)) return { refused: 'busy' };
    return { channel, resumed };
  }

  closeAll(): void {
    for (const channel of this.all()) this.remove(channel);
  }
}

/** The engine as the kernel is handed it (`KernelOptions.channels`). */
export function createChannels(host: EngineHost): ChannelRegistry {
  return new ChannelRegistry(host);
}
