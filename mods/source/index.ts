import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Channel } from '../../core/engine/channel.ts';
import { channelSettingsSchema, pickChannelSettings, type ChannelSettings } from '../../core/contracts/channel-settings.ts';
import { ERR } from '../../core/kernel/errors.ts';
import type { Kernel } from '../../core/kernel/kernel.ts';
import { defineModule } from '../../core/kernel/module.ts';
import type { SourceSpec } from '../../core/contracts/source.ts';
import { directoryResolver } from './directory.ts';
import { openExec } from './exec.ts';
import { openPath, readSize } from './path.ts';
import { openStdin, stdinKind } from './stdin.ts';

export interface SourceSettings extends ChannelSettings {
  /** Unset when no source path was given; never empty (an empty one is refused). */
  path?: string;
  /** The command after -exec; a string runs through `sh -c`. */
  exec: string[] | string | boolean;
  demo: boolean;
}

/** A command from settings: an argv array, or a shell line. */
export function commandOf(exec: SourceSettings['exec']): string[] {
  if (typeof exec === 'string') return exec.trim() ? ['sh', '-c', exec] : [];
  return Array.isArray(exec) ? exec : [];
}

/** Throws a UserError naming the setting when no filter of that name is registered. */
export function checkFilter(kernel: Kernel, filter: string, where: string): void {
  const names = kernel.hooks.frameFilter.names();
  if (!names.includes(filter)) {
    throw ERR.FILTER_UNKNOWN(filter, where, names.join(', '));
  }
}

/**
 * streamserve's source: the default channel at `/` from `-path`, `-exec` or
 * standard input, every request path streaming it; a directory of fifos and
 * files served at `/NAME`; the demo channel when nothing is given. Also opens
 * the `path`, `exec` and `stdin` source kinds for every channel.
 */
export default defineModule<SourceSettings>({
  name: 'source',
  description: 'the default channel (streamserve\'s source flags)',
  // Every channel names a filter, checked at start.
  needs: ['filters'],
  // Request paths reach the default channel (and a directory's) through http's resolveChannel when it is loaded.
  uses: ['http'],
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...channelSettingsSchema,
      // No default: unset means "not given" (then -exec or standard input), so an empty path given is an error.
      path: { type: 'string', description: 'source file, fifo, device, or directory of them' },
      exec: { type: ['array', 'string', 'boolean'], items: { type: 'string' }, default: [], description: 'command whose stdout is the source' },
      demo: { type: 'boolean', default: true, description: 'serve the built-in demo channel at /demo.mp3 when no source is given' },
    },
  },
  flags: {
    path: { setting: 'path', type: 'string', description: 'source: a fifo, file or device, or a directory whose fifos and files are served at /NAME (default: standard input when it is a pipe or file)' },
    exec: { setting: 'exec', type: 'rest', description: 'run the command given after all flags and read its stdout' },
    'frame-bytes': { setting: 'frameBytes', type: 'int', description: 'frame size for the raw filter; the largest frame for other filters' },
    'frame-filter': { setting: 'filter', type: 'string', description: 'frame filter: raw (fixed-size frames) or mp3 (MPEG audio frames)', aliases: ['filter'] },
    'header-bytes': { setting: 'headerBytes', type: 'int', description: 'header bytes read from each source and sent to every listener first' },
    'source-buffer': { setting: 'sourceBuffer', type: 'int', description: 'frames kept per source (> 2); a listener lagging more skips frames' },
    'source-bandwidth': { setting: 'sourceBandwidth', type: 'int', description: 'read at most this many bytes/s from the source (0 = unlimited)' },
    'client-max-bytes': { setting: 'clientMaxBytes', type: 'int', description: 'disconnect a listener after this many bytes, at the end of a frame (0 = no limit)' },
    'close-idle': { setting: 'closeIdle', type: 'bool', description: 'close the source when the last listener leaves; reopen for the next' },
    reopen: { setting: 'reopen', type: 'bool', description: 'reopen the source on EOF or error, keeping listeners; =false: exit when it ends' },
    'content-type': { setting: 'contentType', type: 'string', description: 'Content-Type sent to listeners' },
    'max-quiet-interval': { setting: 'maxQuietInterval', type: 'duration', description: 'close and reopen the source after this long without bytes (0 = never)' },
    realtime: { setting: 'realtime', type: 'bool', description: 'pace frames by their media duration (mp3), so a file plays as a live stream' },
    burst: { setting: 'burst', type: 'duration', description: 'media a new listener gets at once when frames know their duration (0 = live edge)' },
    'burst-bytes': { setting: 'burstBytes', type: 'int', description: 'bytes a new listener gets at once when frames do not know their duration (0 = live edge)' },
    demo: { setting: 'demo', type: 'bool', description: 'serve the built-in demo channel at /demo.mp3 when no source is given' },
  },
  apply(kernel: Kernel, s: SourceSettings) {
    const log = kernel.logger('source');
    const command = commandOf(s.exec);
    if (s.path === '') {
      // As streamserve: an empty path is a mistake (an unset variable in a script), not a request for standard input.
      throw ERR.PATH_EMPTY();
    }
    if (s.exec === true) {
      throw ERR.EXEC_NEEDS_COMMAND();
    }
    if (command.length && s.path) throw ERR.EXEC_WITH_PATH();

    kernel.hooks.sourceOpen.tapPromise('source', async (spec, channel) => {
      switch (spec.kind) {
        case 'path': return openPath(spec.path as string, readSize(channel.settings.sourceBandwidth));
        case 'exec': return openExec(spec.command as string[], log);
        case 'stdin': return openStdin();
        default: return undefined;
      }
    });

    let flagChannel: Channel | undefined;

    kernel.hooks.start.tapPromise('source', async () => {
      // Looked up at start, when every module is applied: http may be listed after this module.
      const http = kernel.service('http');
      checkFilter(kernel, s.filter, '-frame-filter');
      const settings = pickChannelSettings(s);
      let spec: SourceSpec | undefined;
      if (command.length) spec = { kind: 'exec', command };
      else if (s.path) {
        let isDir: boolean;
        try {
          isDir = statSync(s.path).isDirectory();
        } catch (err) {
          throw ERR.PATH_UNUSABLE(s.path, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message);
        }
        if (isDir) {
          http?.hooks.resolveChannel.tap('source', directoryResolver(kernel, s.path, settings));
          log.info({ directory: s.path }, 'serving every fifo and file in the directory at /NAME');
          return;
        }
        spec = { kind: 'path', path: s.path };
      } else if (kernel.channels.get('/')) {
        // Another module (relay) feeds the default channel: standard input and the demo are not wanted.
        return;
      } else if (stdinKind() !== 'none') {
        // Standard input cannot be reopened: when it ends, the stream is over.
        spec = { kind: 'stdin' };
        settings.reopen = false;
      }
      if (spec) {
        // As in streamserve, a source played once opens for its first listener, who then gets it from its first byte.
        if (!settings.reopen && spec.kind !== 'stdin') spec.onDemand = true;
        flagChannel = kernel.channels.create('/', settings, spec);
        // As in streamserve, every request path no other module claims streams the one source.
        http?.hooks.resolveChannel.tap({ name: 'source', stage: 100 }, () => (flagChannel?.closed ? undefined : flagChannel));
        return;
      }
      const configured = kernel.settings.channels;
      // A mirror (the relay module's relayAll) makes its channels once it has listed the origin's.
      const mirroring = Boolean((kernel.settings.relay as { relayAll?: string } | undefined)?.relayAll);
      if (s.demo && !mirroring && !(Array.isArray(configured) && configured.length)) {
        kernel.channels.create('/demo.mp3', {
          ...settings, filter: 'mp3', frameBytes: Math.max(settings.frameBytes, 2881), realtime: true, contentType: 'audio/mpeg', reopen: true,
        }, { kind: 'path', path: join(kernel.packageRoot, 'mods', 'demo', 'demo.mp3') }).info = {
          name: 'streamserve demo', description: 'A short synthesized loop, served in real time', genre: 'Demo',
        };
        log.info('no source given: serving the demo channel at /demo.mp3');
      }
    });

    kernel.hooks.channelClosed.tap('source', (channel) => {
      if (channel !== flagChannel) return;
      const pulling = kernel.channels.all().some((c) => c.source.spec);
      if (!pulling) void kernel.stop('the only source has ended');
    });
  },
});
