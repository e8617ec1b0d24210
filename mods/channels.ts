import { channelSettingsSchema, pickChannelSettings, type ChannelSettings } from '../core/contracts/channel-settings.ts';
import { ERR } from '../core/kernel/errors.ts';
import type { Kernel } from '../core/kernel/kernel.ts';
import { defineModule } from '../core/kernel/module.ts';
import type { ChannelInfo } from '../core/engine/channel.ts';
import { checkFilter, commandOf } from './source/index.ts';
import { relayChannelSettings, urlSetting } from './relay/index.ts';

interface ChannelEntry extends ChannelSettings {
  mount: string;
  path?: string;
  exec?: string[] | string;
  /** Another server's stream (http:// or https://). */
  relay?: string;
  name?: string;
  description?: string;
  genre?: string;
}

/**
 * Several channels in one server, from the config file's `channels` list; each
 * has its own mount, source and settings (unset ones take the defaults, not the
 * flags: the flags are the default channel's).
 */
export default defineModule<ChannelEntry[]>({
  name: 'channels',
  description: 'channels from the config file',
  needs: ['source'],
  // `relay:` channels are opened by the relay module when it is loaded.
  uses: ['relay'],
  schema: {
    type: 'array',
    default: [],
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['mount'],
      properties: {
        mount: { type: 'string', pattern: '^/[^?#\\s]*$', description: 'where listeners find it, e.g. /radio' },
        path: { type: 'string', minLength: 1 },
        exec: { type: ['array', 'string'], items: { type: 'string' }, minItems: 1, minLength: 1 },
        relay: { type: 'string', minLength: 1 },
        name: { type: 'string' },
        description: { type: 'string' },
        genre: { type: 'string' },
        ...channelSettingsSchema,
      },
    },
  },
  apply(kernel: Kernel, entries: ChannelEntry[]) {
    check(entries);
    const log = kernel.logger('channels');
    const open = (e: ChannelEntry, i: number, how: 'create' | 'replace') => {
      const settings = e.relay ? relayChannelSettings(pickChannelSettings(e)) : pickChannelSettings(e);
      checkFilter(kernel, settings.filter, `setting channels[${i}].filter`);
      const spec = e.relay ? { kind: 'relay', url: e.relay } : e.exec ? { kind: 'exec', command: commandOf(e.exec) } : { kind: 'path', path: e.path };
      const channel = kernel.channels[how](e.mount, settings, spec);
      channel.info = infoOf(e);
    };
    let running = entries;
    kernel.hooks.start.tap('channels', () => entries.forEach((e, i) => open(e, i, 'create')));
    // SIGHUP: channels added, changed or removed take effect; listeners of unchanged ones are not touched.
    kernel.hooks.reload.tap('channels', (settings) => {
      const next = (settings.channels ?? []) as ChannelEntry[];
      check(next);
      next.forEach((e, i) => checkFilter(kernel, e.relay ? relayChannelSettings(pickChannelSettings(e)).filter : e.filter, `setting channels[${i}].filter`));
      const before = new Map(running.map((e) => [e.mount, e]));
      const after = new Set(next.map((e) => e.mount));
      for (const e of running) {
        if (after.has(e.mount)) continue;
        const channel = kernel.channels.get(e.mount);
        if (channel) kernel.channels.remove(channel);
        log.info({ mount: e.mount }, 'channel removed by reload');
      }
      next.forEach((e, i) => {
        const was = before.get(e.mount);
        if (!was) {
          open(e, i, 'create');
          log.info({ mount: e.mount }, 'channel added by reload');
        } else if (JSON.stringify(withoutInfo(was)) !== JSON.stringify(withoutInfo(e))) {
          open(e, i, 'replace');
          log.info({ mount: e.mount }, 'channel changed by reload; its listeners moved to the new one');
        } else if (JSON.stringify(was) !== JSON.stringify(e)) {
          const channel = kernel.channels.get(e.mount);
          if (channel) channel.info = { ...channel.info, ...infoOf(e) };
        }
      });
      running = next;
    });
  },
});

/** Every mount once, and one source each; throws the setting's error otherwise. */
function check(entries: ChannelEntry[]): void {
  const seen = new Set<string>();
  entries.forEach((e, i) => {
    const at = `channels[${i}] (${e.mount})`;
    if (seen.has(e.mount)) throw ERR.CHANNEL_MOUNT_TWICE(at, e.mount);
    seen.add(e.mount);
    if ([e.path, e.exec, e.relay].filter((v) => v !== undefined).length !== 1) throw ERR.CHANNEL_SOURCE_ONE(at);
    if (e.relay !== undefined) urlSetting(e.relay, `setting ${at}.relay`);
  });
}

function infoOf(e: ChannelEntry): ChannelInfo {
  return { name: e.name, description: e.description, genre: e.genre };
}

/** What a channel is without its descriptive fields: a change here needs a new channel. */
function withoutInfo(e: ChannelEntry): Omit<ChannelEntry, 'name' | 'description' | 'genre'> {
  const { name: _n, description: _d, genre: _g, ...rest } = e;
  return rest;
}
