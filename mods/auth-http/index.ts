import { Counter, Gauge, Histogram } from 'prom-client';
import type { AuthAction } from '../../core/contracts/auth.ts';
import { ERR } from '../../core/kernel/errors.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import { defineModule } from '../../core/kernel/module.ts';
import type {} from '../metrics.ts';
import { AnswerCache } from './answer-cache.ts';
import { HttpAuthenticator, type WhenDown } from './authenticator.ts';
import { AuthFigures, FAILURE_KINDS, LATENCY_BUCKETS_MS } from './figures.ts';

interface AuthHttpSettings {
  url: string;
  timeout: number;
  cacheTtl: number;
  cacheEntries: number;
  whenDown: WhenDown;
  actions: AuthAction[];
}

const ACTIONS: AuthAction[] = ['broadcast', 'watch', 'token', 'admin'];

/** The backend's URL, checked once: http or https, nothing else. */
function backendUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw ERR.AUTH_HTTP_URL_INVALID(text, 'not a URL (expected http://host:port/path)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw ERR.AUTH_HTTP_URL_INVALID(text, `scheme ${url.protocol} (expected http: or https:)`);
  return url.href;
}

/**
 * Replaces `authenticate()` without code: every question the authenticate hook
 * is asked (broadcast, watch, token, admin) is POSTed as JSON to an operator's
 * URL, whose answer decides (README "An HTTP auth backend"). Listed before
 * `users` in main.mods it decides first; with no URL set it taps nothing.
 */
export default defineModule<AuthHttpSettings>({
  name: 'auth-http',
  description: 'authentication by an HTTP backend (POST JSON, cached answers)',
  // Its latency and failures join /metrics when the metrics module is loaded.
  uses: ['metrics'],
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      url: { type: 'string', default: '', description: 'where each authentication question is POSTed (empty = module off)' },
      timeout: { type: ['string', 'number'], 'x-duration': true, default: '2s', description: 'how long the backend may take to answer before it counts as down' },
      cacheTtl: { type: ['string', 'number'], 'x-duration': true, default: '10s', description: 'how long an answer is reused for the same question (0 = never)' },
      cacheEntries: { type: 'integer', minimum: 0, default: 10000, description: 'answers kept at most; the oldest goes first' },
      whenDown: { type: 'string', enum: ['refuse', 'allow-listeners'], default: 'refuse', description: 'when the backend fails: refuse everyone, or leave listeners to the next module' },
      actions: {
        type: 'array', items: { type: 'string', enum: ACTIONS }, uniqueItems: true, default: ACTIONS,
        description: 'the actions asked about; the others are left to the next module',
      },
    },
  },
  flags: {
    'auth-url': { setting: 'url', type: 'string' },
  },
  apply(kernel: Kernel, s: AuthHttpSettings) {
    const log = kernel.logger('auth-http');
    if (!s.url) {
      log.debug('no auth-http.url set: the module decides nothing');
      return;
    }
    const url = backendUrl(s.url);
    const figures = new AuthFigures();
    const cache = new AnswerCache(s.cacheTtl, s.cacheEntries);
    const auth = new HttpAuthenticator({ url, timeoutMs: s.timeout, whenDown: s.whenDown, actions: s.actions }, cache, figures, log);
    kernel.hooks.authenticate.tapPromise('auth-http', (req) => auth.authenticate(req));
    kernel.hooks.stats.tap('auth-http', (stats) => ({ ...stats, 'auth-http': { url, ...figures.snapshot(), cached: cache.size } }));

    kernel.hooks.start.tap('auth-http', () => {
      log.info({ url, timeoutMs: s.timeout, cacheTtlMs: s.cacheTtl, whenDown: s.whenDown, actions: s.actions }, 'authentication backend');
      const register = kernel.service('metrics')?.register;
      if (!register) return;
      const latency = new Histogram({
        name: 'streamserve_auth_backend_latency_seconds',
        help: 'Round trips to the authentication backend that got an HTTP answer',
        buckets: LATENCY_BUCKETS_MS.map((ms) => ms / 1000),
        registers: [register],
      });
      figures.onLatency = (seconds) => latency.observe(seconds);
      new Counter({
        name: 'streamserve_auth_backend_failures_total',
        help: 'Questions the authentication backend failed to answer (kind: timeout, unreachable, status, answer)',
        labelNames: ['kind'] as const,
        registers: [register],
        collect() {
          this.reset();
          for (const kind of FAILURE_KINDS) this.inc({ kind }, figures.failures[kind]);
        },
      });
      new Counter({
        name: 'streamserve_auth_backend_requests_total',
        help: 'Questions POSTed to the authentication backend',
        registers: [register],
        collect() { this.reset(); this.inc(figures.asked); },
      });
      new Counter({
        name: 'streamserve_auth_cache_hits_total',
        help: 'Authentication questions answered from the cache (or by a request already in flight)',
        registers: [register],
        collect() { this.reset(); this.inc(figures.cacheHits); },
      });
      new Gauge({
        name: 'streamserve_auth_cache_entries',
        help: 'Authentication answers cached now',
        registers: [register],
        collect() { this.set(cache.size); },
      });
    });
  },
});
