import type { ChannelInfo } from '../../core/engine/channel.ts';

/** Which channel field each listener header shows (Icecast's format_prepare_headers). */
const HEADER_FIELDS: readonly [header: string, field: keyof ChannelInfo][] = [
  ['icy-name', 'name'],
  ['icy-description', 'description'],
  ['icy-genre', 'genre'],
  ['icy-url', 'url'],
  ['icy-br', 'bitrate'],
  ['icy-pub', 'public'],
  ['ice-audio-info', 'audioInfo'],
];

const CONTROL = /[\u0000-\u001f\u007f]+/g;

/**
 * A header value as the bytes the response head carries: response heads are
 * written as latin1, so text is sent as its UTF-8 bytes (what players decode),
 * and control characters, which could end the line, become spaces.
 */
export function headerText(text: string): string {
  const flat = text.replace(CONTROL, ' ').trim();
  return /[^\u0000-\u007f]/.test(flat) ? Buffer.from(flat, 'utf8').toString('latin1') : flat;
}

/** The `icy-*` headers for a channel's descriptive fields that are set. */
export function icyHeaders(info: ChannelInfo): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [header, field] of HEADER_FIELDS) {
    const value = info[field];
    if (typeof value === 'string' && value.trim()) out[header] = headerText(value);
  }
  return out;
}
