import { PACKET } from './mpegts-psi.ts';

const SYNC = 0x47;

/** Sync bytes in a row, a packet apart, that lock onto the stream: random data does so once in 2^32 tries. */
export const LOCK_PACKETS = 5;

/** Bytes from a candidate sync byte that decide a lock: up to the last packet's adaptation_field_control. */
const LOCK_SPAN = (LOCK_PACKETS - 1) * PACKET + 4;

/** Room for an undecided tail (< LOCK_SPAN) plus enough of the next chunk to decide everything starting in it. */
const HOLD = 2 * LOCK_SPAN;

/**
 * Receives each whole packet: `buf[at .. at + 188)`. When `owned`, `buf` is
 * the receiver's to keep; otherwise it is a view of the chunk being pushed,
 * valid until the push returns.
 */
export type PacketSink = (buf: Buffer, at: number, owned: boolean) => void;

/**
 * Finds the 188-byte packets in a byte stream. Out of lock, a 0x47 counts
 * only with LOCK_PACKETS sync bytes in a row at its phase, each packet's
 * adaptation_field_control other than the reserved 0 (so a run of 0x47 bytes
 * is no stream); the bytes skipped are invalid. In lock, a packet is passed on
 * once the next one's sync byte confirms its length. When that byte is
 * missing the lock is lost, and the packet is kept only if the next lock is
 * found at or after its end (a lock inside it means it was cut short: a torn
 * packet) and its PID was seen before (else it is junk that happens to start
 * with 0x47).
 *
 * Less than 2 × LOCK_SPAN bytes (about 1.5 KB) plus one packet are ever held
 * back, and each byte is looked at a bounded number of times.
 */
export class PacketSync {
  invalidBytes = 0;
  private readonly hold = Buffer.alloc(HOLD);
  private held = 0;
  private locked = false;
  /** The packet whose successor lacked a sync byte, until the search tells whether it was whole. */
  private suspect: Buffer | undefined;
  /** Bytes between the search position and the suspect's end. */
  private suspectLeft = 0;
  /** Bytes of the suspect that are invalid if it turns out torn. */
  private suspectSkipped = 0;
  /** PIDs of the packets passed on: a packet whose length nothing confirms must have one of them. */
  private readonly pids = new Uint8Array(8192);

  /** Memory held back: an undecided tail and a suspect packet. */
  get heldBytes(): number {
    return this.held + (this.suspect ? PACKET : 0);
  }

  push(chunk: Buffer, sink: PacketSink): void {
    let start = 0;
    if (this.held > 0) {
      const before = this.held;
      const n = Math.min(chunk.length, HOLD - before);
      chunk.copy(this.hold, before, 0, n);
      this.held += n;
      const whole = n === chunk.length;
      // Whatever starts in the old tail can be decided with what was just added; the rest is left to the chunk itself.
      const pos = this.scan(this.hold.subarray(0, this.held), 0, whole ? this.held : before, true, sink);
      if (whole) {
        this.hold.copyWithin(0, pos, this.held);
        this.held -= pos;
        return;
      }
      this.held = 0;
      start = pos - before;
    }
    const pos = this.scan(chunk, start, chunk.length, false, sink);
    this.held = chunk.copy(this.hold, 0, pos);
  }

  /** The stream ended: a whole packet at its very end has no successor to confirm it, and is passed on all the same. */
  flush(sink: PacketSink): void {
    if (!this.locked || this.held !== PACKET || this.hold[0] !== SYNC) return;
    this.held = 0;
    sink(Buffer.from(this.hold.subarray(0, PACKET)), 0, true);
  }

  /** Drops what is held (counted as invalid) and searches afresh. */
  reset(): void {
    // The tail starts at the search position, inside the suspect if there is one: its bytes before that are the rest.
    this.invalidBytes += this.held + (this.suspect ? this.suspectSkipped : 0);
    this.held = 0;
    this.locked = false;
    this.suspect = undefined;
    this.pids.fill(0);
  }

  /**
   * Passes on the packets of `buf` starting before `stop` that can be decided;
   * returns where the undecided rest begins.
   */
  private scan(buf: Buffer, pos: number, stop: number, copy: boolean, sink: PacketSink): number {
    const end = buf.length;
    while (pos < stop) {
      if (this.locked) {
        // Confirmed by the previous packet or the lock; checked again so no state can pass off a non-packet.
        if (buf[pos] !== SYNC) {
          this.locked = false;
          continue;
        }
        if (end - pos <= PACKET) return pos;
        if (buf[pos + PACKET] === SYNC) {
          this.pids[pidAt(buf, pos)] = 1;
          if (copy) sink(Buffer.from(buf.subarray(pos, pos + PACKET)), 0, true);
          else sink(buf, pos, false);
          pos += PACKET;
          continue;
        }
        this.locked = false;
        this.suspect = Buffer.from(buf.subarray(pos, pos + PACKET));
        this.suspectLeft = PACKET - 1;
        this.suspectSkipped = 1;
        pos++;
        continue;
      }
      let q = buf.indexOf(SYNC, pos);
      if (q < 0 || q >= end) q = end;
      if (this.suspect && q - pos >= this.suspectLeft) {
        // No lock can start inside the suspect any more: whole, and followed by junk, or junk itself.
        const packet = this.suspect;
        pos += this.suspectLeft;
        this.suspect = undefined;
        if (this.pids[pidAt(packet, 0)]) sink(packet, 0, true);
        else this.invalidBytes += PACKET;
        continue;
      }
      this.skip(q - pos);
      pos = q;
      if (pos === end) break;
      if (end - pos < LOCK_SPAN) return pos;
      let k = 0;
      while (k < LOCK_PACKETS && buf[pos + k * PACKET] === SYNC && buf[pos + k * PACKET + 3]! & 0x30) k++;
      if (k === LOCK_PACKETS) {
        if (this.suspect) this.invalidBytes += this.suspectSkipped; // a lock inside it: it was torn
        this.suspect = undefined;
        this.locked = true;
        continue;
      }
      this.skip(1);
      pos++;
    }
    return pos;
  }

  /** Accounts for `n` bytes passed over by the search. */
  private skip(n: number): void {
    if (this.suspect) {
      this.suspectLeft -= n;
      this.suspectSkipped += n;
    } else {
      this.invalidBytes += n;
    }
  }
}

function pidAt(buf: Buffer, at: number): number {
  return ((buf[at + 1]! & 0x1f) << 8) | buf[at + 2]!;
}
