/**
 * ID3v2.4 tags for packed-audio segments. RFC 8216 §3.4: each packed-audio
 * segment starts with an ID3 PRIV frame owned by
 * `com.apple.streaming.transportStreamTimestamp` whose data is the 33-bit MPEG-2
 * 90 kHz timestamp of the first sample, as 8 bytes big-endian. Players place the
 * segment on the timeline by it; a TIT2 frame beside it carries the title as
 * timed metadata (hls.js and Safari surface it as a metadata cue).
 */

const TIMESTAMP_OWNER = 'com.apple.streaming.transportStreamTimestamp';
const WRAP = 2 ** 33;

/** ID3v2.4 sizes are 28-bit "synchsafe": 7 bits per byte. */
function synchsafe(n: number): Buffer {
  return Buffer.from([(n >>> 21) & 0x7f, (n >>> 14) & 0x7f, (n >>> 7) & 0x7f, n & 0x7f]);
}

function frame(id: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(id, 'latin1'), synchsafe(body.length), Buffer.from([0, 0]), body]);
}

/** The 90 kHz timestamp of a media time in milliseconds, wrapped to 33 bits as MPEG-2 does. */
export function mpegTimestamp(ms: number): number {
  return Math.round(ms * 90) % WRAP;
}

export function timestampFrame(ticks: number): Buffer {
  const data = Buffer.alloc(8);
  // 33 bits do not fit a 32-bit write: the top bit goes in the upper word.
  data.writeUInt32BE(Math.floor(ticks / 2 ** 32), 0);
  data.writeUInt32BE(ticks % 2 ** 32, 4);
  return frame('PRIV', Buffer.concat([Buffer.from(TIMESTAMP_OWNER + '\0', 'latin1'), data]));
}

/** A text frame in UTF-8 (encoding byte 3), as ID3v2.4 allows. */
export function textFrame(id: 'TIT2', text: string): Buffer {
  return frame(id, Buffer.concat([Buffer.from([3]), Buffer.from(text, 'utf8'), Buffer.from([0])]));
}

/** A whole ID3v2.4 tag: the segment's timestamp and, when known, its title. */
export function packedAudioTag(ticks: number, title: string | undefined): Buffer {
  const frames = [timestampFrame(ticks)];
  if (title) frames.push(textFrame('TIT2', title));
  return id3Tag(frames);
}

/** Frames wrapped in an ID3v2.4 tag header (no flags). */
export function id3Tag(frames: Buffer[]): Buffer {
  const body = Buffer.concat(frames);
  return Buffer.concat([Buffer.from('ID3', 'latin1'), Buffer.from([4, 0, 0]), synchsafe(body.length), body]);
}
