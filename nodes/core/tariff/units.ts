/**
 * Units of measure the tariff engine understands, with the exact factors between spellings of the
 * same quantity (Wh and kWh, litres and m3). Factors between different quantities (gas volume to
 * energy, ton-hours to kWh) are tariff data, written in the document's `conversion`.
 */
import { Utility } from '../messages';
import { Ratio } from './types';

interface UnitInfo {
  /** The unit this one is a multiple of. */
  base: string;
  /** How many base units one of this unit is. */
  factor: Ratio;
}

const UNITS: Record<string, UnitInfo> = {
  kWh: { base: 'kWh', factor: { num: 1n, den: 1n } },
  Wh: { base: 'kWh', factor: { num: 1n, den: 1000n } },
  MWh: { base: 'kWh', factor: { num: 1000n, den: 1n } },
  m3: { base: 'm3', factor: { num: 1n, den: 1n } },
  L: { base: 'm3', factor: { num: 1n, den: 1000n } },
  RTh: { base: 'RTh', factor: { num: 1n, den: 1n } },
  MJ: { base: 'MJ', factor: { num: 1n, den: 1n } },
  GJ: { base: 'MJ', factor: { num: 1000n, den: 1n } },
};

const ALIASES: Record<string, string> = {
  kwh: 'kWh', wh: 'Wh', mwh: 'MWh', 'kwh thermal': 'kWh', kwht: 'kWh', kwhth: 'kWh',
  m3: 'm3', 'm³': 'm3', l: 'L', litre: 'L', liter: 'L', litres: 'L', liters: 'L',
  rth: 'RTh', 'ton-hour': 'RTh', 'ton-hours': 'RTh', 'ton hour': 'RTh', tonhour: 'RTh', 'rt-h': 'RTh',
  mj: 'MJ', gj: 'GJ',
}; // prettier-ignore

/** The canonical spelling of a unit ("kWh", "m3", "RTh"...), or undefined if unknown. */
export function canonicalUnit(unit: unknown): string | undefined {
  if (typeof unit !== 'string') return undefined;
  const canonical = ALIASES[unit.trim().toLowerCase()];
  return canonical && UNITS[canonical] ? canonical : undefined;
}

export function defaultUnitFor(utility: Utility | undefined): string {
  return utility === 'water' ? 'm3' : 'kWh';
}

/**
 * The exact factor that turns a quantity in `from` into one in `to` when both measure the same
 * thing (Wh -> kWh is 1/1000), or undefined when they do not.
 */
export function unitFactor(from: string, to: string): Ratio | undefined {
  const a = UNITS[from];
  const b = UNITS[to];
  if (!a || !b || a.base !== b.base) return undefined;
  return { num: a.factor.num * b.factor.den, den: a.factor.den * b.factor.num };
}

/** One refrigeration ton-hour is 12,000 BTU = 3.516852842 kWh (thermal), the factor for cooling. */
export const KWH_PER_TON_HOUR = '3.516852842';
