import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HttpRequest } from '../../mods/http/index.ts';
import { adminCommand, answerFormat } from '../../mods/admin/answer-format.ts';
import { icecastXml } from '../../mods/admin/icecast-xml.ts';
import { jsonAnswer } from '../../mods/admin/json-answer.ts';

const row = { id: 7, address: '203.0.113.9', userAgent: 'Bad\u0001Agent <x> & "y"', protocol: 'http', user: 'fier', connectedSeconds: 12, bytesSent: 3 };

test('listclients XML: Icecast 2.4.4\'s elements in its order, text escaped, characters XML cannot carry dropped', () => {
  assert.equal(icecastXml({ kind: 'clients', mount: '/a&b', listeners: [row, { ...row, id: 8, user: undefined, userAgent: undefined }] }),
    '<?xml version="1.0"?>\n<icestats><source mount="/a&amp;b"><Listeners>2</Listeners>'
    + '<listener><IP>203.0.113.9</IP><UserAgent>BadAgent &lt;x&gt; &amp; &quot;y&quot;</UserAgent><Connected>12</Connected><ID>7</ID><username>fier</username></listener>'
    + '<listener><IP>203.0.113.9</IP><UserAgent>Unknown</UserAgent><Connected>12</Connected><ID>8</ID></listener>'
    + '</source></icestats>\n');
});

test('listmounts and moveclients\' form XML, and an action\'s iceresponse', () => {
  const mount = { mount: '/b', listeners: 1, contentType: 'audio/mpeg', sourceUp: true, sourceSeconds: 30 };
  assert.equal(icecastXml({ kind: 'mounts', mounts: [mount] }),
    '<?xml version="1.0"?>\n<icestats><source mount="/b"><fallback></fallback><listeners>1</listeners><Connected>30</Connected><content-type>audio/mpeg</content-type></source></icestats>\n');
  assert.match(icecastXml({ kind: 'mounts', current: '/a', mounts: [mount] }), /^<\?xml version="1.0"\?>\n<icestats><current_source>\/a<\/current_source><source mount="\/b">/);
  assert.equal(icecastXml({ kind: 'done', ok: false, message: 'Client 9 not found' }),
    '<?xml version="1.0"?>\n<iceresponse><message>Client 9 not found</message><return>0</return></iceresponse>\n');
});

test('JSON: every field present, null where unknown; refusals carry the reason', () => {
  assert.deepEqual(jsonAnswer({ kind: 'clients', mount: '/a', listeners: [{ ...row, user: undefined, userAgent: undefined }] }), {
    mount: '/a',
    listeners: [{ id: 7, address: '203.0.113.9', user_agent: null, protocol: 'http', user: null, connected_seconds: 12, bytes_sent: 3 }],
  });
  assert.deepEqual(jsonAnswer({ kind: 'refused', status: 400, message: 'Source does not exist' }), { ok: false, error: 'Source does not exist' });
  assert.deepEqual(jsonAnswer({ kind: 'done', ok: true, message: 'm', moved: 2 }), { ok: true, message: 'm', moved: 2 });
});

test('the command and format come from the path suffix or Accept', () => {
  assert.deepEqual(adminCommand('/admin/listclients.json'), { command: 'listclients', json: true });
  assert.deepEqual(adminCommand('/admin/killsource'), { command: 'killsource', json: false });
  assert.equal(adminCommand('/admin/'), undefined);
  assert.equal(adminCommand('/status'), undefined);
  const req = (accept?: string) => ({ headers: accept ? { accept } : {} }) as unknown as HttpRequest;
  assert.equal(answerFormat(req(), false), 'xml');
  assert.equal(answerFormat(req('text/xml'), false), 'xml');
  assert.equal(answerFormat(req('application/json, */*'), false), 'json');
  assert.equal(answerFormat(req(), true), 'json');
});
