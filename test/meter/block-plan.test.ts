/**
 * Request planning (nodes/core/meter/block-plan.ts): values merged into as few reads as the protocol allows.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { planBlocks, planPerValue } from '../../dist/nodes/core/meter/block-plan';
import { compileProfile, type ValueDef } from '../../dist/nodes/core/meter/profile';

function values(list: Array<[string, number, number, string?]>): ValueDef[] {
  const spec: Record<string, unknown> = {};
  for (const [name, fn, address, type] of list)
    spec[name] = { address, function: fn, type: type ?? (fn <= 2 ? 'bool' : 'float32') };
  return compileProfile({
    id: 'x',
    counter: list.find(([, fn]) => fn >= 3)?.[0],
    values: spec,
    relay: { write: { function: 5, address: 0, on: 1, off: 0 } },
  }).values;
}

describe('block planning', () => {
  it('reads an SDM630-like map (0x00..0x4A and 0x156) in two requests instead of fourteen', () => {
    const defs = values([
      ['v1', 4, 0],
      ['v2', 4, 2],
      ['v3', 4, 4],
      ['i1', 4, 6],
      ['i2', 4, 8],
      ['i3', 4, 10],
      ['p1', 4, 12],
      ['p2', 4, 14],
      ['p3', 4, 16],
      ['p', 4, 52],
      ['pf', 4, 62],
      ['hz', 4, 70],
      ['import', 4, 72],
      ['export', 4, 74],
      ['total', 4, 342],
    ]);
    const blocks = planBlocks(defs, { maxGap: 64 });
    assert.deepEqual(
      blocks.map((b) => [b.function, b.address, b.length]),
      [
        [4, 0, 76],
        [4, 342, 2],
      ],
    );
    assert.equal(planPerValue(defs).length, 15);
    const importItem = blocks[0]!.items.find((item) => item.value.name === 'import')!;
    assert.equal(importItem.offset, 72);
  });

  it('never asks for more than 125 registers in one read', () => {
    const defs = values([
      ['a', 3, 0],
      ['b', 3, 100],
      ['c', 3, 124],
      ['d', 3, 200],
    ]);
    const blocks = planBlocks(defs, { maxGap: 120 });
    for (const block of blocks) assert.ok(block.length <= 125, `block of ${block.length}`);
    assert.deepEqual(
      blocks.map((b) => [b.address, b.length]),
      [
        [0, 102],
        [124, 78],
      ],
    );
  });

  it('keeps function codes apart and reads coils in their own request', () => {
    const defs = values([
      ['a', 3, 10],
      ['b', 4, 10],
      ['relay', 1, 0],
    ]);
    const blocks = planBlocks(defs);
    assert.deepEqual(blocks.map((b) => b.function).sort(), [1, 3, 4]);
  });

  it('with gap 0 reads only adjacent values together', () => {
    const defs = values([
      ['a', 3, 0],
      ['b', 3, 2],
      ['c', 3, 6],
    ]);
    assert.deepEqual(
      planBlocks(defs, { maxGap: 0 }).map((b) => [b.address, b.length]),
      [
        [0, 4],
        [6, 2],
      ],
    );
  });

  it('covers every value exactly, within the limits, for random maps', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 2000 }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 120 }),
        (addresses, maxGap) => {
          const defs = values(addresses.map((address, i) => [`v${i}`, 3, address * 2]));
          const blocks = planBlocks(defs, { maxGap });
          const covered = blocks.flatMap((block) =>
            block.items.map((item) => {
              assert.ok(block.length <= 125);
              assert.equal(block.address + item.offset, item.value.address);
              assert.ok(item.offset + item.value.length <= block.length);
              return item.value.name;
            }),
          );
          assert.deepEqual(covered.sort(), defs.map((d) => d.name).sort());
        },
      ),
    );
  });
});
