import { randomBytes } from 'node:crypto';
import type { Kernel } from '../../core/kernel/kernel.ts';
import { defineModule } from '../../core/kernel/module.ts';
import { RECORD_PROTOCOL, Recorder, type RecordingFigures } from './recorder.ts';
import { recordingPlans, recordSchema, type RecordSettings } from './settings.ts';

// The record module's public contract: the figures it adds to each recorded channel's stats.
export type { RecordingFigures } from './recorder.ts';

/** A channel's entry in `kernel.stats()` carries `recording` while the channel is recorded. */
export interface RecordedChannelStats {
  recording?: RecordingFigures;
}

/**
 * Records channels to files (`record: PATH` per channel), with strftime-style
 * names and rotation by time or size. A recording is a listener of its channel
 * (protocol `record`), written from the ring like any other: it never slows
 * the others, and when its disk cannot keep up it skips frames as a slow
 * listener does, a gap it counts and logs, never a growing buffer. With no
 * channel to record it does nothing.
 */
export default defineModule<RecordSettings>({
  name: 'record',
  description: 'record channels to files, rotated by time or size',
  schema: recordSchema,
  flags: {
    record: { setting: 'path', type: 'string', description: 'record the channel at / to this strftime-style file name, e.g. rec/%Y%m%d-%H%M%S.mp3' },
    'record-rotate-every': { setting: 'rotateEvery', type: 'duration' },
    'record-rotate-bytes': { setting: 'rotateBytes', type: 'int' },
  },
  apply(kernel: Kernel, s: RecordSettings) {
    const plans = recordingPlans(s);
    if (!plans.size) return;
    const log = kernel.logger('record');
    const recorders = new Map<string, Recorder>();
    // Only this module's own listeners carry the secret; no protocol can ask on their behalf.
    const secret = randomBytes(18).toString('base64url');

    kernel.hooks.authenticate.tap('record', (req) =>
      (req.protocol === RECORD_PROTOCOL && req.action === 'watch' && req.token === secret ? { allow: true, user: 'recorder' } : undefined));

    kernel.hooks.channelCreated.tap('record', (channel) => {
      const plan = plans.get(channel.mount);
      if (!plan) return;
      const recorder = new Recorder(channel, plan, { protocol: RECORD_PROTOCOL, remoteAddress: 'local', user: 'recorder', token: secret }, log);
      recorders.set(channel.mount, recorder);
      recorder.start();
    });
    kernel.hooks.channelClosed.tap('record', (channel) => {
      const recorder = recorders.get(channel.mount);
      if (recorder?.channel !== channel) return;
      recorders.delete(channel.mount);
      void recorder.stop();
    });

    kernel.hooks.stats.tap('record', (stats) => {
      for (const entry of stats.channels) {
        const recorder = recorders.get(entry.mount);
        if (recorder) (entry as RecordedChannelStats).recording = recorder.figures();
      }
      return stats;
    });

    // The last bytes reach the files before the process exits.
    kernel.hooks.stop.tapPromise('record', async () => {
      await Promise.all([...recorders.values()].map((r) => r.stop()));
    });
    kernel.hooks.start.tap('record', () => {
      for (const [mount, plan] of plans) {
        if (!kernel.channels.get(mount)) log.info({ mount, path: plan.path }, 'recording starts when the channel appears');
      }
    });
  },
});
