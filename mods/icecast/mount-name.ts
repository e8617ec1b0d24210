/** Longest mount a source may create; a path is not a place for data. */
const MAX_MOUNT = 256;

/**
 * Whether a decoded request path can name a source's mount: absolute, printable,
 * no spaces, no empty, `.` or `..` segments (they would alias other mounts).
 * The root `/` is not one: it is the status page or the default channel.
 */
export function validMount(path: string): boolean {
  if (path.length < 2 || path.length > MAX_MOUNT || !path.startsWith('/')) return false;
  if (/[\s\u0000-\u001f\u007f?#]/.test(path)) return false;
  return path.split('/').slice(1).every((s) => s !== '' && s !== '.' && s !== '..');
}
