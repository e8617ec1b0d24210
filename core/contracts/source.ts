import type { Readable } from 'node:stream';

/**
 * Where a channel's bytes come from, as configured: `{ kind: 'path', path }`,
 * `{ kind: 'exec', command }`, `{ kind: 'stdin' }`, … A source module claims the
 * kinds it knows on the `sourceOpen` hook.
 */
export interface SourceSpec {
  kind: string;
  [key: string]: unknown;
}

/** An open source: a byte stream plus the way to stop it. */
export interface OpenedSource {
  readonly readable: Readable;
  /** For logs: the path, the command line, the broadcaster's address. */
  readonly describe: string;
  /** The Content-Type the source declared (an Icecast source, a relayed stream): a hint for the `auto` filter. */
  readonly contentType?: string;
  /** Stops reading and releases the source (ends the child process, closes the file). */
  close(): void;
}
