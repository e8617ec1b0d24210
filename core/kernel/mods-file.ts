import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ERR, UserError } from './errors.ts';

/** One module entry of a `.mods` list, with where it was written (for error messages). */
export interface ModsEntry {
  /** A built-in module's name, or undefined for an operator's file. */
  builtin?: string;
  /** Absolute path of an operator's module file. */
  path?: string;
  /** The text as written. */
  text: string;
  file: string;
  line: number;
}

const BARE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

export function where(e: { file: string; line: number }): string {
  return `${e.file}:${e.line}`;
}

/**
 * Reads a `.mods` list: one entry per line, `#` comments and blank lines ignored,
 * a bare name is a built-in, a path is relative to the list's folder, an entry
 * ending in `.mods` includes that list in place.
 */
export function readModsFile(file: string, seen: string[] = []): ModsEntry[] {
  const abs = resolve(file);
  if (seen.includes(abs)) {
    // The including line prefixes its file:line (parseMods below).
    throw ERR.MODS_INCLUDE_CYCLE([...seen, abs].join(' -> '));
  }
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw ERR.MODS_FILE_UNREADABLE(abs, why);
  }
  return parseMods(text, abs, [...seen, abs]);
}

export function parseMods(text: string, file: string, seen: string[] = [file]): ModsEntry[] {
  const out: ModsEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const entry = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!entry) return;
    if (/\s/.test(entry)) throw ERR.MODS_ONE_PER_LINE(`${file}:${line}`, entry);
    if (entry.endsWith('.mods')) {
      const target = resolve(dirname(file), entry);
      try {
        out.push(...readModsFile(target, seen));
      } catch (err) {
        if (err instanceof UserError && !err.message.startsWith(`${file}:`)) {
          throw err.at(`${file}:${line}`);
        }
        throw err;
      }
      return;
    }
    if (BARE_NAME.test(entry)) {
      out.push({ builtin: entry, text: entry, file, line });
    } else if (entry.includes('/') || entry.startsWith('.') || /\.(m?js|ts)$/.test(entry)) {
      out.push({ path: resolve(dirname(file), entry), text: entry, file, line });
    } else {
      throw ERR.MODS_ENTRY_INVALID(`${file}:${line}`, entry);
    }
  });
  return out;
}
