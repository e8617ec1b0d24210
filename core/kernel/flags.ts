import { parseDuration } from './duration.ts';
import { ERR } from './errors.ts';

/**
 * Go's `flag` package semantics, which streamserve's documented command lines rely
 * on: single-dash long names, `-name=value` or `-name value`, booleans only as
 * `-name` or `-name=true|false`, parsing stops at the first non-flag argument (the
 * `-exec` command). No npm parser has these semantics (they split `-abc` into
 * short flags or keep parsing after positionals), so this layer is written here.
 */
export type FlagType = 'string' | 'int' | 'number' | 'bool' | 'duration' | 'rest';

export interface FlagDef {
  type: FlagType;
}

export type FlagValue = string | number | boolean | string[];

export interface ParsedFlags {
  /**
   * Values by the flag's name as given, in the order of each name's last
   * occurrence: applied in this order, a later flag overrides an earlier one
   * even when the two are aliases of one setting (`-filter`, `-frame-filter`).
   */
  values: Map<string, FlagValue>;
  /** Arguments after the flags (the `-exec` command). */
  rest: string[];
}

const TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

export function parseFlags(argv: readonly string[], defs: ReadonlyMap<string, FlagDef>): ParsedFlags {
  const values = new Map<string, FlagValue>();
  // A Map keeps a key where it was first set: a repeated flag moves to the end, as its last occurrence.
  const set = (name: string, value: FlagValue) => {
    values.delete(name);
    values.set(name, value);
  };
  let i = 0;
  let restFlag: string | undefined;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') { i++; break; }
    if (!arg.startsWith('-') || arg === '-') break;
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq === -1 ? body : body.slice(0, eq);
    const inline = eq === -1 ? undefined : body.slice(eq + 1);
    const def = defs.get(name);
    if (!name || !def) throw ERR.FLAG_UNKNOWN(name, nearest(name, [...defs.keys()]) ?? '');
    if (def.type === 'bool' || def.type === 'rest') {
      if (inline === undefined) set(name, true);
      else if (TRUE.has(inline)) set(name, true);
      else if (FALSE.has(inline)) set(name, false);
      else throw ERR.FLAG_BOOL_INVALID(inline, name);
      if (def.type === 'rest') restFlag = values.get(name) ? name : undefined;
      continue;
    }
    let text = inline;
    if (text === undefined) {
      if (i + 1 >= argv.length) throw ERR.FLAG_NEEDS_VALUE(name);
      text = argv[++i]!;
    }
    set(name, convert(name, def.type, text));
  }
  const rest = argv.slice(i);
  // `true` left in place means the flag was given without anything after it.
  if (restFlag && rest.length) values.set(restFlag, rest);
  return { values, rest: restFlag ? [] : rest };
}

function convert(name: string, type: FlagType, text: string): FlagValue {
  switch (type) {
    case 'int': {
      const t = text.replace(/_/g, '');
      if (!/^[-+]?(0x[0-9a-f]+|0o[0-7]+|0b[01]+|\d+)$/i.test(t)) {
        throw ERR.FLAG_VALUE_INVALID(text, name, 'expected a whole number');
      }
      const neg = t.startsWith('-');
      const n = Number(t.replace(/^[-+]/, ''));
      return neg ? -n : n;
    }
    case 'number': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) throw ERR.FLAG_VALUE_INVALID(text, name, 'expected a number');
      return n;
    }
    case 'duration': {
      if (parseDuration(text) === undefined) {
        throw ERR.FLAG_VALUE_INVALID(text, name, 'expected a duration such as 500ms, 10s or 1m30s');
      }
      return text;
    }
    default:
      return text;
  }
}

/** The known name closest to `name`, if it is close enough to be a plausible typo. */
export function nearest(name: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const k of known) {
    const d = distance(name, k);
    if (d < bestDist) { best = k; bestDist = d; }
  }
  return best !== undefined && bestDist <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
