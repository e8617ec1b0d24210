import { EventEmitter } from 'node:events';

/**
 * Just enough of a net.Socket for the engine's unit tests: records writes;
 * `writableLength` is set by a test to play a peer that stopped reading.
 */
export class FakeSocket extends EventEmitter {
  writes: Buffer[] = [];
  writableLength = 0;
  destroyed = false;
  writableEnded = false;
  cork() {}
  uncork() {}
  write(data: Buffer | string) {
    this.writes.push(Buffer.from(data));
    return true;
  }
  end() { this.writableEnded = true; }
  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
  /** Everything written, as one string. */
  get text(): string {
    return Buffer.concat(this.writes).toString('latin1');
  }
}
