import type { Channel } from '../../core/engine/channel.ts';
import type { ChannelSettings } from '../../core/contracts/channel-settings.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import type { Logger } from '../../core/kernel/log.ts';
import { getJson, shown, type GetOptions } from './http-get.ts';
import { listedMounts, mountUrl } from './origin-list.ts';

export interface MirrorOptions {
  origin: URL;
  /** Open each channel on its first listener (else at once, always). */
  onDemand: boolean;
  /** With onDemand: close a channel's connection after this long without listeners. */
  idleCloseMs: number;
  listIntervalMs: number;
  settings: ChannelSettings;
  request: GetOptions;
  /** Ends a channel's relay connection on purpose. */
  closeIdle(channel: Channel): void;
}

const LISTING_BYTES = 4 * 1024 * 1024;
/** Where our server, then Icecast 2.4, list their mounts. */
const LISTINGS = ['/status.json', '/status-json.xsl'];

/**
 * Icecast's master/slave: every channel the origin lists becomes a relayed
 * channel here, re-listed every interval; a channel gone from the origin is
 * removed once nobody listens to it.
 */
export class Mirror {
  private readonly ours = new Set<Channel>();
  private readonly idleTimers = new Map<Channel, NodeJS.Timeout>();
  private readonly skipped = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private listing: Promise<void> | undefined;
  private listingPath: string | undefined;
  private stopped = false;

  constructor(private readonly kernel: Kernel, private readonly log: Logger, private readonly opts: MirrorOptions) {}

  start(): void {
    void this.relist();
    this.timer = setInterval(() => void this.relist(), this.opts.listIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const t of this.idleTimers.values()) clearTimeout(t);
    this.idleTimers.clear();
  }

  owns(channel: Channel): boolean {
    return this.ours.has(channel);
  }

  /** A listener joined or left one of our channels. */
  listenersChanged(channel: Channel): void {
    if (!this.ours.has(channel) || !this.opts.onDemand) return;
    clearTimeout(this.idleTimers.get(channel));
    this.idleTimers.delete(channel);
    if (channel.listeners.length > 0) return;
    this.idleTimers.set(channel, setTimeout(() => {
      this.idleTimers.delete(channel);
      if (channel.listeners.length === 0 && !channel.closed) this.opts.closeIdle(channel);
    }, this.opts.idleCloseMs));
  }

  private relist(): Promise<void> {
    // One listing at a time: a slow origin must not pile requests up.
    this.listing ??= this.list().finally(() => { this.listing = undefined; });
    return this.listing;
  }

  private async fetchMounts(): Promise<string[]> {
    const tried: string[] = [];
    for (const path of this.listingPath ? [this.listingPath] : LISTINGS) {
      const url = new URL(path, this.opts.origin);
      try {
        const mounts = listedMounts(await getJson(url, this.opts.request, LISTING_BYTES));
        if (mounts) {
          this.listingPath = path;
          return mounts;
        }
        tried.push(`${shown(url)}: no icestats in the document`);
      } catch (err) {
        tried.push((err as Error).message);
      }
    }
    this.listingPath = undefined;
    throw new Error(tried.join('; '));
  }

  private async list(): Promise<void> {
    let mounts: string[];
    try {
      mounts = await this.fetchMounts();
    } catch (err) {
      this.log.warn({ origin: shown(this.opts.origin), err: (err as Error).message }, 'cannot list the origin\'s channels; keeping the ones known');
      return;
    }
    if (this.stopped) return;
    const listed = new Set(mounts);
    for (const mount of mounts) this.add(mount);
    for (const channel of [...this.ours]) {
      if (channel.closed) this.ours.delete(channel);
      else if (!listed.has(channel.mount) && channel.listeners.length === 0) {
        this.log.info({ mount: channel.mount }, 'channel gone from the origin; removing it');
        this.ours.delete(channel);
        clearTimeout(this.idleTimers.get(channel));
        this.idleTimers.delete(channel);
        this.kernel.channels.remove(channel);
      }
    }
  }

  private add(mount: string): void {
    const existing = this.kernel.channels.get(mount);
    if (existing) {
      if (!this.ours.has(existing) && !this.skipped.has(mount)) {
        this.skipped.add(mount);
        this.log.warn({ mount }, 'the origin lists a mount this server already serves; not mirroring it');
      }
      return;
    }
    const url = mountUrl(this.opts.origin, mount);
    const spec = { kind: 'relay', url: url.href, ...(this.opts.onDemand ? { onDemand: true } : {}) };
    const channel = this.kernel.channels.create(mount, { ...this.opts.settings }, spec);
    this.ours.add(channel);
    this.log.info({ mount, url: shown(url), onDemand: this.opts.onDemand }, 'mirroring channel');
  }
}
