/**
 * An error a user caused (bad flag, bad setting, bad module list). The CLI prints
 * it as one line, `streamserve: [CODE] message`, and exits non-zero without a
 * stack trace; a log line that carries it carries `code` (an own property, so
 * pino's error serializer keeps it). Made through `ERR`, never by hand.
 */
export class UserError extends Error {
  override name = 'UserError';
  constructor(readonly code: string, message: string) {
    super(message);
  }

  /** The same error, its message prefixed with where it happened (`main.mods:3: …`). */
  at(where: string): UserError {
    return new UserError(this.code, `${where}: ${this.message}`);
  }
}

/** One kind of user error: call it with the inputs to make the error; `code` is its stable name. */
export interface ErrorKind<A extends string[]> {
  (...inputs: A): UserError;
  readonly code: string;
  readonly message: (...inputs: A) => string;
}

/** fastify's `createError(code, message)`: the message is written once, from the inputs it names. */
export function createError<A extends string[]>(code: string, message: (...inputs: A) => string): ErrorKind<A> {
  return Object.assign((...inputs: A) => new UserError(code, message(...inputs)), { code, message });
}

/**
 * Every user error, in one table: codes are stable (scripts and searches may
 * rely on them), messages name the offending input. Inputs are strings,
 * formatted by the caller (`where` is `file:line`).
 */
export const ERR = {
  // Command line
  FLAG_UNKNOWN: createError('SS_ERR_FLAG_UNKNOWN', (flag: string, suggestion: string) =>
    `flag provided but not defined: -${flag}${suggestion ? ` (did you mean -${suggestion}?)` : ''}; see -help`),
  FLAG_BOOL_INVALID: createError('SS_ERR_FLAG_BOOL_INVALID', (value: string, flag: string) =>
    `invalid boolean value "${value}" for flag -${flag}: use -${flag}, -${flag}=true or -${flag}=false`),
  FLAG_NEEDS_VALUE: createError('SS_ERR_FLAG_NEEDS_VALUE', (flag: string) => `flag needs an argument: -${flag}`),
  FLAG_VALUE_INVALID: createError('SS_ERR_FLAG_VALUE_INVALID', (value: string, flag: string, expected: string) =>
    `invalid value "${value}" for flag -${flag}: ${expected}`),
  FLAG_DEFINED_TWICE: createError('SS_ERR_FLAG_DEFINED_TWICE', (flag: string, first: string, second: string) =>
    `flag -${flag} is defined by both module ${first} and module ${second}`),
  ARGUMENT_UNEXPECTED: createError('SS_ERR_ARGUMENT_UNEXPECTED', (arg: string) =>
    `unexpected argument "${arg}": a command to run goes after -exec, as the last flag`),

  // Module lists (.mods) and module files
  MODS_FILE_UNREADABLE: createError('SS_ERR_MODS_FILE_UNREADABLE', (file: string, reason: string) => `module list ${file}: ${reason}`),
  MODS_INCLUDE_CYCLE: createError('SS_ERR_MODS_INCLUDE_CYCLE', (chain: string) => `include cycle: ${chain}`),
  MODS_ONE_PER_LINE: createError('SS_ERR_MODS_ONE_PER_LINE', (where: string, entry: string) => `${where}: one module per line, got "${entry}"`),
  MODS_ENTRY_INVALID: createError('SS_ERR_MODS_ENTRY_INVALID', (where: string, entry: string) =>
    `${where}: "${entry}" is neither a built-in module name nor a path`),
  MODULE_NOT_BUILTIN: createError('SS_ERR_MODULE_NOT_BUILTIN', (where: string, name: string) => `${where}: no built-in module named "${name}"`),
  MODULE_FILE_TYPE: createError('SS_ERR_MODULE_FILE_TYPE', (where: string, entry: string) => `${where}: module ${entry} must be a .js, .mjs or .ts file`),
  MODULE_FILE_MISSING: createError('SS_ERR_MODULE_FILE_MISSING', (where: string, path: string) => `${where}: module file ${path} does not exist`),
  MODULE_LOAD_FAILED: createError('SS_ERR_MODULE_LOAD_FAILED', (where: string, entry: string, reason: string) =>
    `${where}: module ${entry} failed to load: ${reason}`),
  MODULE_NO_NAME: createError('SS_ERR_MODULE_NO_NAME', (where: string, entry: string) =>
    `${where}: module ${entry} exports no name (export default { name, apply })`),
  MODULE_NO_APPLY: createError('SS_ERR_MODULE_NO_APPLY', (where: string, name: string) =>
    `${where}: module ${name} exports no apply(kernel, settings) function`),
  MODULE_NAME_TAKEN: createError('SS_ERR_MODULE_NAME_TAKEN', (where: string, name: string, other: string) =>
    `${where}: module name "${name}" is already used by ${other}`),
  MODULE_NEEDS: createError('SS_ERR_MODULE_NEEDS', (where: string, name: string, need: string) =>
    `${where}: module ${name} needs module "${need}" listed before it`),
  MODULE_APPLY_FAILED: createError('SS_ERR_MODULE_APPLY_FAILED', (where: string, name: string, reason: string) =>
    `${where}: module ${name} failed in apply: ${reason}`),

  // Settings
  CONFIG_DEFAULTS_INVALID: createError('SS_ERR_CONFIG_DEFAULTS_INVALID', (file: string, reason: string) => `${file}: ${reason}`),
  CONFIG_FILE_UNREADABLE: createError('SS_ERR_CONFIG_FILE_UNREADABLE', (file: string, reason: string) =>
    `config file${file ? ` ${file}` : ''}: ${reason}`),
  CONFIG_NOT_OBJECT: createError('SS_ERR_CONFIG_NOT_OBJECT', (file: string, got: string) =>
    `${file}: must hold an object of sections named after modules, got ${got}`),
  /** One problem is one line; several (joined by newlines) get a line each. */
  SETTINGS_INVALID: createError('SS_ERR_SETTINGS_INVALID', (problems: string) =>
    (problems.includes('\n') ? `invalid settings:\n  ${problems.split('\n').join('\n  ')}` : `invalid ${problems}`)),
  CHANNEL_MOUNT_TWICE: createError('SS_ERR_CHANNEL_MOUNT_TWICE', (setting: string, mount: string) => `setting ${setting}: mount ${mount} is listed twice`),
  CHANNEL_SOURCE_CHOICE: createError('SS_ERR_CHANNEL_SOURCE_CHOICE', (setting: string) => `setting ${setting}: give exactly one of path or exec`),

  // Sources and filters
  FILTER_UNKNOWN: createError('SS_ERR_FILTER_UNKNOWN', (filter: string, setting: string, available: string) =>
    `unknown frame filter "${filter}" for ${setting}; available: ${available || 'none (is the filters module in main.mods?)'}`),
  EXEC_NEEDS_COMMAND: createError('SS_ERR_EXEC_NEEDS_COMMAND', () => '-exec needs a command after the flags, e.g. streamserve -exec arecord -f cd'),
  EXEC_WITH_PATH: createError('SS_ERR_EXEC_WITH_PATH', () => '-exec and -path cannot be combined: a channel has one source'),
  PATH_EMPTY: createError('SS_ERR_PATH_EMPTY', () => '-path must not be empty: give a fifo, file, device or directory, or leave -path out to read standard input'),
  PATH_UNUSABLE: createError('SS_ERR_PATH_UNUSABLE', (path: string, reason: string) => `cannot use -path ${path}: ${reason}`),

  // Listening
  ADDRESS_INVALID: createError('SS_ERR_ADDRESS_INVALID', (address: string, flag: string) =>
    `invalid listen address "${address}" for ${flag}: expected host:port, :port or :0`),
  LISTEN_FAILED: createError('SS_ERR_LISTEN_FAILED', (address: string, flag: string, reason: string) => `cannot listen on ${address} (${flag}): ${reason}`),
  TLS_NEEDS_FILES: createError('SS_ERR_TLS_NEEDS_FILES', () => '-tls-address needs -tls-cert and -tls-key'),
  TLS_UNREADABLE: createError('SS_ERR_TLS_UNREADABLE', (cert: string, key: string, reason: string) =>
    `cannot load TLS certificate or key (-tls-cert ${cert}, -tls-key ${key}): ${reason}`),
  UID_FAILED: createError('SS_ERR_UID_FAILED', (uid: string, reason: string) => `cannot switch to user id ${uid} (-uid): ${reason}`),
  // Fallback and filler (mods/fallback)
  FALLBACK_LOOP: createError('SS_ERR_FALLBACK_LOOP', (setting: string, chain: string) =>
    `setting ${setting}: fallback loop ${chain}; a chain of fallbacks must end`),
  FALLBACK_FILLER_UNREADABLE: createError('SS_ERR_FALLBACK_FILLER_UNREADABLE', (setting: string, path: string, reason: string) =>
    `setting ${setting}: cannot read filler file ${path}: ${reason}`),
  /** A start hook failed with an error that is not a UserError (a module's own). */
  START_FAILED: createError('SS_ERR_START_FAILED', (reason: string) => reason),

  // Reverse proxies
  TRUSTED_PROXY_INVALID: createError('SS_ERR_TRUSTED_PROXY_INVALID', (entry: string) =>
    `setting http.trustedProxies: "${entry}" is neither an IP address nor address/prefix (e.g. 10.0.0.0/8, fd00::/8)`),
  // Relays
  RELAY_URL_INVALID: createError('SS_ERR_RELAY_URL_INVALID', (url: string, setting: string, reason: string) =>
    `invalid relay URL "${url}" for ${setting}: ${reason} (give an http:// or https:// URL)`),
  RELAY_WITH_SOURCE: createError('SS_ERR_RELAY_WITH_SOURCE', (url: string) =>
    `-relay ${url} cannot be combined with -path or -exec: the default channel has one source`),
  CHANNEL_SOURCE_ONE: createError('SS_ERR_CHANNEL_SOURCE_ONE', (setting: string) => `setting ${setting}: give exactly one of path, exec or relay`),
  // HLS
  HLS_DURATION_RANGE: createError('SS_ERR_HLS_DURATION_RANGE', (setting: string, value: string, range: string) =>
    `setting ${setting}: ${value} is out of range, expected ${range}`),
  // Modules' settings checked beyond their schema
  AUTH_HTTP_URL_INVALID: createError('SS_ERR_AUTH_HTTP_URL_INVALID', (url: string, reason: string) =>
    `setting auth-http.url: "${url}" is not usable as the authentication backend: ${reason}`),
  // Recording
  RECORD_PATTERN_INVALID: createError('SS_ERR_RECORD_PATTERN_INVALID', (setting: string, pattern: string, problem: string) =>
    `setting ${setting}: file name pattern "${pattern}" ${problem}`),
  RECORD_ROTATE_INVALID: createError('SS_ERR_RECORD_ROTATE_INVALID', (setting: string, value: string) =>
    `setting ${setting}: "${value}" is not a duration such as 30m, 1h or 0s`),
  RECORD_MOUNT_TWICE: createError('SS_ERR_RECORD_MOUNT_TWICE', (setting: string, mount: string) =>
    `setting ${setting}: mount ${mount} is recorded twice (record.path is the channel at /)`),
} as const;

/** An error thrown by a module's tap, named after the hook and the module. */
export class HookError extends Error {
  override name = 'HookError';
  constructor(readonly hook: string, readonly module: string, override readonly cause: unknown) {
    super(`hook ${hook} failed in module ${module}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/** Client disconnects are ordinary events, not failures worth a stack trace. */
export function isDisconnect(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_WRITE_AFTER_END';
}
