/**
 * The delta engine (nodes/core/meter/delta-engine.ts): exact deltas, rollover, replacement, suspect values,
 * comm loss with the gap billed once and split over time, restart from a snapshot.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DeltaEngine, type MeterInfo } from '../../dist/nodes/core/meter/delta-engine';
import { formatScaled, parseDecimal } from '../../dist/nodes/core/decimal';

const T0 = Date.UTC(2026, 10, 2, 9, 0, 0);
const MIN = 60_000;
const meter: MeterInfo = {
  meterId: 'E-1',
  utility: 'electricity',
  unit: 'kWh',
  accountId: 'T1',
  maxRatePerHour: 100,
};

/** Sums decimal deltas exactly. */
function sum(deltas: number[]): string {
  let scale = 0;
  for (const d of deltas) scale = Math.max(scale, parseDecimal(d).scale);
  let total = 0n;
  for (const d of deltas) {
    const p = parseDecimal(d);
    total += p.units * 10n ** BigInt(scale - p.scale);
  }
  return formatScaled(total, scale);
}

function norm(text: string): string {
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}

describe('delta engine', () => {
  it('sets a baseline on the first reading and bills exact deltas after it', () => {
    const engine = new DeltaEngine();
    const first = engine.reading(meter, 1234.12, T0);
    assert.equal(first.consumptions.length, 0);
    assert.equal(first.events[0]!.type, 'first-reading');
    const second = engine.reading(meter, 1234.57, T0 + MIN);
    assert.equal(second.consumptions.length, 1);
    const c = second.consumptions[0]!;
    assert.equal(c.delta, 0.45); // 1234.57 - 1234.12 in floats is 0.4499999999999318
    assert.equal(c.from, T0);
    assert.equal(c.to, T0 + MIN);
    assert.equal(c.readingId, `E-1:${T0 + MIN}`);
    assert.equal(c.accountId, 'T1');
    assert.equal(c.quality, 'good');
  });

  it('ignores a replayed or older reading', () => {
    const engine = new DeltaEngine();
    engine.reading(meter, 10, T0);
    engine.reading(meter, 11, T0 + MIN);
    const replay = engine.reading(meter, 11, T0 + MIN);
    assert.equal(replay.consumptions.length, 0);
    assert.equal(replay.events[0]!.type, 'stale');
  });

  it('bills a rollover at the register maximum as the wrapped delta', () => {
    const engine = new DeltaEngine();
    const rolling: MeterInfo = { ...meter, rolloverAt: 100000, maxRatePerHour: 100 };
    engine.reading(rolling, 99999.5, T0);
    const out = engine.reading(rolling, 0.7, T0 + 30 * MIN);
    assert.equal(out.consumptions[0]!.delta, 1.2);
    assert.ok(out.events.some((e) => e.type === 'rollover'));
  });

  it('holds a value below the baseline that is no plausible rollover as suspect, and bills the next good value from the old baseline', () => {
    const engine = new DeltaEngine();
    const rolling: MeterInfo = { ...meter, rolloverAt: 100000 };
    engine.reading(rolling, 500, T0);
    const dip = engine.reading(rolling, 20, T0 + MIN);
    assert.equal(dip.consumptions.length, 0);
    assert.equal(dip.reading.quality, 'suspect');
    assert.equal(dip.events[0]!.type, 'suspect');
    assert.equal(dip.events[0]!.alarm, true);
    const back = engine.reading(rolling, 501, T0 + 2 * MIN);
    assert.equal(back.consumptions[0]!.delta, 1);
    assert.equal(back.consumptions[0]!.from, T0);
  });

  it('holds a spike above the plausible rate and charges nothing for it', () => {
    const engine = new DeltaEngine();
    engine.reading(meter, 1000, T0);
    const spike = engine.reading(meter, 9000, T0 + MIN); // 8,000 kWh in a minute
    assert.equal(spike.consumptions.length, 0);
    assert.match(spike.events[0]!.text, /above the plausible 100 kWh\/h/);
    const next = engine.reading(meter, 1001.5, T0 + 2 * MIN);
    assert.equal(next.consumptions[0]!.delta, 1.5);
  });

  it('replaces a meter: bills the old meter to its final value, then counts from the new start', () => {
    const engine = new DeltaEngine();
    engine.reading(meter, 45000, T0);
    const swap = engine.replace(meter, 45012.3, 0.5, T0 + 10 * MIN);
    assert.equal(swap.consumptions.length, 1);
    assert.equal(swap.consumptions[0]!.delta, 12.3);
    assert.equal(swap.events[0]!.type, 'replaced');
    const after = engine.reading(meter, 2, T0 + 20 * MIN);
    assert.equal(after.consumptions[0]!.delta, 1.5);
    assert.throws(() => engine.replace(meter, 1, 0, T0 + 30 * MIN), /below its last good value/);
  });

  it('marks comm loss once, then bills the whole gap once, split into half-hour slices that add up exactly', () => {
    const engine = new DeltaEngine();
    engine.reading(meter, 100, T0 + 5 * MIN); // 09:05
    const lost = engine.commLoss(meter, T0 + 10 * MIN, 'timeout');
    assert.equal(lost.events[0]!.type, 'comm-loss');
    assert.equal(lost.events[0]!.alarm, true);
    assert.equal(lost.reading.quality, 'comm-loss');
    assert.equal(engine.commLoss(meter, T0 + 11 * MIN, 'timeout').events.length, 0, 'alarm raised once');
    const back = engine.reading(meter, 110, T0 + 125 * MIN); // 11:05, 10 kWh over 2 h
    assert.ok(back.events.some((e) => e.type === 'comm-restored'));
    const slices = back.consumptions;
    assert.deepEqual(
      slices.map((c) => [
        new Date(c.from).toISOString().slice(11, 16),
        new Date(c.to).toISOString().slice(11, 16),
        c.delta,
      ]),
      [
        ['09:05', '09:30', 2.08],
        ['09:30', '10:00', 2.5],
        ['10:00', '10:30', 2.5],
        ['10:30', '11:00', 2.5],
        ['11:00', '11:05', 0.42],
      ],
    );
    assert.equal(norm(sum(slices.map((c) => c.delta))), '10');
    assert.ok(slices.every((c) => c.estimated === true));
    assert.equal(new Set(slices.map((c) => c.readingId)).size, slices.length);
  });

  it('bills once per billing interval, on the first value after each boundary, and settles a gap at once', () => {
    const engine = new DeltaEngine({ billEveryMs: 15 * MIN });
    const SEC = 1000;
    const billed: Array<[string, string, number]> = [];
    let readings = 0;
    const at = (t: number): string => new Date(t).toISOString().slice(11, 19);
    // Polled every 15 s from 09:00:05 to 09:46:00 at 0.01 kWh a poll.
    for (let i = 0, t = T0 + 5 * SEC; t <= T0 + 46 * MIN; i += 1, t += 15 * SEC) {
      const out = engine.reading(meter, 500 + i / 100, t);
      readings += 1;
      assert.equal(out.reading.quality, 'good');
      for (const c of out.consumptions) billed.push([at(c.from), at(c.to), c.delta]);
    }
    assert.equal(readings, 184);
    assert.deepEqual(billed, [
      ['09:00:05', '09:15:05', 0.6],
      ['09:15:05', '09:30:05', 0.6],
      ['09:30:05', '09:45:05', 0.6],
    ]);
    // Comm loss at 09:50; the first good value after it (09:52) is billed at once, inside the interval.
    engine.commLoss(meter, T0 + 50 * MIN, 'timeout');
    const back = engine.reading(meter, 502, T0 + 52 * MIN);
    assert.ok(back.events.some((e) => e.type === 'comm-restored'));
    assert.equal(norm(sum(back.consumptions.map((c) => c.delta))), '0.2');
    // Then quiet again until 10:00.
    assert.equal(engine.reading(meter, 502.1, T0 + 59 * MIN).consumptions.length, 0);
    assert.equal(engine.reading(meter, 502.2, T0 + 60 * MIN).consumptions[0]!.delta, 0.2);
  });

  it('restarts from a snapshot exactly where it stopped', () => {
    const engine = new DeltaEngine();
    engine.reading(meter, 5, T0);
    engine.reading(meter, 6.25, T0 + MIN);
    const saved = JSON.parse(JSON.stringify(engine.snapshot()));
    const again = new DeltaEngine();
    again.restore(saved);
    const next = again.reading(meter, 7, T0 + 2 * MIN);
    assert.equal(next.consumptions[0]!.delta, 0.75);
    assert.equal(saved['E-1'].lastOut[0].readingId, `E-1:${T0 + MIN}`);
  });

  it('rebaselines without billing and says why', () => {
    const engine = new DeltaEngine();
    engine.reading(meter, 500, T0);
    engine.reading(meter, 3, T0 + MIN);
    const reset = engine.rebaseline(meter, 3, T0 + 2 * MIN, 'meter reset by technician');
    assert.equal(reset.consumptions.length, 0);
    assert.match(reset.events[0]!.text, /technician/);
    assert.equal(engine.reading(meter, 4, T0 + 3 * MIN).consumptions[0]!.delta, 1);
  });

  it('never loses or invents consumption: billed total = last good value - first value, whatever happens in between', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            kind: fc.constantFrom('read', 'read', 'read', 'loss', 'spike'),
            step: fc.integer({ min: 1, max: 90 * MIN }),
            use: fc.integer({ min: 0, max: 5000 }), // hundredths of a kWh
          }),
          { minLength: 1, maxLength: 60 },
        ),
        (events) => {
          const engine = new DeltaEngine();
          const start = 1000;
          let t = T0;
          let truth = start * 100;
          const billed: number[] = [];
          engine.reading({ ...meter, maxRatePerHour: undefined }, start, t);
          const info = { ...meter, maxRatePerHour: 1000 };
          for (const e of events) {
            t += e.step;
            truth += e.use;
            const value = truth / 100;
            const out =
              e.kind === 'loss'
                ? engine.commLoss(info, t, 'test')
                : e.kind === 'spike'
                  ? engine.reading(info, value + 1e6, t)
                  : engine.reading(info, value, t);
            billed.push(...out.consumptions.map((c) => c.delta));
            const ids = out.consumptions.map((c) => c.to);
            assert.deepEqual(
              ids,
              [...ids].sort((a, b) => a - b),
            );
          }
          const baseline = engine.state('E-1')!.baseline!;
          const expected = formatScaled(BigInt(Math.round(baseline.value * 100)) - BigInt(start * 100), 2);
          assert.equal(norm(sum([...billed, 0])), norm(expected));
        },
      ),
    );
  });
});
