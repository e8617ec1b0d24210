import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Channel } from '../../core/engine/channel.ts';
import type { ChannelSettings } from '../../core/contracts/channel-settings.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';

const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/**
 * Directory mode: `/NAME` streams the fifo or file `NAME` in the directory. The
 * channel is created on the first request for a name that exists, and its source
 * opens when that first listener arrives; unknown names stay 404 and cost nothing.
 */
export function directoryResolver(kernel: Kernel, dir: string, settings: ChannelSettings) {
  return (path: string): Channel | undefined => {
    const name = path.slice(1);
    if (!SAFE_NAME.test(name) || name.includes('..')) return undefined;
    const file = join(dir, name);
    try {
      const st = statSync(file);
      if (!st.isFIFO() && !st.isFile() && !st.isCharacterDevice()) return undefined;
    } catch {
      return undefined;
    }
    return kernel.channels.get(path) ?? kernel.channels.create(path, settings, { kind: 'path', path: file, onDemand: true });
  };
}
