import { NEED_MORE } from '../../core/contracts/connection.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import { defineModule } from '../../core/kernel/module.ts';
import type { FstreamContext, FstreamSettings } from './context.ts';
import { sniff } from './preamble.ts';
import { handleConnection } from './session.ts';

/**
 * fstream's protocol on the shared port (and the TLS port): the handshake,
 * then `broadcast` (push a stream into `/user/channel`), `watch` (receive it)
 * or `token` (a one-time broadcast token). Who may do what is the authenticate
 * hook's decision (module users, or an operator's own).
 */
export default defineModule<FstreamSettings>({
  name: 'fstream',
  description: 'fstream broadcast/watch/token handshake on the shared port',
  // Its name rule for users and channels; its tokens, when it is loaded (else the token action is refused).
  uses: ['users'],
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      maxPayload: { type: 'integer', minimum: 64, maximum: 1_048_576, default: 4096, description: 'largest handshake payload (the action string), bytes' },
      maxPreamble: { type: 'integer', minimum: 2, maximum: 65_536, default: 8192, description: 'largest preamble (blank line or header block before the length), bytes' },
      handshakeTimeout: { type: ['string', 'number'], 'x-duration': true, default: '10s', description: 'close a connection whose handshake is not complete by then' },
      grace: { type: ['string', 'number'], 'x-duration': true, default: '30s', description: 'keep watchers this long after their broadcaster drops' },
      maxBufsize: { type: 'integer', minimum: 1, maximum: 16_777_216, default: 262_144, description: 'largest bufsize a broadcaster may ask for, bytes' },
      maxChunk: { type: 'integer', minimum: 512, default: 8192, description: 'bufsize=0: a chunk larger than this is cut into frames of this size' },
      ringBytes: { type: 'integer', minimum: 65_536, default: 4_194_304, description: 'stream kept per channel for watchers that fall behind, bytes (about)' },
    },
  },
  flags: {
    'fstream-grace': { setting: 'grace', type: 'duration', description: 'keep fstream watchers this long after their broadcaster drops' },
    'fstream-handshake-timeout': { setting: 'handshakeTimeout', type: 'duration', description: 'close fstream connections whose handshake is not complete by then' },
    'fstream-max-payload': { setting: 'maxPayload', type: 'int', description: 'largest fstream handshake payload, bytes' },
  },
  apply(kernel: Kernel, settings: FstreamSettings) {
    const ctx: FstreamContext = {
      kernel,
      log: kernel.logger('fstream'),
      settings,
      limits: { maxPayload: settings.maxPayload, maxPreamble: settings.maxPreamble, maxBufsize: settings.maxBufsize },
      counts: { accepted: 0, refused: 0, tokens: 0 },
    };
    const handler = handleConnection.bind(undefined, ctx);
    // Before HTTP: a handshake may begin with an HTTP request line.
    kernel.hooks.connection.tap({ name: 'fstream', stage: -10 }, (conn) => {
      const verdict = sniff(conn.head, settings.maxPayload, settings.maxPreamble);
      return verdict === 'fstream' ? handler : verdict === 'undecided' ? NEED_MORE : undefined;
    });
    kernel.hooks.stats.tap('fstream', (stats) => {
      stats.fstream = {
        handshakesAccepted: ctx.counts.accepted,
        handshakesRefused: ctx.counts.refused,
        tokensIssued: ctx.counts.tokens,
        listeners: kernel.channels.all().reduce((n, c) => n + c.listeners.filter((l) => l.protocol === 'fstream').length, 0),
      };
      return stats;
    });
  },
});
