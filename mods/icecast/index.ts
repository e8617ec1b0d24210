import { channelSettingsSchema } from '../../core/contracts/channel-settings.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import { defineModule } from '../../core/kernel/module.ts';
import { respond } from '../http/index.ts';
import { updateMetadata } from './admin-metadata.ts';
import { SOURCE_METHODS } from './replies.ts';
import { acceptSource, type IcecastSettings } from './source-request.ts';

const METADATA_PATHS = new Set(['/admin/metadata', '/admin/metadata.xsl']);

/**
 * Icecast-compatible sources: ffmpeg, libshout (ezstream, Mixxx, ices), butt,
 * liquidsoap and darkice publish with `PUT` or `SOURCE` and HTTP Basic auth, and
 * set titles with `/admin/metadata`. The http module's tolerant parser hands us
 * their requests with the raw socket, whose body then runs until EOF.
 */
export default defineModule<IcecastSettings>({
  name: 'icecast',
  description: 'Icecast sources (PUT/SOURCE) and /admin/metadata',
  needs: ['http'],
  // The mp3 frame bound; without the filters module a source is refused with 503.
  uses: ['filters'],
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      sourceBuffer: { ...channelSettingsSchema.sourceBuffer, default: 512, description: 'frames kept per mount; a listener lagging more skips frames' },
      frameBytes: { ...channelSettingsSchema.frameBytes, default: 4096, description: 'largest piece of a non-MP3 stream kept as one frame (MP3 is cut at its own frames)' },
      burst: channelSettingsSchema.burst,
      burstBytes: channelSettingsSchema.burstBytes,
      clientMaxBytes: channelSettingsSchema.clientMaxBytes,
      maxQuietInterval: { ...channelSettingsSchema.maxQuietInterval, default: '10s', description: 'drop a source that sends nothing for this long (Icecast source-timeout; 0 = never)' },
      grace: { ...channelSettingsSchema.grace, description: 'keep listeners this long after a source drops, waiting for it to return' },
    },
  },
  apply(kernel: Kernel, s: IcecastSettings) {
    const http = kernel.service('http');
    if (!http) throw new Error('the icecast module needs the http module listed before it');
    const log = kernel.logger('icecast');

    // Before pages and streams: a PUT or SOURCE anywhere is a source, whatever else lives at that path.
    http.hooks.request.tapPromise({ name: 'icecast', stage: 0 }, async (req) => {
      if (req.method === 'PUT' || req.method === 'SOURCE') {
        await acceptSource(kernel, s, req, log);
        return true;
      }
      if (METADATA_PATHS.has(req.path)) {
        await updateMetadata(kernel, req, log);
        return true;
      }
      // libshout's TLS probe (RFC 2817): answering without `Upgrade` tells it to stay on plain HTTP.
      if (req.method === 'OPTIONS' && req.target === '*') {
        respond(req.socket, 204, { Allow: SOURCE_METHODS });
        return true;
      }
      return undefined;
    });
  },
});
