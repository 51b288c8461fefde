/** Reads the prepay-meter node's settings: the meter table, profiles and timing. */
import type { MeterInfo } from '../core/meter/delta-engine';
import { validateMeterTable, type MeterRow } from '../core/meter/meter-table';
import type { MeterProfile } from '../core/meter/profile';
import { profilesWith } from './profile-registry';
import { TimeZone } from '../core/tariff/zone';

export interface MeterNodeDef {
  id: string;
  name?: string;
  source?: string;
  link?: string;
  interval?: string | number;
  table?: unknown;
  profiles?: string;
  commLossPolls?: string | number;
  commLossMinutes?: string | number;
  sliceMinutes?: string | number;
  billMinutes?: string | number;
  futureMinutes?: string | number;
  timezone?: string;
}

export interface ConfiguredMeter {
  row: MeterRow;
  profile: MeterProfile;
  info: MeterInfo;
}

export interface MeterSettings {
  source: 'modbus' | 'messages';
  intervalMs: number;
  commLossPolls: number;
  commLossMs: number;
  sliceMs: number;
  /** Bill at most once per this interval (0: every value). */
  billEveryMs: number;
  /** Readings stamped further than this ahead of the node's clock are refused. */
  futureToleranceMs: number;
  /** The zone whose local days the day summaries (for the ledger's reconciliation) cover. */
  zone: TimeZone;
  meters: ConfiguredMeter[];
  profiles: Map<string, MeterProfile>;
}

function wholeNumber(value: unknown, fallback: number, field: string, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const parsed = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isFinite(parsed) || parsed < min || parsed > max)
    throw new Error(`${field} must be a number from ${min} to ${max} (got ${JSON.stringify(value)})`);
  return parsed;
}

export function meterInfo(row: MeterRow, profile: MeterProfile): MeterInfo {
  const counter = profile.counter!;
  const info: MeterInfo = { meterId: row.meterId, utility: row.utility, unit: counter.unit || 'kWh' };
  if (row.accountId !== undefined) info.accountId = row.accountId;
  if (counter.rolloverAt !== undefined) info.rolloverAt = counter.rolloverAt;
  if (profile.maxRatePerHour !== undefined) info.maxRatePerHour = profile.maxRatePerHour;
  return info;
}

export function readMeterSettings(def: MeterNodeDef): MeterSettings {
  const source = def.source || 'modbus';
  if (source !== 'modbus' && source !== 'messages') throw new Error('source must be "modbus" or "messages"');
  const profiles = profilesWith(def.profiles);
  const context = {
    profiles: new Map(
      [...profiles.values()].map((p) => [
        p.id,
        { utility: p.utility, hasRelay: p.relay !== undefined, hasCounter: p.counter !== undefined },
      ]),
    ),
  };
  const table = Array.isArray(def.table) ? (def.table as unknown[]) : [];
  const rows = validateMeterTable(
    table.map((record, index) => ({ line: index + 1, record: (record ?? {}) as Record<string, unknown> })),
    context,
  );
  const meters = rows.map((row) => {
    const profile = profiles.get(row.profile)!;
    return { row, profile, info: meterInfo(row, profile) };
  });
  if (source === 'modbus' && meters.length === 0)
    throw new Error('the meter table is empty: add meters or import a CSV');
  return {
    source,
    intervalMs: wholeNumber(def.interval, 15, 'poll interval', 1, 86_400) * 1000,
    commLossPolls: wholeNumber(def.commLossPolls, 3, 'polls before comm loss', 1, 100),
    commLossMs: wholeNumber(def.commLossMinutes, 15, 'minutes before comm loss', 1, 10_080) * 60_000,
    sliceMs: wholeNumber(def.sliceMinutes, 30, 'gap slice minutes', 1, 1440) * 60_000,
    billEveryMs: wholeNumber(def.billMinutes, 0, 'bill every (minutes)', 0, 1440) * 60_000,
    futureToleranceMs: wholeNumber(def.futureMinutes, 5, 'future tolerance (minutes)', 0, 1440) * 60_000,
    zone: readZone(def.timezone),
    meters,
    profiles,
  };
}

function readZone(name: string | undefined): TimeZone {
  const zone = name || 'UTC';
  if (!TimeZone.isValid(zone))
    throw new Error(`time zone must be an IANA zone such as "Europe/London" (got "${zone}")`);
  return TimeZone.get(zone);
}
