import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Kernel } from '../../core/kernel/kernel.ts';
import { defineModule } from '../../core/kernel/module.ts';
import { FailureThrottle } from './failure-throttle.ts';
import { passwdCommand } from './passwd-command.ts';
import type { UsersService } from './service.ts';
import { TokenBook } from './tokens.ts';
import { UserStore } from './user-store.ts';
import { Users } from './users.ts';

// The users module's public contract: what other modules may import (as `../users/index.ts`).
export type { UsersService } from './service.ts';
export { isSafeName } from './names.ts';

declare module '../../core/kernel/kernel.ts' {
  interface Services {
    /** Tokens and password checks (`kernel.service('users')`). */
    users: UsersService;
  }
}

interface UsersSettings {
  dir: string;
  tokenTtl: number;
  maxFailures: number;
  failureWindow: number;
}

/**
 * fstream's users: `users/NAME.ini` files, one-time tokens and channel
 * passwords, as an authenticate tap. An operator's module listed before this one
 * in `main.mods` decides first; deleting this line removes it.
 */
export default defineModule<UsersSettings>({
  name: 'users',
  description: 'users from users/NAME.ini, one-time tokens, channel passwords',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      dir: { type: 'string', minLength: 1, default: './users', description: 'directory of NAME.ini user files, relative to the working directory' },
      tokenTtl: { type: ['string', 'number'], 'x-duration': true, default: '2m', description: 'how long a one-time token stays valid' },
      maxFailures: { type: 'integer', minimum: 0, default: 10, description: 'failed logins per remote address within failureWindow before it is refused (0 = no limit)' },
      failureWindow: { type: ['string', 'number'], 'x-duration': true, default: '1m', description: 'window over which failed logins are counted' },
    },
  },
  flags: {
    'users-dir': { setting: 'dir', type: 'string', description: 'directory of NAME.ini user files' },
    'token-ttl': { setting: 'tokenTtl', type: 'duration' },
  },
  commands: {
    passwd: {
      usage: 'passwd [-users-dir DIR] NAME',
      description: 'store a hashed password for user NAME in DIR/NAME.ini (read from the terminal or stdin)',
      run: (args, s) => passwdCommand(args, s.dir),
    },
  },
  apply(kernel: Kernel, s: UsersSettings) {
    const log = kernel.logger('users');
    const dir = resolve(s.dir);
    const users = new Users(
      new UserStore(dir, log),
      new TokenBook(s.tokenTtl),
      new FailureThrottle(s.maxFailures, s.failureWindow),
      kernel.channels,
      log,
    );
    kernel.provide('users', users);
    kernel.hooks.authenticate.tapPromise('users', (request) => users.authenticate(request));
    kernel.hooks.start.tap('users', () => {
      if (!existsSync(dir)) log.warn({ dir }, 'users directory does not exist (yet); nobody can log in until it has NAME.ini files');
      else log.info({ dir }, 'users directory');
    });
  },
});
