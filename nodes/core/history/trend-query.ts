/**
 * Trend queries for dashboards, built as InfluxQL from a small request: consumption (or charges, carbon) per
 * account, meter or utility, per hour, day or month. Every value that reaches the query text is checked or
 * quoted, so a request cannot inject InfluxQL.
 */
import { MEASUREMENTS } from './points';

export interface TrendRequest {
  measurement: string;
  field: string;
  fn: 'sum' | 'mean' | 'max' | 'min' | 'last' | 'count';
  every: 'hour' | 'day' | 'month';
  from: number;
  to: number;
  /** Tag filters: accountId, meterId, utility. */
  where: Record<string, string>;
  /** Split the result by this tag (for example one series per utility). */
  groupBy?: string;
  /** IANA zone for day and month boundaries. */
  timeZone: string;
}

export class TrendError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'TrendError';
  }
}

const FIELDS: Record<string, string[]> = {
  consumption: ['delta', 'value'],
  charge: ['amount', 'quantity', 'carbonKg'],
  balance: ['available', 'balance', 'daysLeft'],
  reading: ['value'],
  meter_event: ['alarm'],
};
const TAGS = ['accountId', 'meterId', 'utility', 'tariff', 'kind', 'state', 'type', 'estimated'];
const FUNCTIONS = ['sum', 'mean', 'max', 'min', 'last', 'count'];

function time(value: unknown, field: string): number {
  const t = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : NaN;
  if (!Number.isFinite(t)) throw new TrendError(field, 'must be a time (epoch ms or ISO 8601)');
  return t;
}

export function readTrendRequest(payload: unknown, now: number, defaultZone: string): TrendRequest {
  const p = (typeof payload === 'object' && payload !== null ? payload : {}) as Record<string, unknown>;
  const measurement = String(p.measurement ?? 'consumption');
  if (!(MEASUREMENTS as readonly string[]).includes(measurement))
    throw new TrendError('measurement', `must be one of ${MEASUREMENTS.join(', ')}`);
  const field = String(p.field ?? FIELDS[measurement]![0]);
  if (!FIELDS[measurement]!.includes(field))
    throw new TrendError('field', `must be one of ${FIELDS[measurement]!.join(', ')} for ${measurement}`);
  const fn = String(p.fn ?? (measurement === 'balance' ? 'last' : 'sum')) as TrendRequest['fn'];
  if (!FUNCTIONS.includes(fn)) throw new TrendError('fn', `must be one of ${FUNCTIONS.join(', ')}`);
  const every = String(p.every ?? 'hour') as TrendRequest['every'];
  if (!['hour', 'day', 'month'].includes(every)) throw new TrendError('every', 'must be hour, day or month');
  if (every === 'month' && fn !== 'sum' && fn !== 'count')
    throw new TrendError('every', 'months are built from days: use fn sum or count');
  const to = p.to === undefined ? now : time(p.to, 'to');
  const from = p.from === undefined ? to - 24 * 3_600_000 : time(p.from, 'from');
  if (from >= to) throw new TrendError('from', 'must be before to');
  if ((to - from) / 3_600_000 > 24 * 800) throw new TrendError('from', 'the range is limited to 800 days');
  const where: Record<string, string> = {};
  for (const tag of ['accountId', 'meterId', 'utility']) {
    const value = p[tag];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value === '') throw new TrendError(tag, 'must be a non-empty string');
    where[tag] = value;
  }
  const request: TrendRequest = {
    measurement,
    field,
    fn,
    every,
    from,
    to,
    where,
    timeZone: typeof p.timeZone === 'string' ? p.timeZone : defaultZone,
  };
  if (p.groupBy !== undefined) {
    if (typeof p.groupBy !== 'string' || !TAGS.includes(p.groupBy))
      throw new TrendError('groupBy', `must be one of ${TAGS.join(', ')}`);
    request.groupBy = p.groupBy;
  }
  return request;
}

function quoteString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** InfluxQL for the request. Months are summed from days by the caller (InfluxQL has no calendar months). */
export function trendQuery(request: TrendRequest): string {
  const conditions = [`time >= ${request.from}ms`, `time < ${request.to}ms`];
  for (const [tag, value] of Object.entries(request.where))
    conditions.push(`"${tag}" = ${quoteString(value)}`);
  const interval = request.every === 'hour' ? '1h' : '1d';
  const groups = [`time(${interval})`];
  if (request.groupBy) groups.push(`"${request.groupBy}"`);
  const fill = request.fn === 'sum' || request.fn === 'count' ? 'fill(0)' : 'fill(none)';
  return `SELECT ${request.fn}("${request.field}") AS "value" FROM "${request.measurement}" WHERE ${conditions.join(' AND ')} GROUP BY ${groups.join(', ')} ${fill} tz(${quoteString(request.timeZone)})`;
}
