/**
 * Move-in and move-out: the calendar of an account runs from its move-in day (its first reading's, or a
 * move-in message's) to its move-out day, and the fixed monthly items and the minimum of a month occupied in
 * part follow the tariff's partialMonth policy (none, pro-rata, whole month). What was raised in advance and
 * is not owed comes back as a credit. Amounts are worked by hand in the comments (sub-minor unit = 1/10,000 of
 * a penny; 1 GBP = 1,000,000 sub-minor units, a credit is in pence).
 */
import assert from 'node:assert/strict';
import { compileTariff } from '../../dist/nodes/core/tariff/compile';
import { ConsumptionError, TariffEngine } from '../../dist/nodes/core/tariff/engine';
import { parseEngineState, serializeEngineState } from '../../dist/nodes/core/tariff/state';
import { CompiledTariff } from '../../dist/nodes/core/tariff/types';
import { Charge, Credit } from '../../dist/nodes/core/messages';
import { CalendarScheduler } from '../../dist/nodes/tariff/calendar-scheduler';
import type { Clock, TimerHandle } from '../../dist/nodes/core/clock';

const DAY = 86_400_000;
let counter = 0;

function tariffWith(extra: Record<string, unknown> = {}): CompiledTariff {
  return compileTariff(
    {
      currency: 'GBP',
      timezone: 'UTC',
      energy: { type: 'flat', rate: '0.25' },
      fixedMonthly: [{ name: 'meter', amount: '30' }],
      minimumMonthly: '90',
      ...extra,
    },
    'office',
  );
}

/** 40 kWh at 0.25 = 10 GBP for account A over the hour starting at `at` (ISO). */
function reading(
  engine: TariffEngine,
  tariff: CompiledTariff,
  at: string,
  account = 'A',
  delta = 40,
): Charge {
  const from = Date.parse(at);
  const outcome = engine.priceConsumption(
    tariff,
    {
      meterId: `M-${account}`,
      accountId: account,
      readingId: `r${++counter}`,
      unit: 'kWh',
      from,
      to: from + 3_600_000,
      delta,
    },
    { now: from },
  );
  assert.equal(outcome.status, 'priced');
  return (outcome as { charge: Charge }).charge;
}

function dates(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += DAY)
    out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

const run = (
  engine: TariffEngine,
  tariff: CompiledTariff,
  from: string,
  to: string,
  account = 'A',
): Charge[] =>
  dates(from, to).flatMap((date) => engine.calendarCharges(tariff, account, date, { accountId: account }));

const lines = (charge: Charge | Credit | undefined): Array<[string, number]> =>
  (charge?.breakdown ?? []).map((l) => [l.component, l.amount]);

const restart = (engine: TariffEngine): TariffEngine =>
  new TariffEngine(parseEngineState(JSON.parse(serializeEngineState(engine.snapshot()))));

/** A clock that stands still at `now` (the scheduler only asks the time and arms a timer). */
function clockAt(now: number): Clock {
  return {
    now: () => now,
    setTimeout: () => 1 as unknown as TimerHandle,
    clearTimeout: () => undefined,
  };
}

describe('tariff: move-in', function () {
  it('a tenant whose first reading falls on the 1st owes that month whole (the calendar starts that day)', function () {
    const tariff = tariffWith({ standingCharge: { perDay: '1' } });
    const engine = new TariffEngine();
    reading(engine, tariff, '2024-06-01T10:00:00Z');
    const raised: Charge[] = [];
    // The first midnight after the reading: the scheduler catches up from the move-in day.
    const scheduler = new CalendarScheduler(
      clockAt(Date.parse('2024-06-02T00:00:01Z')),
      engine,
      () => new Map([[tariff.name, tariff]]),
      (charges) => raised.push(...charges),
    );
    scheduler.start();
    scheduler.stop();
    assert.deepEqual(
      raised.map((c) => [c.readingId, lines(c)]),
      [
        ['monthly:A:2024-06', [['fixed.meter', 30_000_000]]],
        ['standing:A:2024-06-01', [['standing', 1_000_000]]],
        ['standing:A:2024-06-02', [['standing', 1_000_000]]],
      ],
    );
    // And its minimum: 30 rental + 30 days x 1 standing + 10 energy = 70, lifted to 90.
    run(engine, tariff, '2024-06-03', '2024-06-30');
    const [july] = engine.calendarCharges(tariff, 'A', '2024-07-01', { accountId: 'A' });
    assert.deepEqual(lines(july), [
      ['minimum', 20_000_000],
      ['fixed.meter', 30_000_000],
    ]);
  });

  it('pro-rata: a move-in on 15 July owes 17/31 of the fixed items and of the minimum, exactly', function () {
    const tariff = tariffWith();
    const engine = new TariffEngine();
    reading(engine, tariff, '2024-07-15T08:00:00Z');
    const july = run(engine, tariff, '2024-07-15', '2024-07-31');
    // 30 GBP x 17/31 = 16.451612903... GBP = 16,451,612.903 sub-minor: 16,451,613.
    assert.deepEqual(
      july.map((c) => [c.readingId, lines(c)]),
      [['monthly:A:2024-07-15', [['fixed.meter', 16_451_613]]]],
    );
    assert.equal(july[0]?.breakdown[0]?.quantity, '0.548387');
    // Minimum 90 x 17/31 = 49.354838709... = 49,354,838.709 sub-minor; owed so far 16,451,613 + 10,000,000:
    // the shortfall 22,903,225.709 rounds to 22,903,226 (the rounding once, half-even).
    const [august] = restart(engine).calendarCharges(tariff, 'A', '2024-08-01', { accountId: 'A' });
    assert.deepEqual(lines(august), [
      ['minimum', 22_903_226],
      ['fixed.meter', 30_000_000],
    ]);
  });

  it('none owes nothing for the month moved in; whole-month owes all of it', function () {
    const none = tariffWith({ partialMonth: { moveIn: 'none' } });
    const whole = tariffWith({ partialMonth: { moveIn: 'whole-month' } });
    const a = new TariffEngine();
    reading(a, none, '2024-06-11T08:00:00Z');
    assert.deepEqual(run(a, none, '2024-06-11', '2024-06-30'), []);
    const [julyNone] = a.calendarCharges(none, 'A', '2024-07-01', { accountId: 'A' });
    assert.deepEqual(lines(julyNone), [['fixed.meter', 30_000_000]]);

    const b = new TariffEngine();
    reading(b, whole, '2024-06-11T08:00:00Z');
    assert.deepEqual(
      run(b, whole, '2024-06-11', '2024-06-30').map((c) => [c.readingId, lines(c)]),
      [['monthly:A:2024-06-11', [['fixed.meter', 30_000_000]]]],
    );
    // The whole minimum: 90 - 30 - 10 = 50.
    const [julyWhole] = b.calendarCharges(whole, 'A', '2024-07-01', { accountId: 'A' });
    assert.deepEqual(lines(julyWhole), [
      ['minimum', 50_000_000],
      ['fixed.meter', 30_000_000],
    ]);
  });

  it('a move-in message sets the day the calendar starts, and a new tenancy follows a move-out', function () {
    const tariff = tariffWith();
    const engine = new TariffEngine();
    engine.moveIn(tariff, 'A', '2024-06-21');
    // 30 x 10/30 = 10 GBP.
    assert.deepEqual(lines(run(engine, tariff, '2024-06-01', '2024-06-30')[0]), [
      ['fixed.meter', 10_000_000],
    ]);
    assert.throws(() => engine.moveIn(tariff, 'A', '2024-07-05'), ConsumptionError);
    engine.moveOut(tariff, 'A', '2024-06-30', { accountId: 'A' });
    engine.takeCredits();
    engine.moveIn(tariff, 'A', '2024-08-11');
    const august = run(engine, tariff, '2024-07-01', '2024-08-31');
    // 30 x 21/31 = 20.322580645... GBP.
    assert.deepEqual(
      august.map((c) => [c.readingId, lines(c)]),
      [['monthly:A:2024-08-11', [['fixed.meter', 20_322_581]]]],
    );
  });
});

describe('tariff: move-out', function () {
  const vat = { taxes: [{ name: 'VAT', percent: '20' }], standingCharge: { perDay: '1' } };

  /** A tenant in since May, June's items raised on the 1st, 10 GBP of energy in June. */
  function occupied(extra: Record<string, unknown>): { engine: TariffEngine; tariff: CompiledTariff } {
    const tariff = tariffWith({ ...vat, ...extra });
    const engine = new TariffEngine();
    reading(engine, tariff, '2024-05-01T08:00:00Z', 'A', 400);
    run(engine, tariff, '2024-05-01', '2024-06-01');
    reading(engine, tariff, '2024-06-05T08:00:00Z');
    return { engine, tariff };
  }

  it('pro-rata: the unused days of the fixed items come back (with their tax), and the minimum is for the days occupied', function () {
    const { engine, tariff } = occupied({});
    run(engine, tariff, '2024-06-02', '2024-06-20');
    // Moves out on the 20th, after that day's items were raised: the final items at once.
    const final = engine.moveOut(tariff, 'A', '2024-06-20', { accountId: 'A' });
    const [credit] = engine.takeCredits();
    // 30 x 10/30 = 10 GBP back, and its 20% VAT: 12.00 GBP = 1,200 pence.
    assert.deepEqual(
      [credit?.reference, credit?.amount, lines(credit)],
      [
        'move-out:A:2024-06-20',
        1200,
        [
          ['fixed.meter', 10_000_000],
          ['tax.VAT', 2_000_000],
        ],
      ],
    );
    // Minimum 90 x 20/30 = 60; owed: 30 - 10 rental + 20 days x 1 standing + 10 energy = 50; 10 short (+ VAT).
    assert.deepEqual(
      final.map((c) => [c.readingId, c.kind, lines(c)]),
      [
        [
          'move-out:A:2024-06-20',
          'monthly',
          [
            ['minimum', 10_000_000],
            ['tax.VAT', 2_000_000],
          ],
        ],
      ],
    );
    // Nothing after the move-out; the same move-out again raises nothing.
    assert.deepEqual(run(engine, tariff, '2024-06-21', '2024-07-02'), []);
    assert.deepEqual(engine.moveOut(tariff, 'A', '2024-06-20', { accountId: 'A' }), []);
    assert.deepEqual(engine.takeCredits(), []);
  });

  it('a move-out sent late gives back the days raised after it too; one for a future day waits for it', function () {
    const late = occupied({});
    run(late.engine, late.tariff, '2024-06-02', '2024-06-22');
    late.engine.moveOut(late.tariff, 'A', '2024-06-20', { accountId: 'A' });
    // 10 GBP of rental, 2 days x 1 standing, 20% VAT: 14.40 GBP.
    const [credit] = late.engine.takeCredits();
    assert.deepEqual(
      [credit?.amount, lines(credit)],
      [
        1440,
        [
          ['standing', 2_000_000],
          ['fixed.meter', 10_000_000],
          ['tax.VAT', 2_400_000],
        ],
      ],
    );

    const ahead = occupied({});
    run(ahead.engine, ahead.tariff, '2024-06-02', '2024-06-10');
    assert.deepEqual(ahead.engine.moveOut(ahead.tariff, 'A', '2024-06-20', { accountId: 'A' }), []);
    assert.deepEqual(ahead.engine.takeCredits(), []);
    // Across a restart; the final items come with the move-out day's.
    const engine = restart(ahead.engine);
    const raised = run(engine, ahead.tariff, '2024-06-11', '2024-06-30');
    assert.equal(raised.filter((c) => c.kind === 'standing').length, 10);
    assert.deepEqual(raised.at(-1)?.readingId, 'move-out:A:2024-06-20');
    assert.equal(engine.takeCredits()[0]?.amount, 1200);
  });

  it('none gives back the whole month and owes no minimum; whole-month gives nothing back and owes all of it', function () {
    const none = occupied({ partialMonth: { moveOut: 'none' } });
    run(none.engine, none.tariff, '2024-06-02', '2024-06-20');
    const noneFinal = none.engine.moveOut(none.tariff, 'A', '2024-06-20', { accountId: 'A' });
    // 30 GBP + 20% = 36.00.
    assert.equal(none.engine.takeCredits()[0]?.amount, 3600);
    assert.deepEqual(noneFinal, []);

    const whole = occupied({ partialMonth: { moveOut: 'whole-month' } });
    run(whole.engine, whole.tariff, '2024-06-02', '2024-06-20');
    const wholeFinal = whole.engine.moveOut(whole.tariff, 'A', '2024-06-20', { accountId: 'A' });
    assert.deepEqual(whole.engine.takeCredits(), []);
    // 90 - (30 + 20 + 10) = 30 short, + 20% VAT.
    assert.deepEqual(lines(wholeFinal[0]), [
      ['minimum', 30_000_000],
      ['tax.VAT', 6_000_000],
    ]);
  });

  it('refuses a move-out before the move-in, in a month already closed, or a second one on another day', function () {
    const { engine, tariff } = occupied({});
    run(engine, tariff, '2024-06-02', '2024-07-02');
    assert.throws(() => engine.moveOut(tariff, 'A', '2024-04-30', { accountId: 'A' }), /move-in/);
    assert.throws(() => engine.moveOut(tariff, 'A', '2024-06-28', { accountId: 'A' }), /already closed/);
    engine.moveOut(tariff, 'A', '2024-07-10', { accountId: 'A' });
    assert.throws(
      () => engine.moveOut(tariff, 'A', '2024-07-11', { accountId: 'A' }),
      /moved out on 2024-07-10/,
    );
    assert.throws(() => engine.moveOut(tariff, 'B', '2024-07-11', { accountId: 'B' }), ConsumptionError);
  });
});
