// Icecast's admin commands on the real CLI: Basic auth (401 / 403), the raw
// XML Icecast 2.4.4 answers (checked against a real icecast2), our JSON, and
// what each command does to listeners and sources.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ADMIN, ORDINARY, basic, eventually, get, listen, startStation, type Station } from './admin-lib.ts';

const T = { timeout: 15_000 };
const XML_HEAD = '<?xml version="1.0"?>\n';

describe('admin commands', { timeout: 60_000 }, () => {
  let station: Station;
  let port: number;
  const admin = (path: string, headers: Record<string, string> = {}) => get(port, path, { Authorization: ADMIN, ...headers });
  before(async () => {
    station = await startStation();
    port = station.server.port;
  });
  after(async () => { await station?.stop(); });

  test('missing or wrong credentials get 401 with a challenge, an ordinary user 403, in both formats', T, async () => {
    for (const path of ['/admin/listmounts', '/admin/listclients?mount=/a', '/admin/killsource?mount=/a', '/admin/listmounts.json']) {
      const none = await get(port, path);
      assert.equal(none.status, 401, `${path} without credentials`);
      assert.equal(none.auth, 'Basic realm="Icecast2 Server"');
      const wrong = await get(port, path, { Authorization: basic('boss', 'nope') });
      assert.equal(wrong.status, 401, `${path} with a wrong password`);
      assert.equal(wrong.auth, 'Basic realm="Icecast2 Server"');
      const ordinary = await get(port, path, { Authorization: ORDINARY });
      assert.equal(ordinary.status, 403, `${path} as a user without admin=true`);
      assert.equal(ordinary.auth, null);
    }
    const json = await get(port, '/admin/listmounts.json', { Authorization: ORDINARY });
    assert.deepEqual(JSON.parse(json.text), { ok: false, error: 'user fier is not an admin' });
    assert.equal((await admin('/admin/listmounts')).status, 200, 'killsource was refused, /a still there');
  });

  test('a request a browser makes from another site is refused, even with an admin login', T, async () => {
    const res = await admin('/admin/killsource?mount=/a', { 'Sec-Fetch-Site': 'cross-site' });
    assert.equal(res.status, 403);
    assert.ok((await admin('/admin/listmounts')).text.includes('<source mount="/a">'), '/a was not killed');
  });

  test('listclients: Icecast\'s XML with IP, UserAgent, Connected and ID; our JSON by suffix or Accept', T, async () => {
    const l = await listen(port, '/a', { 'User-Agent': 'TestAgent/1.0 <&>' });
    try {
      const xml = await admin('/admin/listclients?mount=/a');
      assert.equal(xml.status, 200);
      assert.match(xml.type, /^text\/xml/);
      const m = /^<icestats><source mount="\/a"><Listeners>1<\/Listeners><listener><IP>127\.0\.0\.1<\/IP><UserAgent>TestAgent\/1\.0 &lt;&amp;&gt;<\/UserAgent><Connected>\d+<\/Connected><ID>(\d+)<\/ID><\/listener><\/source><\/icestats>\n$/
        .exec(xml.text.slice(XML_HEAD.length));
      assert.ok(xml.text.startsWith(XML_HEAD) && m, xml.text);
      const id = Number(m[1]);
      const byName = JSON.parse((await admin('/admin/listclients.json?mount=/a')).text);
      const byAccept = await admin('/admin/listclients?mount=/a', { Accept: 'application/json' });
      assert.match(byAccept.type, /^application\/json/);
      for (const doc of [byName, JSON.parse(byAccept.text)]) {
        assert.equal(doc.mount, '/a');
        assert.equal(doc.listeners.length, 1);
        const row = doc.listeners[0];
        assert.deepEqual({ ...row, connected_seconds: 0, bytes_sent: 0 }, {
          id, address: '127.0.0.1', user_agent: 'TestAgent/1.0 <&>', protocol: 'http', user: null, connected_seconds: 0, bytes_sent: 0,
        });
        assert.ok(row.bytes_sent > 0, 'bytes_sent counts');
      }
      const empty = await admin('/admin/listclients?mount=/b');
      assert.equal(empty.text, `${XML_HEAD}<icestats><source mount="/b"><Listeners>0</Listeners></source></icestats>\n`);
      assert.equal((await admin('/admin/listclients?mount=/nope')).status, 400, 'unknown mount: Icecast\'s 400 "Source does not exist"');
      assert.equal((await admin('/admin/listclients')).status, 400, 'no mount');
    } finally {
      l.socket.destroy();
    }
  });

  test('killclient ends that listener only; an unknown id is <return>0</return>', T, async () => {
    const doomed = await listen(port, '/a');
    const kept = await listen(port, '/a');
    try {
      const list = JSON.parse((await admin('/admin/listclients.json?mount=/a')).text);
      assert.equal(list.listeners.length, 2);
      const id = Math.max(...list.listeners.map((l: { id: number }) => l.id)) - 1;
      const res = await admin(`/admin/killclient?mount=/a&id=${id}`);
      assert.equal(res.text, `${XML_HEAD}<iceresponse><message>Client ${id} removed</message><return>1</return></iceresponse>\n`);
      await Promise.race([doomed.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('killed listener still connected')), 3000))]);
      const before = kept.bytes();
      await eventually('the other listener to go on', () => (kept.bytes() > before ? true : undefined));
      const missing = await admin('/admin/killclient?mount=/a&id=999999');
      assert.equal(missing.text, `${XML_HEAD}<iceresponse><message>Client 999999 not found</message><return>0</return></iceresponse>\n`);
      assert.deepEqual(JSON.parse((await admin('/admin/killclient.json?mount=/a&id=999999')).text), { ok: false, message: 'Client 999999 not found' });
      assert.equal((await admin('/admin/killclient?mount=/a')).status, 400, 'no id');
      assert.equal((await admin('/admin/killclient?mount=/a&id=x1')).status, 400, 'junk id');
    } finally {
      doomed.socket.destroy();
      kept.socket.destroy();
    }
  });

  test('moveclients moves listeners without disconnecting them, and refuses what Icecast refuses and other types', T, async () => {
    const l = await listen(port, '/a');
    try {
      const id = JSON.parse((await admin('/admin/listclients.json?mount=/a')).text).listeners[0].id;
      assert.equal((await admin('/admin/moveclients?mount=/a&destination=/nope')).text, 'No such destination\n');
      assert.equal((await admin('/admin/moveclients?mount=/a&destination=/a')).text, 'supplied mountpoints are identical\n');
      const other = await admin('/admin/moveclients?mount=/a&destination=/ogg');
      assert.equal(other.status, 400);
      assert.match(other.text, /different types/);
      const form = await admin('/admin/moveclients?mount=/a');
      assert.match(form.text, /^<\?xml version="1.0"\?>\n<icestats><current_source>\/a<\/current_source><source mount="\/b">/, form.text);
      const res = await admin('/admin/moveclients?mount=/a&destination=/b');
      assert.equal(res.text, `${XML_HEAD}<iceresponse><message>Clients moved from /a to /b</message><return>1</return></iceresponse>\n`);
      const onB = JSON.parse((await admin('/admin/listclients.json?mount=/b')).text);
      assert.deepEqual(onB.listeners.map((r: { id: number }) => r.id), [id]);
      assert.equal(JSON.parse((await admin('/admin/listclients.json?mount=/a')).text).listeners.length, 0);
      const before = l.bytes();
      await eventually('the moved listener to get /b\'s stream', () => (l.bytes() > before + 1000 ? true : undefined));
      assert.ok(!l.socket.destroyed, 'still connected');
      const back = JSON.parse((await admin('/admin/moveclients.json?mount=/b&destination=/a')).text);
      assert.deepEqual(back, { ok: true, message: 'Clients moved from /b to /a', moved: 1 });
    } finally {
      l.socket.destroy();
    }
  });

  test('listmounts: every mount with listeners, source age and type', T, async () => {
    const xml = await admin('/admin/listmounts');
    assert.match(xml.text, /^<\?xml version="1.0"\?>\n<icestats>(<source mount="[^"]+"><fallback><\/fallback><listeners>\d+<\/listeners><Connected>\d+<\/Connected><content-type>[^<]+<\/content-type><\/source>)+<\/icestats>\n$/, xml.text);
    assert.ok(xml.text.includes('<source mount="/ogg"><fallback></fallback><listeners>0</listeners>'), xml.text);
    const json = JSON.parse((await admin('/admin/listmounts', { Accept: 'application/json' })).text);
    const ogg = json.mounts.find((m: { mount: string }) => m.mount === '/ogg');
    assert.equal(ogg.content_type, 'audio/ogg');
    assert.equal(ogg.source_up, true);
    assert.equal(typeof ogg.source_connected_seconds, 'number');
  });

  test('killsource on a broadcaster\'s mount drops the broadcaster and its listeners, and ends the mount', T, async () => {
    const source = net.connect(port, '127.0.0.1');
    const sourceClosed = new Promise<void>((r) => source.once('close', () => r()));
    source.on('error', () => {});
    source.write(`PUT /boss/live HTTP/1.1\r\nHost: x\r\nAuthorization: ${ADMIN}\r\nContent-Type: application/octet-stream\r\n\r\n`);
    const feed = setInterval(() => source.write(Buffer.alloc(2000, 7)), 50);
    try {
      await station.server.waitLog((line) => line.msg === 'source connected' && line.mount === '/boss/live');
      const l = await listen(port, '/boss/live');
      const res = await admin('/admin/killsource?mount=/boss/live');
      assert.equal(res.text, `${XML_HEAD}<iceresponse><message>Source Removed</message><return>1</return></iceresponse>\n`);
      const timeout = (what: string) => new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} still connected`)), 3000));
      await Promise.race([sourceClosed, timeout('broadcaster')]);
      await Promise.race([l.closed, timeout('listener')]);
      assert.ok(!(await admin('/admin/listmounts')).text.includes('/boss/live'), 'the mount is gone');
      await station.server.waitLog((line) => line.msg === 'admin command' && line.command === 'killsource' && line.user === 'boss' && line.mount === '/boss/live');
    } finally {
      clearInterval(feed);
      source.destroy();
    }
  });

  test('killsource on a configured mount ends it until the server restarts', T, async () => {
    const res = await admin('/admin/killsource.json?mount=/ogg');
    assert.deepEqual(JSON.parse(res.text), { ok: true, message: 'Source Removed' });
    assert.equal((await get(port, '/ogg')).status, 404);
    assert.equal((await admin('/admin/killsource?mount=/ogg')).text, 'Source does not exist\n');
  });
});
