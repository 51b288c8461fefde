/**
 * The tariff document (what an integrator writes, JSON; schemas/tariff.schema.json publishes it)
 * and its compiled form (what the engine prices with: integers, parsed times, resolved zone).
 * Every money figure in a document is a decimal string or number in the currency's major unit
 * ("0.2450" GBP/kWh), or in its minor unit when the document says `"priceUnit": "minor"`.
 */
import { RoundingMode } from '../decimal';
import { Utility } from '../messages';
import { TimeZone } from './zone';
import type { PartialMonthPolicy } from './rules';

export type Decimal = string | number;

export const DAY_TYPES = [
  'weekday',
  'saturday',
  'sunday',
  'holiday',
  'mon',
  'tue',
  'wed',
  'thu',
  'fri',
] as const;
export type DayType = (typeof DAY_TYPES)[number];

export interface TouRule {
  days: DayType[];
  /** "HH:MM" local time; `to` before `from` wraps past midnight; "24:00" is the end of the day. */
  from: string;
  to: string;
  period: string;
  /** Season names this rule applies in; all seasons when absent. */
  seasons?: string[];
}

export type EnergyDocument =
  | { type: 'flat'; rate: Decimal }
  | {
      type: 'block';
      /** When the block position returns to zero. */
      reset: 'day' | 'month' | 'billing-cycle';
      /** Day of the month a billing cycle starts (1-28), for reset "billing-cycle". */
      billingDay?: number;
      /** Ordered blocks; `upTo` is the cumulative quantity where the block ends, omitted on the last. */
      blocks: Array<{ upTo?: Decimal | null; rate: Decimal }>;
    }
  | {
      type: 'tou';
      /** Price per unit of each named period ("peak", "shoulder", "offpeak"...). */
      rates: Record<string, Decimal>;
      /** Rules are tried in order; the first whose season, day type and time match wins. */
      schedule: TouRule[];
      /** Period for times no rule covers. */
      default: string;
    }
  | {
      type: 'dynamic';
      /** Price used when no signal covers the time, or the signal is older than maxAgeMinutes. */
      fallbackRate: Decimal;
      maxAgeMinutes: number;
    };

export interface ConversionDocument {
  /** The unit readings arrive in (m3, ton-hour...). */
  from: string;
  /** Either a plain factor (units billed per unit read)... */
  factor?: Decimal;
  /** ...or gas volume to energy: kWh = m3 x volumeCorrection x calorificValue (MJ/m3) / 3.6. */
  volumeCorrection?: Decimal;
  calorificValue?: Decimal;
}

export interface TariffDocument {
  name?: string;
  currency: string;
  priceUnit?: 'major' | 'minor';
  utility?: Utility;
  /** The unit the tariff bills in; defaults by utility (kWh, m3, kWh for gas and cooling). */
  unit?: string;
  timezone?: string;
  rounding?: RoundingMode;
  holidays?: string[];
  seasons?: Array<{ name: string; from: string; to: string }>;
  conversion?: ConversionDocument;
  energy: EnergyDocument;
  /** Per-unit surcharges: fuel surcharge, sewerage (with `share`, the percent of volume returned). */
  surcharges?: Array<{ name: string; rate: Decimal; share?: Decimal }>;
  standingCharge?: { perDay: Decimal };
  /** A fixed `amount`, or a `rate` per unit of a quantity the account declares (`per`: "fittings", "kVA"). */
  fixedMonthly?: Array<{ name: string; amount?: Decimal; per?: string; rate?: Decimal }>;
  minimumMonthly?: Decimal;
  /**
   * How the fixed monthly items and the minimum of a month occupied in part are billed, at move-in and at
   * move-out (see PARTIAL_MONTH_POLICIES); pro-rata when absent.
   */
  partialMonth?: { moveIn?: PartialMonthPolicy; moveOut?: PartialMonthPolicy };
  demand?: { rate: Decimal; intervalMinutes: 15 | 30; periods?: string[] };
  /** Contracted capacity: `contracted` in the tariff, or `per` a quantity each account declares. */
  capacity?: { contracted?: Decimal; per?: string; unit?: string; ratePerYear: Decimal; dayCount: DayCount };
  taxes?: Array<{ name: string; percent: Decimal; appliesTo?: string[] }>;
  carbon?: { kgPerUnit: Decimal; maxAgeMinutes?: number };
}

export const DAY_COUNTS = ['actual/365', 'actual/actual', 'actual/360', '30/360'] as const;
export type DayCount = (typeof DAY_COUNTS)[number];

/** A rational number on bigints; the engine keeps exact fractions until the single rounding step. */
export interface Ratio {
  readonly num: bigint;
  readonly den: bigint;
}

export interface CompiledRule {
  dayMask: number;
  seasonMask: number;
  /** Minute ranges [from, to) within the local day. */
  ranges: Array<[number, number]>;
  period: string;
}

export type CompiledEnergy =
  | { type: 'flat'; rate: bigint }
  | {
      type: 'block';
      reset: 'day' | 'month' | 'billing-cycle';
      billingDay: number;
      blocks: Array<{ upTo: bigint | null; rate: bigint }>;
    }
  | {
      type: 'tou';
      rates: Map<string, bigint>;
      /** "energy.<period>" per period, built once. */
      components: Map<string, string>;
      rules: CompiledRule[];
      defaultPeriod: string;
      boundaries: number[];
    }
  | { type: 'dynamic'; fallbackRate: bigint; maxAgeMs: number };

/** Prices are sub-minor units per billing unit; quantities micro-units; percents scaled by 10^4. */
export interface CompiledTariff {
  name: string;
  document: TariffDocument;
  currency: string;
  priceUnit: 'major' | 'minor';
  utility?: Utility;
  unit: string;
  zone: TimeZone;
  rounding: RoundingMode;
  holidays: Set<string>;
  seasons: Array<{ name: string; from: number; to: number }>;
  conversion?: { from: string; factor: Ratio };
  energy: CompiledEnergy;
  surcharges: Array<{ name: string; rate: bigint; share: Ratio }>;
  standingPerDay?: bigint;
  /** `amount` is per month, or per unit of the declared quantity `per`. */
  fixedMonthly: Array<{ name: string; amount: bigint; per?: string }>;
  minimumMonthly?: bigint;
  partialMonth: { moveIn: PartialMonthPolicy; moveOut: PartialMonthPolicy };
  demand?: { rate: bigint; intervalMs: number; periods?: Set<string> };
  capacity?: { contracted?: Ratio; per?: string; unit: string; ratePerYear: bigint; dayCount: DayCount };
  /** Quantities each account must declare for the items priced `per` them. */
  declared: string[];
  taxes: Array<{
    name: string;
    percent: Ratio;
    appliesTo?: string[];
    /** "tax.<name>", and the percent as shown on a charge line ("5%"), built once. */
    component: string;
    rateText: string;
  }>;
  /** Milligrams CO2e per billing unit, as a ratio so fractional factors stay exact. */
  carbon?: { mgPerUnit: Ratio; maxAgeMs: number };
}
