import type { Channel } from '../../core/engine/channel.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import { defineModule } from '../../core/kernel/module.ts';
import { icyHeaders } from './headers.ts';
import { createIcyInserter } from './inserter.ts';
import { MetadataBlocks } from './metadata-block.ts';

interface IcySettings {
  metaint: number;
}

/** Players that can read ICY blocks say so; everyone else must get the plain stream. */
function wantsMetadata(header: string | undefined): boolean {
  return header?.trim() === '1';
}

/**
 * ICY for HTTP listeners: the channel's name, genre, … as `icy-*` headers, and
 * for players that send `Icy-MetaData: 1` the current title in-band, a metadata
 * block after every `metaint` bytes of audio.
 */
export default defineModule<IcySettings>({
  name: 'icy',
  description: 'ICY headers and in-band stream titles for HTTP listeners',
  needs: ['http'],
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      metaint: {
        type: 'integer', minimum: 0, maximum: 1048576, default: 16000,
        description: 'audio bytes between two metadata blocks for listeners that ask for them (0 = never insert blocks)',
      },
    },
  },
  flags: {
    'icy-metaint': { setting: 'metaint', type: 'int', description: 'audio bytes between ICY metadata blocks (0 = no in-band titles)' },
  },
  apply(kernel: Kernel, s: IcySettings) {
    const http = kernel.service('http');
    if (!http) throw new Error('the icy module needs the http module listed before it');
    const log = kernel.logger('icy');
    const blocks = new WeakMap<Channel, MetadataBlocks>();

    http.hooks.listenerResponse.tap('icy', (res, req) => {
      const { channel } = res;
      Object.assign(res.headers, icyHeaders(channel.info));
      if (!s.metaint || !wantsMetadata(req.headers['icy-metadata'])) return res;
      // The engine writes a channel's header straight to the socket, before the transform sees any byte.
      const headerBytes = channel.header?.length ?? 0;
      if (headerBytes >= s.metaint) {
        log.warn({ mount: channel.mount, headerBytes, metaint: s.metaint }, 'stream header longer than the ICY interval; sending this listener the plain stream');
        return res;
      }
      let channelBlocks = blocks.get(channel);
      if (!channelBlocks) blocks.set(channel, (channelBlocks = new MetadataBlocks()));
      res.headers['icy-metaint'] = String(s.metaint);
      const insert = createIcyInserter(s.metaint, () => channel.info.title ?? '', channelBlocks, headerBytes);
      // Blocks go in last: the interval counts the bytes the player receives.
      const before = res.transform;
      res.transform = before ? (payload) => insert(before(payload)) : insert;
      return res;
    });
  },
});
