import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import net from 'node:net';
import tls from 'node:tls';
import { NEED_MORE, type Connection } from '../core/contracts/connection.ts';
import { ERR } from '../core/kernel/errors.ts';
import type { Kernel } from '../core/kernel/kernel.ts';
import { defineModule } from '../core/kernel/module.ts';
import { writers } from '../core/engine/writers.ts';

interface ServerSettings {
  address: string;
  tlsAddress: string;
  tlsCert: string;
  tlsKey: string;
  uid: number;
  cpuMax: number;
  parallelWritesAbove: number;
  headerTimeout: number;
  maxPreambleBytes: number;
}

/** Go's `host:port` (`:8000` = every interface, `[::1]:8000`, `:0` = any free port). */
export function parseAddress(text: string, flag: string): { host: string | undefined; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw ERR.ADDRESS_INVALID(text, flag);
  const host = m[1] ?? m[2];
  return { host: host || undefined, port };
}

function listen(server: net.Server, text: string, flag: string): Promise<string> {
  const { host, port } = parseAddress(text, flag);
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(ERR.LISTEN_FAILED(text, flag, err.code ?? err.message)));
    server.listen({ host, port, backlog: 4096 }, () => {
      const a = server.address() as net.AddressInfo;
      resolve(a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
    });
  });
}

let nextConnId = 1;

/**
 * The front door: one listening port (and optionally a TLS port) for every
 * protocol. Each connection's first bytes go to the `connection` hook, whose
 * taps claim it; nothing else here knows a protocol.
 */
export default defineModule<ServerSettings>({
  name: 'server',
  description: 'listening ports and connection sniffing',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      address: { type: 'string', default: ':8000', description: 'listen address host:port' },
      tlsAddress: { type: 'string', default: '', description: 'TLS listen address (empty = no TLS port)' },
      tlsCert: { type: 'string', default: '', description: 'TLS certificate chain (PEM file)' },
      tlsKey: { type: 'string', default: '', description: 'TLS private key (PEM file)' },
      uid: { type: 'integer', minimum: -1, default: -1, description: 'switch to this user id after binding (-1 = stay)' },
      cpuMax: { type: 'integer', minimum: 0, maximum: 64, default: 0, description: 'threads writing to listeners, the engine thread included (0 = one per CPU; 1 = the engine thread alone)' },
      parallelWritesAbove: { type: 'number', minimum: 0, maximum: 1, default: 0.75, description: 'share of the time the engine thread spends writing above which writer threads help (0 = always, 1 = never)' },
      headerTimeout: { type: ['string', 'number'], 'x-duration': true, default: '15s', description: 'close a connection that has not finished its request or handshake by then' },
      maxPreambleBytes: { type: 'integer', minimum: 256, default: 65536, description: 'bytes a connection may send before a protocol claims it' },
    },
  },
  flags: {
    address: { setting: 'address', type: 'string', description: 'listen address: host:port, :port for every interface, :0 for any free port' },
    'tls-address': { setting: 'tlsAddress', type: 'string', description: 'also serve every protocol over TLS on this address' },
    'tls-cert': { setting: 'tlsCert', type: 'string', description: 'TLS certificate chain, PEM file' },
    'tls-key': { setting: 'tlsKey', type: 'string', description: 'TLS private key, PEM file' },
    uid: { setting: 'uid', type: 'int', description: 'switch to this user id after binding the ports (-1 = stay)' },
    'cpu-max': { setting: 'cpuMax', type: 'int', description: 'threads writing to listeners, the engine thread included (0 = one per CPU)' },
    'parallel-writes-above': { setting: 'parallelWritesAbove', type: 'number', description: 'engine load (0 to 1) above which writer threads share the writing; 0 = always, 1 = never' },
    'header-timeout': { setting: 'headerTimeout', type: 'duration', description: 'close connections whose request head or handshake is not complete by then' },
  },
  apply(kernel: Kernel, s: ServerSettings) {
    const log = kernel.logger('server');
    writers.configure(s.cpuMax || availableParallelism(), {
      parallelAbove: s.parallelWritesAbove,
      log: {
        started: (threads) => log.info({ threads }, 'writer threads started'),
        failed: (err) => log.error({ err: err.message }, 'a writer thread failed; the others carry on'),
      },
    });
    const sockets = new Set<net.Socket>();
    let tlsOptions: tls.TlsOptions | undefined;
    if (s.tlsAddress) {
      if (!s.tlsCert || !s.tlsKey) throw ERR.TLS_NEEDS_FILES();
      try {
        tlsOptions = { cert: readFileSync(s.tlsCert), key: readFileSync(s.tlsKey) };
        tls.createSecureContext(tlsOptions);
      } catch (err) {
        throw ERR.TLS_UNREADABLE(s.tlsCert, s.tlsKey, (err as Error).message);
      }
    }

    // Handlers every connection shares: a closure per connection would keep the whole
    // accept context (the connection, its request bytes, its timer) for the socket's life.
    function forget(this: net.Socket) {
      sockets.delete(this);
    }
    function connectionError(this: net.Socket, err: Error) {
      log.debug({ err: err.message, remote: this.remoteAddress }, 'connection error');
    }
    const accept = (socket: net.Socket, secure: boolean) => {
      sockets.add(socket);
      socket.on('close', forget);
      // Errors on a connection concern that connection only.
      socket.on('error', connectionError);
      socket.setNoDelay(true);
      const conn: Connection = { id: nextConnId++, socket, head: Buffer.alloc(0), remoteAddress: socket.remoteAddress ?? '?', secure };
      const timer = setTimeout(() => {
        log.info({ conn: conn.id, remote: conn.remoteAddress }, 'closing connection: no complete request or handshake within the header timeout');
        socket.destroy();
      }, s.headerTimeout);
      let busy = false;
      let pending = false;
      const sniff = async (): Promise<void> => {
        busy = true;
        try {
          const result = await kernel.claim(conn);
          if (typeof result === 'function') {
            clearTimeout(timer);
            socket.off('data', onData);
            socket.off('end', onEnd);
            socket.off('close', onClose);
            // The handler gets a paused socket and resumes it once its own listeners are attached.
            socket.pause();
            result(conn);
            return;
          }
          if (result !== NEED_MORE) {
            log.info({ conn: conn.id, remote: conn.remoteAddress }, 'closing connection: no protocol recognises it');
            socket.destroy();
            return;
          }
          if (conn.head.length > s.maxPreambleBytes) {
            log.info({ conn: conn.id, remote: conn.remoteAddress, bytes: conn.head.length }, 'closing connection: preamble too long');
            socket.destroy();
          }
        } catch (err) {
          log.error({ err, conn: conn.id }, 'connection sniffing failed');
          socket.destroy();
        } finally {
          busy = false;
        }
        if (pending && !socket.destroyed) {
          pending = false;
          await sniff();
        }
      };
      const onData = (chunk: Buffer) => {
        conn.head = conn.head.length ? Buffer.concat([conn.head, chunk]) : chunk;
        if (busy) pending = true;
        else void sniff();
      };
      const onEnd = () => { clearTimeout(timer); socket.destroy(); };
      socket.on('data', onData);
      socket.once('end', onEnd);
      const onClose = () => clearTimeout(timer);
      socket.once('close', onClose);
    };

    const plain = net.createServer({ noDelay: true }, (socket) => accept(socket, false));
    const secure = tlsOptions ? tls.createServer(tlsOptions, (socket) => accept(socket, true)) : undefined;
    secure?.on('tlsClientError', (err, socket) => {
      log.info({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed');
    });
    // SIGHUP: renewed certificate files (same paths or new ones) serve new connections; open ones keep theirs.
    kernel.hooks.reload.tap('server', (settings) => {
      if (!secure) return;
      const next = settings.server as ServerSettings;
      try {
        secure.setSecureContext({ cert: readFileSync(next.tlsCert), key: readFileSync(next.tlsKey) });
      } catch (err) {
        throw ERR.TLS_UNREADABLE(next.tlsCert, next.tlsKey, (err as Error).message);
      }
      log.info({ cert: next.tlsCert }, 'TLS certificate reloaded');
    });

    kernel.hooks.start.tapPromise('server', async () => {
      const bound = await listen(plain, s.address, '-address');
      log.info({ address: bound, port: (plain.address() as net.AddressInfo).port }, 'listening');
      if (secure) {
        const tlsBound = await listen(secure, s.tlsAddress, '-tls-address');
        log.info({ address: tlsBound, port: (secure.address() as net.AddressInfo).port, tls: true }, 'listening');
      }
      if (s.uid >= 0) {
        try {
          process.setuid!(s.uid);
          log.info({ uid: s.uid }, 'switched user id');
        } catch (err) {
          throw ERR.UID_FAILED(String(s.uid), (err as Error).message);
        }
      }
    });

    kernel.hooks.stop.tapPromise('server', async () => {
      plain.close();
      secure?.close();
      // Claimed sockets (listeners, broadcasters) are ended by their owners; anything left is cut.
      setTimeout(() => { for (const socket of sockets) socket.destroy(); }, 500).unref();
    });
  },
});
