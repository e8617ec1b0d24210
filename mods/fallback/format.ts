import type { StreamFormat } from '../../core/contracts/frame.ts';

/**
 * Whether a listener receiving `a` can go on with `b` at a sync point: the
 * same filter's format, codec and codec parameters (where the filter knows
 * them). Unknown formats never match.
 */
export function sameFormat(a: StreamFormat | undefined, b: StreamFormat | undefined): boolean {
  if (!a || !b) return false;
  return a.name === b.name && (a.codec ?? '') === (b.codec ?? '') && (a.params ?? '') === (b.params ?? '');
}

/** A format for a log line: `ogg opus (48000 Hz, 2 ch)`, `mp3`, `unknown`. */
export function describeFormat(f: StreamFormat | undefined): string {
  if (!f) return 'unknown';
  return [f.name, f.codec !== f.name ? f.codec : undefined, f.params ? `(${f.params})` : undefined].filter(Boolean).join(' ');
}
