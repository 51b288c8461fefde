/**
 * Exact decimal arithmetic on bigint for the money path.
 *
 * Prices and quantities enter as decimal strings (or JSON numbers, read through their shortest
 * decimal spelling) and are held as integers scaled by a power of ten. No binary floating point
 * ever touches an amount: `0.1 + 0.2` problems cannot occur.
 */

export type RoundingMode = 'half-even' | 'half-away-from-zero';

export const ROUNDING_MODES: readonly RoundingMode[] = ['half-even', 'half-away-from-zero'];

const DECIMAL_PATTERN = /^([+-])?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;
const MAX_EXPONENT = 1000;

/** A decimal written as digits and a power of ten: value = digits * 10^-scale. */
export interface ParsedDecimal {
  readonly units: bigint;
  readonly scale: number;
}

/** Parses "12.345", "-0.5", "1e-3" or a finite JSON number without going through float math. */
export function parseDecimal(input: string | number): ParsedDecimal {
  let text: string;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) throw new RangeError(`${input} is not a finite number`);
    if (Number.isSafeInteger(input)) return { units: BigInt(input), scale: 0 };
    text = String(input);
    // The common case on the hot path: a plain decimal such as "2.75" (no exponent).
    const dot = text.indexOf('.');
    if (dot > 0 && text.length < 17 && !text.includes('e')) {
      return { units: BigInt(text.slice(0, dot) + text.slice(dot + 1)), scale: text.length - dot - 1 };
    }
  } else if (typeof input === 'string') {
    text = input.trim().replace(/_/g, '');
  } else {
    throw new TypeError('expected a decimal number or a string such as "12.34"');
  }
  const match = DECIMAL_PATTERN.exec(text);
  if (!match) throw new RangeError(`"${String(input)}" is not a decimal number`);
  const [, sign, whole = '0', fraction = '', exponentText] = match;
  const exponent = exponentText ? Number(exponentText) : 0;
  // JSON numbers need |exponent| <= 324; "1e100000000" would take seconds of bigint work to refuse.
  if (Math.abs(exponent) > MAX_EXPONENT) throw new RangeError(`"${String(input)}" is out of range`);
  let units = BigInt(whole + fraction);
  let scale = fraction.length - exponent;
  if (scale < 0) {
    units *= 10n ** BigInt(-scale);
    scale = 0;
  }
  if (sign === '-') units = -units;
  return { units, scale };
}

/**
 * The decimal as an integer count of 10^-targetScale. Throws when the decimal has more places than
 * the target can hold (an authored price must not be silently changed); use `toScaledRounded` where
 * rounding is the documented behaviour.
 */
export function toScaledExact(input: string | number, targetScale: number): bigint {
  const { units, scale } = parseDecimal(input);
  if (scale <= targetScale) return units * 10n ** BigInt(targetScale - scale);
  const divisor = 10n ** BigInt(scale - targetScale);
  if (units % divisor !== 0n) {
    throw new RangeError(`${String(input)} has more than ${targetScale} decimal places`);
  }
  return units / divisor;
}

/** The decimal as an integer count of 10^-targetScale, rounded by `mode`. */
export function toScaledRounded(input: string | number, targetScale: number, mode: RoundingMode): bigint {
  const { units, scale } = parseDecimal(input);
  if (scale <= targetScale) return units * 10n ** BigInt(targetScale - scale);
  return divRound(units, 10n ** BigInt(scale - targetScale), mode);
}

/** numerator / denominator rounded to an integer by `mode`. The denominator must not be zero. */
export function divRound(numerator: bigint, denominator: bigint, mode: RoundingMode): bigint {
  if (denominator === 1n) return numerator;
  if (denominator === 0n) throw new RangeError('division by zero');
  if (denominator < 0n) {
    numerator = -numerator;
    denominator = -denominator;
  }
  const negative = numerator < 0n;
  const magnitude = negative ? -numerator : numerator;
  let quotient = magnitude / denominator;
  const twiceRemainder = (magnitude % denominator) * 2n;
  if (twiceRemainder > denominator) quotient += 1n;
  else if (twiceRemainder === denominator) {
    if (mode === 'half-away-from-zero' || quotient % 2n === 1n) quotient += 1n;
  }
  return negative ? -quotient : quotient;
}

/** Formats an integer count of 10^-scale as a plain decimal string ("-12.30" for -1230n, 2). */
export function formatScaled(value: bigint, scale: number): string {
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(scale + 1, '0');
  const whole = scale === 0 ? digits : digits.slice(0, -scale);
  const fraction = scale === 0 ? '' : `.${digits.slice(-scale)}`;
  return `${negative ? '-' : ''}${whole}${fraction}`;
}

/**
 * a + sign x b, exactly, as the shortest decimal text ("1002.25" + "0.75" = "1003"): registers and quantities
 * keep their own digits, with no trailing zeros.
 */
export function addDecimalText(a: string | number, b: string | number, sign: 1n | -1n = 1n): string {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  const scale = Math.max(x.scale, y.scale);
  const units = x.units * 10n ** BigInt(scale - x.scale) + sign * y.units * 10n ** BigInt(scale - y.scale);
  const text = formatScaled(units, scale);
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** A bigint that must fit a JSON number exactly; throws rather than lose a digit. */
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

export function toSafeNumber(value: bigint, what: string): number {
  if (value > MAX_SAFE || value < MIN_SAFE) {
    throw new RangeError(`${what} ${value} is too large to carry exactly in a message`);
  }
  return Number(value);
}
