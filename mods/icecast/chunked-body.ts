import { Transform, type TransformCallback } from 'node:stream';

/** A chunk-size or trailer line longer than this is not HTTP. */
const MAX_LINE = 1024;

type State = 'size' | 'data' | 'data-end' | 'trailer' | 'done';

/**
 * Decodes a `Transfer-Encoding: chunked` body (curl -T -, liquidsoap with
 * `chunked=true`, Icecast 2.5 accepts it too). Pure: feed it bytes, it emits the
 * payload as views of the input, without copying.
 */
export class ChunkedDecoder {
  private state: State = 'size';
  private line = '';
  private left = 0;

  get done(): boolean {
    return this.state === 'done';
  }

  /** Emits the payload bytes in `input`; throws on a malformed body. Bytes after the last chunk are ignored. */
  push(input: Buffer, emit: (payload: Buffer) => void): void {
    let pos = 0;
    while (pos < input.length && this.state !== 'done') {
      if (this.state === 'data') {
        const n = Math.min(this.left, input.length - pos);
        emit(input.subarray(pos, pos + n));
        pos += n;
        this.left -= n;
        if (this.left === 0) this.state = 'data-end';
        continue;
      }
      const nl = input.indexOf(0x0a, pos);
      const end = nl === -1 ? input.length : nl;
      this.line += input.toString('latin1', pos, end);
      if (this.line.length > MAX_LINE) throw new Error('chunked body: line too long');
      if (nl === -1) return;
      pos = nl + 1;
      const line = this.line.replace(/\r$/, '');
      this.line = '';
      this.endLine(line);
    }
  }

  private endLine(line: string): void {
    switch (this.state) {
      case 'size': {
        const m = /^([0-9a-fA-F]{1,12})[ \t]*(;.*)?$/.exec(line);
        if (!m) throw new Error(`chunked body: bad chunk size line ${JSON.stringify(line.slice(0, 40))}`);
        this.left = parseInt(m[1]!, 16);
        this.state = this.left === 0 ? 'trailer' : 'data';
        return;
      }
      case 'data-end':
        if (line !== '') throw new Error('chunked body: chunk data longer than its size');
        this.state = 'size';
        return;
      case 'trailer':
        if (line === '') this.state = 'done';
        return;
    }
  }
}

/** The decoder as a stream: the socket is piped in, the source runner reads the payload out. */
export class ChunkedBodyStream extends Transform {
  private readonly decoder = new ChunkedDecoder();

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.decoder.done) return callback();
    try {
      this.decoder.push(chunk, (payload) => this.push(payload));
    } catch (err) {
      return callback(err as Error);
    }
    // The last chunk ends the body even though the connection stays open.
    if (this.decoder.done) this.push(null);
    callback();
  }
}
