import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HEVC_DEFAULT_LIMIT, HevcFramer, parseHevcSps, parseHevcVps, sniffHevc } from '../../mods/filters/hevc.ts';
import {
  assertSameFrames, BitWriter, decodeErrors, feed, ffmpeg, junkNal, NO_FFMPEG, noZeros, probeFrames, splitNals,
  traceHeaders, withoutNals, writeLateJoin,
} from '../helpers/annexb.ts';
import { chop, rng } from '../helpers/random.ts';

/** An access unit delimiter: it completes the access unit before it, as the next one's start would. */
const AUD = Buffer.from([0, 0, 0, 1, 0x46, 0x01, 0x50]);
const SC = Buffer.from([0, 0, 0, 1]);
const type = (data: Buffer, at: number) => (data[at]! >> 1) & 0x3f;
const isVcl = (data: Buffer, at: number) => type(data, at) < 32;
const isIrap = (data: Buffer, at: number) => type(data, at) >= 16 && type(data, at) <= 23;
const isParameterSet = (data: Buffer, at: number) => [32, 33, 34].includes(type(data, at));
const framer = (frameBytes = 64) => new HevcFramer({ frameBytes });

/** profile_tier_level() for Main at level 3.1, with one sub-layer described in full. */
function profileTierLevel(w: BitWriter): BitWriter {
  const profile = () => w.u(2, 0).u(1, 0).u(5, 1).u(32, 0x60000000).flag(1).flag(0).flag(0).flag(1).u(43, 0).u(1, 0);
  profile().u(8, 93);
  w.flag(1).flag(1).u(14, 0); // sub-layer 0 has profile and level; reserved bits for sub-layers 1..7
  profile().u(8, 90);
  return w;
}

/** A VPS with two sub-layers, two layer sets and timing info (30 fps). */
function syntheticVps(): Buffer {
  const w = new BitWriter().u(4, 0).flag(1).flag(1).u(6, 0).u(3, 1).flag(1).u(16, 0xffff);
  profileTierLevel(w).flag(1).ue(4).ue(2).ue(0).ue(4).ue(2).ue(0);
  w.u(6, 0).ue(1).flag(1); // vps_max_layer_id, one more layer set, its layer_id_included_flag
  w.flag(1).u(32, 1).u(32, 30).flag(0).ue(0).flag(0); // timing, no POC proportionality, no HRD, no extension
  return w.nal([0x40, 0x01]);
}

/**
 * An SPS with everything that makes its length vary before the VUI: sub-layer
 * ordering, scaling lists, PCM, short-term reference picture sets (one
 * predicted from another), long-term ones; VUI timing 60000/1001.
 */
function syntheticSps(timing = true): Buffer {
  const w = new BitWriter().u(4, 0).u(3, 1).flag(1);
  profileTierLevel(w);
  w.ue(2).ue(1).ue(1920).ue(1088).flag(1).ue(0).ue(0).ue(0).ue(4); // sps_id 2, 4:2:0, cropped to 1080
  w.ue(0).ue(0).ue(4).flag(1).ue(4).ue(2).ue(0).ue(4).ue(2).ue(0); // 8-bit, POC lsb 8 bits, ordering for both sub-layers
  w.ue(0).ue(3).ue(0).ue(3).ue(1).ue(1); // block sizes 8..64, transforms 4..32
  w.flag(1).flag(1); // scaling lists, sent
  for (let sizeId = 0; sizeId < 4; sizeId++) {
    for (let matrixId = 0; matrixId < 6; matrixId += sizeId === 3 ? 3 : 1) {
      if (matrixId % 2) {
        w.flag(0).ue(0);
        continue;
      }
      w.flag(1);
      if (sizeId > 1) w.se(8);
      for (let i = 0; i < Math.min(64, 1 << (4 + (sizeId << 1))); i++) w.se([1, -1, 2, 0][i % 4]!);
    }
  }
  w.flag(1).flag(1).flag(1).u(4, 7).u(4, 7).ue(0).ue(1).flag(1); // AMP, SAO, PCM 8-bit, 8x8..16x16
  w.ue(3);
  w.ue(2).ue(1).ue(0).flag(1).ue(1).flag(1).ue(0).flag(0); // set 0: POCs -1, -3, +1
  w.flag(1).flag(1).ue(1).flag(1).flag(0).flag(1).flag(1).flag(0).flag(0); // set 1: from set 0, delta -2: -3, -5, -1
  w.flag(0).ue(1).ue(0).ue(1).flag(1); // set 2: POC -2
  w.flag(1).ue(2).u(8, 17).flag(1).u(8, 200).flag(0); // two long-term pictures
  w.flag(1).flag(1).flag(1); // temporal MVP, strong intra smoothing, VUI
  w.flag(1).u(8, 255).u(16, 4).u(16, 3).flag(1).flag(0).flag(1).u(3, 5).flag(0).flag(1).u(24, 0x010101);
  w.flag(1).ue(0).ue(0).flag(0).flag(0).flag(0).flag(1).ue(0).ue(0).ue(0).ue(0);
  if (timing) w.flag(1).u(32, 1001).u(32, 60000).flag(0).flag(0);
  else w.flag(0);
  w.flag(0).flag(0); // no bitstream restriction, no SPS extension
  return w.nal([0x42, 0x01]);
}

describe('hevc filter', { skip: NO_FFMPEG }, () => {
  let dir = '';
  /** 6 s of 320x240 at 25 fps, keyint 25 (CRA pictures with leading pictures: x265's open GOP). */
  let main: Buffer;
  /** 2 s with access unit delimiters, three slices a picture and no VUI timing. */
  let slices: Buffer;
  const others: Record<string, Buffer> = {};

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'streamserve-hevc-'));
    const src = (seconds: number) => ['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-t', String(seconds), '-pix_fmt', 'yuv420p'];
    const x265 = (seconds: number, file: string, params: string) => {
      ffmpeg([...src(seconds), '-c:v', 'libx265', '-x265-params', `keyint=25:log-level=error${params}`, '-f', 'hevc', join(dir, file)]);
      return readFileSync(join(dir, file));
    };
    main = x265(6, 'main.hevc', '');
    slices = x265(2, 'slices.hevc', ':aud=1:slices=3:vui-timing-info=0');
    ffmpeg([...src(1), '-c:v', 'libx264', '-f', 'h264', join(dir, 'x.h264')]);
    ffmpeg([...src(1), '-c:v', 'libx265', '-x265-params', 'log-level=error', '-f', 'mpegts', join(dir, 'x.ts')]);
    ffmpeg([...src(1), '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-f', 'webm', join(dir, 'x.webm')]);
    ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:a', 'libmp3lame', '-f', 'mp3', join(dir, 'x.mp3')]);
    for (const f of ['x.h264', 'x.ts', 'x.webm', 'x.mp3']) others[f] = readFileSync(join(dir, f));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('real encoder output', () => {
    it('gives the same access units however the input is chunked, and they are the input, byte for byte', () => {
      const input = Buffer.concat([main, AUD]);
      const f = framer();
      const whole = feed(f, [input]);
      assert.equal(whole.frames.length, 150, '6 s at 25 fps');
      assert.ok(Buffer.concat(whole.frames).equals(main), 'the frames are the stream');
      assert.equal(f.invalidBytes, 0);
      for (const max of [65536, 4096, 333, 7, 1]) assertSameFrames(feed(framer(), chop(input, max, max)), whole, `chunks up to ${max}`);
    });

    it('emits each access unit as one picture, starting with its start code', () => {
      const out = feed(framer(), [main, AUD]);
      for (const [i, au] of out.frames.entries()) {
        const nals = splitNals(au);
        assert.equal(nals[0]!.start, 0, `frame ${i} starts with a start code`);
        assert.equal(nals.filter((n) => isVcl(au, n.at) && au[n.at + 2]! & 0x80).length, 1, `frame ${i} holds one picture`);
      }
    });

    it('marks the IRAP access units as sync points, and only them (CRA pictures included)', () => {
      const out = feed(framer(), [main, AUD]);
      const irap = out.frames.map((au) => splitNals(au).some((n) => isIrap(au, n.at)));
      assert.deepEqual(out.syncs, irap);
      assert.ok(out.syncs.filter(Boolean).length >= 6, 'a key frame a second');
      assert.ok(out.frames.some((au, i) => out.syncs[i] && splitNals(au).some((n) => type(au, n.at) === 21)), 'CRA pictures are among them');
    });

    it('splits pictures of several slice segments with access unit delimiters', () => {
      const out = feed(framer(), chop(Buffer.concat([slices, AUD]), 500, 3));
      assert.equal(out.frames.length, 50);
      for (const au of out.frames) {
        assert.ok(au.subarray(0, 6).equals(AUD.subarray(0, 6)), 'each access unit starts with its delimiter');
        assert.equal(splitNals(au).filter((n) => isVcl(au, n.at)).length, 3, 'three slice segments');
      }
      assert.ok(Buffer.concat(out.frames).equals(slices));
    });

    it('gives durations from the VUI timing: 40 ms a frame at 25 fps, summing to the length', () => {
      const f = framer();
      const out = feed(f, [main, AUD]);
      assert.ok(out.durations.every((d) => d === 40), `durations ${[...new Set(out.durations)]}`);
      assert.equal(out.durations.reduce((a, b) => a + b, 0), 6000);
      assert.deepEqual(f.format, { name: 'hevc', codec: 'hevc', params: '320x240 Main 4:2:0 8-bit' });
      assert.equal(f.contentType, 'video/h265');
    });

    it('gives duration 0 when neither the SPS nor the VPS has timing info', () => {
      const trace = traceHeaders(join(dir, 'slices.hevc'), 'hevc');
      assert.deepEqual([trace.get('vps_timing_info_present_flag')?.[0], trace.get('vui_timing_info_present_flag')?.[0]], [0, 0]);
      const out = feed(framer(), [slices, AUD]);
      assert.ok(out.durations.every((d) => d === 0));
    });

    it('keeps the header (VPS + SPS + PPS) unchanged while the encoder repeats the same ones', () => {
      const out = feed(framer(), [main, AUD]);
      const nals = splitNals(main);
      const expected = Buffer.concat([32, 33, 34].flatMap((t) => {
        const n = nals.find((x) => type(main, x.at) === t)!;
        return [SC, main.subarray(n.at, n.end)];
      }));
      assert.ok(out.headers[0]?.equals(expected), 'header = VPS + SPS + PPS with start codes');
      assert.equal(new Set(out.headers).size, 1, 'one header object for the whole stream');
    });
  });

  describe('listeners joining', () => {
    it('from the first frame: header + every frame decodes cleanly', () => {
      const out = feed(framer(), [main, AUD]);
      const file = join(dir, 'all.hevc');
      writeFileSync(file, Buffer.concat([out.headers[0]!, ...out.frames]));
      assert.equal(decodeErrors(file, 'hevc'), '');
      assert.equal(probeFrames(file, 'hevc').count, 150);
    });

    it('late, at a sync point after 40%: decodes cleanly and starts with a key frame', () => {
      const out = feed(framer(), chop(Buffer.concat([main, AUD]), 1500, 9));
      const file = join(dir, 'late.hevc');
      const from = writeLateJoin(out, 0.4, file);
      assert.equal(decodeErrors(file, 'hevc'), '');
      const probe = probeFrames(file, 'hevc');
      assert.equal(probe.firstKey, '1');
      assert.equal(probe.firstType, 'I');
      // Leading pictures of the CRA refer to pictures before it: the decoder drops them, nothing else.
      assert.ok(probe.count > 150 - from - 10 && probe.count <= 150 - from, `${probe.count} frames decoded of ${150 - from}`);
    });

    it('late, when the encoder sent VPS/SPS/PPS only at the start: the header brings them', () => {
      let seen = 0;
      const once = withoutNals(main, (n) => isParameterSet(main, n.at) && ++seen > 3);
      assert.equal(splitNals(once).filter((n) => isParameterSet(once, n.at)).length, 3);
      const out = feed(framer(), chop(Buffer.concat([once, AUD]), 2000, 4));
      const file = join(dir, 'late-once.hevc');
      const from = writeLateJoin(out, 0.4, file);
      const au = out.frames[from]!;
      assert.ok(!splitNals(au).some((n) => isParameterSet(au, n.at)), 'the IRAP access unit has no parameter sets of its own');
      assert.equal(decodeErrors(file, 'hevc'), '');
      assert.equal(probeFrames(file, 'hevc').firstKey, '1');
      const bare = join(dir, 'late-bare.hevc');
      writeLateJoin({ ...out, headers: out.headers.map(() => Buffer.alloc(0)) }, 0.4, bare);
      assert.notEqual(decodeErrors(bare, 'hevc'), '', 'without the header the same frames do not decode');
    });
    it('marks no sync point while the VPS/SPS/PPS are unknown (joined after them, never repeated)', () => {
      let seen = 0;
      const once = withoutNals(main, (n) => isParameterSet(main, n.at) && ++seen > 3);
      const first = feed(framer(), [once, AUD]).frames[0]!.length;
      const f = framer();
      const out = feed(f, [once.subarray(first), AUD]);
      assert.equal(out.frames.length, 149);
      assert.ok(out.syncs.every((s) => !s), 'key frames, but nothing to decode them with');
      assert.equal(f.header, undefined);
    });
  });

  describe('junk', () => {
    it('skips junk before the start, between access units and inside one, counting every byte', () => {
      const clean = feed(framer(), [main, AUD]);
      const r = rng(5);
      const parts: Buffer[] = [];
      let junkBytes = 0;
      const junk = (b: Buffer) => { parts.push(b); junkBytes += b.length; };
      junk(noZeros(777, r));
      for (const [i, au] of clean.frames.entries()) {
        if (i % 10 === 3) junk(junkNal(50 + i, r));
        // A header with nuh_temporal_id_plus1 = 0 is no NAL unit either.
        if (i % 10 === 7) junk(Buffer.concat([Buffer.from([0, 0, 1, 0x02, 0x00]), noZeros(30, r)]));
        if (i === 0) {
          // Inside the first access unit, between its SPS and PPS.
          const pps = splitNals(au).find((n) => type(au, n.at) === 34)!;
          parts.push(au.subarray(0, pps.start));
          junk(junkNal(99, r));
          parts.push(au.subarray(pps.start));
        } else parts.push(au);
      }
      parts.push(AUD);
      const input = Buffer.concat(parts);
      for (const max of [input.length, 4096, 100, 3]) {
        const f = framer();
        const out = feed(f, chop(input, max, max + 1));
        assertSameFrames(out, clean, `junk, chunks up to ${max}`);
        assert.equal(f.invalidBytes, junkBytes, `chunks up to ${max}`);
      }
    });

    it('joining mid-stream: the partial access unit is invalid, the next whole one is the first frame', () => {
      const clean = feed(framer(), [main, AUD]);
      const starts: number[] = [];
      clean.frames.reduce((at, au) => (starts.push(at), at + au.length), 0);
      for (const cut of [starts[40]! + 3, starts[40]! + 6, starts[41]! - 1]) {
        const f = framer();
        const out = feed(f, chop(Buffer.concat([main.subarray(cut), AUD]), 700, cut));
        assert.equal(f.invalidBytes, starts[41]! - cut);
        assert.ok(out.frames[0]!.equals(clean.frames[41]!));
        assert.equal(out.frames.length, 150 - 41);
      }
    });
  });

  describe('hostile input', () => {
    it('never throws on the stream cut at every position, and emits only a prefix of the real frames', () => {
      const clean = feed(framer(), [main, AUD]);
      const sample = Buffer.concat(clean.frames.slice(0, 4));
      for (let cut = 0; cut <= sample.length; cut++) {
        const piece = sample.subarray(0, cut);
        const out = feed(framer(), cut % 2 ? [piece] : chop(piece, 50, cut));
        for (const [i, fr] of out.frames.entries()) assert.ok(fr.equals(clean.frames[i]!), `cut ${cut}: frame ${i}`);
      }
    });

    it('survives random bytes and random NAL units, in bounded time and memory', () => {
      const r = rng(78);
      const noise = Buffer.alloc(4 << 20);
      for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(r() * 256);
      const nals = Buffer.from(noise);
      for (let p = 0; p + 8 < nals.length; p += 16 + Math.floor(r() * 96)) {
        nals.set([0, 0, 1], p);
        nals[p + 4] = 1 + (nals[p + 4]! & 7); // mostly valid headers: base layer, some temporal id
      }
      for (const [name, input] of [['noise', noise], ['random NAL units', nals]] as const) {
        const limit = 64 * 1024;
        const f = framer(limit);
        const started = performance.now();
        const out = feed(f, chop(input, 70_000, 1));
        const ms = performance.now() - started;
        assert.ok(ms < 10_000, `${name}: ${ms} ms`);
        assert.ok(out.maxHeld <= limit + 8, `${name}: held ${out.maxHeld} bytes`);
        assert.ok(out.frames.every((fr) => fr.length <= limit), `${name}: no frame over the limit`);
        f.reset();
        const emitted = out.frames.reduce((n, fr) => n + fr.length, 0);
        assert.equal(emitted + f.invalidBytes, input.length, `${name}: every byte emitted or counted`);
      }
    });

    it('bounds an access unit that never ends, and resumes at the next one', () => {
      const clean = feed(framer(), [main, AUD]);
      const limit = 100_000;
      const f = framer(limit);
      const endless = Buffer.concat([Buffer.from([0, 0, 0, 1, 0x28, 0x01, 0xaf]), Buffer.alloc(1 << 20, 0xff)]);
      const from = clean.syncs.indexOf(true, 1);
      const input = Buffer.concat([endless, ...clean.frames.slice(from), AUD]);
      const out = feed(f, chop(input, 10_000, 2));
      assert.ok(out.maxHeld <= limit + 8, `held ${out.maxHeld}`);
      assert.equal(f.invalidBytes, endless.length);
      assertSameFrames(out, { ...clean, frames: clean.frames.slice(from), durations: clean.durations.slice(from), syncs: clean.syncs.slice(from) }, 'after the endless unit');
    });

    it('drops access units over frameBytes (counted as invalid) and keeps the smaller ones', () => {
      const clean = feed(framer(), [main, AUD]);
      const sizes = clean.frames.map((fr) => fr.length);
      const limit = 400;
      assert.ok(sizes.some((s) => s > limit) && sizes.some((s) => s <= limit), `sample sizes ${Math.min(...sizes)}..${Math.max(...sizes)}`);
      const f = framer(limit);
      const out = feed(f, chop(Buffer.concat([main, AUD]), 4096, 8));
      assert.deepEqual(out.frames, clean.frames.filter((fr) => fr.length <= limit));
      assert.equal(f.invalidBytes, sizes.filter((s) => s > limit).reduce((a, b) => a + b, 0));
      assert.equal(HEVC_DEFAULT_LIMIT, 4 << 20);
    });

    it('takes empty chunks and runs of zeros without emitting anything', () => {
      const f = framer();
      const out = feed(f, [Buffer.alloc(0), Buffer.alloc(10_000), Buffer.alloc(0), Buffer.alloc(3)]);
      assert.equal(out.frames.length, 0);
      f.reset();
      assert.equal(f.invalidBytes, 10_003);
      assert.equal(f.header, undefined);
    });

    it('survives corrupted and truncated VPS/SPS/PPS: no throw, every byte accounted for', () => {
      const au0 = feed(framer(), [main, AUD]).frames[0]!;
      const nals = splitNals(au0).filter((n) => isParameterSet(au0, n.at));
      const r = rng(3);
      for (let trial = 0; trial < 3000; trial++) {
        const victim = nals[trial % 3]!;
        const bad = Buffer.from(au0.subarray(victim.at, victim.end));
        for (let k = 0; k < 3; k++) bad[2 + Math.floor(r() * (bad.length - 2))] = Math.floor(r() * 256);
        const input = Buffer.concat([au0.subarray(0, victim.start), SC, bad.subarray(0, 2 + Math.floor(r() * bad.length)), au0.subarray(victim.end), AUD]);
        const f = framer();
        const out = feed(f, [input]);
        f.reset();
        assert.equal(out.frames.reduce((n, fr) => n + fr.length, 0) + f.invalidBytes, input.length);
        assert.ok(!f.header || f.header.subarray(0, 4).equals(SC));
      }
    });
  });

  describe('parameter sets', () => {
    it('reads VPS and SPS fields as ffmpeg does: sub-layers, scaling lists, PCM, reference picture sets, VUI timing', () => {
      const vps = parseHevcVps(syntheticVps());
      assert.deepEqual(vps.timing, { numUnitsInTick: 1, timeScale: 30 });
      const sps = parseHevcSps(syntheticSps());
      assert.deepEqual([sps.id, sps.width, sps.height, sps.profile, sps.level], [2, 1920, 1080, 1, 93]);
      assert.deepEqual(sps.timing, { numUnitsInTick: 1001, timeScale: 60000 });
      // ffmpeg's own reading of the same bits, in a stream made of them and the sample's first access unit.
      const file = join(dir, 'synthetic.hevc');
      writeFileSync(file, Buffer.concat([SC, syntheticVps(), SC, syntheticSps(), withoutNals(main.subarray(0, 4000), (n) => [32, 33].includes(type(main, n.at)))]));
      const trace = traceHeaders(file, 'hevc');
      assert.equal(trace.get('vps_time_scale')?.[0], 30);
      assert.equal(trace.get('pic_height_in_luma_samples')?.[0], 1088);
      assert.equal(trace.get('conf_win_bottom_offset')?.[0], 4);
      assert.equal(trace.get('num_short_term_ref_pic_sets')?.[0], 3);
      assert.equal(trace.get('vui_time_scale')?.[0], 60000);
      assert.equal(trace.get('sps_extension_present_flag')?.[0], 0, 'ffmpeg read to the end of the SPS as we did');
    });

    it('takes durations from the VPS when the SPS has no timing info', () => {
      const au0 = feed(framer(), [main, AUD]).frames[0]!;
      const nals = splitNals(au0);
      const slice = nals.find((n) => isVcl(au0, n.at))!;
      // The sample's PPS refers to SPS 0 and its slice to PPS 0: re-coded for the synthetic SPS 2.
      const ppsNal = new BitWriter().ue(0).ue(2).nal([0x44, 0x01]);
      const unit = Buffer.concat([SC, syntheticVps(), SC, syntheticSps(false), SC, ppsNal, au0.subarray(slice.start, slice.end)]);
      const f = framer();
      const out = feed(f, [unit, unit, AUD]);
      assert.deepEqual(out.durations, [1000 / 30, 1000 / 30]);
      assert.deepEqual(out.syncs, [true, true]);
      assert.equal(f.format?.params, '1920x1080 Main 4:2:0 8-bit');
    });
  });

  describe('sniffing', () => {
    it('recognises the stream from the start, mid-stream and after junk', () => {
      assert.ok(sniffHevc(main.subarray(0, 65536)));
      for (const at of [1, 9999, 20_001, 31_337]) assert.ok(sniffHevc(main.subarray(at, at + 65536)), `from byte ${at}`);
      assert.ok(sniffHevc(Buffer.concat([noZeros(3000, rng(1)), main]).subarray(0, 65536)), 'after junk');
      assert.ok(sniffHevc(main.subarray(0, 200)), 'the first 200 bytes (VPS, SPS, PPS)');
    });

    it('rejects H.264, MPEG-TS, WebM, mp3 and random bytes', () => {
      for (const [name, data] of Object.entries(others)) {
        assert.equal(sniffHevc(data.subarray(0, 65536)), false, name);
        assert.equal(sniffHevc(data.subarray(5000, 5000 + 65536)), false, `${name} mid-stream`);
      }
      const r = rng(9);
      const noise = Buffer.alloc(65536);
      for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(r() * 256);
      assert.equal(sniffHevc(noise), false);
      assert.equal(sniffHevc(Buffer.alloc(65536)), false, 'zeros');
    });
  });
});
