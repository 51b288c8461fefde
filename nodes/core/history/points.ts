/**
 * Messages of the package's contracts as time-series points: readings, consumption, charges, account states
 * (balances) and meter events, tagged by account, meter and utility. Money is written in minor units (charges
 * converted from sub-minor units), so sums in the database are in the currency's smallest unit.
 */
import { extend } from '../shapes';

export interface Point {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, number | string | boolean>;
  /** Epoch milliseconds. */
  timestamp: number;
}

export const MEASUREMENTS = ['reading', 'consumption', 'charge', 'balance', 'meter_event'] as const;

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The times InfluxDB 1.x can store: int64 nanoseconds, 1677-09-21T00:12:43.146Z to 2262-04-11T23:47:16.854Z in
 * whole milliseconds. A point outside them is refused by the server for good (a 400 that no retry cures).
 */
export const EARLIEST_POINT_MS = -9_223_372_036_854;
export const LATEST_POINT_MS = 9_223_372_036_854;
/**
 * How far ahead of the node's clock a point may be stamped. A day's standing charge is stamped with the end of
 * the day it is raised for (up to 25 hours ahead, on the day clocks go back), so two days; beyond that a time
 * stamp ahead of the clock is a wrong clock or a wrong unit, refused and never adopted.
 */
export const MAX_AHEAD_MS = 2 * 86_400_000;

function iso(ms: number): string {
  const date = new Date(ms);
  return Number.isFinite(date.getTime()) ? date.toISOString() : String(ms);
}

function time(source: Obj, field: string, fallback: number, now: number): number {
  const value = source[field];
  let ms = fallback;
  if (typeof value === 'number' && Number.isFinite(value)) ms = value;
  else if (typeof value === 'string') {
    const parsed = Date.parse(value);
    if (Number.isFinite(parsed)) ms = parsed;
  }
  if (ms < EARLIEST_POINT_MS || ms > LATEST_POINT_MS) {
    throw new PointError(
      `${field}: ${iso(ms)} is outside the times InfluxDB 1.x can store (${iso(EARLIEST_POINT_MS)} to ${iso(LATEST_POINT_MS)})`,
    );
  }
  if (ms > now + MAX_AHEAD_MS) {
    throw new PointError(
      `${field}: ${iso(ms)} is more than 2 days ahead of this node's clock (${iso(now)}): a time stamp ahead of the clock is refused, never adopted`,
    );
  }
  return ms;
}

function tags(source: Obj, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = source[name];
    if (typeof value === 'string' && value !== '') out[name] = value;
    else if (typeof value === 'boolean') out[name] = String(value);
  }
  return out;
}

function finite(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

export class PointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PointError';
  }
}

/** The point for one payload, recognised by its shape; throws a PointError for anything else. */
export function pointOf(payload: unknown, now: number): Point {
  if (!isObject(payload))
    throw new PointError('payload: must be a reading, consumption, charge, account state or meter event');
  const p = payload;
  if (typeof p.readingId === 'string' && finite(p.delta) && typeof p.meterId === 'string') {
    return {
      measurement: 'consumption',
      tags: extend(tags(p, ['meterId', 'accountId', 'utility', 'unit']), {
        estimated: p.estimated === true ? 'true' : 'false',
      }),
      fields: { delta: p.delta, ...(finite(p.value) ? { value: p.value } : {}) },
      timestamp: time(p, p.to !== undefined && p.to !== null ? 'to' : 'ts', now, now),
    };
  }
  if (typeof p.readingId === 'string' && finite(p.amount) && Array.isArray(p.breakdown)) {
    const fields: Point['fields'] = { amount: p.amount / 10_000 };
    if (typeof p.quantity === 'string' && Number.isFinite(Number(p.quantity)))
      fields.quantity = Number(p.quantity);
    if (finite(p.carbonKg)) fields.carbonKg = p.carbonKg;
    return {
      measurement: 'charge',
      tags: tags(p, ['accountId', 'meterId', 'utility', 'tariff', 'kind', 'currency']),
      fields,
      timestamp: time(p, 'to', now, now),
    };
  }
  if (p.kind === 'credit' && typeof p.reference === 'string' && finite(p.amount)) {
    // A move-out's credit (sent to the ledger as an adjust): its amount is already in minor units.
    return {
      measurement: 'credit',
      tags: tags(p, ['accountId', 'utility', 'tariff', 'currency']),
      fields: { amount: p.amount },
      timestamp: now,
    };
  }
  if (typeof p.accountId === 'string' && typeof p.state === 'string' && finite(p.available)) {
    const fields: Point['fields'] = { available: p.available };
    if (finite(p.balance)) fields.balance = p.balance;
    if (finite(p.daysLeft)) fields.daysLeft = p.daysLeft;
    return {
      measurement: 'balance',
      tags: tags(p, ['accountId', 'currency', 'state']),
      fields,
      timestamp: now,
    };
  }
  if (typeof p.meterId === 'string' && typeof p.type === 'string' && typeof p.text === 'string') {
    return {
      measurement: 'meter_event',
      tags: tags(p, ['meterId', 'accountId', 'utility', 'type']),
      fields: { alarm: p.alarm === true, text: p.text },
      timestamp: time(p, 'ts', now, now),
    };
  }
  const noValue = p.value === undefined || p.value === null;
  if (
    typeof p.meterId === 'string' &&
    (finite(p.value) || (noValue && p.quality !== 'good')) &&
    typeof p.quality === 'string'
  ) {
    // A reading without a value (comm loss, a refused counter) is written as such: `missing`, never a 0.
    const fields: Point['fields'] = finite(p.value) ? { value: p.value } : { missing: true };
    if (isObject(p.values))
      for (const [name, value] of Object.entries(p.values))
        if (finite(value) && name !== 'value' && name !== 'missing') fields[name] = value;
    return {
      measurement: 'reading',
      tags: tags(p, ['meterId', 'accountId', 'utility', 'unit', 'quality']),
      fields,
      timestamp: time(p, 'ts', now, now),
    };
  }
  throw new PointError(
    'payload: not a reading, consumption, charge, account state or meter event (see the node help)',
  );
}
