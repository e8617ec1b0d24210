import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../core/kernel/log.ts';
import { isSafeName } from './names.ts';
import { parseUserFile, type UserRecord } from './user-file.ts';

/**
 * The users directory. Each lookup stats the user's file and re-reads it when it
 * changed, so users added, edited or removed take effect at the next login
 * without a restart (and without a watcher that misses events on some file
 * systems). Only files of existing users are cached.
 */
export class UserStore {
  private readonly cache = new Map<string, { stamp: string; record: UserRecord }>();

  constructor(readonly dir: string, private readonly log: Logger) {}

  async get(name: string): Promise<UserRecord | undefined> {
    if (!isSafeName(name)) return undefined;
    const file = join(this.dir, `${name}.ini`);
    let stamp: string;
    try {
      const st = await stat(file);
      if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (err) {
      if (this.cache.delete(name)) this.log.info({ user: name, file }, 'user file removed');
      else if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ user: name, file, err: (err as Error).message }, 'cannot read user file');
      return undefined;
    }
    const hit = this.cache.get(name);
    if (hit?.stamp === stamp) return hit.record;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      this.log.warn({ user: name, file, err: (err as Error).message }, 'cannot read user file');
      return undefined;
    }
    const record = parseUserFile(name, text);
    this.cache.set(name, { stamp, record });
    this.log.info({ user: name, file, hashed: record.passwordHash !== undefined, mounts: record.mounts.length }, hit ? 'user file changed; reloaded' : 'user file loaded');
    return record;
  }
}
