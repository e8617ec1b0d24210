import type { AuthAction, AuthDecision, AuthRequest } from '../../core/contracts/auth.ts';
import type { Logger } from '../../core/kernel/log.ts';
import type { AnswerCache } from './answer-cache.ts';
import { askBackend, BackendDown } from './backend.ts';
import type { AuthFigures } from './figures.ts';
import { backendRequest, BadAnswer, parseAnswer, type Answer, type BackendRequest } from './protocol.ts';

export type WhenDown = 'refuse' | 'allow-listeners';

export interface AuthenticatorOptions {
  url: string;
  timeoutMs: number;
  whenDown: WhenDown;
  actions: readonly AuthAction[];
}

export const BACKEND_DOWN = 'authentication backend unavailable';

/**
 * The authenticate tap: asks the backend (or the cache) and turns its answer
 * into a decision. Identical questions in flight share one request. A backend
 * that fails refuses, or with `allow-listeners` lets the next module decide
 * for listeners (as if there were no backend) and refuses everything else.
 */
export class HttpAuthenticator {
  private readonly inFlight = new Map<string, Promise<Answer>>();
  private down = false;

  constructor(
    private readonly opts: AuthenticatorOptions,
    private readonly cache: AnswerCache,
    private readonly figures: AuthFigures,
    private readonly log: Logger,
  ) {}

  async authenticate(req: AuthRequest): Promise<AuthDecision | undefined> {
    if (!this.opts.actions.includes(req.action)) return undefined;
    const question = backendRequest(req);
    const key = this.cache.keyOf(question);
    try {
      return (await this.answer(question, key)).decision;
    } catch (err) {
      if (!(err instanceof BackendDown || err instanceof BadAnswer)) throw err;
      this.figures.failures[err.kind]++;
      this.wentDown(err, req);
      if (this.opts.whenDown === 'allow-listeners' && req.action === 'watch') return undefined;
      return { allow: false, reason: BACKEND_DOWN };
    }
  }

  private answer(question: BackendRequest, key: string | undefined): Promise<Answer> {
    if (key === undefined) return this.ask(question);
    const cached = this.cache.get(key);
    if (cached) {
      this.figures.cacheHits++;
      return Promise.resolve(cached);
    }
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.ask(question).then((answer) => {
        this.cache.set(key, answer);
        return answer;
      }).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    } else {
      this.figures.cacheHits++;
    }
    return pending;
  }

  private async ask(question: BackendRequest): Promise<Answer> {
    this.figures.asked++;
    const started = performance.now();
    const { status, body } = await askBackend(this.opts.url, question, this.opts.timeoutMs);
    this.figures.latency(performance.now() - started);
    const answer = parseAnswer(status, body);
    if (this.down) {
      this.down = false;
      this.log.info({ url: this.opts.url }, 'authentication backend answers again');
    }
    return answer;
  }

  /** A failing backend is a warning once, until it answers again; each failure after that is a debug line. */
  private wentDown(err: BackendDown | BadAnswer, req: AuthRequest): void {
    const fields = { url: this.opts.url, failure: err.kind, reason: err.message, action: req.action, mount: req.mount, whenDown: this.opts.whenDown };
    if (this.down) return this.log.debug(fields, 'authentication backend failed');
    this.down = true;
    this.log.warn(fields, 'authentication backend failed; until it answers, ' +
      (this.opts.whenDown === 'refuse' ? 'everyone is refused' : 'listeners are left to the next module and everyone else is refused'));
  }
}
