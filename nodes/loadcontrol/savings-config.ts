/**
 * The savings node's settings as the editor saves them, checked at deploy into the recorder's options, with
 * errors that name the units table's row, so a wrong schedule is found where it was typed.
 */
import type { Guideline14Limits } from '../core/loadcontrol/baseline';
import { parseOccupancy } from '../core/loadcontrol/occupancy';
import { celsius } from '../core/loadcontrol/outdoor';
import { isDate } from '../core/loadcontrol/savings-request';
import { TimeZone } from '../core/tariff/zone';
import type { SavingsRecorderOptions, SavingsUnitConfig } from './savings-recorder';

export interface SavingsNodeSettings {
  timeZone?: string;
  /** Rows of the units table: a unit id, its meters (separated by commas or spaces), its schedule. */
  units?: Array<{ unit?: unknown; meters?: unknown; schedule?: unknown; accounts?: unknown }>;
  baselineFrom?: string;
  baselineTo?: string;
  cvRmse?: string | number;
  nmbe?: string | number;
  r2?: string | number;
  minDays?: string | number;
  confidence?: string | number;
  temperatureUnit?: string;
}

export type CheckedSettings = Omit<SavingsRecorderOptions, 'directory'> & { temperatureUnit: string };

function limit(value: unknown, fallback: number, field: string, min: number, max: number): number {
  if (value === undefined || value === '' || value === null) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new Error(`${field} must be a number from ${min} to ${max}`);
  return n;
}

export function checkSettings(config: SavingsNodeSettings): CheckedSettings {
  const timeZone = (config.timeZone || 'UTC').trim();
  if (!TimeZone.isValid(timeZone)) throw new Error(`time zone "${timeZone}" is not known`);
  const rows = Array.isArray(config.units) ? config.units : [];
  if (rows.length === 0)
    throw new Error('the units table is empty: list each unit, its meters and its schedule');
  const units: SavingsUnitConfig[] = [];
  const seenUnits = new Map<string, number>();
  const seenMeters = new Map<string, number>();
  const seenAccounts = new Map<string, number>();
  rows.forEach((row, index) => {
    const n = index + 1;
    const unit = typeof row.unit === 'string' ? row.unit.trim() : '';
    const where = `units row ${n}${unit ? ` ("${unit}")` : ''}`;
    if (unit === '') throw new Error(`${where}: the unit id is empty`);
    const before = seenUnits.get(unit);
    if (before !== undefined) throw new Error(`${where}: unit "${unit}" is also on row ${before}`);
    seenUnits.set(unit, n);
    const meters = (
      Array.isArray(row.meters) ? row.meters.map(String) : String(row.meters ?? '').split(/[\s,;]+/)
    )
      .map((m) => m.trim())
      .filter(Boolean);
    if (meters.length === 0) throw new Error(`${where}: no meters (meter ids, separated by commas)`);
    for (const meter of meters) {
      const other = seenMeters.get(meter);
      if (other !== undefined) throw new Error(`${where}: meter "${meter}" is also on row ${other}`);
      seenMeters.set(meter, n);
    }
    const schedule = typeof row.schedule === 'string' ? row.schedule : '';
    try {
      parseOccupancy(schedule);
    } catch (error) {
      throw new Error(`${where}: schedule: ${(error as Error).message}`);
    }
    // The ledger accounts whose load-control actions are the unit's: the unit's id when none are given.
    const accounts = (
      Array.isArray(row.accounts) ? row.accounts.map(String) : String(row.accounts ?? '').split(/[\s,;]+/)
    )
      .map((a) => a.trim())
      .filter((a) => a !== '');
    for (const account of accounts) {
      const other = seenAccounts.get(account);
      if (other !== undefined) throw new Error(`${where}: account "${account}" is also on row ${other}`);
      seenAccounts.set(account, n);
    }
    units.push(accounts.length > 0 ? { unit, meters, schedule, accounts } : { unit, meters, schedule });
  });
  const from = (config.baselineFrom ?? '').trim();
  const to = (config.baselineTo ?? '').trim();
  let baseline: { from: string; to: string } | undefined;
  if (from !== '' || to !== '') {
    if (!isDate(from) || !isDate(to) || from > to)
      throw new Error('the baseline period must be two dates YYYY-MM-DD, the first not after the second');
    baseline = { from, to };
  }
  const limits: Guideline14Limits = {
    cvRmse: limit(config.cvRmse, 25, 'CV(RMSE) limit', 0.1, 1000),
    nmbe: limit(config.nmbe, 0.5, 'NMBE limit', 0.01, 100),
    r2: limit(config.r2, 0.7, 'R² limit', 0, 1),
    minDays: limit(config.minDays, 30, 'fewest baseline days', 3, 3660),
  };
  const temperatureUnit = (config.temperatureUnit || '°C').trim();
  const probe = celsius(20, temperatureUnit);
  if (!probe.ok) throw new Error(`outdoor temperature unit: ${probe.reason}`);
  return {
    timeZone,
    units,
    ...(baseline ? { baseline } : {}),
    baselineOptions: { limits },
    confidence: limit(config.confidence, 0.9, 'confidence', 0.5, 0.99),
    temperatureUnit,
  };
}
