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

  it('says a real wrap held for its rate may be a rollover, and bills it as one when a later value makes the rate plausible', () => {
    const engine = new DeltaEngine();
    const rolling: MeterInfo = { ...meter, rolloverAt: 100000, maxRatePerHour: 100 };
    engine.reading(rolling, 99999.5, T0);
    // 1.2 kWh in 15 s is 288 kWh/h: too fast for 100 kWh/h, so held.
    const held = engine.reading(rolling, 0.7, T0 + 15_000);
    assert.equal(held.consumptions.length, 0);
    assert.equal(held.events[0]!.type, 'suspect');
    assert.doesNotMatch(held.events[0]!.text, /not a rollover/);
    assert.match(held.events[0]!.text, /as a rollover at 100000 kWh, consumption 1\.2 kWh in 15 s/);
    assert.match(held.events[0]!.text, /then billed as a rollover/);
    // Later, the wrap to 1.3 is 1.8 kWh in 90 s (72 kWh/h): billed from the held baseline, as a rollover.
    const later = engine.reading(rolling, 1.3, T0 + 90_000);
    assert.equal(later.consumptions.length, 1);
    assert.equal(later.consumptions[0]!.delta, 1.8);
    assert.equal(later.consumptions[0]!.rollover, true);
    assert.ok(later.events.some((e) => e.type === 'rollover'));
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

  it('gives a reading without a value on comm loss, never a 0 or the old baseline', () => {
    const engine = new DeltaEngine();
    const before = engine.commLoss(meter, T0, 'timeout'); // no baseline yet
    assert.equal(before.reading.quality, 'comm-loss');
    assert.ok(!('value' in before.reading), JSON.stringify(before.reading));
    engine.reading(meter, 1234.5, T0 + MIN);
    const lost = engine.commLoss(meter, T0 + 2 * MIN, 'timeout');
    assert.ok(!('value' in lost.reading), JSON.stringify(lost.reading));
    assert.deepEqual(Object.keys(lost.reading).sort(), [
      'accountId',
      'meterId',
      'quality',
      'ts',
      'unit',
      'utility',
    ]);
  });

  it('alarms a refused counter once (not comm loss), freezes the baseline, and bills the gap when it is read again', () => {
    const engine = new DeltaEngine();
    engine.reading(meter, 100, T0);
    const refused = engine.counterUnavailable(
      meter,
      T0 + 10 * MIN,
      'unit 5 refused importEnergy with exception 2',
      {
        code: 2,
        address: 72,
      },
    );
    assert.equal(refused.reading.quality, 'suspect');
    assert.ok(!('value' in refused.reading));
    assert.deepEqual(
      refused.events.map((e) => [e.type, e.alarm, e.code]),
      [['counter-unavailable', true, 2]],
    );
    assert.match(refused.events[0]!.text, /^cannot bill: unit 5 refused importEnergy/);
    assert.equal(engine.state('E-1')!.status, 'device-fault');
    assert.equal(engine.counterUnavailable(meter, T0 + 11 * MIN, 'again').events.length, 0, 'alarmed once');
    const back = engine.reading(meter, 110, T0 + 125 * MIN);
    assert.deepEqual(
      back.events.map((e) => [e.type, e.alarm]),
      [['counter-unavailable', false]],
    );
    assert.equal(norm(sum(back.consumptions.map((c) => c.delta))), '10');
    assert.ok(back.consumptions.length > 1 && back.consumptions.every((c) => c.estimated === true));
    assert.equal(engine.state('E-1')!.status, 'ok');
  });

  it('moves from a refused counter to comm loss and back with each alarm raised and cleared once', () => {
    const engine = new DeltaEngine();
    engine.reading(meter, 100, T0);
    engine.counterUnavailable(meter, T0 + MIN, 'refused');
    const lost = engine.commLoss(meter, T0 + 2 * MIN, 'timeout');
    assert.deepEqual(
      lost.events.map((e) => [e.type, e.alarm]),
      [
        ['counter-unavailable', false],
        ['comm-loss', true],
      ],
    );
    const answers = engine.counterUnavailable(meter, T0 + 3 * MIN, 'refused');
    assert.deepEqual(
      answers.events.map((e) => [e.type, e.alarm]),
      [
        ['comm-restored', false],
        ['counter-unavailable', true],
      ],
    );
  });
});

describe('delta engine: time stamps judged against the clock', () => {
  const NOW = Date.UTC(2026, 11, 5, 12, 0, 0);
  let now = NOW;
  const clocked = (options: Record<string, number> = {}) => new DeltaEngine({ now: () => now, ...options });
  beforeEach(() => {
    now = NOW;
  });

  it('refuses a reading stamped in microseconds, says so, and bills the next good reading from the last good baseline', () => {
    const engine = clocked();
    engine.reading(meter, 500, NOW - 30 * MIN);
    const micro = engine.reading(meter, 501, NOW * 1000);
    assert.equal(micro.reading.quality, 'suspect');
    assert.deepEqual(micro.consumptions, []);
    assert.deepEqual(
      micro.events.map((e) => [e.type, e.alarm]),
      [['future-reading', true]],
    );
    assert.match(
      micro.events[0]!.text,
      /looks like microseconds, not milliseconds \(ts \/ 1,000 is 2026-12-05T12:00:00.000Z\)/,
    );
    assert.deepEqual(engine.state('E-1')!.baseline, { value: 500, ts: NOW - 30 * MIN }, 'baseline untouched');
    assert.deepEqual(engine.reading(meter, 501.5, NOW * 1000 + 15_000_000).events, [], 'one alarm per run');
    now += MIN;
    const good = engine.reading(meter, 502, now);
    assert.equal(good.consumptions.length, 1);
    assert.equal(good.consumptions[0]!.delta, 2);
    assert.equal(good.consumptions[0]!.from, NOW - 30 * MIN);
    assert.deepEqual(
      good.events.map((e) => [e.type, e.alarm]),
      [['future-reading', false]],
    );
    assert.match(good.events[0]!.text, /2 readings refused/);
  });

  it('names nanoseconds, a clock far ahead, and a number that is no time at all, without failing on it', () => {
    const engine = clocked();
    engine.reading(meter, 500, NOW - MIN);
    assert.match(engine.reading(meter, 501, NOW * 1e6).events[0]!.text, /looks like nanoseconds/);
    now += 1;
    engine.reading(meter, 501, now); // ends the run
    const jump = engine.reading(meter, 502, now + 365 * 24 * 60 * MIN);
    assert.match(jump.events[0]!.text, /365 days ahead of this node's clock .*: the sender's clock is ahead/);
    now += 1;
    engine.reading(meter, 502, now);
    const absurd = engine.reading(meter, 503, 1e20);
    assert.equal(absurd.reading.quality, 'suspect');
    assert.match(
      absurd.events[0]!.text,
      /^reading stamped 100000000000000000000 \(no date at all\) .*: no time at all/,
    );
    now += MIN;
    // Later readings are fine: no "Invalid time value".
    const after = engine.reading(meter, 504, now);
    assert.equal(norm(sum(after.consumptions.map((c) => c.delta))), '2');
  });

  it('accepts a reading within the tolerance ahead of the clock, and refuses one just beyond it', () => {
    const engine = clocked({ futureToleranceMs: 5 * MIN });
    engine.reading(meter, 10, NOW - MIN);
    assert.equal(engine.reading(meter, 11, NOW + 5 * MIN).consumptions[0]!.delta, 1);
    assert.equal(engine.reading(meter, 12, NOW + 5 * MIN + 1).events[0]!.type, 'future-reading');
    now += MIN;
    assert.equal(engine.reading(meter, 12, NOW + 5 * MIN + 1).consumptions[0]!.delta, 1);
  });

  it('refuses a reading stamped in seconds as stale, naming seconds, never as a first baseline, and alarms a run of them', () => {
    const engine = clocked();
    const seconds = Math.floor(NOW / 1000);
    const first = engine.reading(meter, 100, seconds);
    assert.equal(first.reading.quality, 'suspect');
    assert.equal(engine.state('E-1')!.baseline, undefined, 'no baseline in 1970');
    assert.match(
      first.events[0]!.text,
      /before 2000: looks like seconds, not milliseconds \(ts x 1,000 is 2026-12-05T12:00:00.000Z\)/,
    );
    assert.deepEqual(
      first.events.map((e) => [e.type, e.alarm]),
      [['stale', false]],
    );
    engine.reading(meter, 100.5, seconds + 60);
    const third = engine.reading(meter, 101, seconds + 120);
    assert.deepEqual(
      third.events.map((e) => [e.type, e.alarm]),
      [
        ['stale', false],
        ['stale-readings', true],
      ],
    );
    assert.deepEqual(
      engine.reading(meter, 101.5, seconds + 180).events.map((e) => e.alarm),
      [false],
      'raised once',
    );
    const good = engine.reading(meter, 102, NOW);
    assert.deepEqual(
      good.events.map((e) => [e.type, e.alarm]),
      [
        ['stale-readings', false],
        ['first-reading', false],
      ],
    );
    assert.deepEqual(engine.state('E-1')!.baseline, { value: 102, ts: NOW });
  });

  it('keeps replays quiet: a stale reading or two raise no alarm', () => {
    const engine = clocked();
    engine.reading(meter, 10, NOW - 2 * MIN);
    engine.reading(meter, 11, NOW - MIN);
    const replay = engine.reading(meter, 11, NOW - MIN);
    assert.deepEqual(
      replay.events.map((e) => [e.type, e.alarm]),
      [['stale', false]],
    );
    assert.deepEqual(
      engine.reading(meter, 10, NOW - 2 * MIN).events.map((e) => e.alarm),
      [false],
    );
    assert.deepEqual(engine.reading(meter, 12, NOW).events, [], 'an accepted reading ends the quiet run');
  });

  it('refuses NaN and infinite time stamps outright, leaving the state as it was', () => {
    const engine = clocked();
    engine.reading(meter, 10, NOW - MIN);
    const before = JSON.stringify(engine.snapshot());
    assert.throws(() => engine.reading(meter, 11, Number.NaN), /is not a time/);
    assert.throws(() => engine.reading(meter, 11, Number.POSITIVE_INFINITY), /is not a time/);
    assert.throws(() => engine.reading(meter, Number.NaN, NOW), /not a finite number/);
    assert.equal(JSON.stringify(engine.snapshot()), before);
  });

  it('continues billing after a one-off jump of the sender clock by a year, from the last good baseline', () => {
    const engine = clocked();
    const billed: number[] = [];
    let value = 1000;
    engine.reading(meter, value, now);
    for (let i = 1; i <= 12; i += 1) {
      now += 15 * MIN;
      value += 0.25;
      const ts = i === 5 ? now + 366 * 24 * 60 * MIN : now;
      billed.push(...engine.reading(meter, value, ts).consumptions.map((c) => c.delta));
    }
    assert.equal(
      norm(sum(billed)),
      '3',
      'every kWh from 1000 to 1003, the jumped reading included in the next delta',
    );
    assert.equal(engine.state('E-1')!.baseline!.ts, now);
  });

  it('after comm loss, a microsecond stamp does not bill a gap into the year 58899', () => {
    const engine = clocked();
    engine.reading(meter, 100, NOW - 60 * MIN);
    engine.commLoss(meter, NOW - 30 * MIN, 'timeout');
    const micro = engine.reading(meter, 101, NOW * 1000);
    assert.deepEqual(micro.consumptions, []);
    assert.equal(engine.state('E-1')!.status, 'comm-loss');
    const good = engine.reading(meter, 101, NOW);
    assert.ok(good.consumptions.every((c) => c.to <= NOW && c.from >= NOW - 60 * MIN));
    assert.equal(norm(sum(good.consumptions.map((c) => c.delta))), '1');
  });

  it('holds a gap beyond 400 days for an operator instead of slicing it, until a rebaseline settles it', () => {
    const engine = clocked();
    const DAY = 24 * 60 * MIN;
    engine.reading(meter, 100, NOW - 401 * DAY);
    const held = engine.reading(meter, 5000, NOW);
    assert.deepEqual(held.consumptions, []);
    assert.equal(held.reading.quality, 'suspect');
    assert.deepEqual(
      held.events.map((e) => [e.type, e.alarm]),
      [['gap-held', true]],
    );
    assert.match(
      held.events[0]!.text,
      /401 days after the last good value .* beyond the 400 days bound: held/,
    );
    now += MIN;
    assert.deepEqual(engine.reading(meter, 5001, now).events, [], 'held once, alarmed once');
    now += MIN;
    const settled = engine.rebaseline(meter, 5001, now, 'meter back after a vacancy; billed by hand');
    assert.deepEqual(
      settled.events.map((e) => [e.type, e.alarm]),
      [
        ['gap-held', false],
        ['rebaselined', false],
      ],
    );
    now += MIN;
    assert.equal(engine.reading(meter, 5002, now).consumptions[0]!.delta, 1);
    // Within the bound a long gap is billed, in slices that stay between the baseline and the reading.
    const other = clocked();
    other.reading(meter, 0, now - 399 * DAY);
    const sliced = other.reading(meter, 399, now);
    assert.equal(norm(sum(sliced.consumptions.map((c) => c.delta))), '399');
    assert.ok(sliced.consumptions.length <= 2000);
    assert.ok(sliced.consumptions.every((c) => c.from >= now - 399 * DAY && c.to <= now));
  });

  it('alarms a baseline saved ahead of the clock at start, says once why readings are not billed, and recovers by rebaseline', () => {
    // A state saved by a version that adopted a microsecond stamp: baseline in the year 58899.
    const poisoned = { 'E-1': { status: 'ok', baseline: { value: 1501, ts: NOW * 1000 } } };
    const engine = clocked();
    engine.restore(JSON.parse(JSON.stringify(poisoned)));
    const alarms = engine.aheadAlarms((meterId) => (meterId === 'E-1' ? meter : { meterId }));
    assert.deepEqual(
      alarms.map((e) => [e.meterId, e.type, e.alarm, e.accountId]),
      [['E-1', 'future-baseline', true, 'T1']],
    );
    assert.match(
      alarms[0]!.text,
      /lies 5\d{4} years ahead of this node's clock: no reading bills until a rebaseline or replace/,
    );
    assert.deepEqual(
      engine.aheadAlarms(() => meter),
      [],
      'raised once',
    );
    now += MIN;
    const stale = engine.reading(meter, 1502, now);
    assert.deepEqual(
      stale.events.map((e) => [e.type, e.alarm]),
      [['stale', false]],
    );
    assert.match(
      stale.events[0]!.text,
      /which lies ahead of this node's clock: not billed until a rebaseline or replace/,
    );
    now += MIN;
    for (let i = 0; i < 5; i += 1)
      assert.deepEqual(
        engine.reading(meter, 1502.5, now + i).events.map((e) => e.type),
        ['stale'],
        'no alarm per reading',
      );
    // The rebaseline the old engine refused ("not after the last reading").
    now += MIN;
    const fixed = engine.rebaseline(meter, 1503, now, 'baseline stamped in microseconds');
    assert.deepEqual(
      fixed.events.map((e) => [e.type, e.alarm]),
      [
        ['future-baseline', false],
        ['rebaselined', false],
      ],
    );
    assert.match(fixed.events.at(-1)!.text, /replaces a baseline dated \+05\d{4}-/);
    now += MIN;
    assert.equal(engine.reading(meter, 1504, now).consumptions[0]!.delta, 1);
  });

  it('an alarm for a future baseline also comes with the first stale reading when none was raised at start', () => {
    const engine = clocked();
    engine.restore({ 'E-1': { status: 'ok', baseline: { value: 10, ts: NOW + 30 * 24 * 60 * MIN } } });
    const stale = engine.reading(meter, 11, NOW);
    assert.deepEqual(
      stale.events.map((e) => [e.type, e.alarm]),
      [
        ['stale', false],
        ['future-baseline', true],
      ],
    );
    assert.deepEqual(
      engine.reading(meter, 11.5, NOW + 1).events.map((e) => e.type),
      ['stale'],
    );
  });

  it('replaces a meter whose baseline lies ahead of the clock, billing nothing for the old one and saying how much', () => {
    const engine = clocked();
    engine.restore({ 'E-1': { status: 'ok', baseline: { value: 45000, ts: 1e20 } } });
    const swap = engine.replace(meter, 45012.3, 0.5, now);
    assert.deepEqual(swap.consumptions, []);
    const replaced = swap.events.find((e) => e.type === 'replaced')!;
    assert.equal(replaced.unbilled, 12.3);
    assert.match(replaced.text, /lay ahead of the clock and is replaced: 12.3 kWh not billed/);
    assert.ok(swap.events.some((e) => e.type === 'future-baseline' && e.alarm === false));
    now += MIN;
    assert.equal(engine.reading(meter, 1.5, now).consumptions[0]!.delta, 1);
    // A poisoned baseline's value is not trusted either: a final value below it does not block the exchange.
    const other = clocked();
    other.restore({ 'E-1': { status: 'ok', baseline: { value: 99999, ts: now * 1000 } } });
    const below = other.replace(meter, 45012.3, 0, now);
    assert.equal(below.events.find((e) => e.type === 'replaced')!.unbilled, 0);
  });

  it('refuses operator commands dated ahead of the clock', () => {
    const engine = clocked();
    engine.reading(meter, 10, NOW - MIN);
    assert.throws(
      () => engine.rebaseline(meter, 3, NOW * 1000, 'x'),
      /rebaseline time .* is ahead of this node's clock.*microseconds/,
    );
    assert.throws(
      () => engine.replace(meter, 11, 0, NOW + 60 * MIN),
      /replacement time .* is ahead of this node's clock/,
    );
    assert.deepEqual(engine.state('E-1')!.baseline, { value: 10, ts: NOW - MIN });
  });

  it('never dates a baseline or a slice ahead of the clock, nor spans a slice beyond the bound, whatever the stamps', () => {
    const DAY = 24 * 60 * MIN;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            advance: fc.integer({ min: 0, max: 40 * DAY }),
            stamp: fc.constantFrom('now', 'now', 'now', 'micro', 'seconds', 'year', 'past', 'huge', 'loss'),
            use: fc.integer({ min: 0, max: 500 }),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        (steps) => {
          now = NOW;
          const engine = clocked({ maxGapMs: 100 * DAY });
          let value = 1000;
          for (const step of steps) {
            now += step.advance;
            value += step.use / 100;
            const ts = {
              now,
              micro: now * 1000,
              seconds: Math.floor(now / 1000),
              year: now + 365 * DAY,
              past: now - 10 * DAY,
              huge: 1e20,
              loss: now,
            }[step.stamp];
            const out =
              step.stamp === 'loss' ? engine.commLoss(meter, now, 'test') : engine.reading(meter, value, ts);
            for (const c of out.consumptions) {
              assert.ok(c.to <= now + 5 * MIN, `slice ends ${new Date(c.to).toISOString()} after the clock`);
              assert.ok(c.from < c.to && c.to - c.from <= 100 * DAY);
            }
            const baseline = engine.state('E-1')!.baseline;
            if (baseline) assert.ok(baseline.ts <= now + 5 * MIN && baseline.ts >= Date.UTC(2000, 0, 1));
          }
        },
      ),
    );
  });
});

describe('delta engine: the chain of registers the ledger reconciles', () => {
  it('starts every consumption where the one before ended, through gaps, spikes and rollovers (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            kind: fc.constantFrom('read', 'read', 'read', 'loss', 'spike', 'wrap'),
            step: fc.integer({ min: 1, max: 90 * MIN }),
            use: fc.integer({ min: 0, max: 5000 }),
          }),
          { minLength: 1, maxLength: 60 },
        ),
        (events) => {
          const engine = new DeltaEngine({ now: () => T0 + 1000 * 24 * 60 * MIN });
          const info = { ...meter, maxRatePerHour: 1000, rolloverAt: 100_000 };
          let t = T0;
          let truth = 99_000 * 100;
          engine.reading(info, truth / 100, t);
          let end: number | undefined = truth / 100;
          for (const e of events) {
            t += e.step;
            truth = (truth + e.use) % (100_000 * 100);
            const value = truth / 100;
            const out =
              e.kind === 'loss'
                ? engine.commLoss(info, t, 'test')
                : e.kind === 'spike'
                  ? engine.reading(info, (value + 50_000) % 100_000, t)
                  : engine.reading(info, value, t);
            for (const c of out.consumptions) {
              assert.equal(c.start, end, `${c.readingId} starts where the one before ended`);
              assert.equal(c.after, undefined);
              if (!c.rollover)
                assert.equal(norm(sum([c.value, -(c.start as number)])), norm(String(c.delta)));
              end = c.value;
            }
          }
        },
      ),
    );
  });

  it('marks the consumption after a rebaseline or a replacement, and a rollover', () => {
    const engine = new DeltaEngine({ now: () => T0 + 1000 * MIN });
    const info = { ...meter, rolloverAt: 10_000, maxRatePerHour: 1000 };
    engine.reading(info, 9_990, T0);
    const wrap = engine.reading(info, 10, T0 + 15 * MIN);
    assert.deepEqual(
      wrap.consumptions.map((c) => [c.start, c.value, c.delta, c.rollover]),
      [[9_990, 10, 20, true]],
    );
    engine.rebaseline(info, 500, T0 + 20 * MIN, 'register reset by the maker');
    const next = engine.reading(info, 510, T0 + 30 * MIN);
    assert.deepEqual(next.consumptions[0]?.after, {
      event: 'rebaselined',
      at: T0 + 20 * MIN,
      text: 'register reset by the maker',
    });
    assert.equal(next.consumptions[0]?.start, 500);
    const later = engine.reading(info, 520, T0 + 45 * MIN);
    assert.equal(later.consumptions[0]?.after, undefined, 'only the first consumption carries it');
    const replaced = engine.replace(info, 530, 7, T0 + 60 * MIN);
    assert.deepEqual(
      replaced.consumptions.map((c) => [c.start, c.value, c.after]),
      [[520, 530, undefined]],
    );
    const fresh = engine.reading(info, 9, T0 + 75 * MIN);
    assert.equal(fresh.consumptions[0]?.start, 7);
    assert.equal(fresh.consumptions[0]?.after?.event, 'replaced');
  });
});
