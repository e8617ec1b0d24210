import { frameLimit, type FramerOptions } from '../../core/contracts/frame.ts';
import {
  AnnexBFramer, CHROMA_NAMES, CONVINCING, IMPLAUSIBLE, NAL_INVALID, NAL_PARAMETER_SET, NAL_STARTS_AU, NAL_SYNC, NAL_VCL, NEED_MORE,
  NEUTRAL, PLAUSIBLE, sniffAnnexB,
} from './annexb.ts';
import { BitReader, BitstreamError, unescapeRbsp } from './bits.ts';
import { ParameterSetStore } from './parameter-sets.ts';

/** The largest access unit accepted when the operator sets no -frame-bytes: a 4K key frame at a high bitrate. */
export const H264_DEFAULT_LIMIT = 4 * 1024 * 1024;

const SLICE = 1;
const PARTITION_A = 2;
const PARTITION_B = 3;
const PARTITION_C = 4;
const IDR = 5;
const SEI = 6;
const SPS = 7;
const PPS = 8;
const AUD = 9;

/** What the framer and the sniffer need from a sequence parameter set. */
export interface H264Sps {
  id: number;
  profile: number;
  level: number;
  chromaFormat: number;
  separateColourPlanes: boolean;
  bitDepth: number;
  log2MaxFrameNum: number;
  frameMbsOnly: boolean;
  width: number;
  height: number;
  /** VUI timing: a frame lasts two ticks, a field one. 0 when the stream does not say. */
  numUnitsInTick: number;
  timeScale: number;
}

interface H264Pps {
  id: number;
  spsId: number;
}

type Kept = H264Sps | H264Pps;

// Profiles whose SPS carries chroma format, bit depths and scaling matrices (7.3.2.1.1).
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

const PROFILE_NAMES: Record<number, string> = {
  66: 'Baseline', 77: 'Main', 88: 'Extended', 100: 'High', 110: 'High 10', 122: 'High 4:2:2',
  244: 'High 4:4:4 Predictive', 44: 'CAVLC 4:4:4 Intra', 83: 'Scalable Baseline', 86: 'Scalable High',
  118: 'Multiview High', 128: 'Stereo High', 134: 'MFC High', 135: 'MFC Depth High', 138: 'Multiview Depth High',
  139: 'Enhanced Multiview Depth High',
};

/** Parses a sequence parameter set NAL unit (header byte included); throws BitstreamError on one that is cut short or absurd. */
export function parseH264Sps(nal: Buffer): H264Sps {
  const r = new BitReader(unescapeRbsp(nal.subarray(1)));
  const profile = r.u(8);
  r.skip(8); // constraint_set flags
  const level = r.u(8);
  const id = r.ueMax(31);
  let chromaFormat = 1;
  let separateColourPlanes = false;
  let bitDepth = 8;
  if (HIGH_PROFILES.has(profile)) {
    chromaFormat = r.ueMax(3);
    if (chromaFormat === 3) separateColourPlanes = r.flag();
    bitDepth = r.ueMax(6) + 8;
    r.ueMax(6); // bit_depth_chroma_minus8
    r.skip(1); // qpprime_y_zero_transform_bypass_flag
    if (r.flag()) {
      const lists = chromaFormat === 3 ? 12 : 8;
      for (let i = 0; i < lists; i++) if (r.flag()) skipScalingList(r, i < 6 ? 16 : 64);
    }
  }
  const log2MaxFrameNum = r.ueMax(12) + 4;
  const pocType = r.ueMax(2);
  if (pocType === 0) r.ueMax(12); // log2_max_pic_order_cnt_lsb_minus4
  else if (pocType === 1) {
    r.skip(1); // delta_pic_order_always_zero_flag
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const cycle = r.ueMax(255);
    for (let i = 0; i < cycle; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.skip(1); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ueMax(1 << 12) + 1;
  const heightMapUnits = r.ueMax(1 << 12) + 1;
  const frameMbsOnly = r.flag();
  if (!frameMbsOnly) r.skip(1); // mb_adaptive_frame_field_flag
  r.skip(1); // direct_8x8_inference_flag
  let width = widthMbs * 16;
  let height = (frameMbsOnly ? 1 : 2) * heightMapUnits * 16;
  if (r.flag()) {
    // Cropping is counted in chroma samples, and in field pairs when pictures may be fields.
    const chromaArray = separateColourPlanes ? 0 : chromaFormat;
    const cropX = chromaArray === 1 || chromaArray === 2 ? 2 : 1;
    const cropY = (chromaArray === 1 ? 2 : 1) * (frameMbsOnly ? 1 : 2);
    width -= cropX * (r.ue() + r.ue());
    height -= cropY * (r.ue() + r.ue());
    if (width <= 0 || height <= 0) throw new BitstreamError('cropped away the whole picture');
  }
  let numUnitsInTick = 0;
  let timeScale = 0;
  if (r.flag()) {
    if (r.flag() && r.u(8) === 255) r.skip(32); // aspect ratio, extended SAR
    if (r.flag()) r.skip(1); // overscan
    if (r.flag()) {
      r.skip(4); // video_format, video_full_range_flag
      if (r.flag()) r.skip(24); // colour primaries, transfer, matrix
    }
    if (r.flag()) {
      r.ue(); // chroma_sample_loc_type_top_field
      r.ue(); // chroma_sample_loc_type_bottom_field
    }
    if (r.flag()) {
      numUnitsInTick = r.u(32);
      timeScale = r.u(32);
      if (!numUnitsInTick || !timeScale) numUnitsInTick = timeScale = 0;
    }
  }
  return { id, profile, level, chromaFormat, separateColourPlanes, bitDepth, log2MaxFrameNum, frameMbsOnly, width, height, numUnitsInTick, timeScale };
}

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

function parsePps(nal: Buffer): H264Pps {
  const r = new BitReader(unescapeRbsp(nal.subarray(1)));
  const id = r.ueMax(255);
  return { id, spsId: r.ueMax(31) };
}

/** `320x240 High 4:2:0 8-bit`: what must match for one stream to follow another. */
export function h264Params(sps: H264Sps): string {
  const profile = PROFILE_NAMES[sps.profile] ?? `profile ${sps.profile}`;
  return `${sps.width}x${sps.height} ${profile} ${CHROMA_NAMES[sps.chromaFormat]} ${sps.bitDepth}-bit`;
}

/**
 * H.264 Annex B elementary streams (`-f h264` in ffmpeg), cut into access
 * units: a new one starts at an access unit delimiter, or at an SPS, PPS or
 * SEI, or a slice with first_mb_in_slice 0, that follows a slice. IDR access
 * units are the sync points (a recovery point SEI is not trusted: frames
 * after it may still refer to pictures before it). The header is the last
 * SPS and PPS of every id seen, so a listener joining at an IDR can decode
 * even when the encoder sent them only at the start. Durations come from the
 * SPS's VUI timing (two ticks a frame, one a field picture), else 0.
 */
export class H264Framer extends AnnexBFramer {
  readonly contentType = 'video/h264';
  private readonly sets = new ParameterSetStore<Kept>(2);

  constructor(options: FramerOptions) {
    super(frameLimit(options, H264_DEFAULT_LIMIT));
  }

  get header(): Buffer | undefined {
    return this.sets.header();
  }

  protected classify(data: Buffer, at: number, avail: number): number {
    if (avail < 1) return NEED_MORE;
    const h = data[at]!;
    // A zero header byte is where an empty unit's next start code begins, not a unit.
    if (h & 0x80 || h === 0) return NAL_INVALID;
    const type = h & 0x1f;
    switch (type) {
      case SLICE:
      case PARTITION_A:
      case IDR: {
        if (avail < 2) return NEED_MORE;
        // first_mb_in_slice is the first field, ue(v): 0 is the single bit 1.
        const first = data[at + 1]! & 0x80 ? NAL_STARTS_AU : 0;
        return NAL_VCL | first | (type === IDR ? NAL_SYNC : 0);
      }
      case PARTITION_B:
      case PARTITION_C:
        return NAL_VCL;
      case SPS:
      case PPS:
        return NAL_STARTS_AU | NAL_PARAMETER_SET;
      case SEI:
      case AUD:
      case 14: // prefix NAL unit (SVC)
      case 15: // subset SPS (SVC, MVC)
      case 16:
      case 17:
      case 18:
        return NAL_STARTS_AU;
      default:
        return 0;
    }
  }

  protected parameterSet(nal: Buffer): void {
    try {
      if ((nal[0]! & 0x1f) === SPS) {
        const sps = parseH264Sps(nal);
        this.sets.put(0, sps.id, -1, nal, sps);
        const params = h264Params(sps);
        if (this.format?.params !== params) this.format = { name: 'h264', codec: 'h264', params };
      } else {
        const pps = parsePps(nal);
        this.sets.put(1, pps.id, pps.spsId, nal, pps);
      }
    } catch (err) {
      // A parameter set that does not parse is not kept: no decoder could use it either.
      if (!(err instanceof BitstreamError)) throw err;
    }
  }

  protected accessUnit(au: Buffer, sliceAt: number): number {
    this.format ??= { name: 'h264', codec: 'h264' };
    if (sliceAt < 0) return -1;
    try {
      // The slice header fields up to field_pic_flag fit in a few bytes; 64 leave room for emulation prevention.
      const r = new BitReader(unescapeRbsp(au.subarray(sliceAt + 1, sliceAt + 64)));
      r.ue(); // first_mb_in_slice
      r.ueMax(9); // slice_type
      const pps = this.sets.get(1, r.ueMax(255))?.info as H264Pps | undefined;
      const sps = pps && (this.sets.get(0, pps.spsId)?.info as H264Sps | undefined);
      if (!sps) return -1;
      if (!sps.timeScale) return 0;
      if (sps.separateColourPlanes) r.skip(2);
      r.skip(sps.log2MaxFrameNum);
      const field = !sps.frameMbsOnly && r.flag();
      return ((field ? 1 : 2) * sps.numUnitsInTick * 1000) / sps.timeScale;
    } catch (err) {
      if (!(err instanceof BitstreamError)) throw err;
      return -1;
    }
  }
}

/**
 * Whether `head` looks like an H.264 Annex B stream: start codes followed by
 * NAL headers whose type and nal_ref_idc agree (an SPS or IDR is a reference,
 * an SEI or delimiter never is), with no reserved types. HEVC's NAL headers
 * mostly land on reserved or contradictory H.264 ones, which keeps the two apart.
 */
export function sniffH264(head: Buffer): boolean {
  return sniffAnnexB(head, judgeH264);
}

function judgeH264(data: Buffer, at: number, end: number, whole: boolean): number {
  if (at >= end) return whole ? IMPLAUSIBLE : NEUTRAL;
  const h = data[at]!;
  if (h & 0x80) return IMPLAUSIBLE;
  const ref = h >> 5;
  switch (h & 0x1f) {
    case SLICE:
      return PLAUSIBLE;
    case IDR:
      return ref ? PLAUSIBLE : IMPLAUSIBLE;
    case SPS: {
      if (!ref) return IMPLAUSIBLE;
      try {
        const sps = parseH264Sps(data.subarray(at, end));
        return PROFILE_NAMES[sps.profile] && sps.width <= 16384 && sps.height <= 16384 ? CONVINCING : IMPLAUSIBLE;
      } catch {
        return whole ? IMPLAUSIBLE : NEUTRAL;
      }
    }
    case PPS:
      return ref ? PLAUSIBLE : IMPLAUSIBLE;
    case AUD:
      // primary_pic_type (3 bits) and the stop bit: nothing else fits in the byte.
      if (ref) return IMPLAUSIBLE;
      return at + 1 >= end ? NEUTRAL : (data[at + 1]! & 0x1f) === 0x10 ? PLAUSIBLE : IMPLAUSIBLE;
    case SEI:
    case 10:
    case 11:
    case 12:
      return ref ? IMPLAUSIBLE : PLAUSIBLE;
    case PARTITION_A:
    case PARTITION_B:
    case PARTITION_C:
    case 13:
    case 14:
    case 15:
    case 19:
    case 20:
      // Legal but rare (Extended profile, SVC, MVC, auxiliary pictures): no evidence either way.
      return NEUTRAL;
    default:
      return IMPLAUSIBLE;
  }
}
