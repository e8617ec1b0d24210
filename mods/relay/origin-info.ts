import type { IncomingHttpHeaders } from 'node:http';
import type { ChannelInfo } from '../../core/engine/channel.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Node reads header values as latin1: most servers send UTF-8 names, so decode them when they are valid UTF-8. */
function text(value: string | string[] | undefined): string | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (!/[^\u0000-\u007f]/.test(v)) return v;
  try {
    return utf8.decode(Buffer.from(v, 'latin1'));
  } catch {
    return v;
  }
}

/** Which channel field each header of a stream response fills (as mods/icecast/ice-headers.ts does for sources). */
const FIELDS: readonly [field: keyof ChannelInfo, headers: readonly string[]][] = [
  ['name', ['icy-name', 'ice-name']],
  ['description', ['icy-description', 'ice-description']],
  ['genre', ['icy-genre', 'ice-genre']],
  ['url', ['icy-url', 'ice-url']],
  ['bitrate', ['icy-br', 'ice-bitrate']],
  ['public', ['icy-pub', 'ice-public']],
  ['audioInfo', ['ice-audio-info']],
];

/** What the origin's response head says about its stream. */
export function originInfo(headers: IncomingHttpHeaders): Partial<ChannelInfo> {
  const out: Partial<ChannelInfo> = {};
  for (const [field, names] of FIELDS) {
    for (const name of names) {
      const value = text(headers[name]);
      if (value !== undefined) {
        out[field] = value;
        break;
      }
    }
  }
  return out;
}
