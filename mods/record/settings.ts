import { ERR } from '../../core/kernel/errors.ts';
import { parseDuration } from '../../core/kernel/duration.ts';
import { FILE_NAME_DIRECTIVES, patternProblem } from './file-name.ts';
import type { RecordingPlan } from './recorder.ts';

/** One channel's recording in the settings file: a file name pattern, or one with its own rotation. */
export type ChannelRecording = string | { path: string; rotateEvery?: number | string; rotateBytes?: number };

export interface RecordSettings {
  path: string;
  channels: Record<string, ChannelRecording>;
  rotateEvery: number;
  rotateBytes: number;
}

const pathSchema = { type: 'string', minLength: 1, description: 'strftime-style file name, e.g. /var/rec/radio-%Y%m%d-%H%M%S.mp3' };

export const recordSchema = {
  type: 'object' as const,
  additionalProperties: false,
  properties: {
    path: { type: 'string', default: '', description: 'record the channel at / (the one the flags describe) to this strftime-style file name (empty = do not)' },
    channels: {
      type: 'object',
      default: {},
      propertyNames: { pattern: '^/[^?#\\s]*$' },
      additionalProperties: {
        anyOf: [
          pathSchema,
          {
            type: 'object',
            additionalProperties: false,
            required: ['path'],
            properties: {
              path: pathSchema,
              rotateEvery: { type: ['string', 'number'], description: 'this channel\'s rotateEvery' },
              rotateBytes: { type: 'integer', minimum: 0, description: 'this channel\'s rotateBytes' },
            },
          },
        ],
      },
      description: 'channels to record, by mount: a file name pattern, or { path, rotateEvery, rotateBytes }',
    },
    rotateEvery: { type: ['string', 'number'], 'x-duration': true, default: '0s', description: 'start a new file at every multiple of this from local midnight (1h: on the hour; 0 = never by time)' },
    rotateBytes: { type: 'integer', minimum: 0, default: 0, description: 'start a new file once the current one holds this many bytes (0 = no limit)' },
  },
};

/** Each recorded mount's plan, checked: valid patterns, a mount named once, durations in milliseconds. */
export function recordingPlans(s: RecordSettings): Map<string, RecordingPlan> {
  const plans = new Map<string, RecordingPlan>();
  const add = (mount: string, at: string, entry: ChannelRecording) => {
    const e = typeof entry === 'string' ? { path: entry } : entry;
    const problem = patternProblem(e.path);
    if (problem) throw ERR.RECORD_PATTERN_INVALID(`${at}`, e.path, `${problem} (known: ${FILE_NAME_DIRECTIVES})`);
    let every = s.rotateEvery;
    if (e.rotateEvery !== undefined) {
      const ms = typeof e.rotateEvery === 'number' ? e.rotateEvery : parseDuration(e.rotateEvery);
      if (ms === undefined || ms < 0) throw ERR.RECORD_ROTATE_INVALID(`${at}.rotateEvery`, String(e.rotateEvery));
      every = ms;
    }
    if (plans.has(mount)) throw ERR.RECORD_MOUNT_TWICE(at, mount);
    plans.set(mount, { path: e.path, rotateEvery: every, rotateBytes: e.rotateBytes ?? s.rotateBytes });
  };
  if (s.path) add('/', 'record.path', s.path);
  for (const [mount, entry] of Object.entries(s.channels)) add(mount, `record.channels["${mount}"]`, entry);
  return plans;
}
