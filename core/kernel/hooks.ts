import { AsyncSeriesBailHook, AsyncSeriesHook, HookMap, SyncBailHook, SyncHook, SyncWaterfallHook } from 'tapable';
import type { AuthDecision, AuthRequest } from '../contracts/auth.ts';
import type { Channel } from '../engine/channel.ts';
import type { Connection, SniffResult } from '../contracts/connection.ts';
import type { Framer, FramerOptions } from '../contracts/frame.ts';
import type { Listener } from '../engine/listener.ts';
import type { OpenedSource, SourceSpec } from '../contracts/source.ts';

/** What a new listener asks to join; `listenerJoin` taps may refuse it. */
export interface ListenerRequest {
  channel: Channel;
  remoteAddress: string;
  protocol: string;
  user?: string;
  /** Listeners the channel has now, before this one. */
  listeners: number;
}

/** The server's figures; each module adds its own under its name. */
export interface Stats {
  startedAt: Date;
  channels: ReturnType<Channel['stats']>[];
  [section: string]: unknown;
}

type FrameFilterHook = SyncBailHook<[options: FramerOptions], Framer | undefined>;

/**
 * The `frameFilter` HookMap, which also keeps the names modules have tapped:
 * the filters a channel may name. tapable's HookMap cannot list its keys, and
 * `for(name)` makes a hook even for a name nobody provides, so a name counts
 * once a tap is registered on it (at registration, never per call).
 */
export class FrameFilterMap extends HookMap<FrameFilterHook> {
  private readonly tapped = new Set<string>();

  constructor() {
    super((_name: string) => new SyncBailHook<[options: FramerOptions], Framer | undefined>(['options']));
    this.intercept({
      factory: (name: string, hook: FrameFilterHook) => {
        hook.intercept({ register: (tap) => { this.tapped.add(name); return tap; } });
        return hook;
      },
    });
  }

  /** The names of the registered frame filters, sorted (for messages listing what is available). */
  names(): string[] {
    return [...this.tapped].sort();
  }

  /** Whether some module provides the filter. */
  has(name: string): boolean {
    return this.tapped.has(name);
  }
}

/**
 * Every lifecycle hook, in one place (as webpack's `Compiler.hooks`). Modules tap
 * them with their own name; only the kernel and the engine call them: modules
 * ask through `kernel.authenticate`, `kernel.claim`, `kernel.stats`,
 * `channel.admit` (listeners) and `channels.attachSource` (broadcasters). None
 * is called per listener per frame: that path is the engine's own.
 */
export function createHooks() {
  return Object.freeze({
    /** All modules applied: open ports, start sources. */
    start: new AsyncSeriesHook<[]>([]),
    /**
     * The settings file was read again (SIGHUP) and the whole was valid: each
     * module applies what changed in its own section (`previous` is what it
     * ran with). Modules that do not tap it keep their settings until a restart.
     */
    reload: new AsyncSeriesHook<[settings: Readonly<Record<string, unknown>>, previous: Readonly<Record<string, unknown>>]>(['settings', 'previous']),
    /** Graceful shutdown (SIGINT/SIGTERM, or the only source ended); bounded in time by the kernel. */
    stop: new AsyncSeriesHook<[reason: string]>(['reason']),

    /**
     * A connection's first bytes arrived: return a handler to claim it, NEED_MORE to
     * wait for more bytes, undefined to pass. Taps run in `main.mods` order.
     */
    connection: new AsyncSeriesBailHook<[conn: Connection], SniffResult>(['conn']),

    /** The first tap with an opinion decides; nobody deciding means the caller's default. */
    authenticate: new AsyncSeriesBailHook<[request: AuthRequest], AuthDecision | undefined>(['request']),

    /** Opens a channel's source; the tap that knows `spec.kind` returns it. */
    sourceOpen: new AsyncSeriesBailHook<[spec: SourceSpec, channel: Channel], OpenedSource | undefined>(['spec', 'channel']),
    /**
     * A broadcaster (a pushed source) is about to be attached at `mount`: return a
     * reason to refuse it (limits). Sources from the configuration are the
     * operator's own and are not asked about.
     */
    sourceAttach: new SyncBailHook<[mount: string, source: OpenedSource], string | undefined>(['mount', 'source']),
    /** A source started delivering bytes to a channel. */
    sourceOpened: new SyncHook<[channel: Channel, source: OpenedSource]>(['channel', 'source']),
    /** A source ended (EOF, closed on idle, stopped); `reason` says which. */
    sourceClosed: new SyncHook<[channel: Channel, reason: string]>(['channel', 'reason']),
    /** A source could not be opened or failed while reading. */
    sourceFailed: new SyncHook<[channel: Channel, error: Error]>(['channel', 'error']),

    /** Frame filters by name (`raw`, `mp3`, …): a factory turning bytes into frames. */
    frameFilter: new FrameFilterMap(),

    /** A listener asks to join: return a reason to refuse it (limits). */
    listenerJoin: new AsyncSeriesBailHook<[request: ListenerRequest], string | undefined>(['request']),
    /** A listener joined a channel. */
    listenerJoined: new SyncHook<[listener: Listener]>(['listener']),
    /** A listener left (or was disconnected); its figures are final. */
    listenerLeave: new SyncHook<[listener: Listener]>(['listener']),

    /** A channel appeared at a mount. */
    channelCreated: new SyncHook<[channel: Channel]>(['channel']),
    /** A channel was removed; its listeners are gone. */
    channelClosed: new SyncHook<[channel: Channel]>(['channel']),

    /** Each module adds its figures to the snapshot and returns it. */
    stats: new SyncWaterfallHook<[stats: Stats]>(['stats']),
  });
}

export type Hooks = ReturnType<typeof createHooks>;
