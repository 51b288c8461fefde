/**
 * The published JSON Schema (schemas/tariff.schema.json, for editors and integrators' own checks)
 * and the runtime validator must agree: the schema is generated from the runtime's rule tables
 * (the committed file must equal what they build), and a corpus of valid and invalid documents gets
 * the same verdict from both; the only documents the schema passes and the runtime refuses are those
 * breaking a rule listed in RUNTIME_ONLY_RULES (rules that relate fields, which a JSON Schema cannot say).
 * Checked with ajv, the reference validator.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { validateTariff } from '../../dist/nodes/core/tariff/compile';
import { RUNTIME_ONLY_RULES } from '../../dist/nodes/core/tariff/rules';
import { buildTariffSchema } from '../../dist/nodes/core/tariff/schema';

const root = join(__dirname, '..', '..', '..');
const schema = JSON.parse(readFileSync(join(root, 'schemas', 'tariff.schema.json'), 'utf8')) as object;
const ajv = new Ajv({ allErrors: true, strict: false });
const schemaValid = ajv.compile(schema);

const VALID: Record<string, unknown> = {
  flat: {
    currency: 'GBP',
    priceUnit: 'minor',
    energy: { type: 'flat', rate: '24.50' },
    standingCharge: { perDay: '60.99' },
  },
  block: {
    currency: 'MYR',
    utility: 'electricity',
    energy: {
      type: 'block',
      reset: 'billing-cycle',
      billingDay: 15,
      blocks: [{ upTo: '200', rate: '0.218' }, { upTo: 300, rate: '0.334' }, { rate: '0.516' }],
    },
  },
  tou: {
    currency: 'EUR',
    timezone: 'Europe/Berlin',
    holidays: ['2024-12-25'],
    seasons: [
      { name: 'winter', from: '11-01', to: '02-28' },
      { name: 'summer', from: '03-01', to: '10-31' },
    ],
    energy: {
      type: 'tou',
      rates: { peak: '0.40', offpeak: '0.20', shoulder: '0.30' },
      default: 'offpeak',
      schedule: [
        { days: ['weekday'], from: '17:00', to: '20:00', period: 'peak', seasons: ['winter'] },
        { days: ['weekday', 'saturday'], from: '07:00', to: '23:00', period: 'shoulder' },
      ],
    },
    demand: { rate: '10', intervalMinutes: 15, periods: ['peak'] },
    taxes: [{ name: 'VAT', percent: '19', appliesTo: ['energy'] }],
    carbon: { kgPerUnit: '0.38', maxAgeMinutes: 90 },
  },
  gas: {
    currency: 'GBP',
    priceUnit: 'minor',
    utility: 'gas',
    conversion: { from: 'm3', volumeCorrection: '1.02264', calorificValue: '39.3' },
    energy: { type: 'flat', rate: '6.24' },
  },
  cooling: {
    currency: 'SGD',
    utility: 'cooling',
    conversion: { from: 'RTh', factor: '3.516852842' },
    energy: { type: 'dynamic', fallbackRate: '0.25', maxAgeMinutes: 2880 },
    capacity: { contracted: '120', unit: 'RT', ratePerYear: '240', dayCount: '30/360' },
    fixedMonthly: [{ name: 'meter rental', amount: '5.00' }],
    minimumMonthly: '50',
    surcharges: [{ name: 'fuel', rate: '0.01' }],
  },
  water: {
    currency: 'HKD',
    utility: 'water',
    energy: { type: 'flat', rate: '4.16' },
    surcharges: [{ name: 'sewerage', rate: '2.27', share: '95' }],
  },
};

const INVALID: Record<string, unknown> = {
  'missing currency': { energy: { type: 'flat', rate: '1' } },
  'unknown energy type': { currency: 'GBP', energy: { type: 'stepped', rate: '1' } },
  'rate not a number': { currency: 'GBP', energy: { type: 'flat', rate: 'one' } },
  'bad time': {
    currency: 'GBP',
    energy: {
      type: 'tou',
      rates: { a: '1' },
      default: 'a',
      schedule: [{ days: ['weekday'], from: '25:00', to: '07:00', period: 'a' }],
    },
  },
  'bad day type': {
    currency: 'GBP',
    energy: {
      type: 'tou',
      rates: { a: '1' },
      default: 'a',
      schedule: [{ days: ['funday'], from: '01:00', to: '07:00', period: 'a' }],
    },
  },
  'unknown field': { currency: 'GBP', energy: { type: 'flat', rate: '1' }, discount: '5' },
  'demand interval': {
    currency: 'GBP',
    energy: { type: 'flat', rate: '1' },
    demand: { rate: '1', intervalMinutes: 20 },
  },
  'negative standing': {
    currency: 'GBP',
    energy: { type: 'flat', rate: '1' },
    standingCharge: { perDay: '-1' },
  },
  'bad rounding': { currency: 'GBP', rounding: 'banker', energy: { type: 'flat', rate: '1' } },
};

const flat = (rate: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  currency: 'GBP',
  energy: { type: 'flat', rate },
  ...extra,
});
const blockOf = (blocks: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  currency: 'GBP',
  energy: { type: 'block', reset: 'month', blocks },
  ...extra,
});

/** Documents both must accept. */
const CORPUS_VALID: Record<string, unknown> = {
  'a rate with 6 decimals in pounds': flat('0.245617'),
  'a rate with 4 decimals in pence': flat('24.5617', { priceUnit: 'minor' }),
  'a rate with 7 decimals in dinars (3-digit minor unit)': { ...flat('0.0123456'), currency: 'KWD' },
  'a rate with 4 decimals in yen': { ...flat('31.1234'), currency: 'JPY' },
  'a rate of 9,999.999999 pounds': flat('9999.999999'),
  'a rate of 999,999 yen': { ...flat('999999'), currency: 'JPY' },
  'a rate as a JSON number': flat(0.245),
  'a rate of zero': flat('0'),
  'a negative dynamic fallback price': {
    currency: 'EUR',
    energy: { type: 'dynamic', fallbackRate: '-0.05', maxAgeMinutes: 60 },
  },
  'a standing charge of 1,000,000 pounds a day': flat('1', { standingCharge: { perDay: '1000000.00' } }),
  'a unit per imperial gallon': flat('0.0021', { utility: 'water', unit: 'imp gal' }),
  'a unit spelt in capitals with spaces': flat('0.0021', { unit: '  THERM ' }),
  'units of US water and gas bills': flat('4.21', {
    unit: 'ccf',
    conversion: { from: 'kgal', factor: '1.336805555556' },
  }),
  'a conversion from ton-hours': flat('0.2', { conversion: { from: 'ton-hours', factor: '3.516852842' } }),
  'upTo: null on the last block': blockOf([
    { upTo: '100', rate: '0.1' },
    { upTo: null, rate: '0.2' },
  ]),
  'sixteen blocks': blockOf([
    ...Array.from({ length: 15 }, (_, i) => ({ upTo: String((i + 1) * 10), rate: '0.1' })),
    { rate: '0.2' },
  ]),
  'a tax of 20%': flat('1', { taxes: [{ name: 'VAT', percent: 20 }] }),
  'a monthly item per declared fitting': flat('1', {
    fixedMonthly: [{ name: 'rental', per: 'fittings', rate: '2.50' }],
  }),
  'capacity per declared RT': flat('1', {
    capacity: { per: 'RT', ratePerYear: '288', dayCount: 'actual/360' },
  }),
  'sewerage on 100.000% of the water': flat('1', {
    surcharges: [{ name: 'sewer', rate: '1', share: '100.000' }],
  }),
  'a partial-month policy for move-in and move-out': flat('1', {
    fixedMonthly: [{ name: 'meter', amount: '30' }],
    minimumMonthly: '50',
    partialMonth: { moveIn: 'whole-month', moveOut: 'none' },
  }),
  'a partial-month policy for move-out only': flat('1', { partialMonth: { moveOut: 'pro-rata' } }),
  'an empty partial-month policy (both pro-rata)': flat('1', { partialMonth: {} }),
};

/** Documents both must refuse (each was accepted by one and refused by the other, or by both). */
const CORPUS_INVALID: Record<string, unknown> = {
  'an unknown unit': flat('1', { unit: 'furlong' }),
  'a gallon that does not say which': flat('1', { unit: 'gal' }),
  'an unknown conversion unit': flat('1', { conversion: { from: 'barrel', factor: '2' } }),
  'upTo on the last block': blockOf([
    { upTo: '100', rate: '0.1' },
    { upTo: '200', rate: '0.2' },
  ]),
  'no upTo on a block before the last': blockOf([{ rate: '0.1' }, { rate: '0.2' }]),
  'seventeen blocks': blockOf([
    ...Array.from({ length: 16 }, (_, i) => ({ upTo: String((i + 1) * 10), rate: '0.1' })),
    { rate: '0.2' },
  ]),
  'upTo with 7 decimals': blockOf([{ upTo: '100.0000001', rate: '0.1' }, { rate: '0.2' }]),
  'a rate with 7 decimals in pounds': flat('0.2456171'),
  'a rate with 5 decimals in pence': flat('24.56171', { priceUnit: 'minor' }),
  'a rate with 5 decimals in yen': { ...flat('31.12345'), currency: 'JPY' },
  'a negative flat rate': flat('-0.01'),
  'a negative block rate': blockOf([{ upTo: '100', rate: '0.1' }, { rate: '-0.2' }]),
  'a negative time-of-use rate': {
    currency: 'GBP',
    energy: { type: 'tou', rates: { a: '-1' }, default: 'a', schedule: [] },
  },
  'a negative surcharge': flat('1', { surcharges: [{ name: 'fuel', rate: '-0.01' }] }),
  'a negative fixed monthly item': flat('1', { fixedMonthly: [{ name: 'rent', amount: '-1' }] }),
  'a rate of 1e308': flat(1e308),
  'a rate of "1e15"': flat('1e15'),
  'a rate of 10,000 pounds': flat('10000'),
  'a rate of 1,000,000 yen': { ...flat('1000000'), currency: 'JPY' },
  'a rate of 10,000 pounds as a number': flat(10000),
  'a standing charge of 10^9 pounds': flat('1', { standingCharge: { perDay: '1000000000' } }),
  'a rate with a plus sign': flat('+0.1'),
  'a rate with spaces': flat(' 0.1'),
  'a rate with a separator': flat('1_000'),
  'a rate in exponent notation': flat('2.45e-1'),
  'an unknown currency': { ...flat('1'), currency: 'XYZ' },
  'a monthly item with an amount and a rate': flat('1', {
    fixedMonthly: [{ name: 'rental', amount: '1', per: 'fittings', rate: '2.50' }],
  }),
  'a monthly item with a rate but nothing it is per': flat('1', {
    fixedMonthly: [{ name: 'rental', rate: '2.50' }],
  }),
  'a monthly item per a quantity with a bad name': flat('1', {
    fixedMonthly: [{ name: 'rental', per: 'a/b', rate: '2.50' }],
  }),
  'capacity both contracted and per a declared quantity': flat('1', {
    capacity: { contracted: '10', per: 'RT', ratePerYear: '288' },
  }),
  'capacity with no contracted size': flat('1', { capacity: { ratePerYear: '288' } }),
  'a tax of 1,000%': flat('1', { taxes: [{ name: 'VAT', percent: '1000' }] }),
  'a tax of 100.5%': flat('1', { taxes: [{ name: 'VAT', percent: '100.5' }] }),
  'a tax of 101% as a number': flat('1', { taxes: [{ name: 'VAT', percent: 101 }] }),
  'a surcharge on 100.000001% of the quantity': flat('1', {
    surcharges: [{ name: 'sewer', rate: '1', share: '100.000001' }],
  }),
  'a conversion factor of zero': flat('1', { conversion: { from: 'm3', factor: '0' } }),
  'a volume correction without calorific value': flat('1', {
    conversion: { from: 'm3', volumeCorrection: '1.02264' },
  }),
  'a bad volume correction beside a factor': flat('1', {
    conversion: { from: 'm3', factor: '11', volumeCorrection: 'x' },
  }),
  'an unknown field in a season': flat('1', { seasons: [{ name: 's', from: '01-01', to: '02-01', x: 1 }] }),
  'an unknown field in a surcharge': flat('1', { surcharges: [{ name: 'fuel', rate: '1', per: 'day' }] }),
  'an unknown field in a block': blockOf([{ upTo: '1', rate: '1', note: 'x' }, { rate: '1' }]),
  'a capacity unit that is not a string': flat('1', {
    capacity: { contracted: '10', unit: 5, ratePerYear: '10' },
  }),
  'a description that is not a string': flat('1', { description: 5 }),
  'an unknown partial-month policy': flat('1', { partialMonth: { moveIn: 'half-month' } }),
  'a partial-month policy that is not an object': flat('1', { partialMonth: 'pro-rata' }),
  'an unknown key in the partial-month policy': flat('1', {
    partialMonth: { moveIn: 'none', onMove: 'none' },
  }),
  'a time-of-use period with a bad name': {
    currency: 'GBP',
    energy: { type: 'tou', rates: { 'a/b': '1' }, default: 'a/b', schedule: [] },
  },
};

/** Documents the schema cannot refuse; each breaks one of RUNTIME_ONLY_RULES (by its index). */
const CORPUS_RUNTIME_ONLY: Array<[string, number, unknown]> = [
  [
    'upTo not increasing',
    0,
    blockOf([{ upTo: '100', rate: '0.1' }, { upTo: '50', rate: '0.2' }, { rate: '0.3' }]),
  ],
  [
    'a default period that is no rate',
    1,
    { currency: 'GBP', energy: { type: 'tou', rates: { a: '1' }, default: 'b', schedule: [] } },
  ],
  [
    'a rule from 07:00 to 07:00',
    2,
    {
      currency: 'GBP',
      energy: {
        type: 'tou',
        rates: { a: '1' },
        default: 'a',
        schedule: [{ days: ['weekday'], from: '07:00', to: '07:00', period: 'a' }],
      },
    },
  ],
  [
    'a rule naming an undefined season',
    3,
    {
      currency: 'GBP',
      energy: {
        type: 'tou',
        rates: { a: '1' },
        default: 'a',
        schedule: [{ days: ['weekday'], from: '07:00', to: '08:00', period: 'a', seasons: ['x'] }],
      },
    },
  ],
  [
    'demand periods of a flat tariff',
    4,
    flat('1', { demand: { rate: '1', intervalMinutes: 15, periods: ['a'] } }),
  ],
  ['demand on water', 5, flat('1', { utility: 'water', demand: { rate: '1', intervalMinutes: 15 } })],
  ['an unknown time zone', 6, flat('1', { timezone: 'Mars/Olympus' })],
  ['a JSON number rate with 7 decimals', 7, flat(0.2456171)],
];

describe('tariff JSON Schema', function () {
  it('is the schema the rules build (node scripts/build-tariff-schema.mjs writes it)', function () {
    assert.deepEqual(schema, JSON.parse(JSON.stringify(buildTariffSchema())));
  });

  for (const [name, document] of Object.entries(CORPUS_VALID)) {
    it(`both accept ${name}`, function () {
      assert.deepEqual(validateTariff(document, 't'), []);
      assert.ok(schemaValid(document), ajv.errorsText(schemaValid.errors));
    });
  }

  for (const [name, document] of Object.entries(CORPUS_INVALID)) {
    it(`both refuse ${name}`, function () {
      assert.notDeepEqual(validateTariff(document, 't'), [], 'the runtime accepts it');
      assert.equal(schemaValid(document), false, 'the schema accepts it');
    });
  }

  for (const [name, rule, document] of CORPUS_RUNTIME_ONLY) {
    it(`the runtime alone refuses ${name} (${RUNTIME_ONLY_RULES[rule]?.split(':')[0]})`, function () {
      assert.notDeepEqual(validateTariff(document, 't'), []);
      assert.ok(schemaValid(document), ajv.errorsText(schemaValid.errors));
    });
  }

  it('every rule only the runtime checks has a document in the corpus', function () {
    assert.deepEqual(
      [...new Set(CORPUS_RUNTIME_ONLY.map(([, rule]) => rule))].sort((a, b) => a - b),
      RUNTIME_ONLY_RULES.map((_, i) => i),
    );
  });

  for (const [name, document] of Object.entries(VALID)) {
    it(`accepts the valid ${name} tariff, as the runtime does`, function () {
      assert.deepEqual(validateTariff(document, name), []);
      assert.ok(schemaValid(document), ajv.errorsText(schemaValid.errors));
    });
  }

  for (const [name, document] of Object.entries(INVALID)) {
    it(`refuses a tariff with ${name}, as the runtime does`, function () {
      assert.notDeepEqual(validateTariff(document, name), []);
      assert.equal(schemaValid(document), false);
    });
  }

  it('accepts every tariff in the example flows', function () {
    const examples = join(root, 'examples');
    let checked = 0;
    for (const file of readdirSync(examples).filter((f) => f.endsWith('.json'))) {
      const flow = JSON.parse(readFileSync(join(examples, file), 'utf8')) as Array<Record<string, unknown>>;
      for (const node of flow.filter((n) => n.type === 'prepay-tariff')) {
        const tariffs = JSON.parse(String(node.tariffs)) as Record<string, unknown>;
        for (const [name, document] of Object.entries(tariffs)) {
          assert.deepEqual(validateTariff(document, name), [], `${file}: ${name}`);
          assert.ok(schemaValid(document), `${file}: ${name}: ${ajv.errorsText(schemaValid.errors)}`);
          checked += 1;
        }
      }
    }
    assert.ok(checked > 0, 'no example tariff found');
  });
});
