/**
 * Which mounts a user may publish to: their own `/NAME/…` (one path segment
 * below their name, the fstream channel or an Icecast mount such as
 * `/fier/live.mp3`), plus the patterns of `mounts=` in their file, where `*`
 * matches within one path segment and `**` across segments.
 */
export function mayPublishTo(user: string, patterns: readonly string[], mount: string): boolean {
  const segments = mount.split('/').slice(1);
  if (!mount.startsWith('/') || segments.some((s) => s === '' || s === '.' || s === '..')) return false;
  if (segments.length === 2 && segments[0] === user) return true;
  return patterns.some((p) => globToRegExp(p).test(mount));
}

export function globToRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') { out += '.*'; i++; }
    else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}
