/**
 * The record module's parts: file names, the rotation clock, the settings, and
 * a recorder on a real channel writing to targets the test controls (a slow
 * disk, a size limit), so that what reaches each file can be checked frame by
 * frame.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { channelDefaults, type ChannelSettings } from '../../core/contracts/channel-settings.ts';
import { createChannels } from '../../core/engine/channels.ts';
import { Kernel } from '../../core/kernel/kernel.ts';
import { UserError } from '../../core/kernel/errors.ts';
import { expandPattern, numberedName, patternProblem } from '../../mods/record/file-name.ts';
import { Recorder, type RecordingPlan } from '../../mods/record/recorder.ts';
import type { RecordingTarget } from '../../mods/record/recording-file.ts';
import { nextRotation } from '../../mods/record/rotation-clock.ts';
import { recordingPlans } from '../../mods/record/settings.ts';
import { root } from '../helpers/server.ts';

test('file names: strftime directives in local time, unknown ones refused, numbered names before the extension', () => {
  const when = new Date(2026, 0, 2, 3, 4, 5);
  assert.equal(expandPattern('/rec/%Y/%m/%d/%H%M%S-%y-%j.mp3', when), '/rec/2026/01/02/030405-26-002.mp3');
  assert.equal(expandPattern('%F_%T 100%%', when), '2026-01-02_03:04:05 100%');
  assert.equal(expandPattern('%s', when), String(Math.floor(when.getTime() / 1000)));
  assert.equal(patternProblem('/rec/%Y%m%d.mp3'), undefined);
  assert.equal(patternProblem('/rec/%Q.mp3'), 'has the unknown directive %Q');
  assert.equal(patternProblem('/rec/50%'), 'ends in a lone %');
  assert.equal(numberedName('/a.b/rec.mp3', 2), '/a.b/rec-2.mp3');
  assert.equal(numberedName('/a.b/rec', 1), '/a.b/rec-1');
  assert.equal(numberedName('/a/.hidden', 1), '/a/.hidden-1');
});

test('rotation clock: boundaries from local midnight, never past the next midnight', () => {
  const at = (h: number, m: number, s = 0, ms = 0) => new Date(2026, 5, 7, h, m, s, ms).getTime();
  assert.equal(nextRotation(at(13, 59, 59, 500), 3_600_000), at(14, 0));
  assert.equal(nextRotation(at(14, 0), 3_600_000), at(15, 0), 'on a boundary: the next one');
  assert.equal(nextRotation(at(14, 7, 3), 15 * 60_000), at(14, 15));
  assert.equal(nextRotation(at(10, 0, 1), 2000), at(10, 0, 2));
  assert.equal(nextRotation(at(23, 50), 7 * 3_600_000), new Date(2026, 5, 8).getTime(), '7h restarts at midnight');
});

test('settings: a pattern or an object per mount, the default channel from path, clear errors', () => {
  const base = { path: '', channels: {}, rotateEvery: 0, rotateBytes: 0 };
  const plans = recordingPlans({ ...base, path: 'r/%s.mp3', rotateBytes: 10, channels: { '/b': { path: 'b/%F.ts', rotateEvery: '1h' } } });
  assert.deepEqual(plans.get('/'), { path: 'r/%s.mp3', rotateEvery: 0, rotateBytes: 10 });
  assert.deepEqual(plans.get('/b'), { path: 'b/%F.ts', rotateEvery: 3_600_000, rotateBytes: 10 });
  assert.equal(recordingPlans(base).size, 0, 'nothing configured: nothing recorded');
  const fails = (s: Parameters<typeof recordingPlans>[0], code: string, text: RegExp) => assert.throws(() => recordingPlans(s), (err: unknown) => {
    assert.ok(err instanceof UserError, 'a user error');
    assert.equal(err.code, code);
    assert.match(err.message, text);
    return true;
  });
  fails({ ...base, channels: { '/x': 'x/%q.mp3' } }, 'SS_ERR_RECORD_PATTERN_INVALID', /record\.channels\["\/x"\].*%q/);
  fails({ ...base, channels: { '/x': { path: 'x.mp3', rotateEvery: 'soon' } } }, 'SS_ERR_RECORD_ROTATE_INVALID', /rotateEvery.*soon/);
  fails({ ...base, path: 'a.mp3', channels: { '/': 'b.mp3' } }, 'SS_ERR_RECORD_MOUNT_TWICE', /mount \/ is recorded twice/);
});

/** A target in memory whose writes take `delayMs` each. */
class MemoryTarget implements RecordingTarget {
  chunks: Buffer[] = [];
  closed = false;
  constructor(readonly name: string, private readonly delayMs: number) {}
  async write(bufs: Buffer[]): Promise<void> {
    if (this.delayMs) await sleep(this.delayMs);
    this.chunks.push(Buffer.concat(bufs));
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** A listener's socket that takes everything at once. */
class FastSocket extends Writable {
  bytes = 0;
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void) {
    this.bytes += chunk.length;
    cb();
  }
}

const SIZE = 1000;
function frame(n: number): Buffer {
  const b = Buffer.alloc(SIZE, n & 0xff);
  b.writeUInt32BE(n, 0);
  return b;
}
/** Frame numbers in a recording; throws on a torn frame. */
function numbers(bytes: Buffer): number[] {
  assert.equal(bytes.length % SIZE, 0, `${bytes.length} bytes: not whole frames`);
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i += SIZE) {
    const n = bytes.readUInt32BE(i);
    assert.ok(bytes.subarray(i + 4, i + SIZE).equals(frame(n).subarray(4)), `frame ${n} is whole`);
    out.push(n);
  }
  return out;
}

function setup(settings: Partial<ChannelSettings>, plan: Partial<RecordingPlan>, delayMs: number) {
  const logs: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, new Writable({ write(line, _e, cb) { logs.push(JSON.parse(String(line))); cb(); } }));
  const k = new Kernel({ channels: createChannels, log: pino({ level: 'silent' }), settings: {}, packageRoot: root });
  const ch = k.channels.create('/rec', { ...channelDefaults, ...settings });
  const targets: MemoryTarget[] = [];
  const recorder = new Recorder(ch, { path: 'mem', rotateEvery: 0, rotateBytes: 0, ...plan }, { protocol: 'record', remoteAddress: 'local' }, log,
    async () => {
      const t = new MemoryTarget(`mem-${targets.length}`, delayMs);
      targets.push(t);
      return t;
    });
  return { k, ch, recorder, targets, logs };
}

test('a recording that cannot keep up skips frames as a counted, logged gap; its backlog stays bounded and other listeners get every frame', async () => {
  const { k, ch, recorder, targets, logs } = setup({ sourceBuffer: 16 }, {}, 40);
  recorder.start();
  await sleep(10);
  const fast = new FastSocket();
  const admission = await ch.admit({ protocol: 'test', remoteAddress: '127.0.0.1' });
  assert.ok(!('status' in admission), 'a listener is let in');
  admission.join(fast as unknown as net.Socket, { remoteAddress: '127.0.0.1', protocol: 'test', noBurst: true });
  const sink = ch.listeners.find((l) => l.protocol === 'record')!.socket;
  let most = 0;
  const FRAMES = 1500;
  for (let i = 0; i < FRAMES; i++) {
    ch.pushFrame(frame(i), 20);
    most = Math.max(most, sink.writableLength);
    if (i % 4 === 3) await tick();
  }
  // The slow file drains, and the recording goes on from a sync point.
  await sleep(300);
  // The cap the engine keeps (64 KiB) plus one write, which the ring bounds (16 frames).
  assert.ok(most <= 64 * 1024 + 16 * SIZE, `the recording's backlog stayed bounded: at most ${most} bytes`);
  assert.equal(fast.bytes, FRAMES * SIZE, 'the other listener got every frame');
  await recorder.stop();
  const figures = recorder.figures();
  assert.ok(figures.gaps > 0 && figures.framesSkipped > 0, `gaps counted: ${JSON.stringify(figures)}`);
  assert.equal(targets.length, 1, 'one file');
  assert.ok(targets[0]!.closed, 'the file was closed');
  const got = numbers(targets[0]!.bytes);
  assert.equal(figures.bytes, got.length * SIZE, 'bytes counted are the bytes written');
  // In order, with the skipped frames exactly the ones missing.
  let missing = 0;
  for (let i = 1; i < got.length; i++) {
    assert.ok(got[i]! > got[i - 1]!, `frames in order at ${i}`);
    missing += got[i]! - got[i - 1]! - 1;
  }
  assert.equal(got[0], 0, 'the recording began with the first frame');
  assert.equal(missing, figures.framesSkipped, 'every frame missing from the file is counted as skipped, and only those');
  const warned = logs.filter((l) => l.msg === 'recording could not keep up: frames skipped');
  assert.equal(warned.length, figures.gaps, 'each gap is logged');
  assert.equal(warned.reduce((n, l) => n + (l.framesSkipped as number), 0), figures.framesSkipped);
  k.channels.closeAll();
});

test('size rotation: each file starts at a frame with the stream header, and the files together hold every frame', async () => {
  const { k, ch, recorder, targets } = setup({ sourceBuffer: 64 }, { rotateBytes: 10 * SIZE }, 0);
  const header = Buffer.from('HEAD');
  recorder.start();
  await sleep(10);
  const FRAMES = 100;
  for (let i = 0; i < FRAMES; i++) {
    ch.pushFrame(frame(i), 20, true, header);
    await sleep(1);
  }
  await sleep(20);
  await recorder.stop();
  assert.ok(targets.length >= 8, `a new file about every 10 frames: ${targets.length} files`);
  let expected = 0;
  for (const t of targets) {
    const bytes = t.bytes;
    assert.ok(bytes.subarray(0, 4).equals(header), `${t.name} starts with the header`);
    const got = numbers(bytes.subarray(4));
    assert.ok(t.closed, `${t.name} closed`);
    // A file starts at the newest frame when it began: the last frame of the one before, or the one after it.
    assert.ok(got[0] === expected || got[0] === expected - 1, `${t.name} starts at frame ${got[0]}, after ${expected - 1}`);
    for (let i = 1; i < got.length; i++) assert.equal(got[i], got[i - 1]! + 1, `${t.name} has no hole`);
    if (t !== targets.at(-1)) assert.ok(bytes.length >= 10 * SIZE && bytes.length <= 14 * SIZE, `${t.name} holds ${bytes.length} bytes`);
    expected = got.at(-1)! + 1;
  }
  assert.equal(expected, FRAMES, 'up to the last frame');
  assert.equal(recorder.figures().gaps, 0);
  k.channels.closeAll();
});

test('a file that cannot be opened is a counted error; the channel and its listeners carry on', async () => {
  const logs: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, new Writable({ write(line, _e, cb) { logs.push(JSON.parse(String(line))); cb(); } }));
  const k = new Kernel({ channels: createChannels, log: pino({ level: 'silent' }), settings: {}, packageRoot: root });
  const ch = k.channels.create('/rec', channelDefaults);
  const recorder = new Recorder(ch, { path: 'x', rotateEvery: 0, rotateBytes: 0 }, { protocol: 'record', remoteAddress: 'local' }, log,
    async () => { throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }); });
  recorder.start();
  await sleep(10);
  const fast = new FastSocket();
  const admission = await ch.admit({ protocol: 'test', remoteAddress: '127.0.0.1' });
  assert.ok(!('status' in admission), 'let in');
  admission.join(fast as unknown as net.Socket, { remoteAddress: '127.0.0.1', protocol: 'test', noBurst: true });
  for (let i = 0; i < 10; i++) ch.pushFrame(frame(i), 20);
  await sleep(30);
  const f = recorder.figures();
  assert.equal(f.errors, 1, `one error: ${JSON.stringify(f)}`);
  assert.match(f.lastError ?? '', /EACCES/);
  assert.equal(f.file, null);
  assert.ok(!ch.listeners.some((l) => l.protocol === 'record'), 'the failed recording left the channel');
  assert.equal(fast.bytes, 10 * SIZE, 'the listener got every frame');
  assert.ok(logs.some((l) => l.level === 50 && /EACCES/.test(String(l.reason))), 'the error is logged');
  await recorder.stop();
  k.channels.closeAll();
});

