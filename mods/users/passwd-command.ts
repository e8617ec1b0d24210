import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isSafeName } from './names.ts';
import { hashPassword } from './password-hash.ts';

const USAGE = 'usage: streamserve passwd [-users-dir DIR] NAME  (reads the new password from the terminal or from the first line of stdin)';

/**
 * `streamserve passwd NAME`: stores a hashed password in `users/NAME.ini`,
 * creating the file if needed. Other lines of an existing file (comments,
 * `mounts=`) are kept; a plaintext `password=` is removed.
 */
export async function passwdCommand(args: string[], defaultDir: string): Promise<number> {
  let dir = defaultDir;
  const names: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const m = /^--?users-dir(?:=(.*))?$/.exec(a);
    if (m) {
      const value = m[1] ?? args[++i];
      if (!value) return fail('-users-dir needs a directory');
      dir = value;
    } else if (a === '-h' || a === '-help' || a === '--help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    } else names.push(a);
  }
  if (names.length !== 1) return fail(USAGE);
  const name = names[0]!;
  if (!isSafeName(name)) return fail(`invalid user name "${name}": use letters, digits, _ and - (at most 64, not starting with -)`);
  const password = await readPassword(`New password for ${name}: `);
  if (password === undefined) return fail('aborted');
  if (!password) return fail('empty password; nothing written');
  const file = join(resolve(dir), `${name}.ini`);
  await mkdir(resolve(dir), { recursive: true });
  const old = existsSync(file) ? await readFile(file, 'utf8') : '';
  const text = withPasswordHash(old, await hashPassword(password));
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
  process.stderr.write(`password of ${name} stored (hashed) in ${file}\n`);
  return 0;
}

function fail(message: string): number {
  process.stderr.write(`streamserve passwd: ${message}\n`);
  return 2;
}

/** Replaces the password lines of an ini text with one `password_hash=` in `[DEFAULT]` (or before any section). */
export function withPasswordHash(text: string, hash: string): string {
  const lines = text ? text.split(/\r?\n/) : [];
  if (lines.at(-1) === '') lines.pop();
  const kept = lines.filter((l) => !/^\s*password(_hash)?\s*=/i.test(l));
  const line = `password_hash=${hash}`;
  const section = kept.findIndex((l) => /^\s*\[\s*DEFAULT\s*\]\s*$/i.test(l));
  if (section >= 0) kept.splice(section + 1, 0, line);
  else if (kept.some((l) => /^\s*\[/.test(l))) kept.unshift(line);
  else kept.unshift('[DEFAULT]', line);
  return kept.join('\n') + '\n';
}

/** The password, typed without echo on a terminal, else the first line of stdin. */
async function readPassword(prompt: string): Promise<string | undefined> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let text = '';
    for await (const chunk of stdin) {
      text += chunk;
      if (text.includes('\n')) break;
    }
    return text.split(/\r?\n/)[0];
  }
  const first = await typeSecret(prompt);
  if (first === undefined) return undefined;
  const again = await typeSecret('Again: ');
  if (again === undefined) return undefined;
  if (again !== first) {
    process.stderr.write('passwords differ\n');
    return undefined;
  }
  return first;
}

function typeSecret(prompt: string): Promise<string | undefined> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise((resolve) => {
    let typed = '';
    const done = (value: string | undefined) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      resolve(value);
    };
    const onData = (s: string) => {
      for (const ch of s) {
        if (ch === '\r' || ch === '\n') return done(typed);
        if (ch === '\u0003' || ch === '\u0004') return done(undefined);
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    stdin.on('data', onData);
  });
}
