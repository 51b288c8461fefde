/** Reads the prepay-cutoff node's settings into a policy and a meter list; errors name the setting. */
import type { CutoffPolicy } from '../core/cutoff/policy';
import { UTILITIES, type Utility } from '../core/messages';
import { validateMeterTable, type MeterRow } from '../core/meter/meter-table';
import type { MeterProfile } from '../core/meter/profile';
import { TimeZone } from '../core/tariff/zone';
import { profilesWith } from '../meter/profile-registry';

export interface CutoffNodeDef {
  mode?: string;
  link?: string;
  store?: string;
  table?: unknown;
  profiles?: string;
  relayModuleProfile?: string;
  policyName?: string;
  graceMinutes?: string | number;
  windowMarginMinutes?: string | number;
  reconnectAbove?: string | number;
  timeZone?: string;
  nightsFrom?: string;
  nightsTo?: string;
  weekends?: boolean;
  holidays?: string;
  neverDisconnect?: string;
  minOnMinutes?: string | number;
  minOffSeconds?: string | number;
  emergency?: string;
  limitW?: string | number;
  canLimit?: boolean;
  maxStateAgeMinutes?: string | number;
  checkSeconds?: string | number;
  verifySeconds?: string | number;
}

export interface CutoffSettings {
  mode: 'modbus' | 'output';
  policy: CutoffPolicy;
  rows: MeterRow[];
  profiles: Map<string, MeterProfile>;
  relayModuleProfile: string;
  canLimit: boolean;
  checkMs: number;
  verifyMs: number;
}

function number(value: unknown, fallback: number, field: string, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const parsed = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isFinite(parsed) || parsed < min || parsed > max)
    throw new Error(`${field} must be a number from ${min} to ${max} (got ${JSON.stringify(value)})`);
  return parsed;
}

function clockTime(value: string | undefined, field: string): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const match = /^(\d{1,2}):(\d{2})$/.exec(value.trim());
  if (!match || Number(match[1]) > 23 || Number(match[2]) > 59)
    throw new Error(`${field} must be a time HH:MM (got "${value}")`);
  return Number(match[1]) * 60 + Number(match[2]);
}

export function readCutoffSettings(def: CutoffNodeDef): CutoffSettings {
  const mode = def.mode || 'modbus';
  if (mode !== 'modbus' && mode !== 'output') throw new Error('mode must be "modbus" or "output"');
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
  rows.forEach((row, index) => {
    if (!row.accountId)
      throw new Error(`row ${index + 1}, column accountId: is required to know whose credit decides`);
    if (mode === 'modbus' && !row.relay)
      throw new Error(`row ${index + 1}, column relay: is required to drive a relay`);
  });
  if (rows.length === 0)
    throw new Error('the meter table is empty: add meters or copy them from a meter reader');
  const timeZone = (def.timeZone || 'UTC').trim();
  if (!TimeZone.isValid(timeZone)) throw new Error(`time zone "${timeZone}" is not known`);
  const from = clockTime(def.nightsFrom, 'friendly nights from');
  const to = clockTime(def.nightsTo, 'friendly nights to');
  if ((from === undefined) !== (to === undefined))
    throw new Error('friendly nights need both a start and an end');
  const holidays = (def.holidays ?? '')
    .split(/[\s,;]+/)
    .filter(Boolean)
    .map((date) => {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || !Number.isFinite(Date.parse(date)))
        throw new Error(`holiday "${date}" must be a date YYYY-MM-DD`);
      return date;
    });
  const neverDisconnect = (def.neverDisconnect ?? 'water')
    .split(/[\s,;]+/)
    .filter(Boolean)
    .map((utility) => {
      if (!UTILITIES.includes(utility as Utility))
        throw new Error(`never-disconnect utility "${utility}" must be one of ${UTILITIES.join(', ')}`);
      return utility as Utility;
    });
  const emergency = def.emergency || 'connect';
  if (emergency !== 'connect' && emergency !== 'limit')
    throw new Error('emergency must be "connect" or "limit"');
  const policy: CutoffPolicy = {
    name: (def.policyName || 'site policy').trim(),
    graceMs: number(def.graceMinutes, 60, 'grace period', 0, 7 * 24 * 60) * 60_000,
    reconnectAboveMinor: number(def.reconnectAbove, 0, 'reconnect above', -1e12, 1e12),
    friendly: {
      timeZone,
      weekends: def.weekends !== false,
      holidays,
      ...(from !== undefined && to !== undefined ? { nights: { from, to } } : {}),
    },
    windowMarginMs:
      number(def.windowMarginMinutes, 5, 'margin before a friendly window', 0, 24 * 60) * 60_000,
    neverDisconnect,
    minOnMs: number(def.minOnMinutes, 5, 'minimum on time', 0, 24 * 60) * 60_000,
    minOffMs: number(def.minOffSeconds, 30, 'minimum off time', 0, 24 * 3600) * 1000,
    emergency,
    limitW: number(def.limitW, 1000, 'power limit', 0, 1e7),
    maxStateAgeMs: number(def.maxStateAgeMinutes, 30, 'maximum state age', 1, 7 * 24 * 60) * 60_000,
  };
  return {
    mode,
    policy,
    rows,
    profiles,
    relayModuleProfile: (def.relayModuleProfile || 'relay-module-8ch').trim(),
    // Modbus relays here switch on and off; power limiting needs a device that can (output mode).
    canLimit: mode === 'output' && def.canLimit === true,
    checkMs: number(def.checkSeconds, 30, 'check interval', 1, 3600) * 1000,
    verifyMs: number(def.verifySeconds, 60, 'read-back interval', 0, 86_400) * 1000,
  };
}
