/**
 * The tariff engine's behaviours one by one: rounding modes on ties, replays, dynamic prices and
 * their fallback, carbon, surcharges with a volume share, taxes after the line items, capacity
 * charges by day-count convention, fixed monthly items and the minimum charge, standing charges
 * once per day, maximum demand, unit conversion, restarts, and errors that name the field.
 * Expected amounts are worked by hand in the comments (sub-minor unit = 1/10,000 of a penny/cent).
 */
import assert from 'node:assert/strict';
import { compileTariff } from '../../dist/nodes/core/tariff/compile';
import {
  ConsumptionError,
  ConsumptionInput,
  PricingContext,
  TariffEngine,
} from '../../dist/nodes/core/tariff/engine';
import { parseEngineState, serializeEngineState } from '../../dist/nodes/core/tariff/state';
import { CompiledTariff } from '../../dist/nodes/core/tariff/types';
import { Charge } from '../../dist/nodes/core/messages';

const HOUR = 3_600_000;
const DAY = 86_400_000;
const T0 = Date.parse('2024-06-03T00:00:00Z'); // a Monday

let counter = 0;

/** Prices one reading (1 kWh over the hour from T0 unless overridden) and expects it priced. */
function price(
  engine: TariffEngine,
  tariff: CompiledTariff,
  input: Partial<ConsumptionInput> = {},
  ctx: Partial<PricingContext> = {},
): Charge {
  const outcome = engine.priceConsumption(
    tariff,
    { meterId: 'M', readingId: `r${++counter}`, unit: 'kWh', from: T0, to: T0 + HOUR, delta: 1, ...input },
    { now: T0, ...ctx },
  );
  assert.equal(outcome.status, 'priced');
  return (outcome as { charge: Charge }).charge;
}

const lines = (charge: Charge): Array<[string, number]> =>
  charge.breakdown.map((l) => [l.component, l.amount]);

/** A restart: the state written as JSON and read back into a new engine. */
const restart = (engine: TariffEngine): TariffEngine =>
  new TariffEngine(parseEngineState(JSON.parse(serializeEngineState(engine.snapshot()))));

/** Every local date from `from` to `to` inclusive ("YYYY-MM-DD"). */
function dates(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += DAY) {
    out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
}

describe('tariff engine: rounding', function () {
  for (const [mode, expected, tax] of [
    ['half-even', [0, 2, 0, 0], 0],
    ['half-away-from-zero', [1, 1, 0, 1], 1],
  ] as const) {
    it(`${mode}: ties in the running total round as the mode says`, function () {
      // 1 sub-minor unit per kWh: 0.5 kWh is a tie at every step.
      const tariff = compileTariff(
        { currency: 'GBP', rounding: mode, energy: { type: 'flat', rate: '0.000001' } },
        mode,
      );
      const engine = new TariffEngine();
      // Running totals 0.5, 1.5, 2.0, 2.5 sub-minor units.
      const amounts = ['0.5', '1', '0.5', '0.5'].map(
        (delta, i) => price(engine, tariff, { delta, from: T0 + i * HOUR, to: T0 + (i + 1) * HOUR }).amount,
      );
      assert.deepEqual(amounts, expected);
      // A 50% tax on a 1 sub-minor line is a tie too.
      const taxed = compileTariff(
        {
          currency: 'GBP',
          rounding: mode,
          energy: { type: 'flat', rate: '0.000001' },
          taxes: [{ name: 'half', percent: '50' }],
        },
        `${mode}-tax`,
      );
      assert.deepEqual(lines(price(new TariffEngine(), taxed)), [
        ['energy', 1],
        ['tax.half', tax],
      ]);
    });
  }

  it('each line keeps its own running total, residues carrying to the next reading', function () {
    // 24.5617 p/kWh x 0.0001 kWh = 0.00245617 p = 24.5617 sub-minor units, across a period boundary.
    const tariff = compileTariff(
      {
        currency: 'GBP',
        priceUnit: 'minor',
        energy: {
          type: 'tou',
          rates: { a: '24.5617', b: '24.5617' },
          default: 'a',
          schedule: [{ days: ['weekday'], from: '00:30', to: '24:00', period: 'b' }],
        },
      },
      'two',
    );
    const engine = new TariffEngine();
    // Half in each period: 12.28085 each -> 12 and 12 (each line has its own running total).
    assert.deepEqual(lines(price(engine, tariff, { delta: '0.0001' })), [
      ['energy.a', 12],
      ['energy.b', 12],
    ]);
    // The residues carry: the next identical reading brings each total to 24.5617 -> 25.
    assert.deepEqual(lines(price(engine, tariff, { delta: '0.0001', from: T0 + DAY, to: T0 + DAY + HOUR })), [
      ['energy.a', 13],
      ['energy.b', 13],
    ]);
  });
});

describe('tariff engine: the largest figures a tariff may hold', function () {
  it('the largest rate, standing charge and tax price a reading of 100,000 units to a safe integer', function () {
    const tariff = compileTariff(
      {
        currency: 'GBP',
        energy: { type: 'flat', rate: '9999.999999' },
        surcharges: [{ name: 'levy', rate: '9999.999999' }],
        taxes: [{ name: 'VAT', percent: '100' }],
      },
      'largest',
    );
    const charge = price(new TariffEngine(), tariff, { delta: '100000' });
    // 100,000 x 9,999.999999 GBP = 999,999,999.9 GBP = 9,999,999,999,000,000 sub-minor... per line: 10^5 x
    // 9,999,999,999 sub-minor = 999,999,999,900,000 each, two lines, and the tax at 100%.
    const line = 999_999_999_900_000;
    assert.deepEqual(lines(charge).slice(0, 2), [
      ['energy', line],
      ['surcharge.levy', line],
    ]);
    assert.equal(charge.amount, 4 * line);
    assert.ok(Number.isSafeInteger(charge.amount));
  });
});

describe('tariff engine: items per declared quantity', function () {
  it('prices monthly items and capacity per what each account declares, the latest declaration winning', function () {
    const tariff = compileTariff(
      {
        currency: 'SGD',
        utility: 'cooling',
        timezone: 'Asia/Singapore',
        energy: { type: 'flat', rate: '0.20' },
        fixedMonthly: [
          { name: 'fittings', per: 'fittings', rate: '2.50' },
          { name: 'admin', amount: '1.00' },
        ],
        capacity: { per: 'RT', ratePerYear: '288', dayCount: 'actual/360' },
      },
      'per',
    );
    assert.deepEqual(tariff.declared, ['fittings', 'RT']);
    const engine = new TariffEngine();
    const at = Date.parse('2024-06-10T02:00:00Z');
    // Nothing declared: refused before anything changes (no account appears for the calendar).
    assert.throws(
      () =>
        engine.priceConsumption(
          tariff,
          { meterId: 'C1', accountId: 'A', readingId: 'x', delta: 1, unit: 'kWh', from: at, to: at },
          { now: at },
        ),
      /declared\.fittings: is required: tariff "per" prices items per fittings of each account/,
    );
    assert.deepEqual(engine.knownAccounts(), []);
    assert.throws(
      () =>
        engine.priceConsumption(
          tariff,
          {
            meterId: 'C1',
            accountId: 'A',
            readingId: 'x',
            delta: 1,
            unit: 'kWh',
            from: at,
            to: at,
            declared: { fittings: '1e3', RT: '120' },
          },
          { now: at },
        ),
      /declared\.fittings: must be a plain decimal/,
    );
    const declare = (id: string, declared: Record<string, string | number>): void => {
      const outcome = engine.priceConsumption(
        tariff,
        { meterId: 'C1', accountId: 'A', readingId: id, delta: 1, unit: 'kWh', from: at, to: at, declared },
        { now: at },
      );
      assert.equal(outcome.status, 'priced');
    };
    declare('r1', { fittings: 3, RT: '120' });
    const day = engine.calendarCharges(tariff, 'A', '2024-06-11', { accountId: 'A', utility: 'cooling' });
    // 120 RT x SGD 288 / 360 = SGD 96.00 a day
    assert.deepEqual(
      (day[0] as Charge).breakdown.map((l) => [l.component, l.quantity, l.unit, l.rate, l.amount]),
      [['capacity', '120', 'RT x 1/360 year', '288.000000', 96_000_000]],
    );
    declare('r2', { fittings: '4' }); // one more fitting; RT as declared before
    const july = engine.calendarCharges(tariff, 'A', '2024-07-01', { accountId: 'A', utility: 'cooling' });
    const monthly = july.find((c) => c.kind === 'monthly') as Charge;
    assert.deepEqual(
      monthly.breakdown.map((l) => [l.component, l.quantity, l.unit, l.rate, l.amount]),
      [
        ['fixed.fittings', '4', 'fittings', '2.500000', 10_000_000],
        ['fixed.admin', '1', 'month', '1.000000', 1_000_000],
      ],
    );
    const standing = july.find((c) => c.kind === 'standing') as Charge;
    assert.equal(standing.amount, 96_000_000);
  });
});

describe('tariff engine: replays', function () {
  const tariff = compileTariff(
    {
      currency: 'GBP',
      energy: { type: 'block', reset: 'day', blocks: [{ upTo: 1, rate: '0.1' }, { rate: '0.2' }] },
      taxes: [{ name: 'VAT', percent: '5' }],
    },
    'b',
  );
  const input = {
    meterId: 'M',
    accountId: 'A',
    readingId: 'same',
    unit: 'kWh',
    delta: 0.7,
    from: T0,
    to: T0 + HOUR,
  };

  it('the same reading id returns status "replay" with the original charge and changes nothing', function () {
    const engine = new TariffEngine();
    const first = engine.priceConsumption(tariff, input, { now: 0 });
    assert.equal(first.status, 'priced');
    const before = serializeEngineState(engine.snapshot());
    // Even with a different body, the id decides.
    const again = engine.priceConsumption(tariff, { ...input, delta: 5 }, { now: 0 });
    assert.equal(again.status, 'replay');
    assert.deepEqual(again, {
      status: 'replay',
      readingId: 'same',
      charge: (first as { charge: Charge }).charge,
    });
    assert.equal(serializeEngineState(engine.snapshot()), before);
    // A new id for an interval the meter already reported is a replay too (no charge to resend).
    const overlap = engine.priceConsumption(tariff, { ...input, readingId: 'other' }, { now: 0 });
    assert.deepEqual(overlap, { status: 'replay', readingId: 'other' });
    assert.equal(serializeEngineState(engine.snapshot()), before);
    // The next reading continues the block position: 0.3 kWh left in block 1, 0.2 kWh in block 2.
    const next = engine.priceConsumption(
      tariff,
      { ...input, readingId: 'next', delta: 0.5, from: T0 + HOUR, to: T0 + 2 * HOUR },
      { now: 0 },
    );
    assert.deepEqual(lines((next as { charge: Charge }).charge), [
      ['block.1', 30_000], // 0.3 kWh x 10 p
      ['block.2', 40_000], // 0.2 kWh x 20 p
      ['tax.VAT', 3_500],
    ]);
  });

  it('replays are recognised after a restart, with the original charge', function () {
    const engine = new TariffEngine();
    const first = engine.priceConsumption(tariff, input, { now: 0 }) as { charge: Charge };
    const restarted = restart(engine);
    const before = serializeEngineState(restarted.snapshot());
    const again = restarted.priceConsumption(tariff, input, { now: 0 });
    // The charge came back through JSON (fields holding undefined are dropped).
    assert.deepEqual(again, {
      status: 'replay',
      readingId: 'same',
      charge: JSON.parse(JSON.stringify(first.charge)),
    });
    assert.equal(serializeEngineState(restarted.snapshot()), before);
  });

  it('calendar charges are not raised twice for a date, nor for an earlier one', function () {
    const standing = compileTariff(
      { currency: 'GBP', energy: { type: 'flat', rate: '0.1' }, standingCharge: { perDay: '0.5' } },
      's',
    );
    const engine = new TariffEngine();
    assert.equal(engine.calendarCharges(standing, 'A', '2024-06-03').length, 1);
    const before = serializeEngineState(engine.snapshot());
    assert.deepEqual(engine.calendarCharges(standing, 'A', '2024-06-03'), []);
    assert.deepEqual(engine.calendarCharges(standing, 'A', '2024-06-02'), []);
    assert.deepEqual(restart(engine).calendarCharges(standing, 'A', '2024-06-03'), []);
    assert.equal(serializeEngineState(engine.snapshot()), before);
  });
});

describe('tariff engine: dynamic prices and carbon', function () {
  const dynamic = compileTariff(
    { currency: 'EUR', energy: { type: 'dynamic', fallbackRate: '0.30', maxAgeMinutes: 60 } },
    'dyn',
  );

  it('prices each part of a reading by the signal interval covering it, the rest by the fallback', function () {
    const engine = new TariffEngine();
    // 1,000 sub-minor units per kWh (0.1 cent) for the first half hour; the fallback 0.30 EUR after.
    const prices = { issuedAt: T0, intervals: [{ from: T0, to: T0 + HOUR / 2, rate: 1000n }] };
    assert.deepEqual(lines(price(engine, dynamic, { delta: 2 }, { prices })), [
      ['energy.dynamic', 1000], // 1 kWh x 1,000
      ['energy.fallback', 300_000], // 1 kWh x 30 cents
    ]);
    // Two signal intervals with different rates inside one reading: one line, the exact sum.
    const two = {
      issuedAt: T0,
      intervals: [
        { from: T0 + HOUR, to: T0 + 1.5 * HOUR, rate: 200_000n },
        { from: T0 + 1.5 * HOUR, to: T0 + 2 * HOUR, rate: 100_000n },
      ],
    };
    const charge = price(engine, dynamic, { delta: 4, from: T0 + HOUR, to: T0 + 2 * HOUR }, { prices: two });
    assert.deepEqual(lines(charge), [['energy.dynamic', 600_000]]); // 2 x 20 + 2 x 10 cents
    assert.equal(charge.breakdown[0]?.rate, ''); // mixed rates show no single rate
  });

  it('falls back when the signal is older than maxAgeMinutes or does not cover the time', function () {
    const engine = new TariffEngine();
    const prices = { issuedAt: T0, intervals: [{ from: T0, to: T0 + 10 * HOUR, rate: 1000n }] };
    const stale = price(engine, dynamic, { delta: 2 }, { prices, now: T0 + HOUR + 1 });
    assert.deepEqual(lines(stale), [['energy.fallback', 600_000]]);
    const fresh = price(
      engine,
      dynamic,
      { delta: 2, from: T0 + HOUR, to: T0 + 2 * HOUR },
      { prices, now: T0 + HOUR },
    );
    assert.deepEqual(lines(fresh), [['energy.dynamic', 2000]]);
    const uncovered = price(
      engine,
      dynamic,
      { delta: 2, from: T0 + 11 * HOUR, to: T0 + 12 * HOUR },
      { prices },
    );
    assert.deepEqual(lines(uncovered), [['energy.fallback', 600_000]]);
    const none = price(engine, dynamic, { delta: 2, from: T0 + 12 * HOUR, to: T0 + 13 * HOUR });
    assert.deepEqual(lines(none), [['energy.fallback', 600_000]]);
  });

  it('a signal interval ending between two milliseconds splits the reading at the next whole one', function () {
    const engine = new TariffEngine();
    const prices = { issuedAt: T0, intervals: [{ from: T0, to: T0 + HOUR / 2 + 0.5, rate: 1000n }] };
    const charge = price(engine, dynamic, { delta: 2 }, { prices });
    // 2 kWh x 1,800,001 / 3,600,000 at 1,000 -> 1,000.0006 -> 1,000; the rest at 300,000 -> 299,999.83 -> 300,000
    assert.deepEqual(lines(charge), [
      ['energy.dynamic', 1000],
      ['energy.fallback', 300_000],
    ]);
  });

  it('carbon: a fixed kg per unit, or a time-varying signal while it is fresh', function () {
    const tariff = compileTariff(
      {
        currency: 'GBP',
        energy: { type: 'flat', rate: '0.25' },
        carbon: { kgPerUnit: '0.207', maxAgeMinutes: 30 },
      },
      'c',
    );
    const engine = new TariffEngine();
    assert.equal(price(engine, tariff, { delta: 10 }).carbonKg, 2.07);
    const signal = {
      issuedAt: T0,
      intervals: [{ from: T0 + HOUR, to: T0 + 1.5 * HOUR, mgPerUnit: { num: 50_000n, den: 1n } }],
    };
    // Half the hour at 50 g/kWh (signal), half at the tariff's 207 g/kWh: 5 x 0.05 + 5 x 0.207.
    assert.equal(
      price(engine, tariff, { delta: 10, from: T0 + HOUR, to: T0 + 2 * HOUR }, { carbon: signal }).carbonKg,
      1.285,
    );
    // Stale (issued 31 minutes before now): the fixed factor.
    assert.equal(
      price(
        engine,
        tariff,
        { delta: 10, from: T0 + HOUR, to: T0 + 2 * HOUR, meterId: 'N' },
        { carbon: signal, now: T0 + 31 * 60_000 },
      ).carbonKg,
      2.07,
    );
    // Carbon does not change the money.
    assert.deepEqual(lines(price(engine, tariff, { delta: 10, meterId: 'P' }, { carbon: signal })), [
      ['energy', 2_500_000],
    ]);
  });
});

describe('tariff engine: surcharges, taxes, standing and monthly items', function () {
  it('water with sewerage on 95% of the volume, and a levy on the water line only', function () {
    const tariff = compileTariff(
      {
        currency: 'HKD',
        utility: 'water',
        energy: { type: 'flat', rate: '4.16' },
        surcharges: [{ name: 'sewerage', rate: '2.27', share: '95' }],
        taxes: [{ name: 'levy', percent: '10', appliesTo: ['energy'] }],
      },
      'w',
    );
    const charge = price(new TariffEngine(), tariff, { delta: 10, unit: 'm3' });
    // 10 m3 x 4.16 = 41.60; 9.5 m3 x 2.27 = 21.565; levy 10% of 41.60 = 4.16 (HKD, in 1/10,000 cents)
    assert.deepEqual(lines(charge), [
      ['energy', 41_600_000],
      ['surcharge.sewerage', 21_565_000],
      ['tax.levy', 4_160_000],
    ]);
    assert.equal(charge.amount, 67_325_000);
    assert.deepEqual(
      charge.breakdown.map((l) => [l.quantity, l.unit, l.rate]),
      [
        ['10', 'm3', '4.160000'],
        ['9.5', 'm3', '2.270000'],
        ['41.600000', 'HKD', '10%'],
      ],
    );
    assert.equal(charge.utility, 'water');
    // 10,000 litres are 10 m3.
    assert.equal(price(new TariffEngine(), tariff, { delta: 10_000, unit: 'L' }).amount, 67_325_000);
  });

  it('taxes come after the line items, each on the lines it names (a prefix covers sub-components)', function () {
    const tariff = compileTariff(
      {
        currency: 'GBP',
        priceUnit: 'minor',
        energy: {
          type: 'tou',
          rates: { peak: '30', offpeak: '10' },
          default: 'offpeak',
          schedule: [{ days: ['weekday'], from: '08:00', to: '20:00', period: 'peak' }],
        },
        surcharges: [{ name: 'fuel', rate: '1' }],
        standingCharge: { perDay: '50' },
        taxes: [
          { name: 'VAT', percent: '20' },
          { name: 'CCL', percent: '10', appliesTo: ['energy'] },
        ],
      },
      'taxed',
    );
    const engine = new TariffEngine();
    // 07:00-09:00 on a Monday: 1 kWh off-peak, 1 kWh peak.
    const charge = price(engine, tariff, { delta: 2, from: T0 + 7 * HOUR, to: T0 + 9 * HOUR });
    assert.deepEqual(lines(charge), [
      ['energy.offpeak', 100_000], // 10 p
      ['surcharge.fuel', 20_000], // 2 p
      ['energy.peak', 300_000], // 30 p
      ['tax.VAT', 84_000], // 20% of 42 p (not of the other tax)
      ['tax.CCL', 40_000], // 10% of the energy lines only
    ]);
    assert.equal(charge.amount, 544_000);
    const [standing] = engine.calendarCharges(tariff, 'meter:M', '2024-06-03');
    assert.deepEqual(lines(standing as Charge), [
      ['standing', 500_000],
      ['tax.VAT', 100_000],
      ['tax.CCL', 0],
    ]);
  });

  it('standing charges once for every local date, including the 23- and 25-hour days', function () {
    const tariff = compileTariff(
      {
        currency: 'GBP',
        priceUnit: 'minor',
        timezone: 'Europe/London',
        energy: { type: 'flat', rate: '20' },
        standingCharge: { perDay: '60.99' },
      },
      's',
    );
    const engine = new TariffEngine();
    const charges = dates('2024-03-30', '2024-04-01')
      .concat(dates('2024-10-26', '2024-10-28'))
      .flatMap((date) => engine.calendarCharges(tariff, 'A', date, { accountId: 'A' }));
    assert.deepEqual(
      charges.map((c) => [
        c.readingId,
        c.kind,
        c.amount,
        (c.to - c.from) / HOUR,
        c.accountId,
        c.quantity,
        c.unit,
      ]),
      [
        ['standing:A:2024-03-30', 'standing', 609_900, 24, 'A', '1', 'day'],
        ['standing:A:2024-03-31', 'standing', 609_900, 23, 'A', '1', 'day'],
        ['standing:A:2024-04-01', 'standing', 609_900, 24, 'A', '1', 'day'],
        ['standing:A:2024-10-26', 'standing', 609_900, 24, 'A', '1', 'day'],
        ['standing:A:2024-10-27', 'standing', 609_900, 25, 'A', '1', 'day'],
        ['standing:A:2024-10-28', 'standing', 609_900, 24, 'A', '1', 'day'],
      ],
    );
    assert.equal(charges[1]?.from, Date.parse('2024-03-31T00:00:00Z'));
    assert.equal(charges[2]?.from, Date.parse('2024-03-31T23:00:00Z'));
  });

  it('fixed monthly items on the 1st, and the minimum charge only for a month known from its 1st', function () {
    const tariff = compileTariff(
      {
        currency: 'GBP',
        energy: { type: 'flat', rate: '0.25' },
        standingCharge: { perDay: '1' },
        fixedMonthly: [{ name: 'meter rental', amount: '5' }],
        minimumMonthly: '100',
      },
      'min',
    );
    const engine = new TariffEngine();
    const june: Charge[] = [];
    for (const date of dates('2024-06-01', '2024-06-30'))
      june.push(...engine.calendarCharges(tariff, 'A', date));
    for (const date of dates('2024-06-15', '2024-06-30')) engine.calendarCharges(tariff, 'B', date);
    assert.deepEqual(
      june.slice(0, 2).map((c) => [c.readingId, c.kind, lines(c)]),
      [
        ['monthly:A:2024-06', 'monthly', [['fixed.meter rental', 5_000_000]]],
        ['standing:A:2024-06-01', 'standing', [['standing', 1_000_000]]],
      ],
    );
    assert.equal(june.length, 31);
    // 40 kWh x £0.25 = £10 for each tenant.
    price(engine, tariff, { accountId: 'A', meterId: 'MA', delta: 40 });
    price(engine, tariff, {
      accountId: 'B',
      meterId: 'MB',
      delta: 40,
      from: T0 + 12 * DAY,
      to: T0 + 13 * DAY,
    });
    // A: £5 rental + 30 days x £1 + £10 = £45, lifted to £100; July's rental follows.
    const [monthlyA, standingA] = engine.calendarCharges(tariff, 'A', '2024-07-01');
    assert.deepEqual(lines(monthlyA as Charge), [
      ['minimum', 55_000_000],
      ['fixed.meter rental', 5_000_000],
    ]);
    assert.equal(monthlyA?.from, Date.parse('2024-07-01T00:00:00Z'));
    assert.deepEqual(lines(standingA as Charge), [['standing', 1_000_000]]);
    // B moved in on the 15th: no minimum for June.
    const [monthlyB] = engine.calendarCharges(tariff, 'B', '2024-07-01');
    assert.deepEqual(lines(monthlyB as Charge), [['fixed.meter rental', 5_000_000]]);
    // A month above the minimum owes nothing more.
    price(engine, tariff, {
      accountId: 'A',
      meterId: 'MA',
      delta: 400,
      from: T0 + 30 * DAY,
      to: T0 + 31 * DAY,
    });
    for (const date of dates('2024-07-02', '2024-07-31')) engine.calendarCharges(tariff, 'A', date);
    const [august] = engine.calendarCharges(tariff, 'A', '2024-08-01');
    assert.deepEqual(lines(august as Charge), [['fixed.meter rental', 5_000_000]]);
  });
});

describe('tariff engine: capacity charges by day count', function () {
  const base = {
    currency: 'SGD',
    utility: 'cooling',
    conversion: { from: 'RTh', factor: '3.516852842' },
    energy: { type: 'flat', rate: '0.20' },
  };

  /** Sum of the capacity lines raised for every date of `month` ("YYYY-MM") on a fresh account. */
  function monthTotal(engine: TariffEngine, tariff: CompiledTariff, account: string, month: string): number {
    const [y, m] = month.split('-').map(Number) as [number, number];
    const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
    let sum = 0;
    for (const date of dates(`${month}-01`, `${month}-${String(last).padStart(2, '0')}`)) {
      for (const c of engine.calendarCharges(tariff, account, date)) sum += c.amount;
    }
    return sum;
  }

  it('actual/365: every day a 365th of the annual rate', function () {
    const tariff = compileTariff(
      { ...base, capacity: { contracted: '100', ratePerYear: '365', dayCount: 'actual/365' } },
      'a365',
    );
    const engine = new TariffEngine();
    const [day] = engine.calendarCharges(tariff, 'A', '2024-06-03');
    // 100 RT x SGD 365 / 365 = SGD 100 = 10,000 cents
    assert.deepEqual(
      (day as Charge).breakdown.map((l) => [l.component, l.quantity, l.unit, l.rate, l.amount]),
      [['capacity', '100', 'RT x 1/365 year', '365.000000', 100_000_000]],
    );
    // A leap year under actual/365 accrues 366/365 of the annual rate.
    let year = 0;
    for (const month of ['01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11', '12'])
      year += monthTotal(engine, tariff, 'Y', `2024-${month}`);
    assert.equal(year, 366 * 100_000_000);
  });

  it('actual/actual: a 366th in a leap year, a 365th otherwise', function () {
    const tariff = compileTariff(
      { ...base, capacity: { contracted: '1', ratePerYear: '36600', dayCount: 'actual/actual' } },
      'aa',
    );
    const engine = new TariffEngine();
    assert.equal(engine.calendarCharges(tariff, 'A', '2024-02-29')[0]?.amount, 100_000_000); // SGD 100
    assert.equal(engine.calendarCharges(tariff, 'A', '2025-02-28')[0]?.amount, 100_273_973); // 36,600/365
  });

  it('30/360: every month is exactly a twelfth of the annual rate, February and 31-day months alike', function () {
    const tariff = compileTariff(
      { ...base, capacity: { contracted: '100', ratePerYear: '360', dayCount: '30/360' } },
      't360',
    );
    const engine = new TariffEngine();
    for (const month of ['2023-02', '2024-01', '2024-02', '2024-03', '2024-04', '2024-12']) {
      // 100 RT x SGD 360 / 12 = SGD 3,000 every month
      assert.equal(monthTotal(engine, tariff, `B${month}`, month), 3_000_000_000, month);
    }
  });

  it('30/360: each day of a month the same share, no day without a charge and none counted twice', function () {
    const tariff = compileTariff(
      { ...base, capacity: { contracted: '100', ratePerYear: '360', dayCount: '30/360' } },
      't360d',
    );
    const engine = new TariffEngine();
    const days = (month: string, last: number): number[] =>
      dates(`${month}-01`, `${month}-${last}`).map(
        (date) => (engine.calendarCharges(tariff, `D${month}`, date)[0] as Charge).amount,
      );
    // SGD 3,000 a month: 31 days of SGD 96.774193... = 96,774,193.5... sub-minor each, rounded through the running
    // total; February's 28 days of SGD 107.142857...; a 30-day month SGD 100 a day exactly.
    const january = days('2024-01', 31);
    const february = days('2023-02', 28);
    const april = days('2024-04', 30);
    assert.ok(
      january.every((a) => a === 96_774_193 || a === 96_774_194),
      january.join(','),
    );
    assert.ok(
      february.every((a) => a === 107_142_857 || a === 107_142_858),
      february.join(','),
    );
    assert.deepEqual(new Set(april), new Set([100_000_000]));
    for (const month of [january, february, april])
      assert.equal(
        month.reduce((a, b) => a + b, 0),
        3_000_000_000,
      );
    const [first] = engine.calendarCharges(tariff, 'L', '2024-01-05');
    assert.deepEqual(
      (first as Charge).breakdown.map((l) => [l.component, l.quantity, l.unit, l.rate]),
      [['capacity', '100', 'RT x 1/372 year', '360.000000']],
    );
  });

  it('actual/360: every day a 360th of the annual rate, so a year costs 365/360 of it', function () {
    const tariff = compileTariff(
      { ...base, capacity: { contracted: '120', ratePerYear: '288', dayCount: 'actual/360' } },
      'a360',
    );
    const engine = new TariffEngine();
    // 120 RT x SGD 288 / 360 = SGD 96.00 a day
    assert.equal(engine.calendarCharges(tariff, 'A', '2025-03-01')[0]?.amount, 96_000_000);
    let year = 0;
    for (const month of ['01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11', '12'])
      year += monthTotal(engine, tariff, 'Y', `2025-${month}`);
    assert.equal(year, 365 * 96_000_000);
  });

  it('30/360 with a rate that twelve does not divide: months within one sub-minor unit, the year exact', function () {
    const tariff = compileTariff(
      { ...base, capacity: { contracted: '1', ratePerYear: '1000', dayCount: '30/360' } },
      't360b',
    );
    const engine = new TariffEngine();
    let year = 0;
    for (let m = 1; m <= 12; m++) {
      const total = monthTotal(engine, tariff, 'C', `2024-${String(m).padStart(2, '0')}`);
      // SGD 1,000 / 12 = 8,333.333... cents = 83,333,333.3 sub-minor units
      assert.ok(total === 83_333_333 || total === 83_333_334, `${m}: ${total}`);
      year += total;
    }
    assert.equal(year, 1_000_000_000);
  });
});

describe('tariff engine: maximum demand', function () {
  it('integrates energy over 30-minute intervals, from readings shorter or longer than one', function () {
    const tariff = compileTariff(
      {
        currency: 'GBP',
        utility: 'electricity',
        energy: { type: 'flat', rate: '0.20' },
        demand: { rate: '10', intervalMinutes: 30 },
      },
      'md',
    );
    const engine = new TariffEngine();
    engine.calendarCharges(tariff, 'A', '2024-06-01');
    const min5 = 300_000;
    // Six 5-minute readings of 1 kWh in 10:00-10:30: 6 kWh in half an hour = 12 kW.
    for (let i = 0; i < 6; i++) {
      const from = T0 + 10 * HOUR + i * min5;
      price(engine, tariff, { accountId: 'A', from, to: from + min5, delta: 1 });
    }
    // 20 kWh evenly over 11:00-12:00: 10 kWh in each half hour = 20 kW (not 40).
    price(engine, tariff, { accountId: 'A', from: T0 + 11 * HOUR, to: T0 + 12 * HOUR, delta: 20 });
    // 8 kWh over 12:15-12:45: 4 kWh in each of two half hours = 8 kW.
    price(engine, tariff, { accountId: 'A', from: T0 + 12.25 * HOUR, to: T0 + 12.75 * HOUR, delta: 8 });
    const [monthly] = engine.calendarCharges(tariff, 'A', '2024-07-01');
    assert.deepEqual(
      (monthly as Charge).breakdown.map((l) => [l.component, l.quantity, l.unit, l.amount]),
      [['demand', '20', 'kW', 200_000_000]], // 20 kW x £10
    );
    // The peak belongs to June: July starts again from zero.
    price(engine, tariff, { accountId: 'A', from: T0 + 30 * DAY, to: T0 + 30 * DAY + HOUR, delta: 3 });
    const [august] = engine.calendarCharges(tariff, 'A', '2024-08-01');
    assert.deepEqual(lines(august as Charge), [['demand', 30_000_000]]); // 1.5 kWh per half hour = 3 kW x £10
  });
});

describe('tariff engine: units and conversions', function () {
  it('ton-hours of cooling are billed as kWh thermal (3.516852842 kWh per ton-hour)', function () {
    const tariff = compileTariff(
      {
        currency: 'SGD',
        utility: 'cooling',
        conversion: { from: 'RTh', factor: '3.516852842' },
        energy: { type: 'flat', rate: '0.20' },
      },
      'cool',
    );
    const engine = new TariffEngine();
    const charge = price(engine, tariff, { delta: 10, unit: 'RTh' });
    // 35.16852842 kWh x SGD 0.20 = 703.3705684 cents -> 7,033,705.684 sub-minor -> 7,033,706
    assert.equal(charge.quantity, '35.168528');
    assert.equal(charge.unit, 'kWh');
    assert.equal(charge.amount, 7_033_706);
    assert.equal(charge.utility, 'cooling');
    // Spellings of the same unit, and kWh thermal read directly.
    for (const unit of ['ton-hours', 'ton-hour', 'rth', 'TON HOUR'])
      assert.equal(price(new TariffEngine(), tariff, { delta: 10, unit }).amount, 7_033_706, unit);
    assert.equal(price(new TariffEngine(), tariff, { delta: '35.16852842', unit: 'kWh' }).amount, 7_033_706);
  });

  it('Wh and MWh are exact multiples of kWh', function () {
    const tariff = compileTariff({ currency: 'GBP', energy: { type: 'flat', rate: '0.25' } }, 'f');
    assert.equal(price(new TariffEngine(), tariff, { delta: 1500, unit: 'Wh' }).amount, 375_000); // 1.5 kWh x 25 p
    assert.equal(price(new TariffEngine(), tariff, { delta: '0.0015', unit: 'MWh' }).quantity, '1.5');
    assert.equal(price(new TariffEngine(), tariff, { delta: 1, unit: 'wh' }).amount, 250);
  });

  it('the billed quantity carries fractions of a micro-unit between readings (gas blocks)', function () {
    const gas = compileTariff(
      {
        currency: 'GBP',
        priceUnit: 'minor',
        utility: 'gas',
        conversion: { from: 'm3', volumeCorrection: '1.02264', calorificValue: '39.3' },
        energy: {
          type: 'block',
          reset: 'month',
          blocks: [{ upTo: '1000', rate: '7.1234' }, { rate: '5.0001' }],
        },
      },
      'gas-blocks',
    );
    const engine = new TariffEngine();
    let quantity = 0;
    let blocks = 0;
    let amount = 0;
    // 300 readings of 0.01 m3 = 3 m3 = 33.49146 kWh; each reading is 0.1116382 kWh.
    for (let i = 0; i < 300; i++) {
      const c = price(engine, gas, {
        delta: '0.01',
        unit: 'm3',
        from: T0 + i * 60_000,
        to: T0 + (i + 1) * 60_000,
      });
      quantity += Math.round(Number(c.quantity) * 1e6);
      blocks += Math.round(Number(c.breakdown[0]?.quantity) * 1e6);
      amount += c.amount;
    }
    assert.equal(quantity, 33_491_460);
    assert.equal(blocks, 33_491_460); // the blocks were filled with what the charges show
    // 33.49146 kWh x 7.1234 p = 238.5730... p = 2,385,730.66 sub-minor -> 2,385,731 (as one reading)
    assert.equal(amount, 2_385_731);
    assert.equal(price(new TariffEngine(), gas, { delta: 3, unit: 'm3' }).amount, 2_385_731);
  });

  it('refuses bad consumption with a ConsumptionError naming the field', function () {
    const tariff = compileTariff({ currency: 'GBP', energy: { type: 'flat', rate: '0.1' } }, 'f');
    const engine = new TariffEngine();
    const base: ConsumptionInput = {
      meterId: 'M',
      readingId: 'x',
      unit: 'kWh',
      delta: 1,
      from: T0,
      to: T0 + HOUR,
    };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ unit: 'furlong' }, 'unit'],
      [{ unit: 'm3' }, 'unit'], // a volume on an energy tariff without a conversion
      [{ unit: 5 }, 'unit'],
      [{ delta: -1 }, 'delta'],
      [{ delta: 'abc' }, 'delta'],
      [{ delta: null }, 'delta'],
      [{ delta: '1,5' }, 'delta'],
      [{ to: T0 - 1 }, 'to'],
      [{ to: NaN }, 'to'],
      [{ from: Number.POSITIVE_INFINITY }, 'from'],
      [{ from: T0 + 0.5 }, 'from'],
      [{ from: T0 - 401 * DAY }, 'from'],
      [{ meterId: '' }, 'meterId'],
      [{ readingId: '' }, 'readingId'],
    ];
    for (const [patch, field] of cases) {
      assert.throws(
        () => engine.priceConsumption(tariff, { ...base, ...patch } as ConsumptionInput, { now: 0 }),
        (e: unknown) =>
          e instanceof ConsumptionError && e.field === field && e.message.startsWith(`${field}: `),
        JSON.stringify(patch),
      );
    }
    // Nothing was recorded by the refused readings.
    assert.deepEqual(engine.snapshot().accounts, {});
    assert.deepEqual(engine.snapshot().meters, {});
  });
});

describe('tariff engine: charges and restarts', function () {
  it('a charge carries its account, meter, tariff, period and kind; amount is the sum of its lines', function () {
    const tariff = compileTariff(
      { currency: 'MYR', utility: 'electricity', energy: { type: 'flat', rate: '0.365' } },
      'c2-flat',
    );
    const charge = price(new TariffEngine(), tariff, {
      accountId: 'SHOP',
      meterId: 'S1',
      readingId: 'S1:1',
      delta: '12.5',
    });
    assert.deepEqual(
      { ...charge, breakdown: undefined },
      {
        accountId: 'SHOP',
        meterId: 'S1',
        readingId: 'S1:1',
        utility: 'electricity',
        tariff: 'c2-flat',
        quantity: '12.5',
        unit: 'kWh',
        amount: 4_562_500, // 12.5 x 36.5 sen
        currency: 'MYR',
        breakdown: undefined,
        carbonKg: 0,
        from: T0,
        to: T0 + HOUR,
        kind: 'consumption',
      },
    );
    assert.deepEqual(charge.breakdown, [
      { component: 'energy', quantity: '12.5', unit: 'kWh', rate: '0.365000', amount: 4_562_500 },
    ]);
  });

  it('a zero-length reading is priced at its instant', function () {
    const tariff = compileTariff(
      {
        currency: 'GBP',
        energy: {
          type: 'tou',
          rates: { peak: '0.3', offpeak: '0.1' },
          default: 'offpeak',
          schedule: [{ days: ['weekday'], from: '08:00', to: '20:00', period: 'peak' }],
        },
      },
      'z',
    );
    const charge = price(new TariffEngine(), tariff, { from: T0 + 9 * HOUR, to: T0 + 9 * HOUR });
    assert.deepEqual(lines(charge), [['energy.peak', 300_000]]);
  });

  it('a restart between any two readings changes no amount (running totals and block position persist)', function () {
    const tariff = compileTariff(
      {
        currency: 'GBP',
        priceUnit: 'minor',
        timezone: 'Europe/London',
        energy: {
          type: 'block',
          reset: 'day',
          blocks: [{ upTo: '3.3', rate: '24.5617' }, { rate: '31.0001' }],
        },
        surcharges: [{ name: 'levy', rate: '0.3333', share: '33.3' }],
        taxes: [{ name: 'VAT', percent: '5' }],
      },
      'restart',
    );
    const inputs: ConsumptionInput[] = [];
    for (let i = 0; i < 60; i++) {
      const from = T0 + i * 40 * 60_000;
      inputs.push({
        meterId: 'M',
        accountId: 'A',
        readingId: `r${i}`,
        delta: ((i * 7919) % 1000) / 997,
        unit: 'kWh',
        from,
        to: from + 40 * 60_000,
      });
    }
    const steady = new TariffEngine();
    const expected = inputs.map(
      (input) => (steady.priceConsumption(tariff, input, { now: 0 }) as { charge: Charge }).charge,
    );
    let engine = new TariffEngine();
    const actual = inputs.map((input, i) => {
      if (i % 7 === 3) engine = restart(engine);
      return (engine.priceConsumption(tariff, input, { now: 0 }) as { charge: Charge }).charge;
    });
    assert.deepEqual(actual, expected);
  });
});

describe('tariff engine: implausible readings', function () {
  it('refuses a delta above a million units before changing any state', function () {
    const tariff = compileTariff(
      {
        currency: 'IDR',
        energy: { type: 'block', reset: 'month', blocks: [{ upTo: '10', rate: '1500' }, { rate: '2000' }] },
      },
      'idr',
    );
    const engine = new TariffEngine();
    const input = { meterId: 'M', readingId: 'garbage', unit: 'kWh', delta: 3.4e38, from: 0, to: 900_000 };
    assert.throws(
      () => engine.priceConsumption(tariff, input, { now: 0 }),
      (e: unknown) => e instanceof ConsumptionError && e.field === 'delta',
    );
    assert.deepEqual(engine.state.accounts, {});
    const ok = engine.priceConsumption(tariff, { ...input, readingId: 'fine', delta: 1 }, { now: 0 });
    assert.equal(ok.status, 'priced');
  });
});
