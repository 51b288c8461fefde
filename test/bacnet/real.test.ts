/**
 * Money and exact decimals as BACnet REALs (nodes/core/bacnet/real.ts): the float32 nearest the exact decimal,
 * ties to even, checked against an oracle that compares exact decimal expansions, never float arithmetic.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decimalToReal, minorToMajorReal } from '../../dist/nodes/core/bacnet/real';

/** The exact value of a float32 as numerator / 10^scale (every binary fraction has a finite decimal). */
function exactDecimal(value: number): { numerator: bigint; scale: number } {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value);
  const bits = view.getUint32(0);
  const sign = bits >>> 31 ? -1n : 1n;
  const biased = (bits >>> 23) & 0xff;
  const fraction = BigInt(bits & 0x7fffff);
  const mantissa = biased === 0 ? fraction : fraction | 0x800000n;
  const exponent = biased === 0 ? -149 : biased - 150;
  if (exponent >= 0) return { numerator: sign * mantissa * 2n ** BigInt(exponent), scale: 0 };
  // m * 2^-k = m * 5^k / 10^k
  return { numerator: sign * mantissa * 5n ** BigInt(-exponent), scale: -exponent };
}

/** |float32 - numerator/10^digits| as a decimal numerator over 10^scale (comparable at a common scale). */
function gap(candidate: number, numerator: bigint, digits: number, scale: number): bigint {
  const c = exactDecimal(candidate);
  const a = c.numerator * 10n ** BigInt(scale - c.scale);
  const b = numerator * 10n ** BigInt(scale - digits);
  return a > b ? a - b : b - a;
}

function neighbours(value: number): number[] {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value);
  const bits = view.getUint32(0);
  const out: number[] = [];
  for (const step of [-1, 1]) {
    view.setUint32(0, (bits + step) >>> 0);
    const next = view.getFloat32(0);
    if (Number.isFinite(next)) out.push(next);
  }
  return out;
}

describe('bacnet core: exact REALs', function () {
  it('gives the float32 nearest the exact decimal, which no neighbour beats', function () {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }),
        fc.constantFrom(0, 2, 3, 6),
        (n, digits) => {
          const real = decimalToReal(n, digits);
          assert.equal(Math.fround(real), real, 'a float32');
          const scale = 200;
          const mine = gap(real, n, digits, scale);
          for (const other of neighbours(real))
            assert.ok(gap(other, n, digits, scale) >= mine, `${other} is nearer`);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('does not round twice: a decimal just above a float32 midpoint rounds up', function () {
    // 2^34 + 1024 is halfway between two float32 (2^34 and 2^34 + 2048). One millionth above it the
    // float64 quotient is the midpoint itself, and rounding that again would go down to the even one.
    const midpoint = 2n ** 34n + 1024n;
    const micro = midpoint * 10n ** 6n + 1n;
    assert.equal(Math.fround(Number(micro) / 1e6), 2 ** 34, 'the naive route goes down');
    assert.equal(decimalToReal(micro, 6), 2 ** 34 + 2048);
    assert.equal(decimalToReal(midpoint * 10n ** 6n, 6), 2 ** 34, 'an exact tie goes to even');
  });

  it('turns minor units into major units by the currency: pence, yen, fils', function () {
    assert.equal(minorToMajorReal(1234, 'GBP'), Math.fround(12.34));
    assert.equal(minorToMajorReal(-250, 'GBP'), Math.fround(-2.5));
    assert.equal(minorToMajorReal(1234, 'JPY'), 1234);
    assert.equal(minorToMajorReal(1234, 'KWD'), Math.fround(1.234));
    assert.equal(minorToMajorReal(0, 'EUR'), 0);
    // Up to about 41,943 major units a REAL still shows the exact cents.
    assert.equal(minorToMajorReal(4_194_304, 'GBP').toFixed(2), '41943.04');
    assert.throws(() => minorToMajorReal(1, 'XXX'), /unknown ISO 4217 currency/);
  });
});
