/**
 * What the ledger node reads for its reconciliation: a meter reader's day summary (the `day-summary` event on
 * the meter reader's third output, wired to the ledger), and a request to reconcile a day or a period now.
 * Each refusal names the field.
 */
import { LedgerError } from '../core/ledger/requests';
import type { MeterDay } from '../core/ledger/reconcile';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True when a message is a meter reader's day summary (`topic: "day-summary"` or `payload.type`). */
export function isMeterDay(topic: unknown, payload: unknown): boolean {
  return topic === 'day-summary' || (isObject(payload) && payload.type === 'day-summary');
}

/**
 * True for any other event of a meter reader (comm loss, suspect values...): a ledger wired to a reader's
 * events output takes its day summaries and lets the rest pass without an error.
 */
export function isOtherMeterEvent(payload: unknown): boolean {
  return (
    isObject(payload) &&
    typeof payload.type === 'string' &&
    typeof payload.meterId === 'string' &&
    payload.command === undefined &&
    payload.readingId === undefined
  );
}

/** True when a message asks for a reconciliation (`topic` or `payload.command` "reconcile"). */
export function isReconcileRequest(topic: unknown, payload: unknown): boolean {
  return (
    (topic === 'reconcile' && (payload === undefined || isObject(payload))) ||
    (isObject(payload) && payload.command === 'reconcile')
  );
}

function decimalText(value: unknown, field: string, optional = false): string | undefined {
  if (value === undefined && optional) return undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)) return value;
  throw new LedgerError(field, 'must be a decimal number');
}

function list<T>(value: unknown, field: string, read: (item: Record<string, unknown>, at: string) => T): T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new LedgerError(field, 'must be a list');
  return value.map((item, i) => {
    if (!isObject(item)) throw new LedgerError(`${field}[${i}]`, 'must be an object');
    return read(item, `${field}[${i}]`);
  });
}

function finite(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new LedgerError(field, 'must be a number');
  return value;
}

export function readMeterDay(payload: unknown): MeterDay {
  if (!isObject(payload)) throw new LedgerError('payload', 'must be a meter day summary');
  const p = payload;
  if (typeof p.meterId !== 'string' || p.meterId === '') throw new LedgerError('meterId', 'is required');
  if (typeof p.unit !== 'string' || p.unit === '') throw new LedgerError('unit', 'is required');
  const from = finite(p.from, 'from');
  const to = finite(p.to, 'to');
  if (!(to > from)) throw new LedgerError('to', 'must be after "from"');
  return {
    meterId: p.meterId,
    accountId: typeof p.accountId === 'string' ? p.accountId : undefined,
    utility: typeof p.utility === 'string' ? p.utility : undefined,
    unit: p.unit,
    from,
    to,
    start: decimalText(p.start, 'start', true),
    end: decimalText(p.end, 'end', true),
    billed: decimalText(p.billed, 'billed') as string,
    consumptions: finite(p.consumptions ?? 0, 'consumptions'),
    held: list(p.held, 'held', (h, at) => ({
      ts: finite(h.ts, `${at}.ts`),
      value: finite(h.value, `${at}.value`),
      text: String(h.text ?? ''),
    })),
    rebaselines: list(p.rebaselines, 'rebaselines', (r, at) => ({
      ts: finite(r.ts, `${at}.ts`),
      previous:
        r.previous === undefined || r.previous === null ? undefined : finite(r.previous, `${at}.previous`),
      value: finite(r.value, `${at}.value`),
      reason: String(r.reason ?? ''),
    })),
    replacements: list(p.replacements, 'replacements', (r, at) => ({
      ts: finite(r.ts, `${at}.ts`),
      oldFinal: finite(r.oldFinal, `${at}.oldFinal`),
      newStart: finite(r.newStart, `${at}.newStart`),
    })),
    rollovers: finite(p.rollovers ?? 0, 'rollovers'),
  };
}

/**
 * The receipt a day summary is confirmed under (`receipt`, set by the meter reader), if it has one: a ledger in
 * the same runtime confirms it once the summary is on disk, and takes the same summary again as a duplicate.
 */
export function readSummaryReceipt(payload: unknown): string | undefined {
  const receipt = isObject(payload) ? payload.receipt : undefined;
  if (receipt === undefined) return undefined;
  if (typeof receipt !== 'string' || receipt === '' || receipt.length > 300)
    throw new LedgerError('receipt', 'must be a text of at most 300 characters');
  return receipt;
}

export interface ReconcileRequest {
  /** A local date "YYYY-MM-DD" (the ledger's time zone), or a period. */
  date?: string;
  from?: number;
  to?: number;
  format: 'json' | 'csv';
}

export function readReconcileRequest(payload: unknown): ReconcileRequest {
  const p = isObject(payload) ? payload : {};
  const format =
    p.format === undefined || p.format === 'json' ? 'json' : p.format === 'csv' ? 'csv' : undefined;
  if (!format) throw new LedgerError('format', 'must be "json" or "csv"');
  if (p.date !== undefined) {
    if (typeof p.date !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(p.date) || !validDate(p.date))
      throw new LedgerError('date', 'must be a local date "YYYY-MM-DD"');
    return { date: p.date, format };
  }
  if (p.from !== undefined || p.to !== undefined) {
    const from = typeof p.from === 'string' ? Date.parse(p.from) : Number(p.from);
    const to = typeof p.to === 'string' ? Date.parse(p.to) : Number(p.to);
    if (!Number.isFinite(from)) throw new LedgerError('from', 'must be a time (epoch ms or ISO 8601)');
    if (!Number.isFinite(to) || to <= from) throw new LedgerError('to', 'must be a time after "from"');
    if (to - from > 92 * 86_400_000) throw new LedgerError('to', 'a period is at most 92 days');
    return { from, to, format };
  }
  return { format };
}

/** A real calendar date (not 2024-02-30). */
export function validDate(date: string): boolean {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}
