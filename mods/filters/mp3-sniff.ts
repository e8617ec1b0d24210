import { Mp3Framer } from './mp3.ts';

/** An ID3v2 tag header: "ID3", version 2–4, a revision, flags, four syncsafe size bytes. */
function id3Size(head: Buffer): number {
  if (head.length < 10 || head.toString('latin1', 0, 3) !== 'ID3' || head[3]! < 2 || head[3]! > 4) return -1;
  for (let i = 6; i < 10; i++) if (head[i]! >= 0x80) return -1;
  return 10 + ((head[6]! << 21) | (head[7]! << 14) | (head[8]! << 7) | head[9]!);
}

/**
 * Whether the first bytes of a stream are MPEG audio: the mp3 filter itself
 * finds confirmed frames in them (sync words alone occur in any data), and
 * they cover most of what is not an ID3 tag. A stream that opens with an ID3
 * tag larger than what was seen (cover art) is taken for MPEG audio too.
 */
export function sniffMp3(head: Buffer): boolean {
  const tag = id3Size(head);
  if (tag > head.length) return true;
  const framer = new Mp3Framer({ frameBytes: 0 });
  let frames = 0;
  let bytes = 0;
  framer.push(head, (frame) => {
    frames++;
    bytes += frame.length;
  });
  return frames >= 3 && bytes >= (bytes + framer.invalidBytes) * 0.5;
}
