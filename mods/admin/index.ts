import type { Socket } from 'node:net';
import type { Listener } from '../../core/engine/listener.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import { defineModule } from '../../core/kernel/module.ts';
import { NO_CACHE_HEADERS, respond, respondText, type HttpRequest } from '../http/index.ts';
import { killClient, killSource, listClients, listMounts, moveClients, type AdminContext, type Outcome } from './actions.ts';
import { adminCommand, answerFormat, type AnswerFormat } from './answer-format.ts';
import { authorizeAdmin, crossSite } from './authorize.ts';
import { icecastXml } from './icecast-xml.ts';
import { jsonAnswer } from './json-answer.ts';

interface AdminSettings {
  realm: string;
}

const COMMANDS: Record<string, (ctx: AdminContext, query: URLSearchParams) => Outcome> = {
  listclients: listClients,
  listmounts: (ctx) => listMounts(ctx),
  killclient: killClient,
  killsource: killSource,
  moveclients: moveClients,
};
/** Commands that change something, and are logged. */
const ACTIONS = new Set(['killclient', 'killsource', 'moveclients']);
const ALLOW = 'GET, POST, OPTIONS';
/** Longest User-Agent kept per listener; the head is bounded anyway, this keeps lists small. */
const MAX_USER_AGENT = 256;

/** A command's outcome as asked for: our JSON, or Icecast's XML (and its refusals as plain text, as Icecast answers them in HTML). */
function answer(socket: Socket, format: AnswerFormat, outcome: Outcome): void {
  const status = outcome.kind === 'refused' ? outcome.status : 200;
  if (format === 'json') {
    return respond(socket, status, { 'Content-Type': 'application/json; charset=utf-8', ...NO_CACHE_HEADERS }, JSON.stringify(jsonAnswer(outcome), null, 2));
  }
  if (outcome.kind === 'refused') return respondText(socket, status, outcome.message);
  respond(socket, status, { 'Content-Type': 'text/xml; charset=utf-8', ...NO_CACHE_HEADERS }, icecastXml(outcome));
}

/**
 * Icecast's admin commands for users with `admin=true` (HTTP Basic):
 * `/admin/listclients`, `killclient`, `killsource`, `moveclients` and
 * `listmounts`, answering Icecast's raw XML, or our JSON with `.json` or
 * `Accept: application/json`; and `/admin/whoami`, which tells the status page
 * whether to show its admin buttons.
 */
export default defineModule<AdminSettings>({
  name: 'admin',
  description: 'Icecast admin commands: list, kill and move listeners, kill sources',
  needs: ['http'],
  // Tells a wrong password (401) from a user who is no admin (403).
  uses: ['users'],
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      realm: { type: 'string', pattern: '^[^"\\\\\\r\\n]*$', default: 'Icecast2 Server', description: 'the Basic realm admins are asked to log in to' },
    },
  },
  apply(kernel: Kernel, s: AdminSettings) {
    const http = kernel.service('http')!;
    const log = kernel.logger('admin');
    const challenge = { 'WWW-Authenticate': `Basic realm="${s.realm}"` };
    const userAgents = new WeakMap<Socket, string>();
    const ctx: AdminContext = { channels: kernel.channels, userAgent: (l: Listener) => userAgents.get(l.socket) };

    // Listeners keep their socket, not their request: remember what the player called itself.
    http.hooks.listenerResponse.tap('admin', (res, req) => {
      const agent = req.headers['user-agent'];
      if (agent) userAgents.set(req.socket, agent.slice(0, MAX_USER_AGENT));
      return res;
    });

    const refuse = (req: HttpRequest, format: AnswerFormat, status: 401 | 403, reason: string) => {
      const headers = status === 401 ? challenge : {};
      if (format === 'xml') return respondText(req.socket, status, reason, headers);
      respond(req.socket, status, { 'Content-Type': 'application/json; charset=utf-8', ...NO_CACHE_HEADERS, ...headers }, JSON.stringify({ ok: false, error: reason }));
    };

    /** `whoami` without credentials answers "not an admin" rather than a challenge, so the page does not prompt every visitor; `?login=1` challenges. */
    const whoami = async (req: HttpRequest) => {
      if (!req.basic && req.query.get('login') === null) return answerWho(req.socket, 200, { admin: false });
      const verdict = await authorizeAdmin(kernel, req);
      if (verdict.ok) return answerWho(req.socket, 200, { admin: true, user: verdict.user });
      if (verdict.status === 401) return refuse(req, 'json', 401, verdict.reason);
      answerWho(req.socket, 403, { admin: false, user: req.basic?.user ?? null, error: verdict.reason });
    };
    const answerWho = (socket: Socket, status: number, body: unknown) =>
      respond(socket, status, { 'Content-Type': 'application/json; charset=utf-8', ...NO_CACHE_HEADERS }, JSON.stringify(body));

    http.hooks.request.tapPromise('admin', async (req) => {
      const found = adminCommand(req.path);
      if (!found || (found.command !== 'whoami' && !COMMANDS[found.command])) return undefined;
      const format = found.command === 'whoami' ? 'json' : answerFormat(req, found.json);
      if (req.method === 'OPTIONS') {
        respond(req.socket, 204, { Allow: ALLOW });
        return true;
      }
      if (req.method !== 'GET' && req.method !== 'POST') {
        respondText(req.socket, 405, `method ${req.method} not allowed on ${req.path}`, { Allow: ALLOW });
        return true;
      }
      if (crossSite(req)) {
        log.warn({ path: req.path, remote: req.remoteAddress, site: req.headers['sec-fetch-site'], origin: req.headers.origin }, 'cross-site admin request refused');
        refuse(req, format, 403, 'admin requests from other sites are refused');
        return true;
      }
      if (found.command === 'whoami') {
        await whoami(req);
        return true;
      }
      const verdict = await authorizeAdmin(kernel, req);
      if (!verdict.ok) {
        log.info({ command: found.command, user: req.basic?.user, remote: req.remoteAddress, status: verdict.status, reason: verdict.reason }, 'admin request refused');
        refuse(req, format, verdict.status, verdict.reason);
        return true;
      }
      const outcome = COMMANDS[found.command]!(ctx, req.query);
      if (ACTIONS.has(found.command)) {
        log.info({ command: found.command, mount: req.query.get('mount'), id: req.query.get('id') ?? undefined, destination: req.query.get('destination') ?? undefined, user: verdict.user, remote: req.remoteAddress, result: outcome.kind === 'refused' || outcome.kind === 'done' ? outcome.message : undefined }, 'admin command');
      }
      answer(req.socket, format, outcome);
      return true;
    });
  },
});
