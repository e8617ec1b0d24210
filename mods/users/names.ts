/**
 * User and channel names become file names (`users/NAME.ini`) and mount path
 * segments (`/user/channel`), so only letters, digits, `_` and `-` are allowed:
 * no dots, slashes or anything else that could climb out of a directory or need
 * escaping in a URL. A leading `-` is refused so a name never reads as a flag.
 */
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$/;

export function isSafeName(name: string): boolean {
  return SAFE_NAME.test(name);
}
