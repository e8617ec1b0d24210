import assert from 'node:assert/strict';
import { test } from 'node:test';
import { icyHeaders } from '../../mods/icy/headers.ts';
import { createIcyInserter } from '../../mods/icy/inserter.ts';
import { MAX_BLOCK_TEXT_BYTES, MetadataBlocks, metadataBlock, streamTitleText } from '../../mods/icy/metadata-block.ts';
import { readIcy, streamTitle } from '../helpers/icy-reader.ts';

/** A deterministic pseudo-random generator, so a failing split pattern can be replayed. */
function rng(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
}

function audio(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 7 + 3) & 0xff;
  return b;
}

test('blocks come after exactly every metaint audio bytes, however the payloads are split', () => {
  for (const seed of [1, 2, 3, 42]) {
    for (const metaint of [1, 7, 100, 16000]) {
      const random = rng(seed * 1000 + metaint);
      const input = audio(metaint * 5 + 333);
      let title = '';
      const insert = createIcyInserter(metaint, () => title, new MetadataBlocks());
      const out: Buffer[] = [];
      let pos = 0;
      while (pos < input.length) {
        // Empty, tiny, exact-interval and multi-interval payloads.
        const pick = random();
        const size = pick < 0.1 ? 0 : pick < 0.4 ? 1 + Math.floor(random() * 3) : pick < 0.6 ? metaint : Math.floor(random() * metaint * 3);
        const payload = input.subarray(pos, pos + size);
        pos += payload.length;
        if (pos > input.length / 2) title = 'second half';
        out.push(insert(payload));
      }
      const { audio: got, blocks } = readIcy(Buffer.concat(out), metaint);
      assert.ok(got.equals(input), `audio intact (seed ${seed}, metaint ${metaint})`);
      assert.equal(blocks.length, Math.floor(input.length / metaint), `one block per interval (seed ${seed}, metaint ${metaint})`);
      blocks.forEach((b, i) => assert.equal(b.audioOffset, (i + 1) * metaint));
      const titled = blocks.filter((b) => b.length > 0);
      assert.equal(titled.length, 1, 'the title is sent once, then empty blocks');
      assert.equal(streamTitle(titled[0]!.text), 'second half');
    }
  }
});

test('an unset title sends empty blocks; a change is sent once, in the next block; clearing sends an empty title', () => {
  let title = '';
  const insert = createIcyInserter(4, () => title, new MetadataBlocks());
  const lengths = (payload: Buffer) => readIcy(insert(payload), 4).blocks.map((b) => b.text);
  assert.deepEqual(lengths(audio(4)), ['']);
  title = 'A';
  assert.deepEqual(lengths(audio(4)), ["StreamTitle='A';"]);
  assert.deepEqual(lengths(audio(4)), ['']);
  title = '';
  assert.deepEqual(lengths(audio(4)), ["StreamTitle='';"]);
});

test('payloads are never modified, and returned as they are when no block falls inside', () => {
  const insert = createIcyInserter(10, () => 'x', new MetadataBlocks());
  const shared = audio(6);
  const copy = Buffer.from(shared);
  assert.equal(insert(shared), shared, 'no block boundary: the same buffer');
  const next = audio(6);
  const nextCopy = Buffer.from(next);
  const out = insert(next);
  assert.ok(shared.equals(copy) && next.equals(nextCopy), 'inputs untouched');
  assert.equal(out.length, 6 + 1 + 16);
  assert.equal(out[4], 1, 'block after 4 more bytes (10 in all)');
});

test('bytes sent before the transform (a stream header) count toward the first interval', () => {
  const insert = createIcyInserter(10, () => '', new MetadataBlocks(), 3);
  const out = insert(audio(7));
  assert.equal(out.length, 8);
  assert.equal(out[7], 0);
  assert.throws(() => createIcyInserter(10, () => '', new MetadataBlocks(), 10), RangeError);
  assert.throws(() => createIcyInserter(0, () => '', new MetadataBlocks()), RangeError);
});

test('metadata blocks: length byte × 16, NUL padded, UTF-8', () => {
  const block = metadataBlock('Ärtist – Sông');
  const text = "StreamTitle='Ärtist – Sông';";
  const bytes = Buffer.byteLength(text);
  assert.equal(block[0], Math.ceil(bytes / 16));
  assert.equal(block.length, 1 + block[0]! * 16);
  assert.equal(block.subarray(1, 1 + bytes).toString('utf8'), text);
  assert.ok(block.subarray(1 + bytes).every((b) => b === 0));
  const exact = metadataBlock('x'.repeat(32 - "StreamTitle='';".length)); // 32 bytes of text: no padding
  assert.equal(exact.length, 33);
});

test('quotes and backslashes are escaped, control characters removed', () => {
  assert.equal(streamTitleText("Rock 'n' Roll"), "Rock \\'n\\' Roll");
  assert.equal(streamTitleText('a\\b'), 'a\\\\b');
  assert.equal(streamTitleText("evil';StreamUrl='http://x';\r\n\u0000\u0007\u007f\u0085end"), "evil\\';StreamUrl=\\'http://x\\';end");
  const block = metadataBlock("it's\u0000here");
  const text = block.subarray(1).toString('utf8').replace(/\0+$/, '');
  assert.equal(text, "StreamTitle='it\\'shere';");
  assert.equal(streamTitle(text), "it'shere");
});

test('a long title is cut so the block holds at most 255×16 bytes, on a character and escape boundary', () => {
  for (const title of ['x'.repeat(10_000), 'é'.repeat(5000), '€'.repeat(3000), "'".repeat(5000), `a${"'".repeat(5000)}`]) {
    const block = metadataBlock(title);
    assert.equal(block[0], 255);
    assert.equal(block.length, 1 + MAX_BLOCK_TEXT_BYTES);
    const text = block.subarray(1).toString('utf8').replace(/\0+$/, '');
    assert.ok(!text.includes('\uFFFD'), 'no character cut in half');
    assert.ok(text.startsWith("StreamTitle='") && text.endsWith("';"));
    const inner = text.slice("StreamTitle='".length, -2);
    assert.ok(/^(?:\\['\\]|[^'\\])*$/.test(inner), 'no escape cut in half');
  }
});

test('the block for a title is built once per change and shared', () => {
  const blocks = new MetadataBlocks();
  const a = blocks.for('a');
  assert.equal(blocks.for('a'), a);
  assert.notEqual(blocks.for('b'), a);
});

test('icy-* headers from the channel info, UTF-8 bytes, no line breaks', () => {
  const headers = icyHeaders({ name: 'Radio Ü', genre: 'Jazz\r\nX-Evil: 1', url: 'http://r.example', bitrate: '128', public: '0', audioInfo: 'ice-channels=2', description: ' ', owner: 'fier', title: 't' });
  assert.deepEqual(headers, {
    'icy-name': Buffer.from('Radio Ü', 'utf8').toString('latin1'),
    'icy-genre': 'Jazz X-Evil: 1',
    'icy-url': 'http://r.example',
    'icy-br': '128',
    'icy-pub': '0',
    'ice-audio-info': 'ice-channels=2',
  });
});
