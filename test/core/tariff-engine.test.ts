/**
 * The tariff engine's components one by one: dynamic prices and their fallback, carbon (fixed and
 * from a signal), surcharges with a volume share, taxes after the line items, capacity charges by
 * day-count convention, fixed monthly items, standing charges once per day, unit conversion,
 * replays, and validation errors that name the field.
 */
import assert from 'node:assert/strict';
import { compileTariff, TariffValidationError, validateTariff } from '../../dist/nodes/core/tariff/compile';
import { ConsumptionError, TariffEngine } from '../../dist/nodes/core/tariff/engine';
import { Charge } from '../../dist/nodes/core/messages';

const HOUR = 3_600_000;
const T0 = Date.parse('2024-06-03T00:00:00Z');

function price(
  engine: TariffEngine,
  tariff: ReturnType<typeof compileTariff>,
  input: Record<string, unknown>,
  ctx: Record<string, unknown> = {},
): Charge {
  const outcome = engine.priceConsumption(
    tariff,
    {
      meterId: 'M',
      readingId: `r${Math.random()}`,
      unit: 'kWh',
      from: T0,
      to: T0 + HOUR,
      delta: 1,
      ...input,
    } as never,
    { now: T0, ...ctx },
  );
  assert.equal(outcome.status, 'priced');
  return (outcome as { charge: Charge }).charge;
}

const lines = (charge: Charge): Array<[string, number]> =>
  charge.breakdown.map((l) => [l.component, l.amount]);

describe('tariff engine components', function () {
  it('dynamic prices: per interval from a signal, the fallback when stale or uncovered', function () {
    const tariff = compileTariff(
      { currency: 'EUR', energy: { type: 'dynamic', fallbackRate: '0.30', maxAgeMinutes: 60 } },
      'dyn',
    );
    const engine = new TariffEngine();
    const prices = { issuedAt: T0, intervals: [{ from: T0, to: T0 + HOUR / 2, rate: 1000n }] };
    // 1000 sub-minor units per kWh = 0.1 cent/kWh; half the hour priced by the signal, half by the fallback.
    const charge = price(engine, tariff, { delta: 2 }, { prices });
    assert.deepEqual(lines(charge), [
      ['energy.dynamic', 1000],
      ['energy.fallback', 300_000],
    ]);
    const stale = price(
      engine,
      tariff,
      { delta: 2, from: T0 + HOUR, to: T0 + 2 * HOUR },
      { prices: { ...prices, issuedAt: T0 - 2 * HOUR }, now: T0 },
    );
    assert.deepEqual(lines(stale), [['energy.fallback', 600_000]]);
  });

  it('carbon: a fixed factor, or a time-varying signal while it is fresh', function () {
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
      intervals: [{ from: T0, to: T0 + HOUR, mgPerUnit: { num: 50_000n, den: 1n } }],
    };
    assert.equal(
      price(engine, tariff, { delta: 10, from: T0 + HOUR, to: T0 + 2 * HOUR }, { carbon: signal }).carbonKg,
      2.07,
    );
    assert.equal(
      price(
        engine,
        tariff,
        { delta: 10, from: T0 + 2 * HOUR, to: T0 + 2 * HOUR },
        { carbon: { ...signal, intervals: [{ ...signal.intervals[0], to: T0 + 3 * HOUR }] } },
      ).carbonKg,
      0.5,
    );
  });

  it('water with sewerage on 95% of the volume, and VAT applied to the energy line only', function () {
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
    assert.equal(charge.breakdown[1]?.quantity, '9.5');
    assert.equal(charge.breakdown[2]?.rate, '10%');
  });

  it('capacity charges by day count: actual/365 per day, and 30/360 summing to a twelfth each month', function () {
    const base = {
      currency: 'SGD',
      utility: 'cooling',
      conversion: { from: 'RTh', factor: '3.516852842' },
      energy: { type: 'flat', rate: '0.20' },
    };
    const actual = compileTariff(
      { ...base, capacity: { contracted: '100', ratePerYear: '365', dayCount: 'actual/365' } },
      'a365',
    );
    const thirty = compileTariff(
      { ...base, capacity: { contracted: '100', ratePerYear: '360', dayCount: '30/360' } },
      't360',
    );
    const engine = new TariffEngine();
    const day = engine.calendarCharges(actual, 'A', '2024-06-03')[0] as Charge;
    assert.deepEqual(lines(day), [['capacity', 100_000_000]]); // 100 RT x 365/365 = SGD 100 = 10,000 cents
    for (const month of ['2024-01', '2024-02', '2024-03']) {
      let sum = 0;
      const days = new Date(Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5)), 0)).getUTCDate();
      for (let d = 1; d <= days; d++) {
        for (const c of engine.calendarCharges(thirty, `B${month}`, `${month}-${String(d).padStart(2, '0')}`))
          sum += c.amount;
      }
      assert.equal(sum, 3_000_000_000, month); // 100 x 360 / 12 = SGD 3,000 every month
    }
    // Ton-hours are billed as kWh thermal.
    assert.equal(price(engine, actual, { delta: 10, unit: 'RTh' }).quantity, '35.168528'); // shown to 10^-6 kWh
  });

  it('standing charges once per day, fixed monthly items on the 1st', function () {
    const tariff = compileTariff(
      {
        currency: 'GBP',
        priceUnit: 'minor',
        energy: { type: 'flat', rate: '20' },
        standingCharge: { perDay: '50' },
        fixedMonthly: [{ name: 'meter rental', amount: '150' }],
      },
      's',
    );
    const engine = new TariffEngine();
    const first = engine.calendarCharges(tariff, 'A', '2024-07-01');
    assert.deepEqual(
      first.map((c) => [c.kind, c.readingId, c.amount]),
      [
        ['monthly', 'monthly:A:2024-07', 1_500_000],
        ['standing', 'standing:A:2024-07-01', 500_000],
      ],
    );
    assert.deepEqual(engine.calendarCharges(tariff, 'A', '2024-07-01'), []);
    assert.equal(engine.calendarCharges(tariff, 'A', '2024-07-02').length, 1);
  });

  it('replays: the same reading id returns the original charge and changes nothing', function () {
    const tariff = compileTariff(
      {
        currency: 'GBP',
        energy: { type: 'block', reset: 'day', blocks: [{ upTo: 1, rate: '0.1' }, { rate: '0.2' }] },
      },
      'b',
    );
    const engine = new TariffEngine();
    const input = { meterId: 'M', readingId: 'same', unit: 'kWh', delta: 1, from: T0, to: T0 + HOUR };
    const a = engine.priceConsumption(tariff, input, { now: 0 });
    const b = engine.priceConsumption(tariff, input, { now: 0 });
    assert.equal(b.status, 'replay');
    assert.deepEqual((b as { charge: Charge }).charge, (a as { charge: Charge }).charge);
    const next = engine.priceConsumption(
      tariff,
      { ...input, readingId: 'next', from: T0 + HOUR, to: T0 + 2 * HOUR },
      { now: 0 },
    );
    assert.deepEqual(lines((next as { charge: Charge }).charge), [['block.2', 200_000]]); // 20p
  });

  it('refuses bad consumption and bad tariffs, naming the field', function () {
    const tariff = compileTariff({ currency: 'GBP', energy: { type: 'flat', rate: '0.1' } }, 'f');
    const engine = new TariffEngine();
    const base = { meterId: 'M', readingId: 'x', unit: 'kWh', delta: 1, from: T0, to: T0 + HOUR };
    for (const [patch, field] of [
      [{ unit: 'furlong' }, 'unit'],
      [{ unit: 'm3' }, 'unit'],
      [{ delta: -1 }, 'delta'],
      [{ to: T0 - 1 }, 'to'],
      [{ meterId: '' }, 'meterId'],
    ] as const) {
      assert.throws(
        () => engine.priceConsumption(tariff, { ...base, ...patch }, { now: 0 }),
        (e: unknown) => e instanceof ConsumptionError && e.field === field,
      );
    }
    const problems = validateTariff({
      currency: 'XYZ',
      timezone: 'Mars/Olympus',
      energy: {
        type: 'tou',
        rates: { a: '1' },
        default: 'b',
        schedule: [{ days: ['weekday'], from: '7:00', to: '08:00', period: 'a' }],
      },
      taxes: [{ name: 'VAT', percent: 'five' }],
    });
    assert.deepEqual(problems.map((p) => p.path).sort(), [
      'currency',
      'energy.default',
      'energy.schedule[0].from',
      'taxes[0].percent',
      'timezone',
    ]);
    assert.throws(
      () => compileTariff({ currency: 'GBP', energy: { type: 'flat', rate: '0.123456789' } }, 'fine'),
      (e: unknown) => e instanceof TariffValidationError && e.problems[0]?.path === 'energy.rate',
    );
  });
});
