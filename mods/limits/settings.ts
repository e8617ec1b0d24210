/** One mount's own limits; a key left out takes the server-wide setting. */
export interface MountLimits {
  maxListeners?: number;
  maxListenerDuration?: number;
}

/** The limits module's settings, after validation (durations in milliseconds). */
export interface LimitsSettings {
  maxListeners: number;
  maxListenersPerChannel: number;
  maxSources: number;
  maxListenerDuration: number;
  mounts: Record<string, MountLimits>;
}

const count = (description: string) => ({ type: 'integer', minimum: 0, default: 0, description });

export const limitsSchema = {
  type: 'object' as const,
  additionalProperties: false,
  properties: {
    maxListeners: count('listeners on the whole server at once; the next one is refused (0 = no limit)'),
    maxListenersPerChannel: count('listeners on each channel at once, unless its mount sets its own (0 = no limit)'),
    maxSources: count('broadcasters (pushed sources: Icecast, fstream) live at once on the whole server (0 = no limit)'),
    maxListenerDuration: {
      type: ['string', 'number'], 'x-duration': true, default: '0s',
      description: 'disconnect a listener after it has been connected this long (0 = never)',
    },
    mounts: {
      type: 'object',
      default: {},
      description: 'limits of single mounts, by mount path: maxListeners, maxListenerDuration',
      propertyNames: { pattern: '^/' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          maxListeners: { type: 'integer', minimum: 0, description: 'listeners on this mount at once (0 = no limit)' },
          maxListenerDuration: { type: ['string', 'number'], 'x-duration': true, description: 'disconnect this mount\'s listeners after this long (0 = never)' },
        },
      },
    },
  },
};

/** The limits that hold at one mount: its own where it sets them, else the server-wide ones. */
export function limitsAt(s: LimitsSettings, mount: string): { maxListeners: number; maxListenerDuration: number } {
  const own = Object.hasOwn(s.mounts, mount) ? s.mounts[mount]! : {};
  return {
    maxListeners: own.maxListeners ?? s.maxListenersPerChannel,
    maxListenerDuration: own.maxListenerDuration ?? s.maxListenerDuration,
  };
}

/** The shortest listener duration limit anywhere (0 when there is none): how often the sweep must look. */
export function shortestDuration(s: LimitsSettings): number {
  const all = [s.maxListenerDuration, ...Object.values(s.mounts).map((m) => m.maxListenerDuration ?? 0)].filter((d) => d > 0);
  return all.length ? Math.min(...all) : 0;
}
