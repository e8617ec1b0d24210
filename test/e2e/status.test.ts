import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { root, startServer, type Server } from '../helpers/server.ts';

const ISO8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4}$/;
const RFC822 = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$/;

async function get(port: number, path: string) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

async function getJson(port: number, path: string): Promise<any> {
  const res = await get(port, path);
  assert.equal(res.status, 200, `${path}: ${res.text}`);
  assert.match(res.type, /^application\/json/);
  return JSON.parse(res.text);
}

interface Sample { name: string; labels: Record<string, string>; value: number }

/** Prometheus text exposition 0.0.4: every line a comment, blank, or `name{labels} value [timestamp]`. */
function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    if (line.startsWith('#')) {
      assert.match(line, /^# (HELP [a-zA-Z_:][\w:]* .*|TYPE [a-zA-Z_:][\w:]* (counter|gauge|histogram|summary|untyped))$|^# /, line);
      continue;
    }
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const labelText = m[2] ?? '';
    const re = /([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"(?:,|$)/y;
    let consumed = 0;
    for (let l; (l = re.exec(labelText)); consumed = re.lastIndex) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    assert.equal(consumed, labelText.length, `malformed labels in ${JSON.stringify(line)}`);
    // Prometheus parses values with Go's ParseFloat, which takes NaN and Inf in any case (prom-client writes `Nan`).
    const special = /^([+-]?)(nan|inf)$/i.exec(m[3]!);
    const value = special ? (special[2]!.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity) : Number(m[3]);
    assert.ok(special || !Number.isNaN(value), `bad value in ${JSON.stringify(line)}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return samples;
}

const sample = (samples: Sample[], name: string, mount: string) => samples.find((s) => s.name === name && s.labels.mount === mount)?.value;

/** A raw-socket listener that resolves once stream bytes (past the head) arrive. */
function listen(port: number, path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no stream bytes from ${path}`)); }, 8000);
    sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0 && buf.length > end + 4) {
        clearTimeout(timer);
        sock.removeAllListeners('data');
        sock.resume();
        resolve(sock);
      }
    });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function checkIcecastSource(s: any, listenurl: string) {
  for (const key of ['listenurl', 'server_name', 'server_description', 'genre', 'title', 'server_type']) {
    assert.equal(typeof s[key], 'string', `source.${key}`);
  }
  for (const key of ['listeners', 'listener_peak']) assert.equal(typeof s[key], 'number', `source.${key}`);
  assert.ok(s.bitrate === null || typeof s.bitrate === 'number');
  assert.equal(s.listenurl, listenurl);
  assert.match(s.stream_start_iso8601, ISO8601);
  assert.match(s.stream_start, RFC822);
}

function checkHead(icestats: any) {
  assert.equal(icestats.admin, 'icemaster@localhost');
  assert.equal(icestats.location, 'Earth');
  assert.equal(icestats.host, '127.0.0.1');
  assert.match(icestats.server_id, /^streamserve \d/);
  assert.match(icestats.server_start_iso8601, ISO8601);
  assert.match(icestats.server_start, RFC822);
}

describe('status with the demo channel', { timeout: 60_000 }, () => {
  let server: Server;
  before(async () => {
    server = await startServer([]);
    await server.waitLog((l) => l.msg === 'source opened' && l.mount === '/demo.mp3');
  });
  after(async () => { await server?.stop(); });

  test('/status-json.xsl: one source is an object, as Icecast 2.4 writes it', { timeout: 10_000 }, async () => {
    const { icestats } = await getJson(server.port, '/status-json.xsl');
    checkHead(icestats);
    assert.ok(icestats.source && !Array.isArray(icestats.source), 'source is a single object');
    checkIcecastSource(icestats.source, `http://127.0.0.1:${server.port}/demo.mp3`);
    assert.equal(icestats.source.server_name, 'streamserve demo');
    assert.equal(icestats.source.server_type, 'audio/mpeg');
    assert.equal(icestats.source.dummy, null);
  });

  test('a connected listener shows in /status.json, /status-json.xsl and /metrics', { timeout: 20_000 }, async () => {
    const listener = await listen(server.port, '/demo.mp3');
    try {
      const status = await getJson(server.port, '/status.json');
      assert.ok(Array.isArray(status.icestats.source), 'source is always a list');
      assert.equal(status.icestats.source.length, 1);
      const s = status.icestats.source[0];
      checkIcecastSource(s, `http://127.0.0.1:${server.port}/demo.mp3`);
      assert.equal(s.mount, '/demo.mp3');
      assert.equal(s.listeners, 1);
      assert.equal(s.source_up, true);
      assert.ok(s.bytes_in > 0 && s.bytes_out > 0, `bytes in ${s.bytes_in}, out ${s.bytes_out}`);
      for (const key of ['invalid_bytes', 'frames_skipped', 'frames_in', 'reconnects']) assert.equal(typeof s[key], 'number', key);
      assert.equal(s.listener_list.length, 1);
      const l = s.listener_list[0];
      assert.equal(l.protocol, 'http');
      assert.equal(typeof l.lag_frames, 'number');
      assert.equal(typeof l.frames_skipped, 'number');
      assert.ok(l.bytes_sent > 0);
      assert.equal(l.remote_address, undefined, 'addresses stay out of the public document');

      const brief = await getJson(server.port, '/status.json?listeners=0');
      assert.equal(brief.icestats.source[0].listener_list, undefined);

      const xsl = await getJson(server.port, '/status-json.xsl');
      assert.equal(xsl.icestats.source.listeners, 1);
      assert.ok(xsl.icestats.source.listener_peak >= 1);

      const metrics = await get(server.port, '/metrics');
      assert.equal(metrics.status, 200);
      assert.match(metrics.type, /^text\/plain; version=0\.0\.4/);
      const samples = parsePrometheus(metrics.text);
      assert.equal(sample(samples, 'streamserve_channel_listeners', '/demo.mp3'), 1);
      assert.equal(sample(samples, 'streamserve_channel_source_up', '/demo.mp3'), 1);
      assert.ok(sample(samples, 'streamserve_channel_bytes_in_total', '/demo.mp3')! > 0);
      assert.ok(sample(samples, 'streamserve_channel_bytes_out_total', '/demo.mp3')! > 0);
      for (const name of ['streamserve_channel_frames_skipped_total', 'streamserve_channel_invalid_bytes_total', 'streamserve_channel_source_reconnects_total']) {
        assert.equal(typeof sample(samples, name, '/demo.mp3'), 'number', name);
      }
      assert.ok(samples.some((x) => x.name === 'process_cpu_seconds_total'), 'process metrics');
    } finally {
      listener.destroy();
    }
    await eventually('the listener to leave the metrics', async () => {
      const samples = parsePrometheus((await get(server.port, '/metrics')).text);
      return sample(samples, 'streamserve_channel_listeners', '/demo.mp3') === 0 ? true : undefined;
    });
  });

  test('the status page is at / (no channel claims it) and /status; HEAD and OPTIONS answered', { timeout: 10_000 }, async () => {
    for (const path of ['/', '/status']) {
      const page = await get(server.port, path);
      assert.equal(page.status, 200);
      assert.match(page.type, /^text\/html/);
      assert.match(page.text, /streamserve demo/);
      assert.match(page.text, /<audio|createElement\('audio'\)/);
    }
    const head = await fetch(`http://127.0.0.1:${server.port}/status.json`, { method: 'HEAD', signal: AbortSignal.timeout(5000) });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    const options = await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: 'OPTIONS', signal: AbortSignal.timeout(5000) });
    assert.equal(options.status, 204);
    assert.equal(options.headers.get('access-control-allow-origin'), '*');
  });
});

describe('status with two configured channels', { timeout: 60_000 }, () => {
  const hostile = `</script><img src=x onerror="alert(1)">$&'"`;
  let dir: string;
  let server: Server;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'streamserve-status-'));
    writeFileSync(join(dir, '.streamserverc.json'), JSON.stringify({
      channels: [
        { mount: '/a', path: '/dev/zero', frameBytes: 1000, name: hostile },
        { mount: '/b', path: '/dev/zero', frameBytes: 1000 },
      ],
    }));
    server = await startServer(['-mods', join(root, 'main.mods')], { cwd: dir });
    // stream_start appears once a source is open, as in Icecast.
    for (const mount of ['/a', '/b']) await server.waitLog((l) => l.msg === 'source opened' && l.mount === mount);
  });
  after(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('/status-json.xsl: several sources are a list', { timeout: 10_000 }, async () => {
    const { icestats } = await getJson(server.port, '/status-json.xsl');
    checkHead(icestats);
    assert.ok(Array.isArray(icestats.source), 'source is a list');
    assert.deepEqual(icestats.source.map((s: any) => s.listenurl), [`http://127.0.0.1:${server.port}/a`, `http://127.0.0.1:${server.port}/b`]);
    for (const s of icestats.source) checkIcecastSource(s, s.listenurl);
    assert.equal(icestats.source[0].server_name, hostile, 'JSON carries names unchanged');
    assert.equal(icestats.source[1].server_name, 'Unspecified name');
  });

  test('/status.json lists both; /metrics has a series per mount', { timeout: 10_000 }, async () => {
    const status = await getJson(server.port, '/status.json');
    assert.deepEqual(status.icestats.source.map((s: any) => s.mount), ['/a', '/b']);
    const samples = parsePrometheus((await get(server.port, '/metrics')).text);
    assert.equal(samples.find((s) => s.name === 'streamserve_channels')?.value, 2);
    for (const mount of ['/a', '/b']) assert.equal(sample(samples, 'streamserve_channel_listeners', mount), 0);
  });

  test('a hostile channel name cannot break out of the status page', { timeout: 10_000 }, async () => {
    const page = await get(server.port, '/status');
    assert.equal(page.status, 200);
    assert.ok(!page.text.includes('<img src=x'), 'no raw markup from a name');
    assert.equal(page.text.match(/<\/script>/g)?.length, 2, 'only the page\'s own two script elements end');
    const json = /<script type="application\/json" id="initial-status">([^<]*)<\/script>/.exec(page.text);
    assert.ok(json, 'embedded status is intact');
    assert.equal(JSON.parse(json[1]!).icestats.source[0].server_name, hostile);
  });
});

describe('status with no channel', { timeout: 30_000 }, () => {
  let server: Server;
  before(async () => { server = await startServer(['-demo=false']); });
  after(async () => { await server?.stop(); });

  test('/status-json.xsl omits source, as Icecast does; /status.json has an empty list', { timeout: 10_000 }, async () => {
    const xsl = await getJson(server.port, '/status-json.xsl');
    assert.equal('source' in xsl.icestats, false);
    const status = await getJson(server.port, '/status.json');
    assert.deepEqual(status.icestats.source, []);
  });
});
