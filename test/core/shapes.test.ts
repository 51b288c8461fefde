/**
 * Object shapes (nodes/core/shapes): the helpers build the same objects as spreads, and the objects the site
 * makes by the thousand share their V8 shapes. Shapes are checked in a child process started with V8's
 * natives syntax (`%HaveSameMap`), which the test process itself does not have.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copy, extend, idRecord } from '../../dist/nodes/core/shapes';
import { DEVICE } from '../bacnet/support';

const T0 = Date.UTC(2026, 11, 1, 8, 0);

/** Runs `body` (CommonJS, `%` natives allowed) and returns what it printed as JSON. */
function inV8(body: string): unknown {
  const out = execFileSync(process.execPath, ['--allow-natives-syntax', '-e', body], { encoding: 'utf8' });
  return JSON.parse(out);
}

const dist = (path: string): string => JSON.stringify(require.resolve(`../../dist/nodes/${path}`));

describe('object shapes', function () {
  this.timeout(30_000);

  it('extend and copy give what a spread gives, keys in the same order; idRecord writes the same JSON', function () {
    const reading = { meterId: 'E-T0001', utility: 'electricity', value: 12.5, ts: 1 };
    assert.deepEqual(Object.entries(extend(reading, { ts: 2, delta: 0.5 })), [
      ...Object.entries({ ...reading, ts: 2, delta: 0.5 }),
    ]);
    const copied = copy(reading);
    assert.notEqual(copied, reading);
    assert.deepEqual(copied, reading);
    const record = idRecord([
      ['E-T0001', 5],
      ['W-T0001', 6],
    ]);
    assert.equal(JSON.stringify(record), '{"E-T0001":5,"W-T0001":6}');
    assert.equal(Object.getPrototypeOf(record), null, 'no prototype: a dictionary from the start');
  });

  it('gives every consumption of 8,000 meters one shared shape', function () {
    const result = inV8(`
      const { DeltaEngine } = require(${dist('core/meter/delta-engine')});
      const engine = new DeltaEngine();
      const outs = [];
      for (let poll = 0; poll < 4; poll += 1)
        for (let i = 0; i < 8000; i += 1) {
          const water = i % 2 === 1;
          const meter = { meterId: (water ? 'W-T' : 'E-T') + i, utility: water ? 'water' : 'electricity', unit: water ? 'm3' : 'kWh', accountId: 'T' + i };
          const out = engine.reading(meter, 100 + poll * (i % 3 ? 1.25 : 2), ${T0} + poll * 15000);
          if (poll === 3) outs.push(out.consumptions[0]);
        }
      let shared = 0;
      for (const out of outs) if (%HaveSameMap(out, outs[0])) shared += 1;
      console.log(JSON.stringify({ shared, of: outs.length }));
    `);
    assert.deepEqual(result, { shared: 8000, of: 8000 });
  });

  it("keeps the empty object's shape transitions free: the BACnet model of 8,000 meters, saved and restored", function () {
    // Objects keyed by meter ids used to fill them (V8 keeps 1,536), after which each object built key by
    // key, anywhere in the process, got a shape of its own.
    const result = inV8(`
      const { PointModel } = require(${dist('core/bacnet/model')});
      const options = { device: ${JSON.stringify(DEVICE)}, overrides: true, overrideMinutes: 60, maxObjects: 100000, maxSubscriptions: 10 };
      const model = new PointModel(options, () => ${T0});
      for (let i = 0; i < 8000; i += 1) {
        const meterId = 'E-T' + String(i).padStart(4, '0');
        model.apply({ kind: 'consumption', meterId, accountId: 'T' + i, utility: 'electricity', unit: 'kWh', value: 1, delta: '0.5', to: ${T0} + i });
      }
      const restored = new PointModel(options, () => ${T0}, model.registry.snapshot(), JSON.parse(JSON.stringify(model.valuesSnapshot())));
      const build = () => { const o = {}; o.meterId = 'x'; o.shapeProbe = 1; return o; };
      console.log(JSON.stringify({ shared: %HaveSameMap(build(), build()), points: restored.size }));
    `);
    // Three points per meter, the device, its network port and its notification class.
    assert.deepEqual(result, { shared: true, points: 8000 * 3 + 3 });
  });
});
