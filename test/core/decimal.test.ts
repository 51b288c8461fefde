/**
 * Exact decimal arithmetic (nodes/core/decimal.ts): parsing without binary floating point, scaling
 * that refuses to drop digits, the two rounding modes on ties, and formatting back to text.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  divRound,
  formatScaled,
  parseDecimal,
  RoundingMode,
  toSafeNumber,
  toScaledExact,
  toScaledRounded,
} from '../../dist/nodes/core/decimal';

const MODES: RoundingMode[] = ['half-even', 'half-away-from-zero'];

/** An exact rational comparison: sign of a/b - c/d (b, d > 0). */
function compare(a: bigint, b: bigint, c: bigint, d: bigint): number {
  const diff = a * d - c * b;
  return diff > 0n ? 1 : diff < 0n ? -1 : 0;
}

describe('decimal: parseDecimal', function () {
  it('reads decimal strings as digits and a scale', function () {
    const cases: Array<[string, bigint, number]> = [
      ['12.345', 12_345n, 3],
      ['-0.5', -5n, 1],
      ['+7', 7n, 0],
      ['0', 0n, 0],
      ['1e-3', 1n, 3],
      ['1.5E2', 150n, 0],
      ['2.50e+1', 250n, 1],
      [' 1_000.50 ', 100_050n, 2],
      ['0.000000000001', 1n, 12],
      ['123456789012345678901234567890.1', 1_234_567_890_123_456_789_012_345_678_901n, 1],
    ];
    for (const [text, units, scale] of cases) assert.deepEqual(parseDecimal(text), { units, scale }, text);
  });

  it('reads JSON numbers through their shortest decimal spelling, never through float arithmetic', function () {
    assert.deepEqual(parseDecimal(0.1), { units: 1n, scale: 1 });
    assert.deepEqual(parseDecimal(2.75), { units: 275n, scale: 2 });
    assert.deepEqual(parseDecimal(-0.001), { units: -1n, scale: 3 });
    assert.deepEqual(parseDecimal(-1.5), { units: -15n, scale: 1 });
    assert.deepEqual(parseDecimal(42), { units: 42n, scale: 0 });
    assert.deepEqual(parseDecimal(1.5e-7), { units: 15n, scale: 8 });
    assert.deepEqual(parseDecimal(1e21), { units: 10n ** 21n, scale: 0 });
    // 0.1 + 0.2 is the double 0.30000000000000004: read as exactly that, not silently as 0.3.
    assert.deepEqual(parseDecimal(0.1 + 0.2), { units: 30_000_000_000_000_004n, scale: 17 });
  });

  it('refuses text that is not a decimal number, and non-finite numbers', function () {
    for (const bad of ['', ' ', '1.', '.5', 'abc', '1e', '1,5', '0x10', '--1', '1 2', 'NaN', 'Infinity']) {
      assert.throws(() => parseDecimal(bad), RangeError, JSON.stringify(bad));
    }
    for (const bad of [NaN, Infinity, -Infinity]) assert.throws(() => parseDecimal(bad), RangeError);
    for (const bad of [null, undefined, true, {}, 1n]) {
      assert.throws(() => parseDecimal(bad as unknown as string), TypeError);
    }
  });

  it('refuses exponents beyond any JSON number at once, rather than spend seconds on bigint powers', function () {
    assert.deepEqual(parseDecimal(5e-324), { units: 5n, scale: 324 });
    assert.equal(parseDecimal(Number.MAX_VALUE).scale, 0);
    assert.deepEqual(parseDecimal('1e1000'), { units: 10n ** 1000n, scale: 0 });
    assert.deepEqual(parseDecimal('1e-1000'), { units: 1n, scale: 1000 });
    const started = Date.now();
    for (const huge of ['1e1001', '1e-1001', '1e100000000', '-2.5E-99999999999', '1e99999999999999999999']) {
      assert.throws(() => parseDecimal(huge), /out of range/, huge);
      assert.throws(() => toScaledRounded(huge, 6, 'half-even'), RangeError, huge);
    }
    assert.ok(Date.now() - started < 500);
  });

  it('property: every finite double reads back to the same double', function () {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const { units, scale } = parseDecimal(x);
        assert.ok(scale >= 0);
        assert.ok(Number(formatScaled(units, scale)) === x, `${x} -> ${units}e-${scale}`);
      }),
      { numRuns: 500 },
    );
  });

  it('property: decimal strings read exactly', function () {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.bigInt({ min: 0n, max: 10n ** 30n }),
        fc.integer({ min: 0, max: 20 }),
        (negative, magnitude, scale) => {
          const text = formatScaled(negative ? -magnitude : magnitude, scale);
          const parsed = parseDecimal(text);
          assert.equal(parsed.scale, scale);
          assert.equal(parsed.units, negative ? -magnitude : magnitude);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('decimal: scaling', function () {
  it('toScaledExact scales up freely and refuses to drop a non-zero digit', function () {
    assert.equal(toScaledExact('0.245', 4), 2450n);
    assert.equal(toScaledExact('24.50', 4), 245_000n);
    assert.equal(toScaledExact('1.5000', 1), 15n); // trailing zeros are not digits lost
    assert.equal(toScaledExact('-0.01', 2), -1n);
    assert.equal(toScaledExact(3, 6), 3_000_000n);
    assert.equal(toScaledExact('2e3', 0), 2000n);
    assert.throws(() => toScaledExact('0.24567', 4), /more than 4 decimal places/);
    assert.throws(() => toScaledExact('-0.001', 2), RangeError);
  });

  it('toScaledRounded rounds by the mode', function () {
    assert.equal(toScaledRounded('0.12344', 4, 'half-even'), 1234n);
    assert.equal(toScaledRounded('0.12346', 4, 'half-even'), 1235n);
    assert.equal(toScaledRounded('0.12345', 4, 'half-even'), 1234n); // tie to even
    assert.equal(toScaledRounded('0.12355', 4, 'half-even'), 1236n);
    assert.equal(toScaledRounded('0.12345', 4, 'half-away-from-zero'), 1235n);
    assert.equal(toScaledRounded('-0.12345', 4, 'half-away-from-zero'), -1235n);
    assert.equal(toScaledRounded('-0.12345', 4, 'half-even'), -1234n);
    assert.equal(toScaledRounded('7', 2, 'half-even'), 700n);
  });
});

describe('decimal: divRound', function () {
  it('rounds ties to even or away from zero, symmetrically for negatives', function () {
    const cases: Array<[bigint, bigint, bigint, bigint]> = [
      // numerator, denominator, half-even, half-away-from-zero
      [5n, 2n, 2n, 3n],
      [7n, 2n, 4n, 4n],
      [-5n, 2n, -2n, -3n],
      [-7n, 2n, -4n, -4n],
      [1n, 2n, 0n, 1n],
      [-1n, 2n, 0n, -1n],
      [3n, 2n, 2n, 2n],
      [25n, 10n, 2n, 3n],
      [35n, 10n, 4n, 4n],
      [26n, 10n, 3n, 3n],
      [24n, 10n, 2n, 2n],
      [-26n, 10n, -3n, -3n],
      [5n, -2n, -2n, -3n],
      [-5n, -2n, 2n, 3n],
      [0n, 7n, 0n, 0n],
      [15_000n, 10_000n, 2n, 2n],
      [25_000n, 10_000n, 2n, 3n],
      [123n, 1n, 123n, 123n],
    ];
    for (const [n, d, even, away] of cases) {
      assert.equal(divRound(n, d, 'half-even'), even, `${n}/${d} half-even`);
      assert.equal(divRound(n, d, 'half-away-from-zero'), away, `${n}/${d} half-away-from-zero`);
    }
  });

  it('refuses to divide by zero', function () {
    assert.throws(() => divRound(1n, 0n, 'half-even'), /division by zero/);
  });

  it('property: the result is a nearest integer, and ties go the way the mode says', function () {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 25n), max: 10n ** 25n }),
        fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }).filter((d) => d !== 0n),
        fc.constantFrom(...MODES),
        (n, d, mode) => {
          const r = divRound(n, d, mode);
          // Normalise to a positive denominator for the checks.
          const num = d < 0n ? -n : n;
          const den = d < 0n ? -d : d;
          // |num/den - r| <= 1/2  <=>  |2 num - 2 r den| <= den
          const twice = 2n * num - 2n * r * den;
          assert.ok(twice <= den && twice >= -den, `${n}/${d} -> ${r}`);
          if (twice === den || twice === -den) {
            if (mode === 'half-even') assert.equal(r % 2n, 0n);
            else assert.equal(compare(r < 0n ? -r : r, 1n, num < 0n ? -num : num, den), 1);
          }
          assert.equal(divRound(-n, d, mode), -r); // symmetric about zero
          assert.equal(divRound(n, -d, mode), -r);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('property: ties are hit and resolved as specified', function () {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }),
        fc.bigInt({ min: 1n, max: 10n ** 9n }),
        (q, half) => {
          const d = 2n * half;
          const n = q * d + half; // exactly q + 1/2
          const even = divRound(n, d, 'half-even');
          assert.equal(even % 2n, 0n);
          assert.ok(even === q || even === q + 1n);
          assert.equal(divRound(n, d, 'half-away-from-zero'), q >= 0n ? q + 1n : q);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('decimal: formatting and safe numbers', function () {
  it('formatScaled writes a plain decimal with exactly `scale` places', function () {
    assert.equal(formatScaled(-1230n, 2), '-12.30');
    assert.equal(formatScaled(5n, 3), '0.005');
    assert.equal(formatScaled(-5n, 2), '-0.05');
    assert.equal(formatScaled(0n, 0), '0');
    assert.equal(formatScaled(0n, 4), '0.0000');
    assert.equal(formatScaled(1234n, 0), '1234');
    assert.equal(formatScaled(2_456_170n, 6), '2.456170');
  });

  it('property: formatScaled and toScaledExact are inverse', function () {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }),
        fc.integer({ min: 0, max: 18 }),
        (v, s) => {
          assert.equal(toScaledExact(formatScaled(v, s), s), v);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('toSafeNumber passes safe integers and refuses larger ones', function () {
    assert.equal(toSafeNumber(9_007_199_254_740_991n, 'x'), Number.MAX_SAFE_INTEGER);
    assert.equal(toSafeNumber(-9_007_199_254_740_991n, 'x'), Number.MIN_SAFE_INTEGER);
    assert.throws(() => toSafeNumber(9_007_199_254_740_992n, 'charge amount'), /charge amount .* too large/);
    assert.throws(() => toSafeNumber(-9_007_199_254_740_992n, 'x'), RangeError);
  });
});
