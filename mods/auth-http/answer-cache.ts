import { createHash } from 'node:crypto';
import type { Answer, BackendRequest } from './protocol.ts';

/**
 * The backend's answers for `ttlMs`, at most `maxEntries` of them (the oldest
 * goes first). Keyed by a hash of the whole question, so an entry costs the
 * same whatever a client put in its query and no password is kept as a key.
 * Only answers are kept, never failures.
 */
export class AnswerCache {
  private readonly entries = new Map<string, { answer: Answer; expires: number }>();

  constructor(private readonly ttlMs: number, private readonly maxEntries: number) {}

  get enabled(): boolean {
    return this.ttlMs > 0 && this.maxEntries > 0;
  }

  /** The key of a question, or undefined when its answer must not be reused (a one-time token). */
  keyOf(q: BackendRequest): string | undefined {
    if (!this.enabled || q.token !== undefined) return undefined;
    return createHash('sha256').update(JSON.stringify(q)).digest('base64');
  }

  get(key: string, now = Date.now()): Answer | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expires <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return e.answer;
  }

  set(key: string, answer: Answer, now = Date.now()): void {
    this.entries.delete(key);
    // Entries are in insertion order, so the first is the oldest: expired or not, it makes room.
    while (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { answer, expires: now + this.ttlMs });
  }

  get size(): number {
    return this.entries.size;
  }
}
