/**
 * The published JSON Schema (schemas/tariff.schema.json, for editors and integrators' own checks)
 * and the runtime validator must agree: every document the runtime accepts is schema-valid, and
 * the malformed ones below are refused by both. Checked with ajv, the reference validator.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { validateTariff } from '../../dist/nodes/core/tariff/compile';

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

describe('tariff JSON Schema', function () {
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
