/**
 * The state files nodes keep on disk (meter baselines, cutoff commands, BACnet instances and values...): atomic
 * writes with a previous copy, debounced saves that a more urgent change brings forward, bigints as decimal
 * strings, the incremental serialiser that lets a meter reader save 200 meters' states several times a
 * second without serialising all of them each time, and the share of time such writes may take.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { IncrementalRecordJson } from '../../dist/nodes/shared/incremental-json';
import { StateFile } from '../../dist/nodes/shared/state-file';
import { WriteBudget } from '../../dist/nodes/shared/write-budget';
import { tempUserDir } from '../support/node-red-helper';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const asIs = (value: unknown): unknown => value;

describe('state files', function () {
  it('writes atomically and keeps the previous copy, which load falls back to', function () {
    const path = join(tempUserDir(), 'prepay', 'state.json');
    const file = new StateFile(path, asIs, 0);
    assert.deepEqual(file.load(), { value: undefined });
    file.save(() => ({ n: 1 }));
    file.flush();
    file.save(() => ({ n: 2 }));
    file.flush();
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { n: 2 });
    assert.deepEqual(JSON.parse(readFileSync(`${path}.bak`, 'utf8')), { n: 1 });
    assert.equal(existsSync(`${path}.tmp`), false);
    writeFileSync(path, '{"n": 3, trunc'); // a torn file (a disk that lied about fsync)
    const loaded = file.load();
    assert.deepEqual(loaded.value, { n: 1 });
    assert.match(loaded.problem ?? '', /unreadable.*restored the previous copy/);
  });

  it('writes bigints as decimal strings', function () {
    const path = join(tempUserDir(), 'big.json');
    const file = new StateFile(path, asIs, 0);
    file.save(() => ({ total: 123_456_789_012_345_678_901_234_567_890n, plain: 1 }));
    file.flush();
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), {
      total: '123456789012345678901234567890',
      plain: 1,
    });
  });

  it('debounces saves into one write of the latest state', async function () {
    const path = join(tempUserDir(), 'debounced.json');
    const file = new StateFile(path, asIs, 60);
    let snapshots = 0;
    for (let i = 1; i <= 100; i += 1)
      file.save(() => {
        snapshots += 1;
        return { i };
      });
    assert.equal(existsSync(path), false, 'nothing is written before the period ends');
    await sleep(120);
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { i: 100 });
    assert.equal(snapshots, 1, 'only the state written is taken');
  });

  it('brings a pending write forward for an urgent change, never back', async function () {
    const path = join(tempUserDir(), 'urgent.json');
    const file = new StateFile(path, asIs, 10_000);
    file.save(() => ({ value: 'ordinary' }));
    file.save(() => ({ value: 'override' }), 30);
    await sleep(80);
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { value: 'override' });
    // An ordinary change after an urgent one does not delay it.
    file.save(() => ({ value: 'urgent again' }), 30);
    file.save(() => ({ value: 'ordinary again' }));
    await sleep(80);
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { value: 'ordinary again' });
  });

  it('writes text it is given in place of a pending save', async function () {
    const path = join(tempUserDir(), 'text.json');
    const file = new StateFile(path, asIs, 30);
    file.save(() => ({ from: 'save' }));
    file.writeText('{"from":"text"}');
    await sleep(60);
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { from: 'text' });
  });
});

describe('incremental record JSON', function () {
  it('is the JSON of the whole record after any sequence of changes (property)', function () {
    const key = fc.constantFrom('E-T0001', 'W-T0001', 'E-T0002', 'a"b', 'c\\d', '__proto__', 'é');
    const value = fc.oneof(
      fc.constant(undefined),
      fc.record({
        status: fc.constantFrom('ok', 'comm-loss'),
        baseline: fc.record({ value: fc.double({ noNaN: true, noDefaultInfinity: true }), ts: fc.nat() }),
        note: fc.string(),
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value, fc.boolean()), { maxLength: 40 }), (steps) => {
        const record = new Map<string, unknown>();
        const json = new IncrementalRecordJson((k) => record.get(k));
        for (const [k, v, look] of steps) {
          if (v === undefined) record.delete(k);
          else record.set(k, v);
          json.markChanged(k);
          if (look)
            assert.deepEqual(JSON.parse(json.text()), JSON.parse(JSON.stringify(Object.fromEntries(record))));
        }
        assert.deepEqual(JSON.parse(json.text()), JSON.parse(JSON.stringify(Object.fromEntries(record))));
      }),
    );
  });

  it('serialises only the entries marked changed', function () {
    const record = new Map<string, { n: number | bigint }>([
      ['a', { n: 1 }],
      ['b', { n: 2 }],
    ]);
    const read: string[] = [];
    const json = new IncrementalRecordJson((k) => {
      read.push(k);
      return record.get(k);
    });
    json.markChanged('a');
    json.markChanged('b');
    assert.equal(json.text(), '{"a":{"n":1},"b":{"n":2}}');
    record.set('b', { n: 12_345_678_901_234_567_890n });
    json.markChanged('b');
    read.length = 0;
    assert.equal(json.text(), '{"a":{"n":1},"b":{"n":"12345678901234567890"}}');
    assert.deepEqual(read, ['b']);
    // A change nobody marked is not seen: the caller marks every change (the meter reader marks each meter
    // whose reading, comm loss or command went through its delta engine).
    record.set('a', { n: 99 });
    assert.equal(json.text(), '{"a":{"n":1},"b":{"n":"12345678901234567890"}}');
  });
});

describe('write budget', function () {
  it('lets writes take their share of the time, across every node that shares it', function () {
    let now = 0;
    const budget = new WriteBudget(0.1, () => now);
    assert.equal(budget.waitMs(), 0);
    budget.spend(() => {
      now += 2; // a 2 ms write
    });
    assert.equal(budget.waitMs(), 18, 'nine times the write: a tenth of the time');
    now += 10;
    assert.equal(budget.waitMs(), 8);
    now += 8;
    budget.spend(() => {
      now += 4;
    });
    assert.equal(budget.waitMs(), 36);
    // A write that throws is charged too.
    now += 36;
    assert.throws(() =>
      budget.spend(() => {
        now += 1;
        throw new Error('disk full');
      }),
    );
    assert.equal(budget.waitMs(), 9);
  });
});
