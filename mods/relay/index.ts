import type { Channel } from '../../core/engine/channel.ts';
import { channelDefaults, pickChannelSettings, type ChannelSettings } from '../../core/contracts/channel-settings.ts';
import { ERR } from '../../core/kernel/errors.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import { defineModule } from '../../core/kernel/module.ts';
import { respondText } from '../http/index.ts';
import { checkUrl, shown } from './http-get.ts';
import { Downstream } from './downstream.ts';
import { Mirror } from './mirror.ts';
import { Outages } from './outages.ts';
import { openRelay, type RelayContext } from './relay-source.ts';
import { formatVia, makeServerId, parseVia, VIA_HEADER } from './via.ts';

interface RelaySettings {
  url: string;
  relayAll: string;
  onDemand: boolean;
  idleClose: number;
  listInterval: number;
  timeout: number;
  maxRedirects: number;
  maxHeadBytes: number;
  serverId: string;
}

/** A relay channel nobody chose a filter for cuts the stream by its content, not in 64-byte pieces. */
export function relayChannelSettings(settings: ChannelSettings): ChannelSettings {
  const unchosen = settings.filter === channelDefaults.filter && settings.frameBytes === channelDefaults.frameBytes;
  return unchosen ? { ...settings, filter: 'auto' } : settings;
}

/** A relay spec's URL as logs and status pages may show it: without its password. */
function shownSpec(url: unknown): string {
  const checked = checkUrl(String(url));
  return typeof checked === 'string' ? String(url) : shown(checked);
}

/** A relay URL from a setting or flag; a UserError naming the setting when it is no http(s) URL. */
export function urlSetting(text: string, setting: string): URL {
  const url = checkUrl(text);
  if (typeof url === 'string') throw ERR.RELAY_URL_INVALID(text, setting, url);
  return url;
}

/**
 * Relays: a channel whose source is another server's stream (ours or
 * Icecast's), the default channel from `-relay URL`, a settings file's channel
 * from `relay: URL`, or every channel of an origin (`relayAll`, Icecast's
 * master/slave). Loops are refused by the `X-Streamserve-Via` header.
 */
export default defineModule<RelaySettings>({
  name: 'relay',
  description: 'channels relayed from another server',
  // Relayed channels name a filter (auto unless one is chosen), checked at start.
  needs: ['filters'],
  // Stream responses carry our id, and loop requests are refused, through http's hooks.
  uses: ['http'],
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      url: { type: 'string', default: '', description: 'relay this http:// or https:// stream as the default channel at / (empty: none)' },
      relayAll: { type: 'string', default: '', description: 'mirror every channel this origin server lists (empty: none)' },
      onDemand: { type: 'boolean', default: true, description: 'mirrored channels connect on their first listener (false: always)' },
      idleClose: { type: ['string', 'number'], 'x-duration': true, default: '30s', description: 'mirrored on-demand channels disconnect after this long without listeners' },
      listInterval: { type: ['string', 'number'], 'x-duration': true, default: '60s', description: 'list the origin\'s channels again this often' },
      timeout: { type: ['string', 'number'], 'x-duration': true, default: '10s', description: 'no answer or no bytes from the origin for this long: reconnect' },
      maxRedirects: { type: 'integer', minimum: 0, maximum: 10, default: 3, description: 'redirects followed at most' },
      maxHeadBytes: { type: 'integer', minimum: 1024, maximum: 65536, default: 16384, description: 'largest response head accepted from the origin' },
      serverId: { type: 'string', pattern: '^[A-Za-z0-9._:@-]{0,80}$', default: '', description: 'this server\'s name in X-Streamserve-Via (empty: a random id made at start)' },
    },
  },
  flags: {
    relay: { setting: 'url', type: 'string', description: 'relay the stream at this http:// or https:// URL as the default channel' },
    'relay-all': { setting: 'relayAll', type: 'string', description: 'mirror every channel the origin at this URL lists (/status.json or Icecast\'s /status-json.xsl)' },
    'relay-on-demand': { setting: 'onDemand', type: 'bool', description: 'mirrored channels connect on their first listener; =false: always' },
    'relay-idle-close': { setting: 'idleClose', type: 'duration', description: 'disconnect an on-demand mirrored channel after this long without listeners' },
    'relay-list-interval': { setting: 'listInterval', type: 'duration', description: 'list the origin\'s channels again this often' },
    'relay-timeout': { setting: 'timeout', type: 'duration', description: 'no answer or no bytes from the origin for this long: reconnect' },
    'relay-server-id': { setting: 'serverId', type: 'string', description: 'this server\'s name in X-Streamserve-Via (default: random at start)' },
  },
  apply(kernel: Kernel, s: RelaySettings) {
    const log = kernel.logger('relay');
    const serverId = makeServerId(s.serverId);
    const source = (kernel.settings.source ?? {}) as { path?: string; exec?: unknown } & Partial<ChannelSettings>;
    const hasCommand = Array.isArray(source.exec) ? source.exec.length > 0 : typeof source.exec === 'string' ? source.exec.trim() !== '' : source.exec === true;
    const defaultUrl = s.url ? urlSetting(s.url, '-relay') : undefined;
    const origin = s.relayAll ? urlSetting(s.relayAll, '-relay-all') : undefined;
    if (defaultUrl && (source.path || hasCommand)) throw ERR.RELAY_WITH_SOURCE(s.url);
    const channelSettings = relayChannelSettings(pickChannelSettings(source));

    const ctx: RelayContext = {
      serverId,
      request: { timeoutMs: s.timeout, maxHeaderBytes: s.maxHeadBytes, maxRedirects: s.maxRedirects },
      log,
      upstream: new WeakMap(),
      current: new Map(),
      downstream: new Downstream(),
    };
    const outages = new Outages();
    const isRelay = (channel: Channel) => channel.source.spec?.kind === 'relay';

    kernel.hooks.sourceOpen.tapPromise('relay', async (spec, channel) => {
      if (spec.kind !== 'relay') return undefined;
      const url = checkUrl(String(spec.url));
      if (typeof url === 'string') throw new Error(`relay URL ${String(spec.url)}: ${url}`);
      return openRelay(url, channel, ctx);
    });
    kernel.hooks.sourceOpened.tap('relay', (channel) => { if (isRelay(channel)) outages.opened(channel); });
    kernel.hooks.sourceClosed.tap('relay', (channel) => { if (isRelay(channel)) outages.ended(channel); });
    kernel.hooks.sourceFailed.tap('relay', (channel, err) => { if (isRelay(channel)) outages.ended(channel, err.message); });

    let mirror: Mirror | undefined;
    const startMirror = (origin: URL) => new Mirror(kernel, log, {
      origin,
      onDemand: s.onDemand,
      idleCloseMs: s.idleClose,
      listIntervalMs: s.listInterval,
      settings: { ...channelSettings, closeIdle: false, reopen: true },
      request: { ...ctx.request, headers: { 'User-Agent': 'streamserve-relay', Accept: 'application/json', [VIA_HEADER]: serverId } },
      closeIdle(channel) {
        const current = ctx.current.get(channel);
        if (!current) return;
        log.info({ mount: channel.mount, idleMs: s.idleClose }, 'no listeners; disconnecting from the origin until the next one');
        outages.closingOnPurpose(channel);
        // What the ring holds is stale once the connection ends: the next listener starts at the live edge.
        channel.burstFloor = channel.ring.head;
        current.close();
      },
    });
    kernel.hooks.listenerJoined.tap('relay', (l) => mirror?.listenersChanged(l.channel));
    kernel.hooks.listenerLeave.tap('relay', (l) => mirror?.listenersChanged(l.channel));

    kernel.hooks.start.tapPromise('relay', async () => {
      // Looked up at start, when every module is applied.
      const http = kernel.service('http');
      if (http) {
        // A request that already passed through this server would feed our stream back into itself.
        http.hooks.request.tapPromise('relay', async (req) => {
          const via = parseVia(req.headers[VIA_HEADER.toLowerCase()]);
          if (!via.length) return undefined;
          const channel = http.resolve(req.path);
          if (!channel) return undefined;
          if (!via.includes(serverId)) {
            if (isRelay(channel)) ctx.downstream.note(channel, via);
            return undefined;
          }
          log.warn({ path: req.path, via, remote: req.remoteAddress }, 'relay loop: refusing a relay of this server\'s own stream');
          respondText(req.socket, 508, `relay loop: ${req.path} on this server (${serverId}) is already in the chain ${via.join(', ')}`);
          return true;
        });
        http.hooks.listenerResponse.tap('relay', (res) => {
          res.headers[VIA_HEADER] = formatVia([...(ctx.upstream.get(res.channel) ?? []), serverId]);
          return res;
        });
      }
      const filter = channelSettings.filter;
      if ((defaultUrl || origin) && !kernel.hooks.frameFilter.has(filter)) {
        throw ERR.FILTER_UNKNOWN(filter, '-frame-filter', kernel.hooks.frameFilter.names().join(', '));
      }
      if (defaultUrl) {
        const channel = kernel.channels.create('/', { ...channelSettings }, { kind: 'relay', url: defaultUrl.href });
        // As with -path, every request path no other module claims streams the default channel.
        http?.hooks.resolveChannel.tap({ name: 'relay', stage: 100 }, () => (channel.closed ? undefined : channel));
        log.info({ url: shown(defaultUrl), serverId }, 'relaying the default channel');
      }
      if (origin) {
        mirror = startMirror(origin);
        mirror.start();
        log.info({ origin: shown(origin), onDemand: s.onDemand, serverId }, 'mirroring the origin\'s channels');
      }
    });

    kernel.hooks.stop.tap('relay', () => mirror?.stop());

    kernel.hooks.stats.tap('relay', (stats) => {
      const channels = kernel.channels.all().filter(isRelay).map((channel) => ({
        mount: channel.mount,
        url: shownSpec(channel.source.spec!.url),
        up: channel.source.up,
        via: ctx.upstream.get(channel) ?? [],
        mirrored: mirror ? mirror.owns(channel) : false,
        ...outages.figures(channel),
      }));
      stats.relay = { serverId, channels };
      return stats;
    });
  },
});
