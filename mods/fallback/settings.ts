/** What one mount falls back to. */
export interface MountFallback {
  /** Mount whose listeners take over this one's when its source is down. */
  fallback?: string;
  /** A file played in a loop when neither this mount nor its fallbacks have a live source. */
  filler?: string;
  /** Move listeners back to this mount when its source returns. */
  fallbackOverride: boolean;
}

export interface FallbackSettings {
  /** By mount. */
  mounts: Record<string, MountFallback>;
}

const MOUNT = '^/[^?#\\s]*$';

/** The settings schema: a map of mounts, so pushed mounts (Icecast, fstream) and configured channels alike can fall back. */
export const fallbackSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    mounts: {
      type: 'object',
      default: {},
      description: 'by mount: { fallback: MOUNT, filler: FILE, fallbackOverride: true }',
      propertyNames: { pattern: MOUNT },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          fallback: { type: 'string', pattern: MOUNT, description: 'mount whose stream listeners get while this one has no source' },
          filler: { type: 'string', minLength: 1, description: 'file looped in real time when no source in the chain is live' },
          fallbackOverride: { type: 'boolean', default: true, description: 'move listeners back when the source returns' },
        },
      },
    },
  },
} as const;
