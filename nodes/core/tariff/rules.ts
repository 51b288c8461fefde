/**
 * The rules of a tariff document's figures, in one table that both the runtime check (compile.ts) and the
 * published JSON Schema (schema.ts, written to schemas/tariff.schema.json by scripts/build-tariff-schema.mjs)
 * are built from, so an editor and the node give the same verdict.
 *
 * Figures are written as plain decimals: digits, an optional point and decimals, a leading "-" only where a
 * figure may be negative (no "+", no exponent, no spaces or separators). JSON numbers are accepted as well,
 * with the same bounds; a JSON Schema cannot count a number's decimals, so figures whose decimals matter are
 * best written as strings.
 */
import { minorUnitDigits, SUB_MINOR_DIGITS } from '../money';
import { extend } from '../shapes';

/**
 * Every per-unit rate (energy, surcharge, demand per kW) is below 10^6 minor units
 * (10,000.00 GBP, 1,000,000 JPY per unit): a reading of 10^5 billing units at such a rate is 10^15 sub-minor
 * units, which a charge carries exactly (2^53 is about 9 x 10^15) with room for taxes.
 */
export const RATE_MINOR_DIGITS = 6;
/**
 * Every fixed amount (standing charge per day, monthly item, minimum, capacity per contracted unit and year)
 * is below 10^9 minor units; contracted capacity is below 10^5 units, so a day of it fits a charge.
 */
export const AMOUNT_MINOR_DIGITS = 9;
/** Most blocks of a block tariff (real schedules have up to about ten). */
export const MAX_BLOCKS = 16;

export type MoneyKind = 'rate' | 'amount';

export interface MoneyRule {
  /** Path in the document: `[]` for any array index, `*` for any key of an object. */
  readonly path: string;
  readonly kind: MoneyKind;
  /** Only the fallback of a dynamic price may be negative (market prices can be). */
  readonly signed: boolean;
}

export const MONEY_FIELDS: readonly MoneyRule[] = [
  { path: 'energy.rate', kind: 'rate', signed: false },
  { path: 'energy.blocks[].rate', kind: 'rate', signed: false },
  { path: 'energy.rates.*', kind: 'rate', signed: false },
  { path: 'energy.fallbackRate', kind: 'rate', signed: true },
  { path: 'surcharges[].rate', kind: 'rate', signed: false },
  { path: 'standingCharge.perDay', kind: 'amount', signed: false },
  { path: 'fixedMonthly[].amount', kind: 'amount', signed: false },
  { path: 'fixedMonthly[].rate', kind: 'rate', signed: false },
  { path: 'minimumMonthly', kind: 'amount', signed: false },
  { path: 'demand.rate', kind: 'rate', signed: false },
  { path: 'capacity.ratePerYear', kind: 'amount', signed: false },
];

export interface FigureRule {
  readonly path: string;
  /** Greater than zero (otherwise zero or more). */
  readonly positive: boolean;
  /** At most this many digits before the point (the figure is below 10^intDigits). */
  readonly intDigits: number;
  readonly decimals: number;
  /** A percentage: at most 100. */
  readonly atMost100?: boolean;
}

/** Figures that are not money: quantities, factors, percentages. */
export const FIGURE_FIELDS: readonly FigureRule[] = [
  { path: 'energy.blocks[].upTo', positive: true, intDigits: 9, decimals: 6 },
  { path: 'conversion.factor', positive: true, intDigits: 6, decimals: 15 },
  { path: 'conversion.volumeCorrection', positive: true, intDigits: 3, decimals: 15 },
  { path: 'conversion.calorificValue', positive: true, intDigits: 4, decimals: 15 },
  { path: 'surcharges[].share', positive: false, intDigits: 3, decimals: 6, atMost100: true },
  { path: 'taxes[].percent', positive: false, intDigits: 3, decimals: 6, atMost100: true },
  { path: 'capacity.contracted', positive: true, intDigits: 5, decimals: 6 },
  { path: 'carbon.kgPerUnit', positive: false, intDigits: 3, decimals: 9 },
];

/**
 * A declared quantity (fittings, kVA, RT of contracted capacity) that an item priced `per` it takes from the
 * consumption message (`declared: {"kVA": "63"}`): below 100,000, at most 6 decimals. With per-unit item rates
 * below 10^6 minor units, a month's item stays below 10^11 minor units.
 */
export const DECLARED_FORMAT: FigureFormat = { signed: false, positive: false, intDigits: 5, decimals: 6 };

/** The shape of one figure: sign, size and decimals. */
export interface FigureFormat {
  signed: boolean;
  positive: boolean;
  intDigits: number;
  decimals: number;
  atMost100?: boolean;
}

/** Digits of a money figure in a tariff quoted in `priceUnit` of `currency`. */
export function moneyFormat(rule: MoneyRule, currency: string, priceUnit: 'major' | 'minor'): FigureFormat {
  const minor = priceUnit === 'minor' ? 0 : minorUnitDigits(currency);
  const limit = rule.kind === 'rate' ? RATE_MINOR_DIGITS : AMOUNT_MINOR_DIGITS;
  return {
    signed: rule.signed,
    positive: false,
    intDigits: limit - minor,
    decimals: SUB_MINOR_DIGITS + minor,
  };
}

export function figureFormat(rule: FigureRule): FigureFormat {
  const format = {
    signed: false,
    positive: rule.positive,
    intDigits: rule.intDigits,
    decimals: rule.decimals,
  };
  return rule.atMost100 ? extend(format, { atMost100: true }) : format;
}

/** The string form of a figure of this format, as a regular expression source (ECMA-262, as JSON Schema). */
export function figurePattern(format: FigureFormat): string {
  if (format.atMost100) return `^(100(\\.0{1,${format.decimals}})?|\\d{1,2}(\\.\\d{1,${format.decimals}})?)$`;
  const sign = format.signed ? '-?' : '';
  const notZero = format.positive ? '(?!0+(\\.0+)?$)' : '';
  return `^${sign}${notZero}\\d{1,${format.intDigits}}(\\.\\d{1,${format.decimals}})?$`;
}

/** Any plain decimal, the grammar before the bounds. */
export const PLAIN_DECIMAL = /^-?\d+(\.\d+)?$/;

/** The rule of a concrete path ("energy.blocks[2].rate", "energy.rates.peak"), if it is money. */
export function moneyRuleAt(path: string): MoneyRule | undefined {
  const general = generalPath(path);
  return MONEY_FIELDS.find((rule) => rule.path === general);
}

export function figureRuleAt(path: string): FigureRule | undefined {
  const general = generalPath(path);
  return FIGURE_FIELDS.find((rule) => rule.path === general);
}

function generalPath(path: string): string {
  return path.replace(/\[\d+\]/g, '[]').replace(/^energy\.rates\..*$/, 'energy.rates.*');
}

/**
 * Rules the runtime checks that a JSON Schema cannot say (they relate one field to another, or depend on
 * the runtime's data). Everything else is in the schema, and the test of the schema checks both agree.
 */
export const RUNTIME_ONLY_RULES: readonly string[] = [
  "energy.blocks[].upTo: each greater than the previous block's",
  'energy.default, energy.schedule[].period: name a period of energy.rates',
  'energy.schedule[].to: differs from "from"',
  'energy.schedule[].seasons[]: name a season of "seasons"',
  'demand.periods[]: name a period of time-of-use energy rates',
  'demand: only for utility electricity or cooling',
  'timezone: an IANA time zone the runtime knows',
  'JSON numbers: at most the decimals allowed for the field (write figures as strings to have them checked by the schema as well)',
];

/**
 * How the fixed monthly items and the minimum monthly charge of a month the tenant occupies only in part
 * (moved in after the 1st, or out before the last day) are billed: `none` (nothing for that month),
 * `pro-rata` (the days occupied over the days of the month, exact, the move-in and move-out days counted as
 * occupied) or `whole-month` (as if occupied all month). Standing and capacity charges are daily and run from
 * the move-in day to the move-out day whatever the policy.
 */
export const PARTIAL_MONTH_POLICIES = ['none', 'pro-rata', 'whole-month'] as const;
export type PartialMonthPolicy = (typeof PARTIAL_MONTH_POLICIES)[number];
/**
 * Pro-rata unless the tariff says: it bills fixed items the way standing charges already are (by the days
 * occupied), so the outgoing and the incoming tenant of a unit together pay exactly one month, and neither
 * pays for days the other occupied.
 */
export const DEFAULT_PARTIAL_MONTH: PartialMonthPolicy = 'pro-rata';
