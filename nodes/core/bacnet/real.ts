/**
 * BACnet REAL is an IEEE 754 single (float32). Money and exact decimal quantities become REALs here, and only
 * here: the result is the float32 nearest to the exact decimal (ties to even), found with integer arithmetic, so
 * it never depends on how a float64 intermediate happened to round. A float32 holds about 7 significant digits:
 * 41,943.04 is still exact to the cent when shown with two decimals, 123,456.78 shows as 123,456.78125.
 */
import { minorUnitDigits } from '../money';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function bitsOf(value: number): number {
  f32[0] = value;
  return u32[0] as number;
}

function fromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0] as number;
}

/** The float32 `value` as sign * mantissa * 2^exponent with integer mantissa (exact). */
function decompose(value: number): { mantissa: bigint; exponent: number } {
  const bits = bitsOf(value);
  const sign = bits >>> 31 ? -1n : 1n;
  const biased = (bits >>> 23) & 0xff;
  const fraction = BigInt(bits & 0x7fffff);
  if (biased === 0) return { mantissa: sign * fraction, exponent: -149 };
  return { mantissa: sign * (fraction | 0x800000n), exponent: biased - 150 };
}

/** |candidate - numerator/denominator| scaled by denominator * 2^shift, exactly (shift large enough for all). */
function distance(candidate: number, numerator: bigint, denominator: bigint, shift: number): bigint {
  const { mantissa, exponent } = decompose(candidate);
  // candidate * denominator * 2^shift - numerator * 2^shift, with candidate = mantissa * 2^exponent
  const scaled = mantissa * denominator * 2n ** BigInt(shift + exponent) - numerator * 2n ** BigInt(shift);
  return scaled < 0n ? -scaled : scaled;
}

function neighbours(value: number): number[] {
  if (value === 0) return [0, fromBits(1), fromBits(0x80000001)];
  const bits = bitsOf(value);
  return [value, fromBits(bits + 1), fromBits(bits - 1)].filter((v) => Number.isFinite(v));
}

/** The float32 nearest to numerator / 10^digits (an exact decimal), ties to an even mantissa. */
export function decimalToReal(numerator: bigint, digits: number): number {
  const denominator = 10n ** BigInt(digits);
  const guess = Math.fround(Number(numerator) / Number(denominator));
  if (!Number.isFinite(guess)) return guess;
  const candidates = neighbours(guess);
  const shift = 149 + 2; // covers the smallest float32 exponent
  let best = candidates[0] as number;
  let bestDistance = distance(best, numerator, denominator, shift);
  for (const candidate of candidates.slice(1)) {
    const d = distance(candidate, numerator, denominator, shift);
    const tieToEven = d === bestDistance && (bitsOf(candidate) & 1) === 0;
    if (d < bestDistance || tieToEven) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best === 0 ? 0 : best;
}

/** An integer amount in the currency's minor unit as a REAL in its major unit (1234 GBP pence: 12.34). */
export function minorToMajorReal(minor: number | bigint, currency: string): number {
  return decimalToReal(BigInt(minor), minorUnitDigits(currency));
}
