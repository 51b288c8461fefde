/**
 * Accounting exports: a statement per account and period (JSON and CSV), and the all-accounts
 * period summary for the property-management system. Amounts in CSV are decimals in the major unit
 * with the currency's minor digits ("12.30"); JSON carries integer minor units. Text cells that a
 * spreadsheet would run as a formula are neutralised (neutralisedText, in ../csv).
 */
import { csvNumber, csvRow, NumberCell } from '../csv';
import { toSafeNumber } from '../decimal';
import { formatMinor } from '../money';
import { entryJson } from './postings';
import { SummaryRow } from './store';
import { AccountRecord, EntryRecord } from './types';

export { neutralisedText } from '../csv';

export interface StatementDocument {
  ok: true;
  command: 'statement';
  accountId: string;
  tenant: string;
  name: string;
  currency: string;
  status: string;
  from: number;
  to: number;
  /** Balance and debt before the period (minor units). */
  opening: { balance: number; debt: number };
  closing: { balance: number; debt: number };
  /** Sum of balance changes in the period by entry kind (minor units). */
  totals: Record<string, number>;
  entries: Array<Record<string, unknown>>;
}

export function statementDocument(
  account: AccountRecord,
  all: EntryRecord[],
  from: number,
  to: number,
): StatementDocument {
  let openingBalance = 0n;
  let openingDebt = 0n;
  const inPeriod: EntryRecord[] = [];
  const totals: Record<string, bigint> = {};
  for (const entry of all) {
    if (entry.postedAt < from) {
      openingBalance = entry.balanceAfter;
      openingDebt = entry.debtAfter;
    } else if (entry.postedAt < to) {
      inPeriod.push(entry);
      totals[entry.kind] = (totals[entry.kind] ?? 0n) + entry.amount;
    }
  }
  const last = inPeriod[inPeriod.length - 1];
  return {
    ok: true,
    command: 'statement',
    accountId: account.id,
    tenant: account.tenant,
    name: account.name,
    currency: account.currency,
    status: account.status,
    from,
    to,
    opening: { balance: toSafeNumber(openingBalance, 'balance'), debt: toSafeNumber(openingDebt, 'debt') },
    closing: {
      balance: toSafeNumber(last ? last.balanceAfter : openingBalance, 'balance'),
      debt: toSafeNumber(last ? last.debtAfter : openingDebt, 'debt'),
    },
    totals: Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, toSafeNumber(v, k)])),
    entries: inPeriod.map(entryJson),
  };
}

function describe(meta: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const key of [
    'meterId',
    'readingId',
    'tariff',
    'quantity',
    'unit',
    'method',
    'reason',
    'reverses',
    'policy',
    'by',
  ]) {
    const value = meta[key];
    if (value !== undefined && value !== null && value !== '' && typeof value !== 'object')
      parts.push(`${key}=${String(meta[key])}`);
  }
  return parts.join('; ');
}

export function statementCsv(statement: StatementDocument): string {
  const money = (minor: unknown): NumberCell =>
    csvNumber(formatMinor(BigInt(minor as number), statement.currency));
  const lines = [
    csvRow([
      'account',
      'seq',
      'posted_at',
      'effective_at',
      'kind',
      'reference',
      'amount',
      'debt_change',
      'balance_after',
      'debt_after',
      'currency',
      'details',
      'hash',
    ]),
    csvRow([
      statement.accountId,
      '',
      new Date(statement.from).toISOString(),
      '',
      'opening',
      '',
      '',
      '',
      money(statement.opening.balance),
      money(statement.opening.debt),
      statement.currency,
      '',
      '',
    ]),
  ];
  for (const e of statement.entries) {
    lines.push(
      csvRow([
        e.accountId,
        csvNumber(e.seq as number),
        new Date(e.postedAt as number).toISOString(),
        new Date(e.effectiveAt as number).toISOString(),
        e.kind,
        e.reference,
        money(e.amount),
        money(e.debtDelta),
        money(e.balanceAfter),
        money(e.debtAfter),
        e.currency,
        describe(e.meta as Record<string, unknown>),
        e.hash,
      ]),
    );
  }
  const end = statement.to >= 8.64e15 ? '' : new Date(statement.to).toISOString();
  lines.push(
    csvRow([
      statement.accountId,
      '',
      end,
      '',
      'closing',
      '',
      '',
      '',
      money(statement.closing.balance),
      money(statement.closing.debt),
      statement.currency,
      '',
      '',
    ]),
  );
  return `${lines.join('\r\n')}\r\n`;
}

export function summaryCsv(rows: SummaryRow[], from: number, to: number): string {
  const lines = [
    csvRow([
      'account',
      'tenant',
      'name',
      'currency',
      'period_from',
      'period_to',
      'opening',
      'topups',
      'charges',
      'refunds',
      'adjustments',
      'debt_recovered',
      'closing',
      'debt',
    ]),
  ];
  for (const r of rows) {
    const money = (minor: bigint): NumberCell => csvNumber(formatMinor(minor, r.currency));
    lines.push(
      csvRow([
        r.accountId,
        r.tenant,
        r.name,
        r.currency,
        new Date(from).toISOString(),
        new Date(to).toISOString(),
        money(r.opening),
        money(r.topups),
        money(r.charges),
        money(r.refunds),
        money(r.adjustments),
        money(r.debtRecovered),
        money(r.closing),
        money(r.debt),
      ]),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}
