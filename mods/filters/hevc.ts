import { frameLimit, type FramerOptions } from '../../core/contracts/frame.ts';
import {
  AnnexBFramer, CHROMA_NAMES, CONVINCING, IMPLAUSIBLE, NAL_INVALID, NAL_PARAMETER_SET, NAL_STARTS_AU, NAL_SYNC, NAL_VCL, NEED_MORE,
  NEUTRAL, PLAUSIBLE, sniffAnnexB,
} from './annexb.ts';
import { BitReader, BitstreamError, unescapeRbsp } from './bits.ts';
import { ParameterSetStore } from './parameter-sets.ts';

/** The largest access unit accepted when the operator sets no -frame-bytes. */
export const HEVC_DEFAULT_LIMIT = 4 * 1024 * 1024;

const VPS = 32;
const SPS = 33;
const PPS = 34;
const AUD = 35;
const EOS = 36;
const EOB = 37;
const PREFIX_SEI = 39;
/** IRAP pictures (BLA, IDR, CRA and the two reserved IRAP types): a decoder can start at them. */
const IRAP_FIRST = 16;
const IRAP_LAST = 23;

/** VUI or VPS timing: a picture lasts `numUnitsInTick / timeScale` s. */
interface Timing {
  numUnitsInTick: number;
  timeScale: number;
}

interface HevcVps {
  kind: 'vps';
  id: number;
  timing?: Timing;
}

export interface HevcSps {
  kind: 'sps';
  id: number;
  vpsId: number;
  profile: number;
  tier: number;
  level: number;
  chromaFormat: number;
  bitDepth: number;
  width: number;
  height: number;
  timing?: Timing;
}

interface HevcPps {
  kind: 'pps';
  id: number;
  spsId: number;
}

type Kept = HevcVps | HevcSps | HevcPps;

const PROFILE_NAMES: Record<number, string> = {
  1: 'Main', 2: 'Main 10', 3: 'Main Still Picture', 4: 'Range Extensions', 5: 'High Throughput', 9: 'Screen Content',
};

/** The RBSP of a parameter set: the payload after the two-byte NAL header. */
function rbsp(nal: Buffer): BitReader {
  return new BitReader(unescapeRbsp(nal.subarray(2)));
}

/** profile_tier_level(1, maxSubLayersMinus1) (7.3.3): the general profile, tier and level; sub-layers skipped. */
function profileTierLevel(r: BitReader, maxSubLayersMinus1: number): { profile: number; tier: number; level: number } {
  r.skip(2); // general_profile_space
  const tier = r.u(1);
  const profile = r.u(5);
  r.skip(32 + 4 + 43 + 1); // compatibility flags, source flags, constraint flags, inbld/reserved
  const level = r.u(8);
  const present: [boolean, boolean][] = [];
  for (let i = 0; i < maxSubLayersMinus1; i++) present.push([r.flag(), r.flag()]);
  if (maxSubLayersMinus1 > 0) r.skip(2 * (8 - maxSubLayersMinus1));
  for (const [profilePresent, levelPresent] of present) {
    if (profilePresent) r.skip(88);
    if (levelPresent) r.skip(8);
  }
  return { profile, tier, level };
}

function subLayerOrdering(r: BitReader, maxSubLayersMinus1: number): void {
  const all = r.flag();
  for (let i = all ? 0 : maxSubLayersMinus1; i <= maxSubLayersMinus1; i++) {
    r.ue(); // max_dec_pic_buffering_minus1
    r.ue(); // max_num_reorder_pics
    r.ue(); // max_latency_increase_plus1
  }
}

function timing(r: BitReader): Timing | undefined {
  const numUnitsInTick = r.u(32);
  const timeScale = r.u(32);
  return numUnitsInTick && timeScale ? { numUnitsInTick, timeScale } : undefined;
}

/** Parses a VPS as far as its timing info (7.3.2.1). */
export function parseHevcVps(nal: Buffer): HevcVps {
  const r = rbsp(nal);
  const id = r.u(4);
  r.skip(2 + 6); // base layer flags, vps_max_layers_minus1
  const maxSubLayersMinus1 = r.u(3);
  if (maxSubLayersMinus1 > 6) throw new BitstreamError('more than 7 sub-layers');
  r.skip(1 + 16); // temporal id nesting, reserved 0xffff
  profileTierLevel(r, maxSubLayersMinus1);
  subLayerOrdering(r, maxSubLayersMinus1);
  const maxLayerId = r.u(6);
  const layerSets = r.ueMax(1023);
  r.skip(layerSets * (maxLayerId + 1)); // layer_id_included_flag
  return { kind: 'vps', id, timing: r.flag() ? timing(r) : undefined };
}

/** Parses an SPS as far as its VUI timing info (7.3.2.2, E.2.1). */
export function parseHevcSps(nal: Buffer): HevcSps {
  const r = rbsp(nal);
  const vpsId = r.u(4);
  const maxSubLayersMinus1 = r.u(3);
  if (maxSubLayersMinus1 > 6) throw new BitstreamError('more than 7 sub-layers');
  r.skip(1); // sps_temporal_id_nesting_flag
  const { profile, tier, level } = profileTierLevel(r, maxSubLayersMinus1);
  const id = r.ueMax(15);
  const chromaFormat = r.ueMax(3);
  const separateColourPlanes = chromaFormat === 3 && r.flag();
  let width = r.ueMax(1 << 16);
  let height = r.ueMax(1 << 16);
  if (r.flag()) {
    // The conformance window is counted in chroma samples.
    const chromaArray = separateColourPlanes ? 0 : chromaFormat;
    const subWidth = chromaArray === 1 || chromaArray === 2 ? 2 : 1;
    const subHeight = chromaArray === 1 ? 2 : 1;
    width -= subWidth * (r.ue() + r.ue());
    height -= subHeight * (r.ue() + r.ue());
  }
  if (width <= 0 || height <= 0) throw new BitstreamError('no picture left');
  const bitDepth = r.ueMax(8) + 8;
  r.ueMax(8); // bit_depth_chroma_minus8
  const log2MaxPocLsb = r.ueMax(12) + 4;
  subLayerOrdering(r, maxSubLayersMinus1);
  for (let i = 0; i < 6; i++) r.ue(); // coding and transform block sizes, transform hierarchy depths
  if (r.flag() && r.flag()) skipScalingListData(r); // scaling_list_enabled_flag, sps_scaling_list_data_present_flag
  r.skip(2); // amp_enabled_flag, sample_adaptive_offset_enabled_flag
  if (r.flag()) {
    r.skip(8); // pcm sample bit depths
    r.ue(); // log2_min_pcm_luma_coding_block_size_minus3
    r.ue(); // log2_diff_max_min_pcm_luma_coding_block_size
    r.skip(1); // pcm_loop_filter_disabled_flag
  }
  const sets = r.ueMax(64);
  const deltaPocs: number[] = [];
  for (let i = 0; i < sets; i++) deltaPocs.push(shortTermRefPicSet(r, i, deltaPocs));
  if (r.flag()) {
    const longTerm = r.ueMax(32);
    r.skip(longTerm * (log2MaxPocLsb + 1)); // lt_ref_pic_poc_lsb_sps, used_by_curr_pic_lt_sps_flag
  }
  r.skip(2); // sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag
  const sps: HevcSps = { kind: 'sps', id, vpsId, profile, tier, level, chromaFormat, bitDepth, width, height };
  if (r.flag()) sps.timing = vuiTiming(r);
  return sps;
}

/** scaling_list_data() (7.3.4): only skipped. */
function skipScalingListData(r: BitReader): void {
  for (let sizeId = 0; sizeId < 4; sizeId++) {
    for (let matrixId = 0; matrixId < 6; matrixId += sizeId === 3 ? 3 : 1) {
      if (!r.flag()) {
        r.ue(); // scaling_list_pred_matrix_id_delta
        continue;
      }
      if (sizeId > 1) r.se(); // scaling_list_dc_coef_minus8
      const coefs = Math.min(64, 1 << (4 + (sizeId << 1)));
      for (let i = 0; i < coefs; i++) r.se();
    }
  }
}

/**
 * st_ref_pic_set(idx) in an SPS (7.3.7): skipped, but a set may be predicted
 * from the one before it, whose number of pictures must be known: returns this one's.
 */
function shortTermRefPicSet(r: BitReader, idx: number, deltaPocs: number[]): number {
  if (idx > 0 && r.flag()) {
    // Predicted from set idx - 1 (delta_idx_minus1 is only coded in slice headers).
    r.skip(1); // delta_rps_sign
    r.ue(); // abs_delta_rps_minus1
    let count = 0;
    for (let j = 0; j <= deltaPocs[idx - 1]!; j++) {
      const used = r.flag();
      if (used || r.flag()) count++; // used_by_curr_pic_flag, else use_delta_flag
    }
    return count;
  }
  const negative = r.ueMax(16);
  const positive = r.ueMax(16);
  for (let i = 0; i < negative + positive; i++) {
    r.ue(); // delta_poc_s0/s1_minus1
    r.skip(1); // used_by_curr_pic_s0/s1_flag
  }
  return negative + positive;
}

/** vui_parameters() (E.2.1) as far as the timing info. */
function vuiTiming(r: BitReader): Timing | undefined {
  if (r.flag() && r.u(8) === 255) r.skip(32); // aspect ratio, extended SAR
  if (r.flag()) r.skip(1); // overscan
  if (r.flag()) {
    r.skip(4); // video_format, video_full_range_flag
    if (r.flag()) r.skip(24); // colour description
  }
  if (r.flag()) {
    r.ue(); // chroma_sample_loc_type_top_field
    r.ue(); // chroma_sample_loc_type_bottom_field
  }
  r.skip(3); // neutral_chroma_indication_flag, field_seq_flag, frame_field_info_present_flag
  if (r.flag()) for (let i = 0; i < 4; i++) r.ue(); // default display window
  return r.flag() ? timing(r) : undefined;
}

function parsePps(nal: Buffer): HevcPps {
  const r = rbsp(nal);
  const id = r.ueMax(63);
  return { kind: 'pps', id, spsId: r.ueMax(15) };
}

/** `320x240 Main 4:2:0 8-bit`: what must match for one stream to follow another. */
export function hevcParams(sps: HevcSps): string {
  const profile = PROFILE_NAMES[sps.profile] ?? `profile ${sps.profile}`;
  return `${sps.width}x${sps.height} ${profile} ${CHROMA_NAMES[sps.chromaFormat]} ${sps.bitDepth}-bit`;
}

function nalType(h0: number): number {
  return (h0 >> 1) & 0x3f;
}

function layerId(h0: number, h1: number): number {
  return ((h0 & 1) << 5) | (h1 >> 3);
}

/**
 * HEVC (H.265) Annex B elementary streams (`-f hevc` in ffmpeg), cut into
 * access units: a new one starts at an access unit delimiter, a VPS, SPS,
 * PPS or prefix SEI, or a slice segment with first_slice_segment_in_pic_flag,
 * that follows a slice (of the base layer; other layers' units belong to the
 * base picture's access unit). IRAP pictures (IDR, CRA, BLA) are the sync
 * points: a decoder starting at a CRA drops the leading pictures that refer to
 * pictures before it, as it must. The header is the last VPS, SPS and PPS of
 * every id seen. Durations come from the SPS's VUI timing, else the VPS's, else 0.
 */
export class HevcFramer extends AnnexBFramer {
  readonly contentType = 'video/h265';
  private readonly sets = new ParameterSetStore<Kept>(3);

  constructor(options: FramerOptions) {
    super(frameLimit(options, HEVC_DEFAULT_LIMIT));
  }

  get header(): Buffer | undefined {
    return this.sets.header();
  }

  protected classify(data: Buffer, at: number, avail: number): number {
    if (avail < 2) return NEED_MORE;
    const h0 = data[at]!;
    const h1 = data[at + 1]!;
    // nuh_temporal_id_plus1 is never 0; a zero there is also where the next start code of an empty unit begins.
    if (h0 & 0x80 || (h1 & 7) === 0) return NAL_INVALID;
    const type = nalType(h0);
    const baseLayer = layerId(h0, h1) === 0;
    if (type < 32) {
      if (avail < 3) return NEED_MORE;
      if (!baseLayer) return NAL_VCL;
      const first = data[at + 2]! & 0x80 ? NAL_STARTS_AU : 0;
      return NAL_VCL | first | (type >= IRAP_FIRST && type <= IRAP_LAST ? NAL_SYNC : 0);
    }
    if (!baseLayer) return 0;
    if (type === VPS || type === SPS || type === PPS) return NAL_STARTS_AU | NAL_PARAMETER_SET;
    if (type === AUD || type === PREFIX_SEI || (type >= 41 && type <= 44) || (type >= 48 && type <= 55)) return NAL_STARTS_AU;
    return 0;
  }

  protected parameterSet(nal: Buffer): void {
    try {
      if (nal.length < 2) return;
      const type = nalType(nal[0]!);
      if (type === VPS) {
        const vps = parseHevcVps(nal);
        this.sets.put(0, vps.id, -1, nal, vps);
      } else if (type === SPS) {
        const sps = parseHevcSps(nal);
        this.sets.put(1, sps.id, sps.vpsId, nal, sps);
        const params = hevcParams(sps);
        if (this.format?.params !== params) this.format = { name: 'hevc', codec: 'hevc', params };
      } else {
        const pps = parsePps(nal);
        this.sets.put(2, pps.id, pps.spsId, nal, pps);
      }
    } catch (err) {
      // A parameter set that does not parse is not kept: no decoder could use it either.
      if (!(err instanceof BitstreamError)) throw err;
    }
  }

  protected accessUnit(au: Buffer, sliceAt: number): number {
    this.format ??= { name: 'hevc', codec: 'hevc' };
    if (sliceAt < 0) return -1;
    try {
      const type = nalType(au[sliceAt]!);
      const r = new BitReader(unescapeRbsp(au.subarray(sliceAt + 2, sliceAt + 16)));
      r.skip(1); // first_slice_segment_in_pic_flag
      if (type >= IRAP_FIRST && type <= IRAP_LAST) r.skip(1); // no_output_of_prior_pics_flag
      const pps = this.sets.get(2, r.ueMax(63))?.info as HevcPps | undefined;
      const sps = pps && (this.sets.get(1, pps.spsId)?.info as HevcSps | undefined);
      const vps = sps && (this.sets.get(0, sps.vpsId)?.info as HevcVps | undefined);
      if (!vps) return -1;
      const t = sps.timing ?? vps.timing;
      return t ? (t.numUnitsInTick * 1000) / t.timeScale : 0;
    } catch (err) {
      if (!(err instanceof BitstreamError)) throw err;
      return -1;
    }
  }
}

/**
 * Whether `head` looks like an HEVC Annex B stream: start codes followed by
 * two-byte NAL headers of the base layer, with a temporal id where the type
 * needs one (0 for IRAP pictures and parameter sets) and no reserved types.
 * H.264's NAL headers read this way mostly name reserved types or other layers.
 */
export function sniffHevc(head: Buffer): boolean {
  return sniffAnnexB(head, judgeHevc);
}

function judgeHevc(data: Buffer, at: number, end: number, whole: boolean): number {
  if (end - at < 2) return whole ? IMPLAUSIBLE : NEUTRAL;
  const h0 = data[at]!;
  const h1 = data[at + 1]!;
  const tid = (h1 & 7) - 1;
  if (h0 & 0x80 || tid < 0 || layerId(h0, h1) !== 0) return IMPLAUSIBLE;
  const type = nalType(h0);
  if (type <= 9) return PLAUSIBLE;
  if (type >= IRAP_FIRST && type <= 21) return tid === 0 ? PLAUSIBLE : IMPLAUSIBLE;
  switch (type) {
    case VPS:
    case SPS:
      if (tid !== 0) return IMPLAUSIBLE;
      try {
        if (type === VPS) parseHevcVps(data.subarray(at, end));
        else {
          const sps = parseHevcSps(data.subarray(at, end));
          if (!PROFILE_NAMES[sps.profile] || sps.width > 16888 || sps.height > 16888) return IMPLAUSIBLE;
        }
        return CONVINCING;
      } catch {
        return whole ? IMPLAUSIBLE : NEUTRAL;
      }
    case EOS:
    case EOB:
      return tid === 0 ? PLAUSIBLE : IMPLAUSIBLE;
    case PPS:
    case AUD:
    case 38: // filler data
    case PREFIX_SEI:
    case 40: // suffix SEI
      return PLAUSIBLE;
    default:
      return IMPLAUSIBLE;
  }
}
