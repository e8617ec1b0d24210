import { channelDefaults, type ChannelSettings } from '../../core/contracts/channel-settings.ts';
import type { FstreamSettings } from './context.ts';

/**
 * A broadcaster's channel: `bufsize` bytes per frame (raw filter), or for
 * `bufsize=0` frames of the format `auto` finds in the stream (H.264 from
 * ffmpeg, Ogg, MPEG-TS, …), else each chunk as it arrives (chunk filter). No burst, so a new watcher
 * starts at the newest complete chunk, a chunk boundary. The ring holds about
 * `ringBytes` of stream so a watcher briefly behind is not skipped ahead.
 */
export function fstreamChannelSettings(s: FstreamSettings, bufsize: number, unsized: 'auto' | 'chunk' = 'auto'): ChannelSettings {
  const frameBytes = bufsize > 0 ? bufsize : s.maxChunk;
  return {
    ...channelDefaults,
    filter: bufsize > 0 ? 'raw' : unsized,
    frameBytes,
    sourceBuffer: Math.min(65_536, Math.max(16, Math.ceil(s.ringBytes / frameBytes))),
    burst: 0,
    burstBytes: 0,
    grace: s.grace,
  };
}
