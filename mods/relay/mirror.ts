import type { Channel, ChannelInfo } from '../../core/engine/channel.ts';
import { DEFAULT_CONTENT_TYPE, type ChannelSettings } from '../../core/contracts/channel-settings.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import type { Logger } from '../../core/kernel/log.ts';
import { getJson, shown, type GetOptions } from './http-get.ts';
import { listedChannels, mountUrl, type ListedChannel } from './origin-list.ts';

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

  private async fetchListing(): Promise<ListedChannel[]> {
    const tried: string[] = [];
    for (const path of this.listingPath ? [this.listingPath] : LISTINGS) {
      const url = new URL(path, this.opts.origin);
      try {
        const listed = listedChannels(await getJson(url, this.opts.request, LISTING_BYTES));
        if (listed) {
          this.listingPath = path;
          return listed;
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
    let entries: ListedChannel[];
    try {
      entries = await this.fetchListing();
    } catch (err) {
      this.log.warn({ origin: shown(this.opts.origin), err: (err as Error).message }, 'cannot list the origin\'s channels; keeping the ones known');
      return;
    }
    if (this.stopped) return;
    const listed = new Set(entries.map((e) => e.mount));
    for (const entry of entries) this.add(entry);
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

  private add(entry: ListedChannel): void {
    const { mount } = entry;
    const existing = this.kernel.channels.get(mount);
    if (existing && this.ours.has(existing)) {
      // Fields the stream's own head has not given yet (it has not connected) follow the listing.
      for (const [field, value] of Object.entries(entry.info) as [keyof ChannelInfo, string][]) existing.info[field] ??= value;
      return;
    }
    if (existing) {
      if (!this.ours.has(existing) && !this.skipped.has(mount)) {
        this.skipped.add(mount);
        this.log.warn({ mount }, 'the origin lists a mount this server already serves; not mirroring it');
      }
      return;
    }
    const url = mountUrl(this.opts.origin, mount);
    const spec = { kind: 'relay', url: url.href, ...(this.opts.onDemand ? { onDemand: true } : {}) };
    // The listed type is what an on-demand channel's first listener is told, before the connection is made.
    const settings = { ...this.opts.settings, ...(entry.contentType && this.opts.settings.contentType === DEFAULT_CONTENT_TYPE ? { contentType: entry.contentType } : {}) };
    const channel = this.kernel.channels.create(mount, settings, spec);
    channel.info = { ...entry.info };
    this.ours.add(channel);
    this.log.info({ mount, url: shown(url), onDemand: this.opts.onDemand }, 'mirroring channel');
  }
}
