/**
 * Tariff documents to their compiled form (nodes/core/tariff/compile.ts): prices as sub-minor
 * integers, block limits in micro-units, time-of-use rules as minute ranges, conversion factors as
 * exact ratios; and validation that collects every problem with the path of the field at fault.
 */
import assert from 'node:assert/strict';
import { compileTariff, TariffValidationError, validateTariff } from '../../dist/nodes/core/tariff/compile';
import { KWH_PER_TON_HOUR } from '../../dist/nodes/core/tariff/units';

const BASE = { currency: 'GBP', energy: { type: 'flat', rate: '0.25' } };
const TOU = {
  type: 'tou',
  rates: { peak: '0.30', offpeak: '0.10' },
  default: 'offpeak',
  schedule: [{ days: ['weekday'], from: '08:00', to: '20:00', period: 'peak' }],
};

/** The sorted problem paths of a document. */
function paths(document: unknown): string[] {
  return validateTariff(document)
    .map((p) => p.path)
    .sort();
}

describe('tariff compile: compiled values', function () {
  it('flat prices in major or minor units become sub-minor integers; defaults are filled in', function () {
    const major = compileTariff(BASE, 'major');
    assert.deepEqual(major.energy, { type: 'flat', rate: 250_000n });
    assert.equal(major.unit, 'kWh');
    assert.equal(major.zone.name, 'UTC');
    assert.equal(major.rounding, 'half-even');
    assert.equal(major.priceUnit, 'major');
    assert.equal(major.name, 'major');
    const minor = compileTariff(
      { ...BASE, priceUnit: 'minor', energy: { type: 'flat', rate: '24.5617' } },
      'm',
    );
    assert.deepEqual(minor.energy, { type: 'flat', rate: 245_617n });
    const yen = compileTariff({ currency: 'JPY', energy: { type: 'flat', rate: 31 } }, 'jpy');
    assert.deepEqual(yen.energy, { type: 'flat', rate: 310_000n });
    const water = compileTariff({ ...BASE, utility: 'water' }, 'w');
    assert.equal(water.unit, 'm3');
    assert.equal(compileTariff({ ...BASE, unit: 'litres' }, 'l').unit, 'L');
    assert.equal(compileTariff({ ...BASE, unit: 'ton-hours' }, 'rth').unit, 'RTh');
  });

  it('blocks: limits in micro-units, the last block open-ended', function () {
    const t = compileTariff(
      {
        ...BASE,
        energy: {
          type: 'block',
          reset: 'billing-cycle',
          billingDay: 15,
          blocks: [{ upTo: '50.5', rate: '0.31' }, { upTo: 200, rate: '0.2' }, { rate: '0.1733' }],
        },
      },
      'b',
    );
    assert.deepEqual(t.energy, {
      type: 'block',
      reset: 'billing-cycle',
      billingDay: 15,
      blocks: [
        { upTo: 50_500_000n, rate: 310_000n },
        { upTo: 200_000_000n, rate: 200_000n },
        { upTo: null, rate: 173_300n },
      ],
    });
    const monthly = compileTariff(
      { ...BASE, energy: { type: 'block', reset: 'month', blocks: [{ rate: 1 }] } },
      'm',
    );
    assert.equal(monthly.energy.type === 'block' && monthly.energy.billingDay, 1);
  });

  it('time of use: minute ranges (wrapping past midnight, "24:00"), boundaries, components', function () {
    const t = compileTariff(
      {
        ...BASE,
        seasons: [
          { name: 'summer', from: '06-01', to: '08-31' },
          { name: 'winter', from: '11-01', to: '02-28' },
        ],
        energy: {
          type: 'tou',
          rates: { peak: '0.30', night: '0.08', day: '0.20' },
          default: 'day',
          schedule: [
            { days: ['mon', 'fri'], from: '16:00', to: '19:00', period: 'peak', seasons: ['winter'] },
            { days: ['weekday', 'holiday'], from: '23:30', to: '07:00', period: 'night' },
            { days: ['saturday', 'sunday'], from: '00:00', to: '24:00', period: 'night' },
          ],
        },
      },
      'tou',
    );
    assert.equal(t.energy.type, 'tou');
    if (t.energy.type !== 'tou') return;
    assert.deepEqual(
      t.energy.rules.map((r) => [r.period, r.ranges, r.dayMask, r.seasonMask]),
      [
        ['peak', [[960, 1140]], 0b0100010, 0b10],
        [
          'night',
          [
            [1410, 1440],
            [0, 420],
          ],
          0b10111110,
          ~0,
        ],
        ['night', [[0, 1440]], 0b1000001, ~0],
      ],
    );
    assert.deepEqual(t.energy.boundaries, [0, 420, 960, 1140, 1410]);
    assert.deepEqual(
      [...t.energy.components],
      [
        ['peak', 'energy.peak'],
        ['night', 'energy.night'],
        ['day', 'energy.day'],
      ],
    );
    assert.deepEqual(t.seasons, [
      { name: 'summer', from: 601, to: 831 },
      { name: 'winter', from: 1101, to: 228 },
    ]);
  });

  it('conversion factors are exact ratios: gas calorific value, ton-hours', function () {
    const gas = compileTariff(
      {
        ...BASE,
        utility: 'gas',
        conversion: { from: 'm3', volumeCorrection: '1.02264', calorificValue: '39.3' },
      },
      'gas',
    );
    const f = gas.conversion?.factor;
    assert.ok(f && gas.conversion?.from === 'm3');
    // 1.02264 x 39.3 / 3.6 = 11.16382 kWh per m3, exactly.
    assert.equal(f.num * 100_000n, 1_116_382n * f.den);
    const cooling = compileTariff(
      { ...BASE, utility: 'cooling', conversion: { from: 'ton-hour', factor: KWH_PER_TON_HOUR } },
      'rth',
    );
    assert.deepEqual(cooling.conversion, {
      from: 'RTh',
      factor: { num: 3_516_852_842n, den: 1_000_000_000n },
    });
  });

  it('surcharge shares, taxes (percent and label), carbon, demand, capacity, monthly items', function () {
    const t = compileTariff(
      {
        ...BASE,
        energy: TOU,
        surcharges: [
          { name: 'sewerage', rate: '2.27', share: '95' },
          { name: 'fuel', rate: '0.01' },
        ],
        taxes: [
          { name: 'VAT', percent: '20' },
          { name: 'CCL', percent: '7.50', appliesTo: ['energy'] },
          { name: 'tiny', percent: '0.005' },
        ],
        carbon: { kgPerUnit: '0.207' },
        demand: { rate: '45.10', intervalMinutes: 15, periods: ['peak'] },
        capacity: { contracted: '100.5', ratePerYear: '360', dayCount: '30/360' },
        fixedMonthly: [{ name: 'meter rental', amount: '1.50' }],
        minimumMonthly: '600',
        standingCharge: { perDay: '0.6099' },
      },
      'all',
    );
    assert.deepEqual(t.surcharges, [
      { name: 'sewerage', rate: 2_270_000n, share: { num: 95n, den: 100n } },
      { name: 'fuel', rate: 10_000n, share: { num: 1n, den: 1n } },
    ]);
    assert.deepEqual(
      t.taxes.map((x) => [x.component, x.rateText, x.percent, x.appliesTo]),
      [
        ['tax.VAT', '20%', { num: 20n, den: 100n }, undefined],
        ['tax.CCL', '7.5%', { num: 750n, den: 10_000n }, ['energy']],
        ['tax.tiny', '0.005%', { num: 5n, den: 100_000n }, undefined],
      ],
    );
    assert.deepEqual(t.carbon, { mgPerUnit: { num: 207_000_000n, den: 1000n }, maxAgeMs: 3_600_000 });
    assert.deepEqual(t.demand, { rate: 45_100_000n, intervalMs: 900_000, periods: new Set(['peak']) });
    assert.deepEqual(t.capacity, {
      contracted: { num: 1005n, den: 10n },
      unit: 'RT',
      ratePerYear: 360_000_000n,
      dayCount: '30/360',
    });
    assert.deepEqual(t.fixedMonthly, [{ name: 'meter rental', amount: 1_500_000n }]);
    assert.equal(t.minimumMonthly, 600_000_000n);
    assert.equal(t.standingPerDay, 609_900n);
  });
});

describe('tariff compile: validation names the field at fault', function () {
  const cases: Array<[string, unknown, string[]]> = [
    ['a document that is not an object', [1, 2], ['']],
    ['null', null, ['']],
    ['an unknown currency', { ...BASE, currency: 'XYZ' }, ['currency']],
    ['a lower-case currency', { ...BASE, currency: 'gbp' }, ['currency']],
    ['an unknown time zone', { ...BASE, timezone: 'Mars/Olympus' }, ['timezone']],
    ['an unknown rounding mode', { ...BASE, rounding: 'up' }, ['rounding']],
    ['an unknown price unit', { ...BASE, priceUnit: 'cents' }, ['priceUnit']],
    ['an unknown utility', { ...BASE, utility: 'steam' }, ['utility']],
    ['an unknown unit', { ...BASE, unit: 'furlong' }, ['unit']],
    ['an unknown top-level field', { ...BASE, colour: 'red' }, ['colour']],
    ['a name that is not a string', { ...BASE, name: 5 }, ['name']],
    ['no energy', { currency: 'GBP' }, ['energy']],
    ['an unknown energy type', { ...BASE, energy: { type: 'magic' } }, ['energy.type']],
    ['an unknown energy field', { ...BASE, energy: { type: 'flat', rate: '1', foo: 1 } }, ['energy.foo']],
    [
      'a rate finer than a sub-minor unit',
      { ...BASE, energy: { type: 'flat', rate: '0.1234567' } },
      ['energy.rate'],
    ],
    [
      'a minor-unit rate finer than a sub-minor unit',
      { ...BASE, priceUnit: 'minor', energy: { type: 'flat', rate: '24.12345' } },
      ['energy.rate'],
    ],
    ['a rate that is not a number', { ...BASE, energy: { type: 'flat', rate: true } }, ['energy.rate']],
    [
      'a bad block rate and a falling block limit',
      {
        ...BASE,
        energy: {
          type: 'block',
          reset: 'month',
          blocks: [{ upTo: 100, rate: '0.1' }, { upTo: 50, rate: 'abc' }, { rate: '0.3' }],
        },
      },
      ['energy.blocks[1].rate', 'energy.blocks[1].upTo'],
    ],
    [
      'a limit on the last block',
      {
        ...BASE,
        energy: {
          type: 'block',
          reset: 'month',
          blocks: [
            { upTo: 1, rate: '1' },
            { upTo: 2, rate: '2' },
          ],
        },
      },
      ['energy.blocks[1].upTo'],
    ],
    [
      'a missing limit on a middle block',
      { ...BASE, energy: { type: 'block', reset: 'month', blocks: [{ rate: '1' }, { rate: '2' }] } },
      ['energy.blocks[0].upTo'],
    ],
    [
      'a limit finer than a micro-unit',
      {
        ...BASE,
        energy: { type: 'block', reset: 'day', blocks: [{ upTo: '0.0000001', rate: '1' }, { rate: '1' }] },
      },
      ['energy.blocks[0].upTo'],
    ],
    [
      'an unknown reset and a billing day past the 28th',
      { ...BASE, energy: { type: 'block', reset: 'week', billingDay: 29, blocks: [{ rate: '1' }] } },
      ['energy.billingDay', 'energy.reset'],
    ],
    ['no blocks', { ...BASE, energy: { type: 'block', reset: 'day', blocks: [] } }, ['energy.blocks']],
    [
      'a time without two-digit hours',
      {
        ...BASE,
        energy: { ...TOU, schedule: [{ days: ['weekday'], from: '7:00', to: '08:00', period: 'peak' }] },
      },
      ['energy.schedule[0].from'],
    ],
    [
      'a time past 24:00',
      {
        ...BASE,
        energy: { ...TOU, schedule: [{ days: ['weekday'], from: '08:00', to: '24:30', period: 'peak' }] },
      },
      ['energy.schedule[0].to'],
    ],
    [
      'an empty time range',
      {
        ...BASE,
        energy: { ...TOU, schedule: [{ days: ['weekday'], from: '08:00', to: '08:00', period: 'peak' }] },
      },
      ['energy.schedule[0].to'],
    ],
    [
      'an unknown day type',
      {
        ...BASE,
        energy: { ...TOU, schedule: [{ days: ['funday'], from: '08:00', to: '09:00', period: 'peak' }] },
      },
      ['energy.schedule[0].days[0]'],
    ],
    [
      'no day types',
      { ...BASE, energy: { ...TOU, schedule: [{ days: [], from: '08:00', to: '09:00', period: 'peak' }] } },
      ['energy.schedule[0].days'],
    ],
    [
      'a rule for a period without a rate',
      {
        ...BASE,
        energy: { ...TOU, schedule: [{ days: ['weekday'], from: '08:00', to: '09:00', period: 'shoulder' }] },
      },
      ['energy.schedule[0].period'],
    ],
    [
      'a rule for a period named like an Object method',
      {
        ...BASE,
        energy: {
          ...TOU,
          schedule: [{ days: ['weekday'], from: '08:00', to: '09:00', period: 'constructor' }],
        },
      },
      ['energy.schedule[0].period'],
    ],
    [
      'a default period named like an Object method',
      { ...BASE, energy: { ...TOU, default: 'toString' } },
      ['energy.default'],
    ],
    [
      'a rule in an undefined season',
      {
        ...BASE,
        energy: {
          ...TOU,
          schedule: [{ days: ['weekday'], from: '08:00', to: '09:00', period: 'peak', seasons: ['summer'] }],
        },
      },
      ['energy.schedule[0].seasons[0]'],
    ],
    [
      'an unknown rule field',
      {
        ...BASE,
        energy: {
          ...TOU,
          schedule: [{ days: ['weekday'], from: '08:00', to: '09:00', period: 'peak', colour: 1 }],
        },
      },
      ['energy.schedule[0].colour'],
    ],
    [
      'no rates',
      { ...BASE, energy: { ...TOU, rates: {}, default: 'x', schedule: [] } },
      ['energy.default', 'energy.rates'],
    ],
    [
      'a period name with "!"',
      { ...BASE, energy: { ...TOU, rates: { 'peak!': '1', offpeak: '1' }, schedule: [] } },
      ['energy.rates.peak!'],
    ],
    [
      'a dynamic tariff without a positive maximum age',
      { ...BASE, energy: { type: 'dynamic', fallbackRate: '0.2', maxAgeMinutes: 0 } },
      ['energy.maxAgeMinutes'],
    ],
    ['a negative standing charge', { ...BASE, standingCharge: { perDay: '-1' } }, ['standingCharge.perDay']],
    [
      'a 20-minute demand interval',
      { ...BASE, demand: { rate: '1', intervalMinutes: 20 } },
      ['demand.intervalMinutes'],
    ],
    [
      'a demand period without a rate',
      { ...BASE, energy: TOU, demand: { rate: '1', intervalMinutes: 30, periods: ['shoulder'] } },
      ['demand.periods[0]'],
    ],
    [
      'demand periods on a flat tariff',
      { ...BASE, demand: { rate: '1', intervalMinutes: 30, periods: ['peak'] } },
      ['demand.periods[0]'],
    ],
    [
      'demand on water',
      { ...BASE, utility: 'water', demand: { rate: '1', intervalMinutes: 30 } },
      ['demand'],
    ],
    [
      'a zero contracted capacity and an unknown day count',
      { ...BASE, capacity: { contracted: '0', ratePerYear: '10', dayCount: 'act/360' } },
      ['capacity.contracted', 'capacity.dayCount'],
    ],
    [
      'bad taxes',
      {
        ...BASE,
        taxes: [
          { name: 'VAT', percent: 'five' },
          { name: 'levy', percent: '1', appliesTo: ['', 'energy'] },
          { name: 'negative', percent: '-1' },
        ],
      },
      ['taxes[0].percent', 'taxes[1].appliesTo[0]', 'taxes[2].percent'],
    ],
    ['a conversion without a factor', { ...BASE, conversion: { from: 'm3' } }, ['conversion']],
    [
      'a conversion from an unknown unit',
      { ...BASE, conversion: { from: 'parsec', factor: '2' } },
      ['conversion.from'],
    ],
    ['a zero conversion factor', { ...BASE, conversion: { from: 'm3', factor: '0' } }, ['conversion.factor']],
    [
      'a gas conversion without a calorific value',
      { ...BASE, conversion: { from: 'm3', volumeCorrection: '1.02264' } },
      ['conversion.calorificValue'],
    ],
    [
      'bad holidays',
      { ...BASE, holidays: ['2024-13-01', '2024-12-25', 20241225] },
      ['holidays[0]', 'holidays[2]'],
    ],
    [
      'a bad season end',
      { ...BASE, seasons: [{ name: 'summer', from: '06-01', to: '13-01' }] },
      ['seasons[0].to'],
    ],
    [
      'a negative carbon factor and maximum age',
      { ...BASE, carbon: { kgPerUnit: '-0.2', maxAgeMinutes: -1 } },
      ['carbon.kgPerUnit', 'carbon.maxAgeMinutes'],
    ],
    [
      'a negative surcharge share',
      { ...BASE, surcharges: [{ name: 'sewer', rate: '1', share: '-5' }] },
      ['surcharges[0].share'],
    ],
    ['an empty item name', { ...BASE, fixedMonthly: [{ name: '', amount: '1' }] }, ['fixedMonthly[0].name']],
    ['a minimum that is not a number', { ...BASE, minimumMonthly: 'lots' }, ['minimumMonthly']],
  ];

  for (const [what, document, expected] of cases) {
    it(`refuses ${what}: ${expected.map((p) => p || '(document)').join(', ')}`, function () {
      assert.deepEqual(paths(document), expected);
      assert.throws(
        () => compileTariff(document, 'bad'),
        (e: unknown) =>
          e instanceof TariffValidationError &&
          e.name === 'TariffValidationError' &&
          e.tariffName === 'bad' &&
          e.problems.every((p) => typeof p.message === 'string' && p.message.length > 0) &&
          expected.every((p) => e.message.includes(`${p || '(document)'}: `)),
      );
    });
  }

  it('refuses negative static prices and impossible rates at check time, naming the field', function () {
    const problems = (document: unknown): string[] =>
      validateTariff(document).map((p) => `${p.path}: ${p.message}`);
    const blocks = (rate: unknown): unknown => ({
      ...BASE,
      energy: { type: 'block', reset: 'month', blocks: [{ upTo: '100', rate: '0.1' }, { rate }] },
    });
    assert.deepEqual(problems(blocks('-0.02')), ['energy.blocks[1].rate: must not be negative']);
    assert.deepEqual(problems({ ...BASE, energy: { type: 'flat', rate: '-0.1' } }), [
      'energy.rate: must not be negative',
    ]);
    assert.deepEqual(problems({ ...BASE, surcharges: [{ name: 'fuel', rate: '-0.01' }] }), [
      'surcharges[0].rate: must not be negative',
    ]);
    assert.deepEqual(problems({ ...BASE, energy: { ...TOU, rates: { peak: '-1', offpeak: '0.1' } } }), [
      'energy.rates.peak: must not be negative',
    ]);
    // A dynamic tariff's fallback may be negative, as market prices are.
    assert.deepEqual(
      problems({ ...BASE, energy: { type: 'dynamic', fallbackRate: '-0.05', maxAgeMinutes: 60 } }),
      [],
    );
    assert.deepEqual(problems(blocks(1e308)), [
      'energy.blocks[1].rate: is too large: at most 4 digits before the point (a charge must carry it exactly)',
    ]);
    assert.deepEqual(problems({ ...BASE, energy: { type: 'flat', rate: '1e15' } }), [
      'energy.rate: must be a plain decimal such as "0.2450" (digits and an optional point: no exponent, "+", spaces or separators)',
    ]);
    assert.deepEqual(problems({ ...BASE, energy: { type: 'flat', rate: '10000' } }), [
      'energy.rate: is too large: at most 4 digits before the point (a charge must carry it exactly)',
    ]);
    assert.deepEqual(problems({ ...BASE, energy: { type: 'flat', rate: '0.2456171' } }), [
      'energy.rate: has more than 6 decimal places: the finest price step is 1/10,000 of a minor unit',
    ]);
    // The largest rate allowed, on the largest reading the engine takes, still prices to a safe integer.
    const biggest = compileTariff({ ...BASE, energy: { type: 'flat', rate: '9999.999999' } }, 'big');
    assert.deepEqual(biggest.energy, { type: 'flat', rate: 99_999_999_990_000n / 10_000n });
  });

  it('collects every problem of a document at once', function () {
    assert.deepEqual(
      paths({
        currency: 'XYZ',
        timezone: 'Mars/Olympus',
        energy: {
          type: 'tou',
          rates: { a: '1' },
          default: 'b',
          schedule: [{ days: ['weekday'], from: '7:00', to: '08:00', period: 'a' }],
        },
        taxes: [{ name: 'VAT', percent: 'five' }],
      }),
      ['currency', 'energy.default', 'energy.schedule[0].from', 'taxes[0].percent', 'timezone'],
    );
  });

  it('accepts a valid document with no problems', function () {
    assert.deepEqual(validateTariff(BASE), []);
    assert.deepEqual(
      validateTariff({ ...BASE, energy: TOU, demand: { rate: '1', intervalMinutes: 30, periods: ['peak'] } }),
      [],
    );
  });
});
