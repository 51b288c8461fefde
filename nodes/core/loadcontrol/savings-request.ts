/**
 * What the savings node is asked for and what it answers with, apart from Node-RED: a report request (a day, a
 * month or a range of local dates, JSON or CSV) checked into a period, the site's totals over its units' reports
 * (the dashboard charts the site), and the units' CSVs joined under one header.
 */
import type { SavingsReport } from './savings-report';

export type ReportPeriod =
  | { period: 'day'; from: string; to: string; label: string }
  | { period: 'month'; from: string; to: string; label: string }
  | { period: 'range'; from: string; to: string; label: string };

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const MONTH = /^\d{4}-\d{2}$/;

/** Whether `date` is a real calendar date (2026-02-30 is not). */
export function isDate(date: unknown): date is string {
  if (typeof date !== 'string' || !DATE.test(date)) return false;
  const t = Date.parse(`${date}T00:00:00Z`);
  return Number.isFinite(t) && new Date(t).toISOString().slice(0, 10) === date;
}

/** The last date of a month "YYYY-MM". */
export function monthEnd(month: string): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return `${month}-${String(new Date(Date.UTC(y, m, 0)).getUTCDate()).padStart(2, '0')}`;
}

/** A request's period; `today` is the site's local date (the default day is yesterday, the default month this one). */
export function reportPeriod(request: Record<string, unknown>, today: string): ReportPeriod {
  const period = request.period ?? 'day';
  if (period === 'day') {
    const date = request.date ?? addDays(today, -1);
    if (!isDate(date)) throw new RangeError('date: must be a local date "YYYY-MM-DD"');
    return { period, from: date, to: date, label: date };
  }
  if (period === 'month') {
    // "last": the month before today's (what a monthly summary shows).
    const month =
      request.month === 'last'
        ? addDays(`${today.slice(0, 7)}-01`, -1).slice(0, 7)
        : (request.month ?? today.slice(0, 7));
    if (typeof month !== 'string' || !MONTH.test(month) || !isDate(`${month}-01`))
      throw new RangeError('month: must be a month "YYYY-MM"');
    return { period, from: `${month}-01`, to: monthEnd(month), label: month };
  }
  if (period === 'range') {
    const { from, to } = request;
    if (!isDate(from) || !isDate(to) || from > to)
      throw new RangeError('from, to: must be local dates "YYYY-MM-DD", from not after to');
    if (Date.parse(to) - Date.parse(from) > 400 * 86_400_000)
      throw new RangeError('from, to: at most 400 days in one report');
    return { period, from, to, label: `${from}_${to}` };
  }
  throw new RangeError(`period: "${String(period)}" is not day, month or range`);
}

export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

/** The site's figures for a date or month: its units' rows summed in watt-hours, as the reports show them. */
export interface SiteTotals {
  energyKWh: number;
  insideKWh: number;
  outsideKWh: number;
  /** Over the units that have a baseline for the period (null when none has). */
  baselineKWh: number | null;
  actualKWh: number | null;
  savingsKWh: number | null;
  /** Units with a baseline figure, of all units. */
  unitsWithBaseline: number;
  units: number;
}

const wh = (kwh: number): number => Math.round(kwh * 1000);
const kwh = (wh: number): number => wh / 1000;

/** Site totals per date (`days`) and per month (`months`), over the units' reports of one period. */
export function siteTotals(reports: SavingsReport[]): {
  days: Array<SiteTotals & { date: string }>;
  months: Array<SiteTotals & { month: string }>;
} {
  const days = new Map<string, { e: number; i: number; o: number; b: number; a: number; n: number }>();
  const months = new Map<string, { e: number; i: number; o: number; b: number; a: number; n: number }>();
  const add = (
    map: typeof days,
    key: string,
    e: number,
    i: number,
    o: number,
    b: number | null,
    a: number | null,
  ): void => {
    const t = map.get(key) ?? { e: 0, i: 0, o: 0, b: 0, a: 0, n: 0 };
    t.e += wh(e);
    t.i += wh(i);
    t.o += wh(o);
    if (b !== null && a !== null) {
      t.b += wh(b);
      t.a += wh(a);
      t.n += 1;
    }
    map.set(key, t);
  };
  for (const r of reports) {
    for (const d of r.days)
      add(
        days,
        d.date,
        d.energyKWh,
        d.insideKWh,
        d.outsideKWh,
        d.baselineKWh,
        d.baselineKWh === null ? null : d.energyKWh,
      );
    for (const m of r.months)
      add(months, m.month, m.energyKWh, m.insideKWh, m.outsideKWh, m.baselineKWh, m.actualKWh);
  }
  const totals = (t: { e: number; i: number; o: number; b: number; a: number; n: number }): SiteTotals => ({
    energyKWh: kwh(t.e),
    insideKWh: kwh(t.i),
    outsideKWh: kwh(t.o),
    baselineKWh: t.n === 0 ? null : kwh(t.b),
    actualKWh: t.n === 0 ? null : kwh(t.a),
    savingsKWh: t.n === 0 ? null : kwh(t.b - t.a),
    unitsWithBaseline: t.n,
    units: reports.length,
  });
  return {
    days: [...days].map(([date, t]) => ({ date, ...totals(t) })),
    months: [...months].map(([month, t]) => ({ month, ...totals(t) })),
  };
}

/** The units' CSVs as one: the first header kept, the others dropped. */
export function joinCsv(parts: string[]): string {
  if (parts.length === 0) return '';
  const [first, ...rest] = parts as [string, ...string[]];
  return first + rest.map((csv) => csv.slice(csv.indexOf('\n') + 1)).join('');
}
