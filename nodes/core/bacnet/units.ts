/**
 * Meter units as BACnet engineering units. A unit BACnet has no code for (GJ, say) is exported as no-units with
 * the unit written into the object's description, so nothing is ever shown in a wrong unit.
 */
import { EngineeringUnits as U } from './constants';

const BY_SPELLING: Readonly<Record<string, number>> = {
  wh: U.WATT_HOURS,
  kwh: U.KILOWATT_HOURS,
  mwh: U.MEGAWATT_HOURS,
  j: U.JOULES,
  kj: U.KILOJOULES,
  mj: U.MEGAJOULES,
  btu: U.BTUS,
  kbtu: U.KILO_BTUS,
  mbtu: U.MEGA_BTUS,
  therm: U.THERMS,
  therms: U.THERMS,
  rth: U.TON_HOURS,
  'ton-hours': U.TON_HOURS,
  m3: U.CUBIC_METERS,
  'm³': U.CUBIC_METERS,
  l: U.LITERS,
  ft3: U.CUBIC_FEET,
  'ft³': U.CUBIC_FEET,
  gal: U.US_GALLONS,
  usgal: U.US_GALLONS,
  impgal: U.IMPERIAL_GALLONS,
};

/** The engineering-units code for a unit spelling ("kWh", "m3"), or no-units when BACnet has none. */
export function engineeringUnits(unit: string): { code: number; known: boolean } {
  const code = BY_SPELLING[unit.trim().toLowerCase()];
  return code === undefined ? { code: U.NO_UNITS, known: false } : { code, known: true };
}
