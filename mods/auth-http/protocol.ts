import type { AuthDecision, AuthRequest } from '../../core/contracts/auth.ts';
import { parseDuration } from '../../core/kernel/duration.ts';

/**
 * The backend protocol (README "An HTTP auth backend"): one POST of this JSON
 * per question. Fields the protocol did not give are left out.
 */
export interface BackendRequest {
  action: AuthRequest['action'];
  protocol: string;
  remoteAddress: string;
  user?: string;
  password?: string;
  token?: string;
  /** The mount, e.g. `/fier/default`. */
  channel?: string;
  channelPassword?: string;
  query?: Record<string, string>;
}

export function backendRequest(req: AuthRequest): BackendRequest {
  return {
    action: req.action,
    protocol: req.protocol,
    remoteAddress: req.remoteAddress,
    user: req.user,
    password: req.password,
    token: req.token,
    channel: req.mount,
    channelPassword: req.channelPassword,
    query: req.query && Object.keys(req.query).length ? req.query : undefined,
  };
}

/** What the backend said: a decision, or no opinion (the next module decides). */
export type Answer = { decision: AuthDecision } | { decision: undefined };

/** Why an answer could not be used: the backend counts as down. */
export class BadAnswer extends Error {
  constructor(readonly kind: 'status' | 'answer', message: string) {
    super(message);
  }
}

/** Longest reason or user name taken from a backend (it is shown to clients and logged). */
const MAX_TEXT = 200;
const DEFAULT_REFUSAL = 'refused by the authentication backend';

/**
 * Reads a backend's answer: 200 with `{allow, reason?, forbidden?, user?, maxDuration?}`,
 * 204 or 404 for no opinion, 401 or 403 for a refusal (reason from a JSON body
 * when there is one). Anything else is a BadAnswer.
 */
export function parseAnswer(status: number, body: string): Answer {
  if (status === 204 || status === 404) return { decision: undefined };
  if (status === 401 || status === 403) {
    const reason = text(tryJson(body)?.reason) ?? DEFAULT_REFUSAL;
    return { decision: { allow: false, reason, forbidden: status === 403 } };
  }
  if (status !== 200) throw new BadAnswer('status', `answered HTTP ${status}`);
  const json = tryJson(body);
  if (!json) throw new BadAnswer('answer', `answered 200 without a JSON object: ${JSON.stringify(body.slice(0, 80))}`);
  if (typeof json.allow !== 'boolean') throw new BadAnswer('answer', `answered without a boolean "allow": ${JSON.stringify(body.slice(0, 80))}`);
  if (!json.allow) return { decision: { allow: false, reason: text(json.reason) ?? DEFAULT_REFUSAL, forbidden: json.forbidden === true } };
  const decision: AuthDecision = { allow: true };
  const user = text(json.user);
  if (user !== undefined) decision.user = user;
  if (json.maxDuration !== undefined && json.maxDuration !== null) decision.maxDurationMs = maxDurationMs(json.maxDuration);
  return { decision };
}

/** `maxDuration`: seconds as a number, or a Go duration string (`90s`, `1h`); 0 means no limit. */
function maxDurationMs(value: unknown): number {
  const ms = typeof value === 'number' ? value * 1000 : typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
    throw new BadAnswer('answer', `answered an invalid "maxDuration" ${JSON.stringify(value)}: give seconds or a duration such as "90s"`);
  }
  return ms;
}

function tryJson(body: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A non-empty string from the backend, control characters removed, cut to MAX_TEXT. */
function text(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  // eslint-disable-next-line no-control-regex
  const clean = v.replace(/[\u0000-\u001f\u007f]/g, ' ').trim().slice(0, MAX_TEXT);
  return clean || undefined;
}
