import type { ChannelInfo } from '../../core/engine/channel.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A header value as text. Heads are parsed as latin1 (one char per byte), but
 * most encoders send UTF-8 names: decode the bytes as UTF-8 when they are valid
 * UTF-8, and keep them as latin1 otherwise (Icecast's default charset).
 */
export function decodeHeaderText(value: string): string {
  if (!/[^\u0000-\u007f]/.test(value)) return value;
  try {
    return utf8.decode(Buffer.from(value, 'latin1'));
  } catch {
    return value;
  }
}

/** `ice-audio-info: ice-samplerate=44100;ice-bitrate=128;ice-channels=2` → its bitrate, if given. */
function audioInfoBitrate(audioInfo: string | undefined): string | undefined {
  for (const pair of (audioInfo ?? '').split(';')) {
    const [key, value] = pair.split('=');
    if (value && /^(ice-)?bitrate$/i.test(key!.trim())) return value.trim();
  }
  return undefined;
}

export type SourceInfo = Pick<ChannelInfo, 'name' | 'description' | 'genre' | 'url' | 'bitrate' | 'public' | 'audioInfo'>;

/**
 * What a source says about its stream: Icecast's `ice-*` headers, or the
 * SHOUTcast-style `icy-*` ones some encoders send instead (Icecast accepts both).
 */
export function sourceInfo(headers: Readonly<Record<string, string>>): SourceInfo {
  const pick = (...names: string[]) => {
    for (const name of names) {
      const value = headers[name];
      if (value !== undefined && value.trim() !== '') return decodeHeaderText(value.trim());
    }
    return undefined;
  };
  const audioInfo = pick('ice-audio-info');
  return {
    name: pick('ice-name', 'icy-name'),
    description: pick('ice-description', 'icy-description'),
    genre: pick('ice-genre', 'icy-genre'),
    url: pick('ice-url', 'icy-url'),
    bitrate: pick('ice-bitrate', 'icy-br') ?? audioInfoBitrate(audioInfo),
    public: pick('ice-public', 'icy-pub'),
    audioInfo,
  };
}
