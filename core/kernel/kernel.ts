import type { Hook, HookMap } from 'tapable';
import type { AuthDecision, AuthRequest } from '../contracts/auth.ts';
import type { ChannelRegistry, EngineHost } from '../engine/channels.ts';
import type { Connection, SniffResult } from '../contracts/connection.ts';
import type { Framer, FramerOptions } from '../contracts/frame.ts';
import { ERR, HookError, isDisconnect, UserError } from './errors.ts';
import { createHooks, type Hooks, type Stats } from './hooks.ts';
import type { Logger } from './log.ts';
import type { StreamserveModule } from './module.ts';

/** A module to apply, and where it was listed (for messages). */
export interface ListedModule {
  module: StreamserveModule;
  /** `main.mods:3` */
  where: string;
}

/** How long one module's apply() may take. */
const APPLY_TIMEOUT_MS = 10_000;

/**
 * The APIs modules hand each other, by service name. Empty here: the kernel
 * knows no module. A module that provides a service adds its entry from its
 * public `index.ts` by declaration merging,
 *
 *     declare module '../../../core/kernel.ts' { interface Services { http: HttpApi } }
 *
 * so `kernel.service('http')` is typed for every module that imports that
 * index (as a consumer does for the API's types anyway), and a name can have
 * only one type: a second module declaring `http` differently fails to compile.
 */
export interface Services {}

export interface KernelOptions {
  log: Logger;
  /** Validated settings, one section per loaded module. */
  settings: Record<string, unknown>;
  /** The package's own folder (built-in assets live under it). */
  packageRoot: string;
  /** How long stop hooks may take before the process exits anyway. */
  stopTimeoutMs?: number;
  /** Makes the channel registry: the engine, which the kernel is handed rather than imports. */
  channels(host: EngineHost): ChannelRegistry;
}

/**
 * The kernel: the hook catalogue, the channel registry, the loaded modules'
 * settings, and a small service registry through which modules hand each other
 * APIs (the `http` module's routes, the `users` module's tokens). It knows no
 * protocol and no media format.
 */
export class Kernel {
  readonly hooks: Hooks = createHooks();
  readonly log: Logger;
  private current: Readonly<Record<string, unknown>>;
  readonly packageRoot: string;
  readonly channels: ChannelRegistry;
  readonly startedAt = new Date();
  private readonly services = new Map<keyof Services, unknown>();
  private stopping: Promise<void> | undefined;
  private reloading: Promise<void> | undefined;
  private reloadAgain = false;
  private readonly stopTimeoutMs: number;
  /** Resolves when the kernel has stopped; the CLI exits then. */
  readonly stopped: Promise<string>;
  private resolveStopped!: (reason: string) => void;

  constructor(opts: KernelOptions) {
    this.log = opts.log;
    this.current = opts.settings;
    this.packageRoot = opts.packageRoot;
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 5000;
    this.stopped = new Promise((r) => { this.resolveStopped = r; });
    for (const [name, hook] of Object.entries(this.hooks)) nameTapErrors(name, hook);
    this.channels = opts.channels(this);
  }

  /** Asks the authenticate hook (every protocol's door): the first module with an opinion decides. */
  authenticate(request: AuthRequest): Promise<AuthDecision | undefined> {
    return this.hooks.authenticate.promise(request);
  }

  /** Offers a new connection's first bytes to the protocol modules (the front door's question). */
  claim(conn: Connection): Promise<SniffResult> {
    return this.hooks.connection.promise(conn);
  }

  /** A frame filter by name, as the engine makes them (`auto` hands its stream on this way). */
  framer(name: string, options: FramerOptions): Framer | undefined {
    return this.hooks.frameFilter.get(name)?.call(options);
  }

  /** The server's figures, each module adding its own. */
  stats(): Stats {
    return this.hooks.stats.call({ startedAt: this.startedAt, channels: this.channels.all().map((c) => c.stats()) });
  }

  /** Validated settings, one section per loaded module: those of the last successful reload. */
  get settings(): Readonly<Record<string, unknown>> {
    return this.current;
  }

  /**
   * Reads the settings again (`read` merges and validates, as at start) and,
   * when the whole is valid, hands them to the modules' reload taps. An
   * invalid file is refused with the reason and the running settings stay.
   * Reloads asked for while one runs are done once after it.
   */
  reload(read: () => Promise<Record<string, unknown>>): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      do {
        this.reloadAgain = false;
        await this.reloadOnce(read);
      } while (this.reloadAgain);
      this.reloading = undefined;
    })();
    return this.reloading;
  }

  private async reloadOnce(read: () => Promise<Record<string, unknown>>): Promise<void> {
    let next: Record<string, unknown>;
    try {
      next = await read();
    } catch (err) {
      this.log.error({ err: (err as Error).message, code: (err as { code?: string }).code }, 'reload refused; the running settings stay');
      return;
    }
    const previous = this.current;
    const changed = Object.keys(next).filter((k) => JSON.stringify(next[k]) !== JSON.stringify(previous[k]));
    this.current = next;
    try {
      await this.hooks.reload.promise(next, previous);
    } catch (err) {
      // A module's own check (a mount listed twice): refused like an invalid file; taps check before they change anything.
      this.current = previous;
      const cause = (err as { cause?: unknown }).cause ?? err;
      this.log.error({ err: (cause as Error).message, code: (cause as { code?: string }).code }, 'reload refused; the running settings stay');
      return;
    }
    const applying = new Set(this.hooks.reload.taps.map((t) => t.name));
    const pending = changed.filter((name) => !applying.has(name));
    if (pending.length) this.log.warn({ modules: pending }, 'changed settings of these modules take effect at the next restart');
    this.log.info({ changed }, 'settings reloaded');
  }

  /** A child logger bound to a module's name. */
  logger(module: string): Logger {
    return this.log.child({ mod: module });
  }

  /** Offers an API to modules listed later (fastify's `decorate`). */
  provide<K extends keyof Services>(name: K, api: Services[K]): void {
    if (this.services.has(name)) throw new Error(`service ${name} is already provided`);
    this.services.set(name, api);
  }

  /** An API provided by an earlier module, or undefined when that module is not loaded. */
  service<K extends keyof Services>(name: K): Services[K] | undefined {
    return this.services.get(name) as Services[K] | undefined;
  }

  /**
   * The whole life of a server: applies the modules in order, keeps one
   * connection's bug from taking the process down, stops on SIGINT/SIGTERM,
   * reloads on SIGHUP (with `reload`), runs the start hooks, and resolves once stopped.
   */
  async run(modules: readonly ListedModule[], opts: { reload?: () => Promise<Record<string, unknown>> } = {}): Promise<void> {
    for (const { module: m, where } of modules) {
      try {
        await this.apply(m, APPLY_TIMEOUT_MS);
      } catch (err) {
        // A user's mistake found by a module keeps its own code (`SS_ERR_TRUSTED_PROXY_INVALID`), with where it was found.
        if (err instanceof UserError) throw err.at(`${where}: module ${m.name}`);
        throw ERR.MODULE_APPLY_FAILED(where, m.name, (err as Error).message);
      }
    }
    process.on('uncaughtException', (err) => {
      // A bug reached by one connection must not take every listener down with it.
      if (isDisconnect(err)) return;
      this.log.error({ err }, 'uncaught exception');
    });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        void this.stop(signal);
        process.once(signal, () => process.exit(130));
      });
    }
    const read = opts.reload;
    // As every daemon: SIGHUP reads the settings again, no listener dropped.
    if (read) process.on('SIGHUP', () => void this.reload(read));
    try {
      await this.hooks.start.promise();
    } catch (err) {
      await this.stop('start failed');
      // Taps' errors come wrapped with the hook and module that threw them; a user's mistake keeps its code.
      const cause = err instanceof HookError ? err.cause : err;
      throw cause instanceof UserError ? cause : ERR.START_FAILED((err as Error).message);
    }
    this.log.info({ modules: modules.map((m) => m.module.name) }, 'streamserve started');
    await this.stopped;
    this.log.info('stopped');
  }

  /** Runs the stop hooks once, bounded in time; later calls share the first. */
  stop(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info({ reason }, 'stopping');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.log.warn({ timeoutMs: this.stopTimeoutMs }, 'stop hooks did not finish in time');
          resolve();
        }, this.stopTimeoutMs);
      });
      try {
        await Promise.race([this.hooks.stop.promise(reason), timeout]);
      } catch (err) {
        this.log.error({ err }, 'stop hook failed');
      } finally {
        clearTimeout(timer);
      }
      this.channels.closeAll();
      this.resolveStopped(reason);
    })();
    return this.stopping;
  }

  /** Applies one module, bounded in time (avvio's plugin timeout). */
  async apply(mod: StreamserveModule, timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`apply() did not finish within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([mod.apply(this, this.settings[mod.name]), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Wraps every tap so that an error it throws names the hook and the module
 * (webpack's HookWebpackError). Done once at registration, not per call.
 */
function nameTapErrors(hookName: string, hook: Hook<any, any> | HookMap<any>): void {
  if ('for' in hook) {
    hook.intercept({
      // tapable hands the interceptor the hook its factory just made (not the factory).
      factory: (key: unknown, h: Hook<any, any>) => {
        nameTapErrors(`${hookName}(${String(key)})`, h);
        return h;
      },
    } as never);
    return;
  }
  const wrapError = (tapName: string, err: unknown) => (err instanceof HookError ? err : new HookError(hookName, tapName, err));
  hook.intercept({
    register: (tap: any) => {
      const fn = tap.fn;
      if (tap.type === 'sync') {
        tap.fn = (...args: unknown[]) => {
          try { return fn(...args); } catch (err) { throw wrapError(tap.name, err); }
        };
      } else if (tap.type === 'promise') {
        tap.fn = async (...args: unknown[]) => {
          try { return await fn(...args); } catch (err) { throw wrapError(tap.name, err); }
        };
      } else {
        tap.fn = (...args: unknown[]) => {
          const cb = args.pop() as (err?: unknown, result?: unknown) => void;
          try {
            fn(...args, (err?: unknown, result?: unknown) => cb(err ? wrapError(tap.name, err) : err, result));
          } catch (err) { cb(wrapError(tap.name, err)); }
        };
      }
      return tap;
    },
  });
}
