/**
 * Money as integers.
 *
 * - **minor unit**: the currency's smallest coin by ISO 4217 (pence, sen, cents; yen have none).
 *   Balances and postings are whole minor units.
 * - **sub-minor unit**: 1/10,000 of a minor unit. Charges and prices are carried in it, so a tariff
 *   of 24.5617 p/kWh and a 10 Wh reading are both exact.
 * - **pico unit**: 1/10^12 of a minor unit, the engine's working precision for the few steps that
 *   divide (time splits, percentages, conversion factors).
 *
 * Rounded figures are produced by cumulative rounding (`CumulativeRounder`): each emitted amount is
 * the difference between the rounded running total after and before it, so any split of a stream
 * sums to exactly the figure the unsplit stream gives.
 */
import { divRound, formatScaled, RoundingMode, toScaledExact, toScaledRounded } from './decimal';

export const SUB_MINOR_PER_MINOR = 10_000n;
export const SUB_MINOR_DIGITS = 4;
export const PICO_PER_SUB_MINOR = 100_000_000n;
export const PICO_DIGITS = 12;

/** ISO 4217 minor-unit exponents for the currencies a building operator is likely to bill in. */
const MINOR_UNIT_DIGITS: Readonly<Record<string, number>> = {
  AED: 2, ARS: 2, AUD: 2, BDT: 2, BGN: 2, BHD: 3, BND: 2, BRL: 2, CAD: 2, CHF: 2, CLP: 0, CNY: 2,
  COP: 2, CZK: 2, DKK: 2, EGP: 2, EUR: 2, GBP: 2, GHS: 2, HKD: 2, HUF: 2, IDR: 2, ILS: 2, INR: 2,
  IQD: 3, ISK: 0, JOD: 3, JPY: 0, KES: 2, KRW: 0, KWD: 3, KZT: 2, LKR: 2, LYD: 3, MAD: 2, MOP: 2,
  MXN: 2, MYR: 2, NGN: 2, NOK: 2, NZD: 2, OMR: 3, PEN: 2, PHP: 2, PKR: 2, PLN: 2, QAR: 2, RON: 2,
  RSD: 2, RUB: 2, SAR: 2, SEK: 2, SGD: 2, THB: 2, TND: 3, TRY: 2, TWD: 2, TZS: 2, UAH: 2, UGX: 0,
  USD: 2, UYU: 2, VND: 0, XAF: 0, XOF: 0, ZAR: 2,
}; // prettier-ignore

export function isKnownCurrency(code: unknown): code is string {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(MINOR_UNIT_DIGITS, code);
}

/** Number of decimal places of the currency's minor unit (2 for GBP, 0 for JPY, 3 for KWD). */
export function minorUnitDigits(currency: string): number {
  const digits = MINOR_UNIT_DIGITS[currency];
  if (digits === undefined) throw new RangeError(`unknown ISO 4217 currency "${currency}"`);
  return digits;
}

export function knownCurrencies(): string[] {
  return Object.keys(MINOR_UNIT_DIGITS);
}

/**
 * A price written in the tariff ("0.2450" GBP, or "24.50" when the tariff quotes minor units) as
 * sub-minor units. More decimals than a sub-minor unit can hold are refused, never rounded away.
 */
export function priceToSubMinor(
  price: string | number,
  currency: string,
  quotedIn: 'major' | 'minor',
): bigint {
  const digits = SUB_MINOR_DIGITS + (quotedIn === 'major' ? minorUnitDigits(currency) : 0);
  return toScaledExact(price, digits);
}

/** A market price (dynamic tariffs) to sub-minor units, rounded by `mode` if it is finer. */
export function marketPriceToSubMinor(
  price: string | number,
  currency: string,
  quotedIn: 'major' | 'minor',
  mode: RoundingMode,
): bigint {
  const digits = SUB_MINOR_DIGITS + (quotedIn === 'major' ? minorUnitDigits(currency) : 0);
  return toScaledRounded(price, digits, mode);
}

/** Sub-minor units to whole minor units by `mode` (the posting rule for a single amount). */
export function subMinorToMinor(subMinor: bigint, mode: RoundingMode): bigint {
  return divRound(subMinor, SUB_MINOR_PER_MINOR, mode);
}

/** "12.34" for 1234 minor units of GBP: for display only, never parsed back into the money path. */
export function formatMinor(minor: bigint | number, currency: string): string {
  return formatScaled(BigInt(minor), minorUnitDigits(currency));
}

/** "0.245617" for 245617 sub-minor units of GBP (24.5617 p). */
export function formatSubMinor(subMinor: bigint | number, currency: string): string {
  return formatScaled(BigInt(subMinor), minorUnitDigits(currency) + SUB_MINOR_DIGITS);
}

/**
 * Rounds a stream of fine amounts into coarser units without drift: the running total is kept at
 * full precision and every emission is round(total after) - round(total before). The stored total
 * is the whole state; it is a bigint because a long-lived stream may outgrow 2^53 fine units.
 */
export class CumulativeRounder {
  constructor(
    private readonly finePerCoarse: bigint,
    private readonly mode: RoundingMode,
  ) {}

  /** Adds `fine` to a stream whose running total was `total`; returns the coarse amount to emit. */
  add(total: bigint, fine: bigint): { emit: bigint; total: bigint } {
    const next = total + fine;
    const emit =
      divRound(next, this.finePerCoarse, this.mode) - divRound(total, this.finePerCoarse, this.mode);
    return { emit, total: next };
  }
}

/**
 * An amount a person typed in the major unit ("12.50", "12", "0.5") as exact integer minor units, with `digits`
 * the currency's minor-unit exponent. Nothing is rounded or guessed: more decimals than the currency has
 * ("0.005" of a 2-digit currency is not one cent), signs, exponents ("1e300"), separators ("1,000"), zero and
 * more than nine whole digits are refused with a message a person can act on.
 *
 * Self-contained on purpose (no imports, no module state): the generated flows embed its source in function
 * nodes and in the dashboard's operator panel, which cannot import the package (scripts/tenant-api/core-source.mjs).
 */
export function parseMajorAmountIn(text: unknown, digits: number): bigint {
  const typed = typeof text === 'number' ? String(text) : typeof text === 'string' ? text.trim() : '';
  const example = digits > 0 ? `12.${'5'.padEnd(digits, '0')}` : '12';
  const match = /^(\d+)(?:\.(\d+))?$/.exec(typed);
  if (!match)
    throw new RangeError(
      typed === ''
        ? `enter an amount, such as ${example}`
        : `"${typed.slice(0, 40)}" is not an amount: write digits${digits > 0 ? ` and at most ${digits} decimals` : ''}, such as ${example}`,
    );
  const whole = String(match[1]).replace(/^0+(?=\d)/, '');
  const fraction = match[2] === undefined ? '' : match[2];
  if (fraction.length > digits)
    throw new RangeError(
      digits === 0
        ? `${typed} has decimals, and this currency has no minor unit: write a whole amount`
        : `${typed} has more than ${digits} decimals: amounts are not rounded`,
    );
  // A billion in the major unit is no top-up (nor any bill): a slip of the finger, refused.
  if (whole.length > 9)
    throw new RangeError(`${typed} is too large: at most 9 digits before the decimal point`);
  const minor = BigInt(whole + fraction.padEnd(digits, '0'));
  if (minor <= BigInt(0)) throw new RangeError('the amount must be more than 0');
  return minor;
}

/** parseMajorAmountIn for an ISO 4217 currency ("12.50" GBP is 1250). */
export function parseMajorAmount(text: unknown, currency: string): bigint {
  return parseMajorAmountIn(text, minorUnitDigits(currency));
}
