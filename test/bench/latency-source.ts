/**
 * The latency scenario's source, run by the server with `-exec`: writes
 * fixed-size frames to stdout at a steady byte rate, each carrying its sequence
 * number and its send time in µs on the shared wall clock
 * (`performance.timeOrigin + performance.now()`, which the load generator reads
 * the same way on this machine).
 *
 * Frame: [0,8) sequence (float64 BE), [8,16) send time µs (float64 BE),
 * [16,20) 'SSB1', filler, last 4 bytes 'END!'.
 *
 * Usage: node --import tsx test/bench/latency-source.ts BYTES_PER_SEC FRAME_BYTES
 */
import { performance } from 'node:perf_hooks';

const rate = Number(process.argv[2] ?? 64_000);
const frameBytes = Number(process.argv[3] ?? 1000);
if (!(rate > 0) || !(frameBytes >= 24)) {
  process.stderr.write('usage: latency-source BYTES_PER_SEC FRAME_BYTES (>= 24)\n');
  process.exit(2);
}
const MAGIC = 0x53534231;
const TRAILER = 0x454e4421;
const intervalMs = (frameBytes / rate) * 1000;

let seq = 0;
const start = performance.now();
process.stdout.on('error', () => process.exit(0));

function tick(): void {
  const now = performance.now();
  // Every frame that is due, each stamped as it is written.
  while (start + seq * intervalMs <= now) {
    const frame = Buffer.alloc(frameBytes, seq & 0xff);
    frame.writeDoubleBE(seq, 0);
    frame.writeDoubleBE((performance.timeOrigin + performance.now()) * 1000, 8);
    frame.writeUInt32BE(MAGIC, 16);
    frame.writeUInt32BE(TRAILER, frameBytes - 4);
    process.stdout.write(frame);
    seq++;
  }
  setTimeout(tick, Math.max(0, start + seq * intervalMs - performance.now()));
}
tick();
