import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { H264_DEFAULT_LIMIT, H264Framer, parseH264Sps, sniffH264 } from '../../mods/filters/h264.ts';
import {
  assertSameFrames, BitWriter, decodeErrors, feed, ffmpeg, junkNal, NO_FFMPEG, noZeros, probeFrames, splitNals,
  traceHeaders, withoutNals, writeLateJoin,
} from '../helpers/annexb.ts';
import { chop, rng } from '../helpers/random.ts';

/** An access unit delimiter: it completes the access unit before it, as the next one's start would. */
const AUD = Buffer.from([0, 0, 0, 1, 0x09, 0xf0]);
const type = (data: Buffer, at: number) => data[at]! & 0x1f;
const framer = (frameBytes = 64) => new H264Framer({ frameBytes });

describe('h264 filter', { skip: NO_FFMPEG }, () => {
  let dir = '';
  /** 6 s of 320x240 at 25 fps, a key frame a second, B-frames (x264's defaults), as ffmpeg writes it. */
  let main: Buffer;
  let slices: Buffer;
  let interlaced: Buffer;
  const others: Record<string, Buffer> = {};

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'streamserve-h264-'));
    const src = (seconds: number) => ['-f', 'lavfi', '-i', `testsrc=size=320x240:rate=25`, '-t', String(seconds), '-pix_fmt', 'yuv420p'];
    const x264 = (seconds: number, file: string, ...extra: string[]) => {
      ffmpeg([...src(seconds), '-c:v', 'libx264', '-g', '25', ...extra, '-bsf:v', 'h264_mp4toannexb', '-f', 'h264', join(dir, file)]);
      return readFileSync(join(dir, file));
    };
    main = x264(6, 'main.h264');
    slices = x264(2, 'slices.h264', '-x264-params', 'slices=4:aud=1');
    interlaced = x264(2, 'interlaced.h264', '-flags', '+ildct+ilme');
    ffmpeg([...src(1), '-c:v', 'libx265', '-x265-params', 'keyint=25:log-level=error', '-f', 'hevc', join(dir, 'x.hevc')]);
    ffmpeg([...src(1), '-c:v', 'libx264', '-f', 'mpegts', join(dir, 'x.ts')]);
    ffmpeg([...src(1), '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-f', 'webm', join(dir, 'x.webm')]);
    ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:a', 'libmp3lame', '-f', 'mp3', join(dir, 'x.mp3')]);
    for (const f of ['x.hevc', 'x.ts', 'x.webm', 'x.mp3']) others[f] = readFileSync(join(dir, f));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('real encoder output', () => {
    it('gives the same access units however the input is chunked, and they are the input, byte for byte', () => {
      const input = Buffer.concat([main, AUD]);
      const whole = feed(framer(), [input]);
      assert.equal(whole.frames.length, 150, '6 s at 25 fps');
      assert.ok(Buffer.concat(whole.frames).equals(main), 'the frames are the stream');
      for (const max of [65536, 4096, 333, 7, 1]) assertSameFrames(feed(framer(), chop(input, max, max)), whole, `chunks up to ${max}`);
      const f = framer();
      feed(f, [input]);
      assert.equal(f.invalidBytes, 0);
    });

    it('emits access units lying inside one chunk as views of it, copies only those across chunks', () => {
      const input = Buffer.concat([main, AUD]);
      const views: Buffer[] = [];
      framer().push(input, (fr) => views.push(fr));
      assert.equal(views.length, 150);
      assert.ok(views.every((v) => v.buffer === input.buffer));
      const halves = [input.subarray(0, 20_000), input.subarray(20_000)];
      const seen: Buffer[] = [];
      const f = framer();
      for (const h of halves) f.push(h, (fr) => seen.push(fr));
      assert.equal(seen.filter((v) => v.buffer === input.buffer).length, 149, 'all but the one across the cut');
    });

    it('emits each access unit as one picture, starting with its start code', () => {
      const out = feed(framer(), [main, AUD]);
      for (const [i, au] of out.frames.entries()) {
        const nals = splitNals(au);
        assert.equal(nals[0]!.start, 0, `frame ${i} starts with a start code`);
        const firstSlices = nals.filter((n) => [1, 5].includes(type(au, n.at)) && au[n.at + 1]! & 0x80);
        assert.equal(firstSlices.length, 1, `frame ${i} holds one picture`);
      }
    });

    it('marks the IDR access units as sync points, every 25 frames, and only them', () => {
      const out = feed(framer(), [main, AUD]);
      const idr = out.frames.map((au) => splitNals(au).some((n) => type(au, n.at) === 5));
      assert.deepEqual(out.syncs, idr);
      assert.deepEqual(out.syncs.flatMap((s, i) => (s ? [i] : [])), [0, 25, 50, 75, 100, 125]);
    });

    it('splits pictures of several slices with access unit delimiters', () => {
      const out = feed(framer(), chop(Buffer.concat([slices, AUD]), 500, 3));
      assert.equal(out.frames.length, 50);
      for (const au of out.frames) {
        assert.ok(au.subarray(0, 5).equals(AUD.subarray(0, 5)), 'each access unit starts with its delimiter');
        assert.equal(splitNals(au).filter((n) => [1, 5].includes(type(au, n.at))).length, 4, 'four slices');
      }
      assert.ok(Buffer.concat(out.frames).equals(slices));
    });

    it('gives durations from the VUI timing: 40 ms a frame at 25 fps, summing to the length', () => {
      const f = framer();
      const out = feed(f, [main, AUD]);
      assert.ok(out.durations.every((d) => d === 40), `durations ${[...new Set(out.durations)]}`);
      assert.equal(out.durations.reduce((a, b) => a + b, 0), 6000);
      assert.deepEqual(f.format, { name: 'h264', codec: 'h264', params: '320x240 High 4:2:0 8-bit' });
      assert.equal(f.contentType, 'video/h264');
    });

    it('reads interlaced (MBAFF) streams: size in frames, 40 ms per frame', () => {
      const f = framer();
      const out = feed(f, [interlaced, AUD]);
      assert.equal(out.frames.length, 50);
      assert.ok(out.durations.every((d) => d === 40), `durations ${[...new Set(out.durations)]}`);
      assert.equal(f.format?.params, '320x240 High 4:2:0 8-bit');
      assert.equal(traceHeaders(join(dir, 'interlaced.h264'), 'h264').get('frame_mbs_only_flag')?.[0], 0, 'the sample is interlaced');
    });

    it('keeps the header (SPS + PPS) unchanged while the encoder repeats the same ones', () => {
      const out = feed(framer(), [main, AUD]);
      const nals = splitNals(main);
      const sps = nals.find((n) => type(main, n.at) === 7)!;
      const pps = nals.find((n) => type(main, n.at) === 8)!;
      const expected = Buffer.concat([Buffer.from([0, 0, 0, 1]), main.subarray(sps.at, sps.end), Buffer.from([0, 0, 0, 1]), main.subarray(pps.at, pps.end)]);
      assert.ok(out.headers[0]?.equals(expected), 'header = SPS + PPS with start codes');
      assert.equal(new Set(out.headers).size, 1, 'one header object for the whole stream');
      assert.ok(nals.filter((n) => type(main, n.at) === 7).length > 1, 'x264 repeats the SPS at each IDR here');
    });
  });

  describe('listeners joining', () => {
    it('from the first frame: header + every frame decodes cleanly', () => {
      const out = feed(framer(), [main, AUD]);
      const file = join(dir, 'all.h264');
      writeFileSync(file, Buffer.concat([out.headers[0]!, ...out.frames]));
      assert.equal(decodeErrors(file, 'h264'), '');
      assert.equal(probeFrames(file, 'h264').count, 150);
    });

    it('late, at a sync point after 40%: decodes cleanly and starts with a key frame', () => {
      const out = feed(framer(), chop(Buffer.concat([main, AUD]), 1500, 9));
      const file = join(dir, 'late.h264');
      const from = writeLateJoin(out, 0.4, file);
      assert.equal(from, 75);
      assert.equal(decodeErrors(file, 'h264'), '');
      const probe = probeFrames(file, 'h264');
      assert.equal(probe.firstKey, '1');
      assert.equal(probe.firstType, 'I');
      assert.equal(probe.count, 150 - from, 'every frame from the sync point decodes');
    });

    it('late, when the encoder sent SPS/PPS only at the start: the header brings them', () => {
      // As x264 does with repeat-headers=0 into a container with global headers, re-muxed to Annex B.
      let seen = 0;
      const once = withoutNals(main, (n) => [7, 8].includes(type(main, n.at)) && ++seen > 2);
      assert.equal(splitNals(once).filter((n) => [7, 8].includes(type(once, n.at))).length, 2);
      const out = feed(framer(), chop(Buffer.concat([once, AUD]), 2000, 4));
      const file = join(dir, 'late-once.h264');
      const from = writeLateJoin(out, 0.4, file);
      const au = out.frames[from]!;
      assert.ok(!splitNals(au).some((n) => [7, 8].includes(type(au, n.at))), 'the IDR access unit has no SPS/PPS of its own');
      assert.equal(decodeErrors(file, 'h264'), '');
      assert.equal(probeFrames(file, 'h264').firstKey, '1');
      const bare = join(dir, 'late-bare.h264');
      writeLateJoin({ ...out, headers: out.headers.map(() => Buffer.alloc(0)) }, 0.4, bare);
      assert.notEqual(decodeErrors(bare, 'h264'), '', 'without the header the same frames do not decode');
    });
    it('marks no sync point while the SPS/PPS are unknown (joined after them, never repeated)', () => {
      let seen = 0;
      const once = withoutNals(main, (n) => [7, 8].includes(type(main, n.at)) && ++seen > 2);
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
        if (i === 50) {
          // Inside the IDR access unit, between its SPS and PPS.
          const pps = splitNals(au).find((n) => type(au, n.at) === 8)!;
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
      // Cut inside the start code, after it, and one byte before the next unit.
      for (const cut of [starts[40]! + 3, starts[40]! + 5, starts[41]! - 1]) {
        const f = framer();
        const out = feed(f, chop(Buffer.concat([main.subarray(cut), AUD]), 700, cut));
        assert.equal(f.invalidBytes, starts[41]! - cut);
        assert.ok(out.frames[0]!.equals(clean.frames[41]!));
        assert.equal(out.frames.length, 150 - 41);
        assert.equal(out.syncs[0], false, 'a P frame');
      }
    });

    it('counts an access unit cut short by reset as invalid and starts afresh', () => {
      const clean = feed(framer(), [main, AUD]);
      const f = framer();
      const input = Buffer.concat(clean.frames.slice(0, 3));
      const first = feed(f, [input.subarray(0, input.length - 10)]);
      assert.equal(first.frames.length, 2);
      f.reset();
      assert.equal(f.invalidBytes, clean.frames[2]!.length - 10);
      const again = feed(f, [main, AUD]);
      assertSameFrames(again, clean, 'after reset');
    });
  });

  describe('hostile input', () => {
    it('never throws on the stream cut at every position, and emits only a prefix of the real frames', () => {
      const clean = feed(framer(), [main, AUD]);
      const sample = Buffer.concat(clean.frames.slice(0, 4));
      for (let cut = 0; cut <= sample.length; cut += 1) {
        const piece = sample.subarray(0, cut);
        const out = feed(framer(), cut % 2 ? [piece] : chop(piece, 50, cut));
        for (const [i, fr] of out.frames.entries()) assert.ok(fr.equals(clean.frames[i]!), `cut ${cut}: frame ${i}`);
      }
    });

    it('survives random bytes and random NAL units, in bounded time and memory', () => {
      const r = rng(77);
      const noise = Buffer.alloc(4 << 20);
      for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(r() * 256);
      // Every 64 bytes or so a start code with a random header: slices, parameter sets, delimiters, junk.
      const nals = Buffer.from(noise);
      for (let p = 0; p + 8 < nals.length; p += 16 + Math.floor(r() * 96)) nals.set([0, 0, 1], p);
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
      // A slice whose payload never meets a start code: 1 MiB of 0xff.
      const endless = Buffer.concat([Buffer.from([0, 0, 0, 1, 0x65, 0x88]), Buffer.alloc(1 << 20, 0xff)]);
      const input = Buffer.concat([endless, ...clean.frames.slice(25), AUD]);
      const out = feed(f, chop(input, 10_000, 2));
      assert.ok(out.maxHeld <= limit + 8, `held ${out.maxHeld}`);
      assert.equal(f.invalidBytes, endless.length);
      assertSameFrames(out, { ...clean, frames: clean.frames.slice(25), durations: clean.durations.slice(25), syncs: clean.syncs.slice(25) }, 'after the endless unit');
    });

    it('drops access units over frameBytes (counted as invalid) and keeps the smaller ones', () => {
      const clean = feed(framer(), [main, AUD]);
      const sizes = clean.frames.map((fr) => fr.length);
      const limit = 1000;
      assert.ok(sizes.some((s) => s > limit) && sizes.some((s) => s <= limit), `sample sizes ${Math.min(...sizes)}..${Math.max(...sizes)}`);
      const f = framer(limit);
      const out = feed(f, chop(Buffer.concat([main, AUD]), 4096, 8));
      assert.deepEqual(out.frames, clean.frames.filter((fr) => fr.length <= limit));
      assert.equal(f.invalidBytes, sizes.filter((s) => s > limit).reduce((a, b) => a + b, 0));
      assert.equal(framer().invalidBytes, 0);
      assert.equal(H264_DEFAULT_LIMIT, 4 << 20);
    });

    it('takes empty chunks and runs of zeros without emitting anything', () => {
      const f = framer();
      const out = feed(f, [Buffer.alloc(0), Buffer.alloc(10_000), Buffer.alloc(0), Buffer.alloc(3)]);
      assert.equal(out.frames.length, 0);
      f.reset();
      assert.equal(f.invalidBytes, 10_003);
      assert.equal(f.header, undefined);
      assert.equal(f.format, undefined);
    });

    it('survives corrupted and truncated SPSs and PPSs: no throw, every byte accounted for', () => {
      const au0 = feed(framer(), [main, AUD]).frames[0]!;
      const sets = splitNals(au0).filter((n) => [7, 8].includes(type(au0, n.at)));
      const r = rng(3);
      for (let trial = 0; trial < 3000; trial++) {
        const victim = sets[trial % 2]!;
        const bad = Buffer.from(au0.subarray(victim.at, victim.end));
        for (let k = 0; k < 3; k++) bad[1 + Math.floor(r() * (bad.length - 1))] = Math.floor(r() * 256);
        const input = Buffer.concat([au0.subarray(0, victim.start), Buffer.from([0, 0, 0, 1]), bad.subarray(0, 1 + Math.floor(r() * bad.length)), au0.subarray(victim.end), AUD]);
        const f = framer();
        const out = feed(f, [input]);
        f.reset();
        assert.equal(out.frames.reduce((n, fr) => n + fr.length, 0) + f.invalidBytes, input.length);
        assert.ok(!f.header || f.header.subarray(0, 4).equals(Buffer.from([0, 0, 0, 1])));
      }
    });
  });

  describe('parameter sets', () => {
    /** The real PPS with another pps_id: the rest of its bits copied after the re-coded id. */
    function withPpsId(pps: Buffer, id: number): Buffer {
      const bits = [...pps.subarray(1)].flatMap((b) => Array.from({ length: 8 }, (_, i) => (b >> (7 - i)) & 1));
      // pps_id is ue(v): leading zeros, a one, as many bits again.
      let zeros = 0;
      while (bits[zeros] === 0) zeros++;
      const rest = bits.slice(2 * zeros + 1);
      while (rest.at(-1) === 0) rest.pop();
      rest.pop(); // the stop bit; BitWriter adds its own
      const w = new BitWriter().ue(id);
      for (const b of rest) w.u(1, b);
      return w.nal([pps[0]!]);
    }

    it('keeps every PPS id, and drops the PPSs of an SPS that changes until they are sent again', () => {
      const clean = feed(framer(), [main, AUD]);
      const au0 = clean.frames[0]!;
      const nals = splitNals(au0);
      const sps = nals.find((n) => type(au0, n.at) === 7)!;
      const pps = nals.find((n) => type(au0, n.at) === 8)!;
      const spsNal = au0.subarray(sps.at, sps.end);
      const ppsNal = au0.subarray(pps.at, pps.end);
      const pps1 = withPpsId(ppsNal, 1);
      const sc = Buffer.from([0, 0, 0, 1]);
      const rest = au0.subarray(pps.end);
      const f = framer();
      const headers: (Buffer | undefined)[] = [];
      const push = (b: Buffer) => f.push(b, () => headers.push(f.header));
      push(Buffer.concat([sc, spsNal, sc, ppsNal, sc, pps1, rest]));
      push(AUD);
      assert.ok(headers[0]?.equals(Buffer.concat([sc, spsNal, sc, ppsNal, sc, pps1])), 'SPS + both PPSs');
      // The same SPS with another level_idc: the old PPSs no longer apply to it.
      const changed = Buffer.from(spsNal);
      changed[3] = 0x1f;
      push(Buffer.concat([sc, changed, sc, pps1, rest]));
      push(AUD);
      assert.ok(headers[1]?.equals(Buffer.concat([sc, changed, sc, pps1])), 'new SPS + the PPS sent with it');
      assert.notEqual(headers[0], headers[1]);
    });

    it('reads SPS fields as ffmpeg does: a hand-made SPS with scaling lists, POC type 1, cropping and VUI timing', () => {
      const w = new BitWriter()
        .u(8, 100).u(8, 0).u(8, 40).ue(3) // High, level 4.0, sps_id 3
        .ue(1).ue(0).ue(0).flag(0) // 4:2:0, 8-bit
        .flag(1); // seq_scaling_matrix_present_flag
      for (let i = 0; i < 8; i++) {
        w.flag(i % 3 !== 1);
        if (i % 3 !== 1) for (let j = 0; j < (i < 6 ? 16 : 64); j++) w.se(j === 5 ? -8 : (j % 4) - 1);
      }
      w.ue(0).ue(1).flag(0).se(-2).se(1).ue(3).se(2).se(-1).se(4) // frame_num, POC type 1 with a cycle of 3
        .ue(4).flag(0).ue(119).ue(67).flag(1).flag(1) // 1920x1088
        .flag(1).ue(0).ue(0).ue(0).ue(4) // cropped to 1080
        .flag(1) // vui
        .flag(1).u(8, 255).u(16, 4).u(16, 3) // extended SAR
        .flag(1).flag(0).flag(1).u(3, 5).flag(0).flag(1).u(24, 0x010101)
        .flag(1).ue(1).ue(1)
        .flag(1).u(32, 1001).u(32, 60000).flag(1)
        .flag(0).flag(0).flag(0).flag(0); // no HRD, no pic_struct, no restrictions
      const nal = w.nal([0x67]);
      const sps = parseH264Sps(nal);
      assert.deepEqual([sps.id, sps.width, sps.height, sps.numUnitsInTick, sps.timeScale, sps.frameMbsOnly], [3, 1920, 1080, 1001, 60000, true]);
      // ffmpeg's own reading of the same bits, from a stream of this SPS and the sample's first access unit.
      const file = join(dir, 'synthetic-sps.h264');
      const rest = withoutNals(main.subarray(0, 4000), (n) => type(main, n.at) === 7);
      writeFileSync(file, Buffer.concat([Buffer.from([0, 0, 0, 1]), nal, rest]));
      const trace = traceHeaders(file, 'h264');
      assert.equal(trace.get('time_scale')?.[0], 60000);
      assert.equal(trace.get('frame_crop_bottom_offset')?.[0], 4);
      assert.equal(trace.get('pic_height_in_map_units_minus1')?.[0], 67);
      assert.equal(trace.get('fixed_frame_rate_flag')?.[0], 1, 'ffmpeg reached the end of the VUI timing as we did');
    });
  });

  describe('sniffing', () => {
    it('recognises the stream from the start, mid-stream and after junk', () => {
      assert.ok(sniffH264(main.subarray(0, 65536)));
      for (const at of [1, 9999, 20_001, 31_337]) assert.ok(sniffH264(main.subarray(at, at + 65536)), `from byte ${at}`);
      assert.ok(sniffH264(Buffer.concat([noZeros(3000, rng(1)), main]).subarray(0, 65536)), 'after junk');
      assert.ok(sniffH264(main.subarray(0, 200)), 'the first 200 bytes (SPS, PPS)');
    });

    it('rejects HEVC, MPEG-TS, WebM, mp3 and random bytes', () => {
      for (const [name, data] of Object.entries(others)) {
        assert.equal(sniffH264(data.subarray(0, 65536)), false, name);
        assert.equal(sniffH264(data.subarray(5000, 5000 + 65536)), false, `${name} mid-stream`);
      }
      const r = rng(9);
      const noise = Buffer.alloc(65536);
      for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(r() * 256);
      assert.equal(sniffH264(noise), false);
      assert.equal(sniffH264(Buffer.alloc(65536)), false, 'zeros');
      assert.equal(sniffH264(Buffer.alloc(0)), false, 'nothing');
    });
  });
});
