/**
 * The flat table of polled answers (nodes/bacnet/answer-table.ts): an answer is served only for the object, the
 * version and the properties it was made for, survives the table growing, and is refused when it does not fit.
 */
import assert from 'node:assert/strict';
import type { BacnetObject } from '../../dist/nodes/core/bacnet/points';
import { AnswerTable, RP_MAX, RPM_MAX } from '../../dist/nodes/bacnet/answer-table';
import { Writer } from '../../dist/nodes/bacnet/codec';

function object(type: number, instance: number): BacnetObject {
  return { type, instance, version: 1 } as unknown as BacnetObject;
}

function written(fill: (w: Writer) => boolean): Buffer | undefined {
  const w = new Writer(64);
  return fill(w) ? w.take() : undefined;
}

describe('bacnet answer table', () => {
  it('serves an answer only for the version and the properties it was made for', () => {
    const table = new AnswerTable(4);
    const point = object(2, 7);
    const region = table.region(point);
    assert.equal(table.region(point), region, 'the same region each time');
    const answer = Buffer.from([1, 2, 3, 4, 5]);
    assert.ok(table.keepRpm(region, 1, 85, 111, answer, 1, 4));
    assert.deepEqual(
      written((w) => table.writeRpm(w, region, 1, 85, 111)),
      Buffer.from([2, 3, 4]),
    );
    assert.equal(
      written((w) => table.writeRpm(w, region, 2, 85, 111)),
      undefined,
      'not for a newer version',
    );
    assert.equal(
      written((w) => table.writeRpm(w, region, 1, 85, -1)),
      undefined,
      'not for other properties',
    );
    assert.equal(
      written((w) => table.writeRp(w, region, 1, 85)),
      undefined,
      'no ReadProperty value yet',
    );
    table.keepRp(region, 1, 85, Buffer.from([0x44, 0x41, 0x20, 0, 0]));
    assert.deepEqual(
      written((w) => table.writeRp(w, region, 1, 85)),
      Buffer.from([0x44, 0x41, 0x20, 0, 0]),
    );
    assert.equal(
      written((w) => table.writeRp(w, region, 1, 77)),
      undefined,
      'not for another property',
    );
    assert.equal(
      written((w) => table.writeRp(w, region, 3, 85)),
      undefined,
      'not for another version',
    );
  });

  it('keeps an empty ReadProperty value apart from none, and starts afresh for an object replaced under the same identifier', () => {
    const table = new AnswerTable(4);
    const first = object(19, 3);
    const region = table.region(first);
    assert.equal(
      written((w) => table.writeRp(w, region, 1, 0)),
      undefined,
      'a new region has nothing',
    );
    assert.equal(
      written((w) => table.writeRpm(w, region, 1, 0, 0)),
      undefined,
    );
    table.keepRp(region, 1, 76, Buffer.alloc(0));
    assert.deepEqual(
      written((w) => table.writeRp(w, region, 1, 76)),
      Buffer.alloc(0),
    );
    table.keepRpm(region, 1, 85, -1, Buffer.from([9, 9]), 0, 2);
    const second = object(19, 3); // the same identifier, another object at the same version
    assert.equal(table.region(second), region);
    assert.equal(
      written((w) => table.writeRp(w, region, 1, 76)),
      undefined,
    );
    assert.equal(
      written((w) => table.writeRpm(w, region, 1, 85, -1)),
      undefined,
    );
  });

  it('keeps the regions of two tables serving the same object apart', () => {
    const a = new AnswerTable(4);
    const b = new AnswerTable(4);
    const other = object(2, 1);
    b.region(other); // so that the same object has another region number in each table
    const point = object(2, 9);
    const inA = a.region(point);
    const inB = b.region(point);
    assert.notEqual(inA, inB);
    a.keepRp(inA, 1, 85, Buffer.from([1]));
    b.keepRp(inB, 1, 85, Buffer.from([2]));
    b.keepRp(b.region(other), 1, 85, Buffer.from([3]));
    for (let round = 0; round < 2; round++) {
      assert.deepEqual(
        written((w) => a.writeRp(w, a.region(point), 1, 85)),
        Buffer.from([1]),
      );
      assert.deepEqual(
        written((w) => b.writeRp(w, b.region(point), 1, 85)),
        Buffer.from([2]),
      );
    }
  });

  it('keeps its answers as it grows, and refuses answers too long, versions beyond 32 bits and huge instances', () => {
    const table = new AnswerTable(2);
    const objects = Array.from({ length: 300 }, (_, i) => object(i % 3, i * 5));
    const regions = objects.map((o) => table.region(o));
    regions.forEach((region, i) => table.keepRp(region, 1, 85, Buffer.from([i & 0xff, i >> 8])));
    objects.forEach((o, i) => {
      const region = table.region(o);
      assert.equal(region, regions[i]);
      assert.deepEqual(
        written((w) => table.writeRp(w, region, 1, 85)),
        Buffer.from([i & 0xff, i >> 8]),
      );
    });
    const region = regions[0] as number;
    assert.equal(table.keepRpm(region, 1, 85, 111, Buffer.alloc(RPM_MAX + 1), 0, RPM_MAX + 1), false);
    assert.equal(table.keepRpm(region, 2 ** 32, 85, 111, Buffer.alloc(4), 0, 4), false);
    table.keepRp(region, 2, 85, Buffer.alloc(RP_MAX + 1));
    assert.equal(
      written((w) => table.writeRp(w, region, 2, 85)),
      undefined,
    );
    assert.equal(table.region(object(8, 4_194_302)), -1);
  });
});
