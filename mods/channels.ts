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
    const seen = new Set<string>();
    entries.forEach((e, i) => {
      const at = `channels[${i}] (${e.mount})`;
      if (seen.has(e.mount)) throw ERR.CHANNEL_MOUNT_TWICE(at, e.mount);
      seen.add(e.mount);
      if ([e.path, e.exec, e.relay].filter((v) => v !== undefined).length !== 1) throw ERR.CHANNEL_SOURCE_ONE(at);
      if (e.relay !== undefined) urlSetting(e.relay, `setting ${at}.relay`);
    });
    kernel.hooks.start.tap('channels', () => {
      entries.forEach((e, i) => {
        const settings = e.relay ? relayChannelSettings(pickChannelSettings(e)) : pickChannelSettings(e);
        checkFilter(kernel, settings.filter, `setting channels[${i}].filter`);
        const spec = e.relay ? { kind: 'relay', url: e.relay } : e.exec ? { kind: 'exec', command: commandOf(e.exec) } : { kind: 'path', path: e.path };
        const channel = kernel.channels.create(e.mount, settings, spec);
        const info: ChannelInfo = { name: e.name, description: e.description, genre: e.genre };
        channel.info = info;
      });
    });
  },
});
