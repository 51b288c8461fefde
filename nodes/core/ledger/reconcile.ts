/**
 * The daily reconciliation: proof that what the meters measured is what the ledger billed. Pure: it is given
 * the period's charge entries (with a week before, to anchor each meter's chain), what each meter reader says
 * it measured and billed (its day summary), the account registers with the sums of their entries, and what
 * the ledger node took in and settled; it returns every finding, each either explained (a rebaseline, a meter
 * replacement, a rollover, suspect values held, a posting refused and answered to its sender) or not. Anything
 * unexplained is an alarm.
 *
 * Quantities are compared in the meter's own unit, as exact decimals: a charge carries the register movement
 * it was computed from (`register: {start, end, delta, unit}`), which the ledger keeps in the entry.
 */
import { addDecimalText, parseDecimal } from '../decimal';
import type { MeterDaySummary } from '../messages';
import type { EntryRecord, AccountRecord } from './types';
import type { EntryTotals } from './store';

/** What a meter reader says about one meter over one period (its day summary). */
export type MeterDay = MeterDaySummary;

/** A charge entry's record of the register it was computed from. */
export interface ChargeRegister {
  start?: number | string;
  end?: number | string;
  delta: number | string;
  unit: string;
  estimated?: boolean;
  rollover?: boolean;
  /** The baseline was moved before this consumption: the chain may break here, explained. */
  after?: { event: 'rebaselined' | 'replaced'; at: number; text?: string };
}

/** What the ledger node took in over the period, and what became of it. */
export interface IntakeDay {
  accepted: number;
  committed: number;
  duplicates: number;
  refused: number;
  /** Still journaled, waiting for the store. */
  pending: number;
  /** The charges refused (their consumption is not billed). */
  refusedCharges: Array<{ reference: string; error: string }>;
}

export type { EntryTotals as AccountTotals } from './store';

export type FindingArea = 'meter' | 'calendar' | 'account' | 'intake';

export interface Finding {
  area: FindingArea;
  /** The meter, account (and utility) or "intake" the finding is about. */
  subject: string;
  kind: string;
  explained: boolean;
  text: string;
  at?: number;
  /** A quantity (meter unit) or amount (minor units) as decimal text, when the finding has one. */
  amount?: string;
}

export interface MeterResult {
  meterId: string;
  accountId?: string;
  unit?: string;
  /** What the reader says it billed, and what the ledger holds, in the meter's unit. */
  billedByMeter?: string;
  billedByLedger: string;
  /** The register's movement over the period as the reader saw it. */
  registerMovement?: string;
  charges: number;
}

export interface ReconciliationReport {
  ok: boolean;
  period: { from: number; to: number; label: string };
  generatedAt: number;
  meters: MeterResult[];
  findings: Finding[];
  unexplained: number;
  intake?: IntakeDay;
}

export interface ReconcileInput {
  period: { from: number; to: number; label: string };
  now: number;
  /** Charge entries (kind charge, standing, monthly) effective from a week before the period to its end. */
  charges: EntryRecord[];
  meterDays: MeterDay[];
  accounts: AccountRecord[];
  /** Every account's recorded registers with the sums of its entries, read together. */
  totals: EntryTotals[];
  /** Local dates ("YYYY-MM-DD") the period covers, in the zone calendar items are raised in. */
  dates: string[];
  intake?: IntakeDay;
}

/** a + sign x b on decimal texts; a missing or unreadable value counts as 0. */
function add(a: string, b: number | string | undefined, sign: 1n | -1n = 1n): string {
  const readable = (v: number | string | undefined): string | number => {
    if (v === undefined || v === null || v === '') return '0';
    try {
      parseDecimal(v);
      return v;
    } catch {
      return '0';
    }
  };
  return addDecimalText(readable(a), readable(b), sign);
}

const trim = (text: string): string => addDecimalText(text, '0');

function same(a: number | string | undefined, b: number | string | undefined): boolean {
  return add(String(a ?? '0'), b, -1n) === '0';
}

function registerOf(entry: EntryRecord): ChargeRegister | undefined {
  const register = entry.meta.register as ChargeRegister | undefined;
  return register && typeof register === 'object' ? register : undefined;
}

function fromOf(entry: EntryRecord): number {
  return typeof entry.meta.from === 'number' ? entry.meta.from : entry.effectiveAt;
}

const iso = (t: number): string => new Date(t).toISOString();

/**
 * A consumption belongs to the period it ends in, the end included: the quarter hour 23:45-24:00 is the day's
 * last (the meter reader's day summary counts the same way).
 */
function inside(to: number, start: number, end: number): boolean {
  return to > start && to <= end;
}

/** Per meter: the ledger's charges against the reader's day summary, and the chain of registers. */
function reconcileMeters(input: ReconcileInput, findings: Finding[]): MeterResult[] {
  const { from, to } = input.period;
  const byMeter = new Map<string, EntryRecord[]>();
  for (const entry of input.charges) {
    if (entry.kind !== 'charge' || typeof entry.meta.meterId !== 'string') continue;
    const list = byMeter.get(entry.meta.meterId) ?? [];
    list.push(entry);
    byMeter.set(entry.meta.meterId, list);
  }
  const days = new Map(input.meterDays.map((day) => [day.meterId, day]));
  const meterIds = [...new Set([...byMeter.keys(), ...days.keys()])].sort();
  const results: MeterResult[] = [];
  for (const meterId of meterIds) {
    const day = days.get(meterId);
    // A reader's day may be set in its own zone: compare over its period when there is one.
    const [start, end] = day ? [day.from, day.to] : [from, to];
    const all = (byMeter.get(meterId) ?? [])
      .slice()
      .sort((a, b) => fromOf(a) - fromOf(b) || a.effectiveAt - b.effectiveAt);
    const inPeriod = all.filter((e) => inside(e.effectiveAt, start, end));
    // Billed only in the week before (the chain's anchor) and silent about the period: nothing to compare.
    if (!day && inPeriod.length === 0) continue;
    let billed = '0';
    for (const entry of inPeriod) billed = add(billed, registerOf(entry)?.delta);
    const result: MeterResult = {
      meterId,
      accountId: day?.accountId ?? inPeriod[0]?.accountId,
      unit: day?.unit ?? (inPeriod[0] ? registerOf(inPeriod[0])?.unit : undefined),
      billedByLedger: billed,
      charges: inPeriod.length,
    };
    if (day) {
      result.billedByMeter = trim(day.billed);
      if (day.start !== undefined && day.end !== undefined)
        result.registerMovement = add(day.end, day.start, -1n);
      explainMeterDay(day, findings);
      if (!same(day.billed, billed)) {
        findings.push({
          area: 'meter',
          subject: meterId,
          kind: 'billed-differs',
          explained: false,
          text: `the meter reader billed ${trim(day.billed)} ${day.unit} in ${day.consumptions} consumption(s); the ledger holds ${billed} in ${inPeriod.length} charge(s)`,
          amount: add(day.billed, billed, -1n),
        });
      }
    }
    checkChain(meterId, all, start, end, findings);
    results.push(result);
  }
  return results;
}

/** The reader's own account of the register against what it billed: each difference has its cause. */
function explainMeterDay(day: MeterDay, findings: Finding[]): void {
  const subject = day.meterId;
  for (const held of day.held)
    findings.push({
      area: 'meter',
      subject,
      kind: 'suspect-held',
      explained: true,
      at: held.ts,
      text: `value ${held.value} ${day.unit} held as suspect, not billed: ${held.text}`,
    });
  for (const rebaseline of day.rebaselines)
    findings.push({
      area: 'meter',
      subject,
      kind: 'rebaselined',
      explained: true,
      at: rebaseline.ts,
      text: `baseline moved from ${rebaseline.previous ?? '(none)'} to ${rebaseline.value} ${day.unit} without billing: ${rebaseline.reason}`,
      amount:
        rebaseline.previous === undefined
          ? undefined
          : add(String(rebaseline.value), rebaseline.previous, -1n),
    });
  for (const replacement of day.replacements)
    findings.push({
      area: 'meter',
      subject,
      kind: 'replaced',
      explained: true,
      at: replacement.ts,
      text: `meter replaced: the old one billed to its final ${replacement.oldFinal}, the new one starts at ${replacement.newStart} ${day.unit}`,
    });
  if (day.rollovers > 0)
    findings.push({
      area: 'meter',
      subject,
      kind: 'rollover',
      explained: true,
      text: `the register rolled over ${day.rollovers} time(s); billed across the wrap`,
    });
  if (day.start === undefined || day.end === undefined) return;
  // The register's movement less what was billed is what the explanations above account for.
  let movement = add(day.end, day.start, -1n);
  for (const rebaseline of day.rebaselines)
    if (rebaseline.previous !== undefined)
      movement = add(movement, add(String(rebaseline.value), rebaseline.previous, -1n), -1n);
  for (const replacement of day.replacements)
    movement = add(movement, add(String(replacement.newStart), replacement.oldFinal, -1n), -1n);
  if (day.rollovers === 0 && !same(movement, day.billed)) {
    findings.push({
      area: 'meter',
      subject,
      kind: 'register-differs',
      explained: false,
      text: `the register moved ${movement} ${day.unit} (rebaselines and replacements aside) but ${trim(day.billed)} was billed`,
      amount: add(movement, day.billed, -1n),
    });
  }
}

/** Each charge of a meter starts where the one before ended, in time and register; a break needs a cause. */
function checkChain(
  meterId: string,
  entries: EntryRecord[],
  start: number,
  end: number,
  findings: Finding[],
): void {
  for (let i = 1; i < entries.length; i += 1) {
    const previous = entries[i - 1] as EntryRecord;
    const entry = entries[i] as EntryRecord;
    if (!inside(entry.effectiveAt, start, end)) continue;
    const register = registerOf(entry);
    const before = registerOf(previous);
    const entryFrom = fromOf(entry);
    if (entryFrom < previous.effectiveAt) {
      findings.push({
        area: 'meter',
        subject: meterId,
        kind: 'overlap',
        explained: false,
        at: entryFrom,
        text: `charge ${entry.reference} from ${iso(entryFrom)} overlaps the one before, which ran to ${iso(previous.effectiveAt)}`,
      });
      continue;
    }
    // With registers on both sides, the registers decide: a time gap over which they join is slices of a gap
    // that billed nothing (left out); without them, any time gap is a hole.
    const known = register?.start !== undefined && before?.end !== undefined;
    const breaks = known && !same(register?.start, before?.end);
    const gap = !known && entryFrom > previous.effectiveAt;
    if (!breaks && !gap) continue;
    if (register?.after) {
      findings.push({
        area: 'meter',
        subject: meterId,
        kind: `chain-${register.after.event}`,
        explained: true,
        at: register.after.at,
        text: `the chain breaks before ${entry.reference} (${before?.end ?? '?'} to ${register.start ?? '?'}): ${register.after.event}${register.after.text ? `, ${register.after.text}` : ''}`,
      });
      continue;
    }
    findings.push({
      area: 'meter',
      subject: meterId,
      kind: 'hole',
      explained: false,
      at: previous.effectiveAt,
      text: `no charge from ${iso(previous.effectiveAt)} to ${iso(entryFrom)}${breaks ? `: the register went from ${before?.end} to ${register?.start} ${register?.unit ?? ''} unbilled` : ''}`,
      amount: breaks ? add(String(register?.start), before?.end, -1n) : undefined,
    });
  }
}

/** Standing items: one per account, utility and date; monthly items once a month where an account has them. */
function reconcileCalendar(input: ReconcileInput, findings: Finding[]): void {
  const accounts = new Map(input.accounts.map((a) => [a.id, a]));
  // (account, utility) -> date -> references
  const standing = new Map<string, Map<string, string[]>>();
  const monthly = new Map<string, Map<string, string[]>>();
  for (const entry of input.charges) {
    if (entry.kind !== 'standing' && entry.kind !== 'monthly') continue;
    const readingId = String(entry.meta.readingId ?? '');
    const date = readingId.slice(readingId.lastIndexOf(':') + 1);
    const utility = typeof entry.meta.utility === 'string' ? entry.meta.utility : '';
    const key = `${entry.accountId}\u0000${utility}`;
    const map = entry.kind === 'standing' ? standing : monthly;
    const dates = map.get(key) ?? new Map<string, string[]>();
    dates.set(date, [...(dates.get(date) ?? []), entry.reference]);
    map.set(key, dates);
  }
  for (const [key, dates] of standing) {
    const [accountId, utility] = key.split('\u0000') as [string, string];
    const account = accounts.get(accountId);
    const subject = utility ? `${accountId} ${utility}` : accountId;
    for (const date of input.dates) {
      const references = dates.get(date) ?? [];
      if (references.length > 1) {
        findings.push({
          area: 'calendar',
          subject,
          kind: 'standing-twice',
          explained: false,
          text: `standing charge for ${date} posted ${references.length} times (${references.join(', ')})`,
        });
      } else if (references.length === 0) {
        const closed =
          account?.status === 'closed' &&
          account.closedAt !== undefined &&
          account.closedAt < input.period.to;
        const earlier = [...dates.keys()].some((d) => d < date);
        if (!closed && earlier)
          findings.push({
            area: 'calendar',
            subject,
            kind: 'standing-missing',
            explained: false,
            text: `no standing charge for ${date}, though there is one for an earlier day`,
          });
      }
    }
  }
  const months = [...new Set(input.dates.filter((d) => d.endsWith('-01')).map((d) => d.slice(0, 7)))];
  for (const [key, byMonth] of monthly) {
    const [accountId, utility] = key.split('\u0000') as [string, string];
    for (const month of months) {
      const references = byMonth.get(month) ?? [];
      if (references.length > 1)
        findings.push({
          area: 'calendar',
          subject: utility ? `${accountId} ${utility}` : accountId,
          kind: 'monthly-twice',
          explained: false,
          text: `monthly items for ${month} posted ${references.length} times (${references.join(', ')})`,
        });
    }
  }
}

/** Every account's registers equal the sums of its entries (both read in one snapshot). */
function reconcileAccounts(input: ReconcileInput, findings: Finding[]): void {
  for (const total of input.totals) {
    const { recorded } = total;
    if (total.balance !== recorded.balance || total.debt !== recorded.debt || total.count !== recorded.seq) {
      findings.push({
        area: 'account',
        subject: total.accountId,
        kind: 'registers-differ',
        explained: false,
        text: `balance ${recorded.balance} and debt ${recorded.debt} (${recorded.seq} entries recorded) but the entries sum to ${total.balance} and ${total.debt} over ${total.count}`,
        amount: String(recorded.balance - total.balance),
      });
    }
  }
}

function reconcileIntake(intake: IntakeDay, findings: Finding[]): void {
  const settled = intake.committed + intake.duplicates + intake.refused + intake.pending;
  if (settled !== intake.accepted)
    findings.push({
      area: 'intake',
      subject: 'intake',
      kind: 'unaccounted',
      explained: false,
      text: `${intake.accepted} postings accepted but ${intake.committed} committed, ${intake.duplicates} duplicates, ${intake.refused} refused and ${intake.pending} waiting`,
    });
  if (intake.pending > 0)
    findings.push({
      area: 'intake',
      subject: 'intake',
      kind: 'waiting',
      explained: true,
      text: `${intake.pending} postings are journaled, waiting for the store`,
    });
  for (const refused of intake.refusedCharges)
    findings.push({
      area: 'intake',
      subject: refused.reference,
      kind: 'charge-refused',
      explained: false,
      text: `charge refused, its consumption is not billed: ${refused.error}`,
    });
  const others = intake.refused - intake.refusedCharges.length;
  if (others > 0)
    findings.push({
      area: 'intake',
      subject: 'intake',
      kind: 'refused',
      explained: true,
      text: `${others} command(s) refused and answered to their senders (Catch nodes had the reasons)`,
    });
}

export function reconcile(input: ReconcileInput): ReconciliationReport {
  const findings: Finding[] = [];
  const meters = reconcileMeters(input, findings);
  reconcileCalendar(input, findings);
  reconcileAccounts(input, findings);
  if (input.intake) reconcileIntake(input.intake, findings);
  const unexplained = findings.filter((f) => !f.explained).length;
  return {
    ok: unexplained === 0,
    period: input.period,
    generatedAt: input.now,
    meters,
    findings,
    unexplained,
    ...(input.intake ? { intake: input.intake } : {}),
  };
}

/** One CSV line per finding (a spreadsheet-safe cell for each: no cell starts with = + - @). */
export function reconciliationCsv(report: ReconciliationReport): string {
  const cell = (value: unknown): string => {
    let text = value === undefined || value === null ? '' : String(value);
    if (/^[=+\-@\t\r]/.test(text) && !/^-?\d+(\.\d+)?$/.test(text)) text = `'${text}`;
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  const lines = [['period', 'area', 'subject', 'kind', 'explained', 'at', 'amount', 'text'].join(',')];
  for (const f of report.findings)
    lines.push(
      [
        report.period.label,
        f.area,
        f.subject,
        f.kind,
        f.explained ? 'yes' : 'NO',
        f.at === undefined ? '' : iso(f.at),
        f.amount ?? '',
        f.text,
      ]
        .map(cell)
        .join(','),
    );
  for (const m of report.meters)
    lines.push(
      [
        report.period.label,
        'meter',
        m.meterId,
        'billed',
        'yes',
        '',
        m.billedByLedger,
        `${m.charges} charge(s) in ${m.unit ?? '?'}${m.billedByMeter === undefined ? '' : `; the reader billed ${m.billedByMeter}`}`,
      ]
        .map(cell)
        .join(','),
    );
  return `${lines.join('\r\n')}\r\n`;
}
