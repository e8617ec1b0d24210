/**
 * Mirror mode (`-relay-all`) against a scripted origin in this process, whose
 * listing and connections the test controls and watches: on-demand channels
 * connect on their first listener and disconnect after the idle delay, a
 * channel gone from the listing is removed, always-on channels connect at
 * once; and a stalled origin is reconnected while listeners stay.
 */
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, type Server } from '../helpers/server.ts';
import { Client, waitFor } from './streamserve-lib.ts';
import { status } from './relay-lib.ts';

interface Origin {
  port: number;
  mounts: string[];
  /** Open stream connections by path. */
  open: Map<string, number>;
  requests: IncomingMessage[];
  /** Paths whose streams stop sending (a stalled origin) while set. */
  stalled: Set<string>;
  close(): Promise<void>;
}

/** An origin listing `mounts` in our /status.json shape and streaming 8 KB/s of bytes at each. */
async function startOrigin(mounts: string[]): Promise<Origin> {
  const open = new Map<string, number>();
  const requests: IncomingMessage[] = [];
  const stalled = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  const origin: Origin = { port: 0, mounts, open, requests, stalled, close: async () => {} };
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/status.json') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ icestats: { source: origin.mounts.map((mount) => ({ mount, server_name: `origin ${mount}`, server_type: 'application/x-test' })) } }));
      return;
    }
    if (!origin.mounts.includes(path)) {
      res.writeHead(404).end();
      return;
    }
    requests.push(req);
    open.set(path, (open.get(path) ?? 0) + 1);
    res.writeHead(200, { 'Content-Type': 'application/x-test', 'icy-name': `stream ${path}` });
    const timer = setInterval(() => { if (!stalled.has(path)) res.write(Buffer.alloc(400, 0x55)); }, 50);
    timers.add(timer);
    res.once('close', () => {
      clearInterval(timer);
      timers.delete(timer);
      open.set(path, open.get(path)! - 1);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin.port = (server.address() as AddressInfo).port;
  origin.close = () => {
    for (const t of timers) clearInterval(t);
    server.closeAllConnections();
    return new Promise((r) => server.close(() => r()));
  };
  return origin;
}

test('mirror on demand: connects on the first listener, disconnects when idle, drops channels gone from the origin', { timeout: 40_000 }, async (t) => {
  const origin = await startOrigin(['/a', '/b']);
  const servers: Server[] = [];
  const clients: Client[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.stop()));
    await origin.close();
  });
  const edge = await startServer(['-relay-all', `http://127.0.0.1:${origin.port}/`, '-relay-idle-close', '500ms', '-relay-list-interval', '1s', '-relay-server-id', 'mirror-edge']);
  servers.push(edge);
  await edge.waitLog((l) => l.msg === 'mirroring channel' && l.mount === '/b');
  assert.deepEqual((await status(edge.port)).mounts.sort(), ['/a', '/b']);
  await sleep(300);
  assert.equal(origin.requests.length, 0, 'no stream connection before a listener');

  const listener = new Client(edge.port, '/a');
  clients.push(listener);
  await listener.gotHead;
  assert.equal(listener.status, 200);
  assert.equal(listener.headers['content-type'], 'application/x-test', 'the listed type, told before the connection was made');
  assert.equal(listener.headers['icy-name'], 'origin /a');
  await listener.waitBytes(4000, 5000);
  assert.ok(listener.length >= 4000, `bytes flow: ${listener.length}`);
  assert.equal(origin.open.get('/a'), 1, 'one connection to the origin');
  const req = origin.requests[0]!;
  assert.equal(req.headers['icy-metadata'], '1', 'the edge asks for ICY titles');
  assert.equal(req.headers['x-streamserve-via'], 'mirror-edge', 'the edge names itself');

  listener.close();
  await waitFor(() => origin.open.get('/a') === 0, 5000, 'the idle channel to disconnect from the origin');
  await edge.waitLog((l) => l.msg === 'no listeners; disconnecting from the origin until the next one' && l.mount === '/a');

  // Back on demand for the next listener.
  const again = new Client(edge.port, '/a');
  clients.push(again);
  await again.waitBytes(2000, 5000);
  assert.ok(again.length >= 2000, 'reconnected for the next listener');

  origin.mounts = ['/a'];
  await edge.waitLog((l) => l.msg === 'channel gone from the origin; removing it' && l.mount === '/b', 5000);
  assert.deepEqual((await status(edge.port)).mounts, ['/a']);
  const gone = new Client(edge.port, '/b');
  clients.push(gone);
  await gone.gotHead;
  assert.equal(gone.status, 404, 'a removed channel is gone');
});

test('mirror always on connects at once; a stalled origin is reconnected and its listener stays', { timeout: 40_000 }, async (t) => {
  const origin = await startOrigin(['/x', '/y']);
  const servers: Server[] = [];
  const clients: Client[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.stop()));
    await origin.close();
  });
  const edge = await startServer(['-relay-all', `http://127.0.0.1:${origin.port}/`, '-relay-on-demand=false', '-relay-timeout', '700ms']);
  servers.push(edge);
  await waitFor(() => origin.open.get('/x') === 1 && origin.open.get('/y') === 1, 8000, 'both channels connected without listeners');

  const listener = new Client(edge.port, '/x');
  clients.push(listener);
  await listener.waitBytes(2000, 5000);
  origin.stalled.add('/x');
  await edge.waitLog((l) => typeof l.err === 'string' && /no bytes for 700 ms/.test(l.err), 5000);
  origin.stalled.delete('/x');
  const before = listener.length;
  await listener.waitBytes(before + 2000, 8000);
  assert.ok(!listener.ended, 'the listener stayed through the stall');
  assert.ok(listener.length >= before + 2000, `bytes again after the reconnect (${before} → ${listener.length})`);
  const fig = (await status(edge.port)).relay.channels.find((c) => c.mount === '/x');
  assert.ok(fig && fig.outages >= 1, `the stall counts as an outage: ${JSON.stringify(fig)}`);
});
