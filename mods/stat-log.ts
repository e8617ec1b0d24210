import type { Kernel } from '../core/kernel/kernel.ts';
import { defineModule } from '../core/kernel/module.ts';

interface StatLogSettings {
  interval: number;
}

/** streamserve's `-stat-log-interval`: a log line per channel every interval. */
export default defineModule<StatLogSettings>({
  name: 'stat-log',
  description: 'periodic per-source statistics in the log',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      interval: { type: ['string', 'number'], 'x-duration': true, default: '0s', description: 'log per-source stats this often (0 = never)' },
    },
  },
  flags: {
    'stat-log-interval': { setting: 'interval', type: 'duration', description: 'log per-source stats (listeners, bytes in/out, invalid bytes, skipped frames, uptime) this often (0 = never)' },
  },
  apply(kernel: Kernel, s: StatLogSettings) {
    if (!s.interval) return;
    const log = kernel.logger('stat-log');
    let timer: NodeJS.Timeout | undefined;
    kernel.hooks.start.tap('stat-log', () => {
      timer = setInterval(() => {
        for (const channel of kernel.channels.all()) {
          const st = channel.stats();
          log.info({
            mount: st.mount, listeners: st.listeners, bytesIn: st.bytesIn, bytesOut: st.bytesOut, invalidBytes: st.invalidBytes,
            framesSkipped: st.framesSkipped, sourceUp: st.sourceUp, uptimeSeconds: st.uptimeSeconds,
          }, 'source stats');
        }
      }, s.interval);
      timer.unref();
    });
    kernel.hooks.stop.tap('stat-log', () => clearInterval(timer));
  },
});
