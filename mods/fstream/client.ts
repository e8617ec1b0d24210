import { readFileSync } from 'node:fs';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { fieldsFromEnv, parseClientArgs, USAGE, type ClientArgs } from './client-args.ts';
import { encodeHandshake } from './handshake.ts';
import { Progress } from './progress.ts';
import { MAX_REPLY_LINE, scanErrorLine } from './reply.ts';

/** How long a finished broadcast waits for the server to close before leaving anyway. */
const CLOSE_WAIT_MS = 5000;
/**
 * We ask for the reason of a refusal (`errors=1`); a server that does not know
 * the field refuses as the original does, by closing with nothing sent.
 */
const SILENT_CLOSE = 'connection closed by the server: refused?';

/**
 * The `fstream` client: `token` prints a one-time token, `broadcast` sends
 * stdin, `watch` writes the stream to stdout. Exit status 0 on success, 1 when
 * the server refuses or the connection is lost, 2 for a usage error.
 */
export async function main(argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const args = parseClientArgs(argv);
  if (typeof args === 'string') return usageError(args);
  if ('help' in args) {
    process.stdout.write(USAGE);
    return 0;
  }
  const fields = fieldsFromEnv(args.command, env);
  if (typeof fields === 'string') return usageError(fields);
  let handshake: Buffer;
  try {
    handshake = encodeHandshake({ ...fields, errors: 1 });
  } catch (err) {
    return usageError((err as Error).message.replace(/^(\w+)/, 'fserv_arg_$1'));
  }
  let socket: Socket;
  try {
    socket = await connect(args);
  } catch (err) {
    return fail(`cannot connect to ${args.host}:${args.port}${args.tls ? ' (TLS)' : ''}: ${describe(err)}`);
  }
  socket.write(handshake);
  switch (args.command) {
    case 'token': return token(socket);
    case 'watch': return watch(socket);
    case 'broadcast': return broadcast(socket);
  }
}

function usageError(message: string): number {
  process.stderr.write(`fstream: ${message}\n${USAGE}`);
  return 2;
}

function fail(message: string): number {
  process.stderr.write(`fstream: ${message}\n`);
  return 1;
}

function refused(reason: string): number {
  return fail(`refused by the server: ${reason}`);
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code && !e.message.includes(e.code) ? `${e.code} ${e.message}` : e.message;
}

function connect(args: ClientArgs): Promise<Socket> {
  return new Promise((resolve, reject) => {
    let socket: Socket;
    if (args.tls) {
      let ca: Buffer | undefined;
      try {
        ca = args.ca ? readFileSync(args.ca) : undefined;
      } catch (err) {
        return reject(new Error(`cannot read --ca ${args.ca}: ${(err as Error).message}`));
      }
      socket = tls.connect({ host: args.host, port: args.port, ca, servername: net.isIP(args.host) ? undefined : args.host }, () => done());
    } else {
      socket = net.connect({ host: args.host, port: args.port }, () => done());
    }
    const onError = (err: Error) => reject(err);
    const done = () => {
      socket.off('error', onError);
      socket.setNoDelay(true);
      resolve(socket);
    };
    socket.once('error', onError);
  });
}

/** The token line, or the refusal. */
function token(socket: Socket): Promise<number> {
  return new Promise((resolve) => {
    let reply = Buffer.alloc(0);
    let lost: Error | undefined;
    socket.on('data', (d: Buffer) => {
      reply = Buffer.concat([reply, d]);
      if (reply.length > MAX_REPLY_LINE * 4) socket.destroy(new Error('answer too long'));
    });
    socket.on('error', (err) => { lost = err; });
    socket.on('close', () => {
      const error = scanErrorLine(reply);
      if (error.kind === 'error') return resolve(refused(error.reason));
      const line = reply.toString('utf8').split('\n')[0]!.trim();
      if (line && !/\s/.test(line)) return process.stdout.write(`${line}\n`, () => resolve(0));
      if (!reply.length && !lost) return resolve(fail(SILENT_CLOSE));
      resolve(fail(`connection lost before the token arrived${lost ? `: ${describe(lost)}` : ''}`));
    });
  });
}

/**
 * Stream bytes to stdout. Our server may instead answer one `ERROR reason`
 * line and close; bytes that could be such a line are held until more bytes
 * (then they were stream data) or the close (then they were the refusal).
 * A close before any byte is another server's refusal.
 */
function watch(socket: Socket): Promise<number> {
  const out = process.stdout;
  const progress = new Progress('watch');
  return new Promise((resolve) => {
    let held: Buffer | undefined = Buffer.alloc(0);
    let received = 0;
    let lost: Error | undefined;
    let finished = false;
    const finish = (code: number) => {
      if (finished) return;
      finished = true;
      progress.stop();
      socket.destroy();
      resolve(code);
    };
    const write = (chunk: Buffer) => {
      progress.add(chunk.length);
      if (!out.write(chunk)) {
        socket.pause();
        out.once('drain', () => socket.resume());
      }
    };
    out.on('error', (err: NodeJS.ErrnoException) => {
      // The reader went away (a player quit): that ends watching, and is not a failure.
      if (err.code === 'EPIPE') finish(0);
      else finish(fail(`cannot write the stream: ${describe(err)}`));
    });
    socket.on('data', (d: Buffer) => {
      received += d.length;
      if (!held) return write(d);
      held = Buffer.concat([held, d]);
      const scan = scanErrorLine(held);
      if (scan.kind === 'no' || (scan.kind === 'error' && held.length > scan.length)) {
        const data = held;
        held = undefined;
        write(data);
      }
    });
    socket.on('error', (err) => { lost = err; });
    socket.on('close', () => {
      if (held) {
        const scan = scanErrorLine(held);
        if (scan.kind === 'error' && held.length === scan.length) return finish(refused(scan.reason));
        if (held.length) write(held);
      }
      const why = lost ? `connection lost: ${describe(lost)}` : received ? 'connection closed by the server' : SILENT_CLOSE;
      out.write('', () => finish(fail(why)));
    });
  });
}

/**
 * Stdin to the server; the server answers nothing unless it refuses. Closing
 * its side before stdin ended is, for a server that does not tell why, the
 * only sign of a refusal.
 */
function broadcast(socket: Socket): Promise<number> {
  const input = process.stdin;
  const progress = new Progress('broadcast');
  return new Promise((resolve) => {
    let reply = Buffer.alloc(0);
    let lost: Error | undefined;
    let serverEnded = false;
    let inputDone = false;
    let finished = false;
    const finish = (code: number) => {
      if (finished) return;
      finished = true;
      progress.stop();
      input.pause();
      input.off('data', onInput);
      socket.destroy();
      resolve(code);
    };
    const onInput = (chunk: Buffer) => {
      progress.add(chunk.length);
      if (!socket.write(chunk)) input.pause();
    };
    socket.on('drain', () => { if (!inputDone) input.resume(); });
    input.on('data', onInput);
    input.once('end', () => {
      inputDone = true;
      socket.end();
      setTimeout(() => finish(0), CLOSE_WAIT_MS).unref();
    });
    input.once('error', (err) => finish(fail(`cannot read stdin: ${describe(err)}`)));
    socket.on('data', (d: Buffer) => {
      reply = Buffer.concat([reply, d]).subarray(0, MAX_REPLY_LINE * 2);
      const scan = scanErrorLine(reply);
      if (scan.kind === 'error') finish(refused(scan.reason));
    });
    // After the server's end our writes fail; that error is not why we stopped.
    socket.once('end', () => { serverEnded = true; });
    socket.on('error', (err) => { lost = err; });
    socket.on('close', () => {
      const scan = scanErrorLine(reply);
      if (scan.kind === 'error') return finish(refused(scan.reason));
      if (inputDone) return finish(0);
      finish(fail(lost && !serverEnded ? `connection lost: ${describe(lost)}` : SILENT_CLOSE));
    });
  });
}
