/**
 * Request planning (nodes/core/meter/block-plan.ts): values merged into as few reads as the protocol allows;
 * and the read plan of one meter (nodes/core/meter/read-plan.ts), which narrows what a partial device refuses.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  hasGaps,
  planBlocks,
  planPerValue,
  splitBlock,
  type Span,
} from '../../dist/nodes/core/meter/block-plan';
import { compileProfile, type MeterProfile, type ValueDef } from '../../dist/nodes/core/meter/profile';
import { MeterReadPlan, type BlockAnswer } from '../../dist/nodes/core/meter/read-plan';
import { applyScale, decodeValue } from '../../dist/nodes/core/meter/registers';

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

describe('narrowing a refused block', () => {
  const defs = values([
    ['a', 4, 0],
    ['b', 4, 2],
    ['c', 4, 4],
    ['d', 4, 10],
    ['e', 4, 12],
  ]);

  it('splits a block with gaps into its runs without gaps, and a block without gaps into halves', () => {
    const [block] = planBlocks(defs, { maxGap: 64 });
    assert.ok(hasGaps(block!));
    const runs = splitBlock(block!);
    assert.deepEqual(
      runs.map((b) => [b.address, b.length, b.items.map((i) => [i.value.name, i.offset])]),
      [
        [
          0,
          6,
          [
            ['a', 0],
            ['b', 2],
            ['c', 4],
          ],
        ],
        [
          10,
          4,
          [
            ['d', 0],
            ['e', 2],
          ],
        ],
      ],
    );
    assert.ok(!hasGaps(runs[0]!));
    assert.deepEqual(
      splitBlock(runs[0]!).map((b) => [b.address, b.length, b.items.map((i) => i.value.name)]),
      [
        [0, 4, ['a', 'b']],
        [4, 2, ['c']],
      ],
    );
    assert.deepEqual(splitBlock(splitBlock(runs[0]!)[1]!), [], 'a single value cannot be split');
  });

  it('plans around refused spans: no block contains one', () => {
    assert.deepEqual(
      planBlocks(defs, { maxGap: 64, avoid: [{ function: 4, address: 4, length: 8 }] }).map((b) => [
        b.address,
        b.length,
      ]),
      [
        [0, 6],
        [10, 4],
      ],
    );
    // A span of another function code does not matter.
    assert.equal(
      planBlocks(defs, { maxGap: 64, avoid: [{ function: 3, address: 0, length: 14 }] }).length,
      1,
    );
  });

  it('never plans a block containing a refused span, and covers every value, for random maps', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 30 }),
        fc.array(
          fc.record({ address: fc.integer({ min: 0, max: 800 }), length: fc.integer({ min: 2, max: 40 }) }),
          {
            maxLength: 6,
          },
        ),
        fc.integer({ min: 0, max: 120 }),
        (addresses, spans, maxGap) => {
          const list = values(addresses.map((address, i) => [`v${i}`, 3, address * 2]));
          const avoid = spans.map((span) => ({
            function: 3 as const,
            address: span.address,
            length: span.length,
          }));
          const blocks = planBlocks(list, { maxGap, avoid });
          for (const block of blocks) {
            const blockEnd = block.address + block.length;
            for (const span of avoid)
              assert.ok(
                !(
                  block.items.length > 1 &&
                  span.address >= block.address &&
                  span.address + span.length <= blockEnd
                ),
                `block ${block.address}+${block.length} contains refused ${span.address}+${span.length}`,
              );
          }
          assert.equal(blocks.flatMap((b) => b.items).length, list.length);
        },
      ),
    );
  });
});

/**
 * A device for the read plan: each register belongs to a served value, a refused value, or none (a gap). A
 * lenient device refuses a read only if it touches a refused value; a strict one (as pymodbus with a sparse
 * map, and some meters) refuses any read touching a register it does not serve, gaps included.
 */
class FakeDevice {
  requests = 0;
  refusals = 0;
  /** Per function code: register address -> 'served' | 'refused'. */
  private readonly registers = new Map<number, Map<number, 'served' | 'refused'>>();

  constructor(
    values: readonly ValueDef[],
    refused: ReadonlySet<string>,
    readonly strict: boolean,
    readonly faults = new Map<string, number>(),
  ) {
    for (const value of values) this.mark(value, refused.has(value.name) ? 'refused' : 'served');
  }

  mark(value: ValueDef, as: 'served' | 'refused'): void {
    const table = this.registers.get(value.function) ?? new Map<number, 'served' | 'refused'>();
    this.registers.set(value.function, table);
    for (let r = value.address; r < value.address + value.length; r += 1) table.set(r, as);
  }

  static word(fn: number, address: number): number {
    return (address * 7 + fn * 1000) & 0xffff;
  }

  readonly read = async (span: Span): Promise<BlockAnswer> => {
    this.requests += 1;
    assert.ok(span.length >= 1 && span.length <= 125, `a read of ${span.length}`);
    const fault = this.faults.get(`${span.function}:${span.address}:${span.length}`);
    if (fault !== undefined) return { exception: fault };
    const table = this.registers.get(span.function);
    const words: number[] = [];
    for (let r = span.address; r < span.address + span.length; r += 1) {
      const state = table?.get(r);
      if (state === 'refused' || (this.strict && state !== 'served')) {
        this.refusals += 1;
        return { exception: 2 };
      }
      words.push(FakeDevice.word(span.function, r));
    }
    return words;
  };
}

function expectedValue(value: ValueDef): number {
  const words = Array.from({ length: value.length }, (_, i) =>
    FakeDevice.word(value.function, value.address + i),
  );
  return applyScale(decodeValue(words, 0, value), value.scale);
}

/** The fewest requests that read every served value from this device (greedy is optimal here). */
function fewestRequests(
  served: readonly ValueDef[],
  device: FakeDevice,
  maxGap: number,
  refused: readonly ValueDef[],
): number {
  let count = 0;
  for (const fn of [1, 2, 3, 4]) {
    const list = served.filter((v) => v.function === fn).sort((a, b) => a.address - b.address);
    let start = -1;
    let end = -1;
    for (const value of list) {
      const newEnd = Math.max(end, value.address + value.length);
      const touchesRefused = refused.some(
        (r) => r.function === fn && r.address < newEnd && r.address + r.length > start,
      );
      const gap = value.address - end;
      const ok =
        start >= 0 && newEnd - start <= 125 && (device.strict ? gap <= 0 : gap <= maxGap && !touchesRefused);
      if (ok) end = newEnd;
      else {
        count += 1;
        start = value.address;
        end = value.address + value.length;
      }
    }
  }
  return count;
}

function profileOf(
  list: Array<{ name: string; fn: 3 | 4; address: number; type: string }>,
  counter: string,
): MeterProfile {
  const spec: Record<string, unknown> = {};
  for (const v of list) spec[v.name] = { address: v.address, function: v.fn, type: v.type };
  return compileProfile({ id: 'partial', counter, values: spec });
}

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 2, 9, 0, 0);

describe('read plan of a partial device (narrowing on exception 2)', () => {
  // An SDM630 variant that serves frequency and import energy and nothing else, refusing gaps.
  const sdm630 = profileOf(
    [
      ...[0, 2, 4, 6, 8, 10, 12, 14, 16].map((address, i) => ({
        name: `v${i}`,
        fn: 4 as const,
        address,
        type: 'float32',
      })),
      { name: 'totalPower', fn: 4, address: 52, type: 'float32' },
      { name: 'powerFactor', fn: 4, address: 62, type: 'float32' },
      { name: 'frequency', fn: 4, address: 70, type: 'float32' },
      { name: 'importEnergy', fn: 4, address: 72, type: 'float32' },
      { name: 'exportEnergy', fn: 4, address: 74, type: 'float32' },
      { name: 'totalEnergy', fn: 4, address: 342, type: 'float32' },
    ],
    'importEnergy',
  );
  const refusedNames = new Set(
    sdm630.values.map((v) => v.name).filter((n) => n !== 'frequency' && n !== 'importEnergy'),
  );

  it('reads the counter in the first poll, drops each refused value once, and then reads in one request', async () => {
    const device = new FakeDevice(sdm630.values, refusedNames, true);
    const plan = new MeterReadPlan(sdm630, { maxGap: 64, retryMs: DAY });
    assert.deepEqual(
      plan.blocks().map((b) => [b.address, b.length]),
      [
        [0, 76],
        [342, 2],
      ],
    );
    const first = await plan.read(device.read, NOW);
    assert.equal(first.counter, expectedValue(sdm630.counter!));
    assert.equal(first.values.frequency, expectedValue(sdm630.values.find((v) => v.name === 'frequency')!));
    assert.deepEqual(first.dropped.map((d) => d.value.name).sort(), [...refusedNames].sort());
    assert.ok(first.dropped.every((d) => d.code === 2 && d.span.address === d.value.address));
    assert.equal(first.requests, device.requests);
    const second = await plan.read(device.read, NOW + 60_000);
    assert.deepEqual(second.dropped, []);
    assert.equal(second.requests, 1, 'frequency and import energy in one request');
    assert.deepEqual(
      plan.blocks().map((b) => [b.function, b.address, b.length]),
      [[4, 70, 4]],
    );
    assert.equal(second.counter, first.counter);
  });

  it('tries a dropped value again after a day of building time, alone, and takes it back when it is served', async () => {
    const device = new FakeDevice(sdm630.values, refusedNames, true);
    const plan = new MeterReadPlan(sdm630, { maxGap: 64, retryMs: DAY });
    await plan.read(device.read, NOW);
    const steady = await plan.read(device.read, NOW + DAY - 1);
    assert.equal(steady.requests, 1);
    const retried = await plan.read(device.read, NOW + DAY);
    assert.equal(retried.requests, 1 + refusedNames.size, 'each dropped value once, alone');
    assert.deepEqual(retried.dropped, [], 'no second event for a value still refused');
    assert.equal((await plan.read(device.read, NOW + DAY + 60_000)).requests, 1, 'then a day of quiet again');
    // A firmware update: the device serves exportEnergy (74) from now on.
    device.mark(
      sdm630.values.find((v) => v.name === 'exportEnergy')!,
      'served',
    );
    const back = await plan.read(device.read, NOW + 2 * DAY);
    assert.deepEqual(
      back.restored.map((v) => v.name),
      ['exportEnergy'],
    );
    assert.equal(
      back.values.exportEnergy,
      expectedValue(sdm630.values.find((v) => v.name === 'exportEnergy')!),
    );
    const after = await plan.read(device.read, NOW + 2 * DAY + 60_000);
    assert.equal(after.requests, 1, 'frequency, import and export energy in one request');
    assert.ok(after.values.exportEnergy !== undefined);
  });

  it('keeps the counter in the plan when the device refuses it, reading it alone every poll', async () => {
    const device = new FakeDevice(sdm630.values, new Set(['importEnergy', 'totalEnergy']), true);
    const plan = new MeterReadPlan(sdm630, { maxGap: 64, retryMs: DAY });
    const first = await plan.read(device.read, NOW);
    assert.equal(first.counter, undefined);
    assert.deepEqual(first.counterRefused, { code: 2, span: { function: 4, address: 72, length: 2 } });
    assert.deepEqual(
      first.dropped.map((d) => d.value.name),
      ['totalEnergy'],
    );
    for (let i = 1; i <= 3; i += 1) {
      const next = await plan.read(device.read, NOW + i * 60_000);
      assert.equal(next.counter, undefined);
      assert.equal(next.counterRefused?.code, 2);
      assert.ok(plan.blocks().some((b) => b.items.length === 1 && b.items[0]!.value.name === 'importEnergy'));
      assert.equal(
        next.values.exportEnergy,
        expectedValue(sdm630.values.find((v) => v.name === 'exportEnergy')!),
      );
    }
  });

  it('reads the counter alone when its block fails with another exception (device busy), and reports the fault', async () => {
    const device = new FakeDevice(sdm630.values, new Set(), true, new Map([['4:0:76', 6]]));
    const plan = new MeterReadPlan(sdm630, { maxGap: 64, retryMs: DAY });
    const result = await plan.read(device.read, NOW);
    assert.equal(result.counter, expectedValue(sdm630.counter!));
    assert.deepEqual(
      result.faults.map((f) => [f.code, f.span.address, f.span.length]),
      [[6, 0, 76]],
    );
    assert.deepEqual(result.dropped, []);
    assert.equal(result.requests, 3, 'the block, 342, and the counter alone');
  });

  it('learns, for random maps and partial devices, to read every served value in the fewest requests', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 40 }),
            type: fc.constantFrom('uint16', 'float32', 'float64'),
            fn: fc.constantFrom(3 as const, 4 as const),
            refused: fc.boolean(),
          }),
          { minLength: 1, maxLength: 24 },
        ),
        fc.nat(),
        fc.boolean(),
        fc.integer({ min: 0, max: 64 }),
        async (specs, counterPick, strict, maxGap) => {
          const next = { 3: 0, 4: 0 };
          const list = specs.map((spec, i) => {
            const address = next[spec.fn] + spec.gap;
            next[spec.fn] = address + (spec.type === 'uint16' ? 1 : spec.type === 'float32' ? 2 : 4);
            return { name: `v${i}`, fn: spec.fn, address, type: spec.type };
          });
          const counterIndex = counterPick % list.length;
          const profile = profileOf(list, `v${counterIndex}`);
          const refused = new Set(specs.flatMap((spec, i) => (spec.refused ? [`v${i}`] : [])));
          const device = new FakeDevice(profile.values, refused, strict);
          const plan = new MeterReadPlan(profile, { maxGap, retryMs: DAY });
          const served = profile.values.filter((v) => !refused.has(v.name));
          const refusedValues = profile.values.filter((v) => refused.has(v.name));
          const droppedNames: string[] = [];
          let last: Awaited<ReturnType<typeof plan.read>> | undefined;
          for (let poll = 0; poll < 14; poll += 1) {
            const refusalsBefore = device.refusals;
            last = await plan.read(device.read, NOW + poll * 60_000);
            // Every poll, the first included, reads every served value, and nothing else.
            assert.deepEqual(Object.keys(last.values).sort(), served.map((v) => v.name).sort());
            for (const value of served) assert.equal(last.values[value.name], expectedValue(value));
            droppedNames.push(...last.dropped.map((d) => d.value.name));
            const counterRefused = refused.has(`v${counterIndex}`);
            assert.equal(last.counterRefused?.code, counterRefused ? 2 : undefined);
            if (poll >= 10) {
              // Learnt: no request refused but the counter's own, in the fewest requests.
              assert.equal(device.refusals - refusalsBefore, counterRefused ? 1 : 0);
              assert.equal(
                last.requests,
                fewestRequests(served, device, maxGap, refusedValues) + (counterRefused ? 1 : 0),
              );
            }
          }
          // Each refused optional value was dropped once, with its own registers and the code.
          assert.deepEqual(
            droppedNames.sort(),
            [...refused].filter((name) => name !== `v${counterIndex}`).sort(),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});
