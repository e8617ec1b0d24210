/**
 * The first packet of each logical Ogg stream names its codec. From it the
 * framer learns how many header packets precede the data, what one granule
 * position unit is worth in time, and (Theora) how key frames are marked.
 */

export type OggCodec = 'opus' | 'vorbis' | 'flac' | 'speex' | 'theora' | 'skeleton';

export interface OggStreamInfo {
  /** undefined for a codec this filter does not know: its first packet is then its only header. */
  codec?: OggCodec;
  /**
   * Header packets, the first included. Infinity while unknown: FLAC with a
   * count of 0 (until a metadata block flagged last), Skeleton (until its end).
   */
  headerPackets: number;
  /** Granule units per second (samples; Theora: frames); 0 when unknown. */
  rate: number;
  channels?: number;
  /** Opus: samples at the start that are decoded but not played. */
  preSkip?: number;
  /** The most granule units one packet can stand for: a page whose granule moves further is not believed. */
  maxPerPacket: number;
  /** Theora: bits of the granule position counting frames since the last key frame. */
  granuleShift?: number;
  /** Theora picture size. */
  width?: number;
  height?: number;
}

function is(packet: Buffer, magic: string): boolean {
  return packet.length >= magic.length && packet.toString('latin1', 0, magic.length) === magic;
}

/**
 * Reads the identification header `packet` (the BOS page's first packet, or
 * as much of it as the page holds). A packet too short for its codec's fields
 * counts as an unknown codec.
 */
export function identify(packet: Buffer): OggStreamInfo {
  if (is(packet, 'OpusHead') && packet.length >= 19) {
    return { codec: 'opus', headerPackets: 2, rate: 48000, channels: packet[9]!, preSkip: packet.readUInt16LE(10), maxPerPacket: 5760 };
  }
  if (is(packet, '\x01vorbis') && packet.length >= 30) {
    // A Vorbis packet covers at most half the largest block size (2^13).
    return { codec: 'vorbis', headerPackets: 3, rate: packet.readUInt32LE(12), channels: packet[11]!, maxPerPacket: 4096 };
  }
  if (is(packet, '\x7fFLAC') && packet.length >= 30 && packet.toString('latin1', 9, 13) === 'fLaC') {
    // Mapping header, then STREAMINFO (4-byte block header, 10 bytes of sizes, then 20 bits of rate, 3 of channels - 1).
    const following = packet.readUInt16BE(7);
    const rate = (packet[27]! << 12) | (packet[28]! << 4) | (packet[29]! >> 4);
    return { codec: 'flac', headerPackets: following ? 1 + following : Infinity, rate, channels: ((packet[29]! >> 1) & 7) + 1, maxPerPacket: 65535 };
  }
  if (is(packet, 'Speex   ') && packet.length >= 72) {
    const frameSize = packet.readUInt32LE(56);
    const framesPerPacket = Math.max(1, packet.readUInt32LE(64));
    // Extra headers beyond 2^16 are no real stream; the count only bounds how long headers are collected.
    const extra = Math.min(packet.readUInt32LE(68), 0xffff);
    return {
      codec: 'speex',
      headerPackets: 2 + extra,
      rate: packet.readUInt32LE(36),
      channels: packet.readUInt32LE(48),
      maxPerPacket: Math.min(frameSize * framesPerPacket, 1 << 20),
    };
  }
  if (is(packet, '\x80theora') && packet.length >= 42) {
    const num = packet.readUInt32BE(22);
    const den = packet.readUInt32BE(26);
    return {
      codec: 'theora',
      headerPackets: 3,
      rate: num && den ? num / den : 0,
      maxPerPacket: 1,
      granuleShift: ((packet[40]! & 0x03) << 3) | (packet[41]! >> 5),
      width: packet.readUIntBE(14, 3),
      height: packet.readUIntBE(17, 3),
    };
  }
  if (is(packet, 'fishead\0')) return { codec: 'skeleton', headerPackets: Infinity, rate: 0, maxPerPacket: 0 };
  return { headerPackets: 1, rate: 0, maxPerPacket: 0 };
}

/**
 * A FLAC header packet after the first, when their count was not given: the
 * last one has its metadata block flagged last; a packet starting 0xFF is an
 * audio frame (the headers ended before it).
 */
export function flacHeaderKind(firstByte: number): 'more' | 'last' | 'audio' {
  if (firstByte === 0xff) return 'audio';
  return firstByte & 0x80 ? 'last' : 'more';
}

export function isAudio(info: OggStreamInfo): boolean {
  return info.codec === 'opus' || info.codec === 'vorbis' || info.codec === 'flac' || info.codec === 'speex';
}

/** Theora: a data packet (top bit clear) coded as an intra frame (next bit clear) is a key frame. */
export function isTheoraKeyFrame(firstByte: number): boolean {
  return (firstByte & 0xc0) === 0;
}

/**
 * The position in granule units a granule position stands for. Theora's
 * holds the last key frame's number shifted up and the frames since then.
 */
export function granuleUnits(info: OggStreamInfo, granule: number): number {
  if (info.codec !== 'theora' || !info.granuleShift) return granule;
  const scale = 2 ** info.granuleShift;
  const key = Math.floor(granule / scale);
  return key + (granule - key * scale);
}

/** "48000 Hz, 2 channels", "320x240, 25 fps": what must match for one stream to follow another. */
export function describeParams(info: OggStreamInfo): string | undefined {
  if (info.codec === 'theora') return `${info.width}x${info.height}, ${Math.round(info.rate * 1000) / 1000} fps`;
  if (isAudio(info)) return `${info.rate} Hz, ${info.channels} channel${info.channels === 1 ? '' : 's'}`;
  return undefined;
}
