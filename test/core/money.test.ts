/**
 * Money as integers (nodes/core/money.ts): ISO 4217 minor units, prices to sub-minor units (exact,
 * never rounded away), market prices (rounded by the tariff's mode), display formatting, and the
 * cumulative rounder that posts a stream of sub-minor amounts in whole minor units without drift.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { divRound, RoundingMode } from '../../dist/nodes/core/decimal';
import {
  CumulativeRounder,
  formatMinor,
  formatSubMinor,
  isKnownCurrency,
  knownCurrencies,
  marketPriceToSubMinor,
  minorUnitDigits,
  PICO_DIGITS,
  PICO_PER_SUB_MINOR,
  priceToSubMinor,
  SUB_MINOR_DIGITS,
  SUB_MINOR_PER_MINOR,
  subMinorToMinor,
} from '../../dist/nodes/core/money';

const MODES: RoundingMode[] = ['half-even', 'half-away-from-zero'];

/** Feeds `amounts` through a rounder; returns the coarse emissions and the final fine total. */
function run(rounder: CumulativeRounder, amounts: bigint[]): { emits: bigint[]; total: bigint } {
  let total = 0n;
  const emits: bigint[] = [];
  for (const amount of amounts) {
    const step = rounder.add(total, amount);
    total = step.total;
    emits.push(step.emit);
  }
  return { emits, total };
}

const sum = (values: bigint[]): bigint => values.reduce((a, b) => a + b, 0n);

describe('money: units and currencies', function () {
  it('has a sub-minor unit of 1/10,000 and a pico unit of 1/10^12 of the minor unit', function () {
    assert.equal(SUB_MINOR_PER_MINOR, 10n ** BigInt(SUB_MINOR_DIGITS));
    assert.equal(PICO_PER_SUB_MINOR * SUB_MINOR_PER_MINOR, 10n ** BigInt(PICO_DIGITS));
  });

  it('knows ISO 4217 minor-unit exponents, and nothing else', function () {
    assert.equal(minorUnitDigits('GBP'), 2);
    assert.equal(minorUnitDigits('MYR'), 2);
    assert.equal(minorUnitDigits('JPY'), 0);
    assert.equal(minorUnitDigits('KWD'), 3);
    assert.throws(() => minorUnitDigits('XYZ'), /unknown ISO 4217 currency "XYZ"/);
    assert.equal(isKnownCurrency('GBP'), true);
    assert.equal(isKnownCurrency('gbp'), false);
    assert.equal(isKnownCurrency('toString'), false); // own keys only
    assert.equal(isKnownCurrency(826), false);
    assert.ok(knownCurrencies().includes('USD'));
    assert.ok(knownCurrencies().every((code) => /^[A-Z]{3}$/.test(code)));
  });
});

describe('money: prices', function () {
  it('converts a price in major or minor units to sub-minor units exactly', function () {
    assert.equal(priceToSubMinor('0.2450', 'GBP', 'major'), 245_000n); // £0.2450 = 24.50 p
    assert.equal(priceToSubMinor('24.50', 'GBP', 'minor'), 245_000n);
    assert.equal(priceToSubMinor('24.5617', 'GBP', 'minor'), 245_617n);
    assert.equal(priceToSubMinor(0.218, 'MYR', 'major'), 218_000n); // 21.80 sen
    assert.equal(priceToSubMinor('100', 'JPY', 'major'), 1_000_000n); // yen have no minor unit
    assert.equal(priceToSubMinor('0.001', 'KWD', 'major'), 10_000n); // one fils
    assert.equal(priceToSubMinor('-0.05', 'EUR', 'major'), -50_000n); // negative (export) prices
  });

  it('refuses a price finer than a sub-minor unit rather than round it', function () {
    assert.throws(() => priceToSubMinor('0.0000001', 'GBP', 'major'), /more than 6 decimal places/);
    assert.throws(() => priceToSubMinor('24.56171', 'GBP', 'minor'), /more than 4 decimal places/);
    assert.throws(() => priceToSubMinor('0.00001', 'JPY', 'major'), RangeError);
    assert.throws(() => priceToSubMinor('1', 'XYZ', 'major'), /unknown ISO 4217/);
  });

  it('rounds a market price finer than a sub-minor unit by the mode', function () {
    assert.equal(marketPriceToSubMinor('0.12345675', 'GBP', 'major', 'half-even'), 123_457n);
    assert.equal(marketPriceToSubMinor('0.1234565', 'GBP', 'major', 'half-even'), 123_456n);
    assert.equal(marketPriceToSubMinor('0.1234565', 'GBP', 'major', 'half-away-from-zero'), 123_457n);
    assert.equal(marketPriceToSubMinor('-0.1234565', 'GBP', 'major', 'half-away-from-zero'), -123_457n);
    assert.equal(marketPriceToSubMinor(12.34565, 'EUR', 'minor', 'half-even'), 123_456n);
    assert.equal(marketPriceToSubMinor('0.25', 'EUR', 'major', 'half-even'), 250_000n);
  });
});

describe('money: rounding to minor units and display', function () {
  it('rounds a single sub-minor amount to minor units by the mode', function () {
    assert.equal(subMinorToMinor(15_000n, 'half-even'), 2n);
    assert.equal(subMinorToMinor(25_000n, 'half-even'), 2n);
    assert.equal(subMinorToMinor(25_000n, 'half-away-from-zero'), 3n);
    assert.equal(subMinorToMinor(-25_000n, 'half-even'), -2n);
    assert.equal(subMinorToMinor(-25_000n, 'half-away-from-zero'), -3n);
    assert.equal(subMinorToMinor(24_999n, 'half-away-from-zero'), 2n);
    assert.equal(subMinorToMinor(25_001n, 'half-even'), 3n);
  });

  it('formats minor and sub-minor amounts for display', function () {
    assert.equal(formatMinor(1234, 'GBP'), '12.34');
    assert.equal(formatMinor(-5n, 'GBP'), '-0.05');
    assert.equal(formatMinor(1234, 'JPY'), '1234');
    assert.equal(formatMinor(1234, 'KWD'), '1.234');
    assert.equal(formatSubMinor(245_617, 'GBP'), '0.245617'); // 24.5617 p/kWh as £/kWh
    assert.equal(formatSubMinor(2_456_170n, 'GBP'), '2.456170');
    assert.equal(formatSubMinor(10_000, 'JPY'), '1.0000');
  });
});

describe('money: CumulativeRounder', function () {
  it('emits round(total after) - round(total before)', function () {
    const even = new CumulativeRounder(SUB_MINOR_PER_MINOR, 'half-even');
    const away = new CumulativeRounder(SUB_MINOR_PER_MINOR, 'half-away-from-zero');
    // Four charges of half a penny each.
    assert.deepEqual(run(even, [5000n, 5000n, 5000n, 5000n]).emits, [0n, 1n, 1n, 0n]); // 0, 1, 2, 2
    assert.deepEqual(run(away, [5000n, 5000n, 5000n, 5000n]).emits, [1n, 0n, 1n, 0n]); // 1, 1, 2, 2
    // A refund: negative amounts round symmetrically.
    assert.deepEqual(run(away, [-5000n, -10_000n]).emits, [-1n, -1n]); // -1, -2
    assert.deepEqual(run(even, [3333n, 3333n, 3334n]).emits, [0n, 1n, 0n]);
    assert.deepEqual(even.add(123_456_789n, 0n), { emit: 0n, total: 123_456_789n });
  });

  it('property: the emissions of any stream sum to the rounded total, and grouping changes nothing', function () {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: -(10n ** 9n), max: 10n ** 10n }), { minLength: 1, maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 59 }), { maxLength: 20 }),
        fc.constantFrom(...MODES),
        fc.constantFrom(SUB_MINOR_PER_MINOR, PICO_PER_SUB_MINOR, 10n),
        (amounts, cuts, mode, fine) => {
          const rounder = new CumulativeRounder(fine, mode);
          const whole = run(rounder, amounts);
          assert.equal(whole.total, sum(amounts));
          assert.equal(sum(whole.emits), divRound(sum(amounts), fine, mode));
          // Group neighbouring amounts (as if readings had arrived combined): same coarse total.
          const points = [...new Set([0, ...cuts.filter((c) => c < amounts.length), amounts.length])].sort(
            (a, b) => a - b,
          );
          const grouped = points.slice(1).map((end, i) => sum(amounts.slice(points[i], end)));
          assert.equal(sum(run(rounder, grouped).emits), sum(whole.emits));
          // Every emission is within one coarse unit of its exact share.
          for (const [i, amount] of amounts.entries()) {
            const e = whole.emits[i] as bigint;
            assert.ok(e * fine - amount <= fine && amount - e * fine <= fine);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('property: a stream started from a stored total continues exactly (restart safety)', function () {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: 0n, max: 10n ** 8n }), { minLength: 2, maxLength: 40 }),
        fc.nat(),
        (amounts, at) => {
          const rounder = new CumulativeRounder(SUB_MINOR_PER_MINOR, 'half-even');
          const cut = at % amounts.length;
          const first = run(rounder, amounts.slice(0, cut));
          // Resume from the stored total (as a string, as state files hold it).
          let total = BigInt(first.total.toString());
          let emitted = sum(first.emits);
          for (const amount of amounts.slice(cut)) {
            const step = rounder.add(total, amount);
            total = step.total;
            emitted += step.emit;
          }
          assert.equal(emitted, sum(run(rounder, amounts).emits));
        },
      ),
      { numRuns: 200 },
    );
  });
});
