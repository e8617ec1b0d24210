import { Mp3Framer } from './mp3.ts';

/**
 * Whether the first bytes of a stream are MPEG audio: the mp3 filter itself
 * finds confirmed frames in them (sync words alone occur in any data), and
 * they cover most of what is not an ID3 tag.
 */
export function sniffMp3(head: Buffer): boolean {
  const framer = new Mp3Framer({ frameBytes: 0 });
  let frames = 0;
  let bytes = 0;
  framer.push(head, (frame) => {
    frames++;
    bytes += frame.length;
  });
  return frames >= 3 && bytes >= (bytes + framer.invalidBytes) * 0.5;
}
