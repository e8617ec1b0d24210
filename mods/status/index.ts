import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Stats } from '../../core/kernel/hooks.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import { defineModule } from '../../core/kernel/module.ts';
import { NO_CACHE_HEADERS, respond, respondJson, type HttpRequest } from '../http/index.ts';
import { publicHost } from './host.ts';
import { detailedStatus, icecastStatus, listenerFigures, type ServerIdentity } from './icestats.ts';
import { loadStatusPage } from './page.ts';

interface StatusSettings {
  admin: string;
  location: string;
  host: string;
}

const ALLOW = 'GET, HEAD, OPTIONS';

/**
 * What the server is doing, for people and scripts: Icecast's
 * `/status-json.xsl` for the dashboards and directory scripts that read it,
 * `/status.json` (source always a list, per-listener figures, every module's
 * `stats` section) and a status page at `/status`, and at `/` unless a channel
 * streams there.
 */
export default defineModule<StatusSettings>({
  name: 'status',
  description: 'status page, /status.json and Icecast\'s /status-json.xsl',
  needs: ['http'],
  uses: ['record'],
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      admin: { type: 'string', default: 'icemaster@localhost', description: 'contact shown as icestats.admin' },
      location: { type: 'string', default: 'Earth', description: 'shown as icestats.location and on the status page' },
      host: { type: 'string', pattern: '^[^\\s/]*$', default: '', description: 'host[:port] in listen URLs (empty = the request\'s Host header)' },
    },
  },
  apply(kernel: Kernel, s: StatusSettings) {
    const http = kernel.service('http')!;
    const page = loadStatusPage(join(kernel.packageRoot, 'mods', 'status', 'page.html'));
    const { version } = JSON.parse(readFileSync(join(kernel.packageRoot, 'package.json'), 'utf8')) as { version: string };
    const serverId = `streamserve ${version}`;

    const snapshot = (): Stats => kernel.stats();
    // A channel with a watch password is private: its name is not published.
    const listed = (stats: Stats) => stats.channels.filter((ch) => !kernel.channels.get(ch.mount)?.info.password);
    const identity = (req: HttpRequest, stats: Stats): ServerIdentity => ({
      admin: s.admin,
      location: s.location,
      host: publicHost(s.host, req.headers.host, req.socket),
      scheme: req.conn.secure ? 'https' : 'http',
      serverId,
      startedAt: stats.startedAt,
    });

    const detailed = (req: HttpRequest, withListeners: boolean) => {
      const stats = snapshot();
      const { startedAt: _startedAt, channels: _channels, icestats: _shadowed, ...sections } = stats;
      const listenersOf = (mount: string) => (withListeners ? kernel.channels.get(mount)?.listeners.map(listenerFigures) : undefined);
      return { ...detailedStatus(listed(stats), identity(req, stats), listenersOf), ...sections };
    };

    const pages: Record<string, (req: HttpRequest, headOnly: boolean) => void> = {
      '/status-json.xsl': (req, headOnly) => {
        const stats = snapshot();
        respondJson(req.socket, icecastStatus(listed(stats), identity(req, stats)), headOnly);
      },
      '/status.json': (req, headOnly) => respondJson(req.socket, detailed(req, req.query.get('listeners') !== '0'), headOnly),
      '/status': (req, headOnly) => {
        const html = page.render(detailed(req, false));
        respond(req.socket, 200, {
          'Content-Type': 'text/html; charset=utf-8',
          'Content-Security-Policy': page.contentSecurityPolicy,
          'X-Content-Type-Options': 'nosniff',
          ...NO_CACHE_HEADERS,
        }, html, headOnly);
      },
    };

    http.hooks.request.tapPromise('status', async (req) => {
      // `/` is the page only while no channel streams there (a `-path` source claims every path).
      const serve = pages[req.path] ?? (req.path === '/' && !http.resolve('/') ? pages['/status'] : undefined);
      if (!serve) return undefined;
      if (req.method === 'OPTIONS') {
        respond(req.socket, 204, { Allow: ALLOW });
        return true;
      }
      // Other methods may mean something to later modules (a source publishing at the path).
      if (req.method !== 'GET' && req.method !== 'HEAD') return undefined;
      serve(req, req.method === 'HEAD');
      return true;
    });
  },
});
