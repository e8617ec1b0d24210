import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { continueTimeline, lastGranule, shiftGranules } from '../../mods/filters/ogg-timeline.ts';
import { oggCrcBitwise } from '../helpers/ogg-crc.ts';

// Pages are made here from RFC 3533 alone (a bitwise CRC), independently of the filter's code.
const crc = oggCrcBitwise;

function page(granule: bigint, body = Buffer.from('audio packet')): Buffer {
  const head = Buffer.alloc(28);
  head.write('OggS', 0, 'latin1');
  head.writeBigInt64LE(granule, 6);
  head.writeUInt32LE(7, 14);
  head[26] = 1;
  head[27] = body.length;
  const p = Buffer.concat([head, body]);
  p.writeUInt32LE(crc(p), 22);
  return p;
}

function checked(p: Buffer): bigint {
  const copy = Buffer.from(p);
  const stored = copy.readUInt32LE(22);
  copy.writeUInt32LE(0, 22);
  assert.equal(crc(copy), stored, 'the page checksum matches its bytes');
  return p.readBigInt64LE(6);
}

describe('Ogg timeline continuation for moved listeners', { timeout: 5000 }, () => {
  it('shifts every page with a granule position and recomputes its checksum; the input is untouched', () => {
    const frames = Buffer.concat([page(960n), page(1920n), page(-1n), page(2n ** 40n)]);
    const before = Buffer.from(frames);
    const out = shiftGranules(frames, 100_000);
    assert.deepEqual(frames, before, 'shared frames are not changed in place');
    const granules: bigint[] = [];
    for (let pos = 0; pos < out.length; pos += 40) granules.push(checked(out.subarray(pos, pos + 40)));
    assert.deepEqual(granules, [100_960n, 101_920n, -1n, 2n ** 40n + 100_000n], 'shifted, except the page without one');
  });

  it('leaves header pages (granule 0) and pages without a granule position as they are, without copying', () => {
    const frames = Buffer.concat([page(0n), page(-1n)]);
    assert.equal(shiftGranules(frames, 5000), frames);
  });

  it('continues from the last granule the listener had, one page step later', () => {
    // The listener had up to 50 000; the new stream starts at 20 000, its page before at 19 040.
    const rewrite = continueTimeline(50_000, page(20_000n), page(19_040n), 48, 20);
    assert.ok(rewrite, 'a rewrite is needed: the new stream is behind');
    assert.equal(checked(rewrite(page(20_000n))), 50_960n, 'the first page lands one page step after the last one heard');
    assert.equal(checked(rewrite(page(20_960n))), 51_920n, 'and the rest follow it');
  });

  it('spaces the first page by its duration when the page before it is gone', () => {
    const rewrite = continueTimeline(50_000, page(20_000n), undefined, 48, 20)!;
    assert.equal(checked(rewrite(page(20_000n))), 50_960n, '20 ms at 48 kHz after the last granule');
  });

  it('needs no rewrite when the new stream is already ahead, or when nothing is known', () => {
    assert.equal(continueTimeline(50_000, page(90_000n), page(89_040n), 48, 20), undefined);
    assert.equal(continueTimeline(-1, page(90_000n), undefined, 48, 20), undefined);
    assert.equal(continueTimeline(50_000, page(-1n), undefined, 48, 20), undefined);
  });

  it('finds the last granule position of several pages, ignoring torn bytes after them', () => {
    assert.equal(lastGranule(Buffer.concat([page(960n), page(1920n), page(-1n)])), 1920);
    assert.equal(lastGranule(Buffer.concat([page(960n), page(1920n).subarray(0, 20)])), 960);
    assert.equal(lastGranule(Buffer.from('not a page at all, just bytes')), -1);
  });
});
