/**
 * Units of measure the tariff engine understands, with exact factors between units of the same quantity, so
 * a tariff is written in the unit it is published in (pence per imperial gallon, dollars per therm) and
 * readings in any unit of that quantity are converted exactly: no rate is rounded to fit another unit.
 * Factors between different quantities (gas volume to energy) are tariff data, in the document's
 * `conversion`.
 *
 * Definitions:
 * - imperial gallon: exactly 4.54609 L (UK Weights and Measures Act 1985, Schedule 1);
 * - US gallon: 231 cubic inches, exactly 3.785411784 L (NIST Handbook 44, Appendix C);
 * - cubic foot: (0.3048 m)^3 = 0.028316846592 m3 exactly (international yard and pound, 1959); ccf and hcf
 *   are 100 cubic feet, mcf 1,000; kgal 1,000 US gallons;
 * - British thermal unit: the International Table Btu, exactly 1,055.05585262 J (5th International
 *   Conference on the Properties of Steam, 1956; NIST SP 811, B.8); therm 100,000 Btu, MMBtu 10^6 Btu;
 *   tariffs that use the US therm (105.4804 MJ) or another Btu say so in a `conversion` factor;
 * - refrigeration ton-hour: 12,000 Btu (one ton of refrigeration, 12,000 Btu per hour, for an hour);
 * - kWh: 3.6 MJ exactly.
 */
import { Utility } from '../messages';
import { Ratio } from './types';

interface UnitInfo {
  /** The unit this one is a multiple of. */
  base: 'kWh' | 'm3';
  /** How many base units one of this unit is, exactly. */
  factor: Ratio;
}

const r = (num: bigint, den: bigint): Ratio => ({ num, den });
/** Joules in one International Table Btu, x 10^8. */
const BTU_J_E8 = 105_505_585_262n;
const J_PER_KWH = 3_600_000n;
const E8 = 100_000_000n;
/** Cubic metres in a cubic foot, x 10^12. */
const FT3_M3_E12 = 28_316_846_592n;
const E12 = 1_000_000_000_000n;

const UNITS: Record<string, UnitInfo> = {
  kWh: { base: 'kWh', factor: r(1n, 1n) },
  Wh: { base: 'kWh', factor: r(1n, 1000n) },
  MWh: { base: 'kWh', factor: r(1000n, 1n) },
  MJ: { base: 'kWh', factor: r(1n * 1_000_000n, J_PER_KWH) },
  GJ: { base: 'kWh', factor: r(1_000_000_000n, J_PER_KWH) },
  therm: { base: 'kWh', factor: r(100_000n * BTU_J_E8, J_PER_KWH * E8) },
  MMBtu: { base: 'kWh', factor: r(1_000_000n * BTU_J_E8, J_PER_KWH * E8) },
  RTh: { base: 'kWh', factor: r(12_000n * BTU_J_E8, J_PER_KWH * E8) },
  m3: { base: 'm3', factor: r(1n, 1n) },
  L: { base: 'm3', factor: r(1n, 1000n) },
  'imp gal': { base: 'm3', factor: r(454_609n, E8) },
  'US gal': { base: 'm3', factor: r(3_785_411_784n, E12) },
  kgal: { base: 'm3', factor: r(3_785_411_784n, E12 / 1000n) },
  ft3: { base: 'm3', factor: r(FT3_M3_E12, E12) },
  ccf: { base: 'm3', factor: r(100n * FT3_M3_E12, E12) },
  mcf: { base: 'm3', factor: r(1000n * FT3_M3_E12, E12) },
};

/** Every accepted spelling (compared without case and surrounding spaces) and its unit. */
export const UNIT_SPELLINGS: Readonly<Record<string, string>> = {
  kwh: 'kWh', wh: 'Wh', mwh: 'MWh', 'kwh thermal': 'kWh', kwht: 'kWh', kwhth: 'kWh',
  mj: 'MJ', gj: 'GJ', therm: 'therm', therms: 'therm', thm: 'therm', mmbtu: 'MMBtu',
  rth: 'RTh', 'ton-hour': 'RTh', 'ton-hours': 'RTh', 'ton hour': 'RTh', tonhour: 'RTh', 'rt-h': 'RTh',
  m3: 'm3', 'm³': 'm3', l: 'L', litre: 'L', liter: 'L', litres: 'L', liters: 'L',
  'imp gal': 'imp gal', impgal: 'imp gal', 'uk gal': 'imp gal', 'gal (imp)': 'imp gal',
  'us gal': 'US gal', usgal: 'US gal', 'gal (us)': 'US gal', kgal: 'kgal',
  ft3: 'ft3', 'ft³': 'ft3', cf: 'ft3', 'cu ft': 'ft3', ccf: 'ccf', hcf: 'ccf', mcf: 'mcf',
}; // prettier-ignore

/** The canonical spelling of a unit ("kWh", "m3", "RTh"...), or undefined if unknown. */
export function canonicalUnit(unit: unknown): string | undefined {
  if (typeof unit !== 'string') return undefined;
  const key = unit.trim().toLowerCase();
  const canonical = Object.prototype.hasOwnProperty.call(UNIT_SPELLINGS, key)
    ? UNIT_SPELLINGS[key]
    : undefined;
  return canonical && UNITS[canonical] ? canonical : undefined;
}

/**
 * The spellings as a regular expression source (ECMA-262, for the JSON Schema): each letter in either case,
 * spaces around allowed, as canonicalUnit reads them.
 */
export function unitPattern(): string {
  const spellings = Object.keys(UNIT_SPELLINGS).map((spelling) =>
    [...spelling]
      .map((ch) => {
        const upper = ch.toUpperCase();
        if (upper !== ch) return `[${ch}${upper}]`;
        return /[\\^$.*+?()[\]{}|]/.test(ch) ? `\\${ch}` : ch;
      })
      .join(''),
  );
  return `^\\s*(${spellings.join('|')})\\s*$`;
}

export function defaultUnitFor(utility: Utility | undefined): string {
  return utility === 'water' ? 'm3' : 'kWh';
}

/**
 * The exact factor that turns a quantity in `from` into one in `to` when both measure the same
 * thing (Wh -> kWh is 1/1000, m3 -> imperial gallons 10^8/454,609), or undefined when they do not.
 */
export function unitFactor(from: string, to: string): Ratio | undefined {
  const a = UNITS[from];
  const b = UNITS[to];
  if (!a || !b || a.base !== b.base) return undefined;
  if (from === to) return { num: 1n, den: 1n };
  return { num: a.factor.num * b.factor.den, den: a.factor.den * b.factor.num };
}

/**
 * One refrigeration ton-hour (12,000 International Table Btu) is 3.516852842066... kWh; this is the figure
 * to nine decimals that cooling tariffs usually write as their conversion factor.
 */
export const KWH_PER_TON_HOUR = '3.516852842';
