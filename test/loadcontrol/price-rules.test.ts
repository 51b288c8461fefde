/**
 * Price and carbon rules: pre-cooling before a high-price period, setting back during it within comfort bounds
 * and for at most its maximum duration, shifting a load with a value, carbon thresholds compared exactly, and
 * the moment to look again.
 */
import assert from 'node:assert/strict';
import { compileTariff } from '../../dist/nodes/core/tariff/compile';
import { readCarbonSignal, readPriceSignal } from '../../dist/nodes/tariff/tariff-messages';
import {
  carbonThreshold,
  checkPriceRule,
  evaluatePriceRule,
  highPeriods,
  priceThreshold,
  type PriceRule,
  type PriceSignals,
} from '../../dist/nodes/core/loadcontrol/price-rules';

const MIN = 60_000;
const H = 60 * MIN;
const T = Date.parse('2026-06-01T00:00:00Z');
/** Sub-minor units per kWh as the engine keeps them (10^4 per minor unit). */
const sub = (minor: number): bigint => BigInt(Math.round(minor * 10_000));

const signals: PriceSignals = {
  prices: {
    issuedAt: T,
    intervals: [
      { from: T + 12 * H, to: T + 14 * H, rate: sub(20) },
      { from: T + 14 * H, to: T + 15 * H, rate: sub(45) },
      { from: T + 15 * H, to: T + 17 * H, rate: sub(50) },
      { from: T + 17 * H, to: T + 18 * H, rate: sub(25) },
    ],
  },
};

const zone: PriceRule = {
  name: 'zone',
  priceAtLeast: sub(40),
  target: { device: 100, objectType: 2, instance: 3 },
  priority: 10,
  normal: 24,
  before: { minutes: 60, offset: -2 },
  during: { offset: 3 },
  min: 21,
  max: 26,
  maxDurationMinutes: 120,
};

describe('price rules', function () {
  it('finds the high period: touching high intervals join, lower ones do not count', function () {
    assert.deepEqual(highPeriods(zone, signals), [{ from: T + 14 * H, to: T + 17 * H, why: 'price' }]);
  });

  it('pre-cools before the period, sets back within the comfort bound during it, lets go after the maximum duration', function () {
    const at = (h: number) => evaluatePriceRule(zone, signals, T + h * H);
    assert.equal(at(12.5).phase, 'idle');
    assert.equal(at(12.5).command.value, null);
    assert.equal(at(12.5).nextChangeAt, T + 13 * H);
    assert.equal(at(13).phase, 'before');
    assert.equal(at(13).command.value, 22);
    assert.equal(at(13).command.key, 'price:zone');
    assert.equal(at(13).command.priority, 10);
    assert.match(
      at(13).command.reason,
      /price rule "zone": ahead of high price from 2026-06-01T14:00:00.000Z/,
    );
    assert.equal(at(14).phase, 'during');
    // 24 + 3 = 27 is above the 26 comfort bound.
    assert.equal(at(14).command.value, 26);
    assert.equal(at(14).nextChangeAt, T + 16 * H);
    assert.equal(at(15.99).phase, 'during');
    // After 120 minutes the rule lets go though the price is still high.
    assert.equal(at(16).phase, 'idle');
    assert.equal(at(16).command.value, null);
    assert.match(at(16).command.reason, /maximum duration of 120 min reached/);
    assert.equal(at(17).command.value, null);
    assert.equal(at(17).nextChangeAt, undefined);
  });

  it('shifts a load with a value, and a lower bound stops a pre-cool going too cold', function () {
    const shift: PriceRule = {
      name: 'ev',
      priceAtLeast: sub(40),
      target: { device: 100, objectType: 5, instance: 1 },
      priority: 12,
      normal: true,
      during: { value: false },
      maxDurationMinutes: 240,
    };
    assert.equal(evaluatePriceRule(shift, signals, T + 15 * H).command.value, false);
    assert.equal(evaluatePriceRule(shift, signals, T + 13 * H).command.value, null);
    const cold = { ...zone, before: { minutes: 30, offset: -5 } };
    assert.equal(evaluatePriceRule(cold, signals, T + 13.75 * H).command.value, 21);
  });

  it('compares carbon intensity exactly, and joins periods closer than joinMinutes', function () {
    const carbon: PriceSignals = {
      carbon: {
        issuedAt: T,
        intervals: [
          // 0.4 kg = 400,000 mg per kWh exactly, then 399,999.999... as a ratio, then 450,000.
          { from: T + 10 * H, to: T + 11 * H, mgPerUnit: { num: 400_000n, den: 1n } },
          { from: T + 11 * H, to: T + 12 * H, mgPerUnit: { num: 1_199_999n, den: 3n } },
          { from: T + 12 * H + 10 * MIN, to: T + 13 * H, mgPerUnit: { num: 450_000n, den: 1n } },
        ],
      },
    };
    const rule: PriceRule = { ...zone, name: 'co2', priceAtLeast: undefined, carbonAtLeast: 400_000n };
    assert.deepEqual(highPeriods(rule, carbon), [
      { from: T + 10 * H, to: T + 11 * H, why: 'carbon' },
      { from: T + 12 * H + 10 * MIN, to: T + 13 * H, why: 'carbon' },
    ]);
    assert.deepEqual(highPeriods({ ...rule, joinMinutes: 70 }, carbon), [
      { from: T + 10 * H, to: T + 13 * H, why: 'carbon' },
    ]);
    // Price and carbon together: either makes the period high.
    const both = highPeriods({ ...rule, priceAtLeast: sub(40) }, { ...signals, ...carbon });
    assert.deepEqual(
      both.map((p) => [(p.from - T) / H, (p.to - T) / H, p.why]),
      [
        [10, 11, 'carbon'],
        [12 + 1 / 6, 13, 'carbon'],
        [14, 17, 'price'],
      ],
    );
  });

  it('refuses a rule that cannot work, naming it', function () {
    assert.throws(
      () => checkPriceRule({ ...zone, priceAtLeast: undefined }),
      /"zone": needs a price or a carbon threshold/,
    );
    assert.throws(
      () => checkPriceRule({ ...zone, maxDurationMinutes: 0 }),
      /maximum duration must be above 0/,
    );
    assert.throws(() => checkPriceRule({ ...zone, min: 27 }), /min 27 is above max 26/);
    assert.throws(
      () => checkPriceRule({ ...zone, during: { offset: 1, value: 3 } }),
      /needs an offset or a value, not both/,
    );
    assert.throws(() => checkPriceRule({ ...zone, normal: true }), /offset needs a numeric normal value/);
    checkPriceRule(zone);
  });

  it('reads the price and carbon signals the tariff node takes, with thresholds written as the tariff quotes', function () {
    const tariff = compileTariff(
      {
        currency: 'GBP',
        timezone: 'Europe/London',
        energy: { type: 'dynamic', fallbackRate: '0.25', maxAgeMinutes: 120 },
      },
      'agile',
    );
    const prices = readPriceSignal(
      {
        prices: [
          { from: '2026-06-01T15:00:00Z', to: '2026-06-01T16:00:00Z', rate: '0.3999' },
          { from: '2026-06-01T16:00:00Z', to: '2026-06-01T18:00:00Z', rate: '0.40' },
        ],
      },
      tariff,
      T,
    );
    const carbon = readCarbonSignal(
      { intensities: [{ from: '2026-06-01T20:00:00Z', to: '2026-06-01T21:00:00Z', kgPerUnit: '0.4' }] },
      T,
    );
    const rule: PriceRule = {
      ...zone,
      priceAtLeast: priceThreshold(tariff, '0.40'),
      carbonAtLeast: carbonThreshold('0.4'),
    };
    // 40 pence, in ten-thousandths of a penny.
    assert.equal(priceThreshold(tariff, '0.40'), 400_000n);
    assert.deepEqual(
      highPeriods(rule, { prices, carbon }).map((p) => [(p.from - T) / H, (p.to - T) / H, p.why]),
      [
        [16, 18, 'price'],
        [20, 21, 'carbon'],
      ],
    );
    assert.equal(evaluatePriceRule(rule, { prices, carbon }, T + 15.5 * H).phase, 'before');
    assert.throws(() => carbonThreshold('0.0000001'));
  });
});
