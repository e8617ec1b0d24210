/**
 * A frame filter cuts a source's bytes into frames: the units listeners join at
 * and skip by. Filters are registered by name on the `frameFilter` HookMap.
 */

/** Called once per complete frame, in source order. `durationMs` is 0 when the filter cannot tell. */
export type FrameEmit = (frame: Buffer, durationMs: number) => void;

export interface Framer {
  /**
   * Feeds source bytes; emits every frame they complete. Frames may be views of
   * `chunk`. The chunk's memory is reused once its frames have left the ring
   * (`core/slab.ts`), so a filter may keep a view of the chunk it was last given
   * until its next `push` or `reset`, and must copy anything it keeps longer.
   */
  push(chunk: Buffer, emit: FrameEmit): void;
  /** Bytes discarded so far because they did not belong to a frame. */
  readonly invalidBytes: number;
  /** Forgets partial input, as when the source is reopened. */
  reset(): void;
}

export interface FramerOptions {
  /** The raw filter's frame size; for other filters the largest frame accepted. */
  frameBytes: number;
}

/** Names of the registered frame filters (for error messages listing what is available). */
export function frameFilterNames(map: { _map?: Map<string, { isUsed(): boolean }> }): string[] {
  // tapable's HookMap keeps its hooks in `_map`; it has no public way to list keys.
  return [...(map._map ?? new Map()).entries()].filter(([, hook]) => hook.isUsed()).map(([name]) => name).sort();
}
