/**
 * strftime-style file names for recordings, in local time as strftime writes
 * them: `%Y %m %d %H %M %S` and the few others an operator names files with.
 * The set is small on purpose: an unknown directive is an error at start-up
 * rather than a literal `%q` in every file name.
 */
const pad = (n: number, width = 2) => String(n).padStart(width, '0');

const DIRECTIVES: Record<string, (d: Date) => string> = {
  Y: (d) => String(d.getFullYear()),
  y: (d) => pad(d.getFullYear() % 100),
  m: (d) => pad(d.getMonth() + 1),
  d: (d) => pad(d.getDate()),
  H: (d) => pad(d.getHours()),
  M: (d) => pad(d.getMinutes()),
  S: (d) => pad(d.getSeconds()),
  j: (d) => pad(dayOfYear(d), 3),
  s: (d) => String(Math.floor(d.getTime() / 1000)),
  F: (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`,
  T: (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`,
  '%': () => '%',
};

/** The directives a pattern may use, for messages. */
export const FILE_NAME_DIRECTIVES = Object.keys(DIRECTIVES).map((k) => `%${k}`).join(' ');

function dayOfYear(d: Date): number {
  const start = new Date(d.getFullYear(), 0, 1);
  return Math.round((new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime() - start.getTime()) / 86_400_000) + 1;
}

/** The first thing wrong with a pattern (an unknown or cut-off directive), or undefined when it is fine. */
export function patternProblem(pattern: string): string | undefined {
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== '%') continue;
    const c = pattern[i + 1];
    if (c === undefined) return 'ends in a lone %';
    if (!(c in DIRECTIVES)) return `has the unknown directive %${c}`;
    i++;
  }
  return undefined;
}

/** The file name `pattern` gives at `when`. The pattern must be valid (`patternProblem`). */
export function expandPattern(pattern: string, when: Date): string {
  return pattern.replace(/%(.)/g, (_all, c: string) => DIRECTIVES[c]!(when));
}

/** `a/b/name-2.mp3` for `a/b/name.mp3`: the name tried when the first is taken (the suffix goes before the extension). */
export function numberedName(name: string, n: number): string {
  const slash = name.lastIndexOf('/');
  const dot = name.lastIndexOf('.');
  return dot > slash + 1 ? `${name.slice(0, dot)}-${n}${name.slice(dot)}` : `${name}-${n}`;
}
