import type { FlagType } from './flags.ts';
import type { Kernel } from './kernel.ts';

/** A command-line flag a module adds, mapped onto one of its settings. */
export interface FlagSpec<S = any> {
  /** The setting inside the module's section (`frameBytes`); the compiler checks it is one. */
  setting: SettingName<S>;
  /**
   * `bool` flags take no value; `rest` flags are booleans whose setting receives
   * every argument after the flags (streamserve's `-exec`).
   */
  type: FlagType;
  /** Help text; left out, the setting's own `description` in the schema is shown. */
  description?: string;
  /** Other names for the same flag (`filter` for `frame-filter`). */
  aliases?: readonly string[];
}

/** A JSON Schema for a settings section; `x-duration: true` turns Go durations into milliseconds. */
export type SettingsSchema = Record<string, unknown>;

/** True for `any` and `unknown`: a module that did not say what its settings are. */
type Untyped<S> = unknown extends S ? true : false;

type SettingName<S> = Untyped<S> extends true ? string : S extends readonly unknown[] ? string : keyof S & string;

/**
 * The schema of an object section whose settings type is `S`: `properties` must
 * name every key of `S` and nothing else, so the TypeScript interface and the
 * schema cannot drift apart (the compiler refuses a missing or an extra key).
 * The interface stays the settings' type, as modules read them after
 * validation (durations in milliseconds, defaults filled in).
 */
export type SchemaOf<S> = Untyped<S> extends true ? SettingsSchema
  : S extends readonly unknown[] ? SettingsSchema
  : { type: 'object'; properties: { [K in keyof S]-?: SettingsSchema }; [keyword: string]: unknown };

/**
 * What a module file exports (as its default export). The name is also its tap
 * name and its logger's `mod` binding.
 */
export interface StreamserveModule<S = any> {
  name: string;
  description?: string;
  /** Modules that must be listed earlier in `main.mods`. */
  needs?: readonly string[];
  /**
   * Modules this one works with when they are loaded and does without when they
   * are not (it imports their public `index.ts` or asks for their service, and
   * copes with `undefined`). Not checked by the loader: it records the link, so
   * that a test can hold every link between modules to `needs` or `uses`.
   */
  uses?: readonly string[];
  /** Schema of the settings section named after the module, with defaults. */
  schema?: SchemaOf<S>;
  /** Flags by name (without the dash). */
  flags?: Readonly<Record<string, FlagSpec<S>>>;
  /** Subcommands (`streamserve passwd NAME`), run instead of the server with the module's settings. */
  commands?: Readonly<Record<string, ModuleCommand<S>>>;
  /** Taps hooks. May be async; must settle within the kernel's module timeout. */
  apply(kernel: Kernel, settings: S): void | Promise<void>;
}

/** Identity helper that gives a module literal its type (and its settings' type). */
export function defineModule<S = any>(mod: StreamserveModule<S>): StreamserveModule<S> {
  return mod;
}

export interface ModuleCommand<S = any> {
  usage: string;
  description: string;
  /** Returns the process exit code. */
  run(args: string[], settings: S): Promise<number> | number;
}
