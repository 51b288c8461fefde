/**
 * The ledger node's reconciliation: gathers what the pure reconcile() needs (the period's charge entries, the
 * meter readers' day summaries it was sent, account totals, what the intake journal took in and settled),
 * runs it for a local day or a period, and keeps the last report. Day summaries and refused charges are kept
 * in a state file in the user directory for two months.
 *
 * A day summary that carries a `receipt` is confirmed to its meter reader (through the runtime's receipt
 * registry) only once it is in that file on disk (written atomically and fsynced, within a quarter second of
 * its arrival, or at once when its reader asks): a crash before that loses nothing, as the reader sends it again
 * until it is confirmed. The same summary again is recognised by its receipt and changes nothing.
 */
import type { Ledger } from '../core/ledger/ledger';
import type { PostingRequest } from './ledger-intake';
import {
  reconcile,
  reconciliationCsv,
  type IntakeDay,
  type MeterDay,
  type ReconciliationReport,
} from '../core/ledger/reconcile';
import { isoDate, type TimeZone } from '../core/tariff/zone';
import { StateFile } from '../shared/state-file';
import type { IntakeJournal } from './intake-journal';

const DAY = 86_400_000;
/** A meter's chain is anchored on its last charge within this long before the period. */
const ANCHOR_MS = 7 * DAY;
const KEEP_MS = 62 * DAY;
const MAX_REFUSED_PER_DAY = 1_000;
/** A received day summary is on disk within this long (sooner when its reader asks for the receipt). */
const DURABLE_WITHIN_MS = 250;

/** A day summary as saved: with the receipt it was sent under, if any. */
type SavedMeterDay = MeterDay & { receipt?: string };

/** A meter's day: its meter and the instant it begins. */
function dayKey(meterId: string, from: number): string {
  return `${meterId}\u0000${from}`;
}

function nextDate(date: string): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

interface Saved {
  version: 1;
  meterDays: SavedMeterDay[];
  refused: Record<string, Array<{ reference: string; error: string }>>;
  last?: ReconciliationReport;
  /** The latest local date reconciled (by the daily run, a catch-up or a request). */
  reconciledThrough?: string;
}

function parseSaved(value: unknown): Saved {
  const saved = value as Saved;
  if (saved?.version !== 1 || !Array.isArray(saved.meterDays) || typeof saved.refused !== 'object')
    throw new Error('not a reconciliation state file');
  return saved;
}

export class LedgerReconciliation {
  private readonly state: Omit<Saved, 'meterDays'>;
  private readonly file: StateFile<Saved>;
  /** The meter readers' day summaries by meter and day. */
  private readonly meterDays = new Map<string, SavedMeterDay>();
  /** The receipts of the summaries held (on disk or not yet). */
  private readonly receipts = new Set<string>();
  /** Receipts of summaries not yet on disk: not confirmed. */
  private readonly unsaved = new Set<string>();
  /** Receipts in the snapshot being written. */
  private writing: string[] = [];
  /** Summaries ending before this were looked at for pruning. */
  private prunedBefore = -Infinity;

  constructor(
    private readonly ledger: Ledger,
    private readonly journal: IntakeJournal,
    private readonly zone: TimeZone,
    path: string,
    onProblem: (text: string) => void,
  ) {
    this.file = new StateFile<Saved>(path, parseSaved);
    this.file.onWriteError = (error) => onProblem(`cannot save the reconciliation state: ${error.message}`);
    const loaded = this.file.load();
    if (loaded.problem) onProblem(loaded.problem);
    const { meterDays, ...state } = loaded.value ?? { version: 1, meterDays: [], refused: {} };
    this.state = state;
    for (const day of meterDays) {
      this.meterDays.set(dayKey(day.meterId, day.from), day);
      if (day.receipt) this.receipts.add(day.receipt);
    }
    this.file.onWritten = () => {
      for (const receipt of this.writing) this.unsaved.delete(receipt);
      this.writing = [];
    };
  }

  /** The last report (from a daily run or a request). */
  get last(): ReconciliationReport | undefined {
    return this.state.last;
  }

  localDate(t: number): string {
    const parts = this.zone.wallParts(t);
    return isoDate(parts.year, parts.month, parts.day);
  }

  /** The instant a local date begins. */
  dayStart(date: string): number {
    const [y, m, d] = date.split('-').map(Number) as [number, number, number];
    return this.zone.wallToInstant(y, m, d);
  }

  /**
   * Local dates up to yesterday not reconciled since the last report (at most `max`, the most recent ones); none
   * before a first report, so a new site does not reconcile days it never had.
   */
  missedDays(now: number, max: number): string[] {
    const last = this.state.reconciledThrough;
    if (!last) return [];
    const yesterday = this.localDate(now - DAY);
    const dates: string[] = [];
    for (let date = nextDate(last); date <= yesterday; date = nextDate(date)) dates.push(date);
    return dates.slice(-max);
  }

  /**
   * A meter reader's day summary: replaces what the ledger has for that meter and day. With a `receipt`, the
   * same summary again is a duplicate and changes nothing (returns false).
   */
  addMeterDay(day: MeterDay, receipt?: string): boolean {
    const key = dayKey(day.meterId, day.from);
    const held = this.meterDays.get(key);
    if (receipt !== undefined && held?.receipt === receipt) return false;
    if (held?.receipt) {
      this.receipts.delete(held.receipt);
      this.unsaved.delete(held.receipt);
    }
    const saved: SavedMeterDay = receipt === undefined ? day : Object.assign({}, day, { receipt });
    this.meterDays.delete(key); // re-added at the end: the file keeps the order received
    this.meterDays.set(key, saved);
    if (receipt !== undefined) {
      this.receipts.add(receipt);
      this.unsaved.add(receipt);
    }
    // Summaries older than two months are forgotten, looked for once a day (not at each summary).
    const horizon = day.to - KEEP_MS;
    if (horizon > this.prunedBefore + DAY) {
      for (const [k, d] of this.meterDays)
        if (d.to <= horizon) {
          this.meterDays.delete(k);
          if (d.receipt) {
            this.receipts.delete(d.receipt);
            this.unsaved.delete(d.receipt);
          }
        }
      this.prunedBefore = horizon;
    }
    this.save(receipt === undefined ? undefined : DURABLE_WITHIN_MS);
    return true;
  }

  /**
   * Of the given receipts, those of summaries this ledger holds on disk. Summaries asked about that are not
   * written yet are written first (a failing write confirms none of them).
   */
  holds(receipts: readonly string[]): Set<string> {
    if (receipts.some((r) => this.unsaved.has(r))) {
      try {
        this.file.flush();
      } catch {
        // Not on disk: not confirmed; the scheduled write tries again and the reader sends it again.
      }
    }
    const held = new Set<string>();
    for (const receipt of receipts)
      if (this.receipts.has(receipt) && !this.unsaved.has(receipt)) held.add(receipt);
    return held;
  }

  /** A posting was refused: refused charges are money not billed, and listed. */
  recordRefusal(request: PostingRequest | undefined, error: Error, receivedAt: number): void {
    if (request?.command !== 'charge') return;
    const date = this.localDate(receivedAt);
    const list = (this.state.refused[date] ??= []);
    if (list.length < MAX_REFUSED_PER_DAY) list.push({ reference: request.reference, error: error.message });
    const dates = Object.keys(this.state.refused).sort();
    while (dates.length > 62) delete this.state.refused[dates.shift() as string];
    this.save();
  }

  /** Reconciles the local date `date`. */
  async runDay(date: string, now: number): Promise<ReconciliationReport> {
    const report = await this.run(
      { from: this.dayStart(date), to: this.dayStart(nextDate(date)), label: date },
      now,
    );
    if (!this.state.reconciledThrough || date > this.state.reconciledThrough) {
      this.state.reconciledThrough = date;
      this.save();
    }
    return report;
  }

  /** Reconciles a period (whole local days are checked for calendar items and intake). */
  async run(period: { from: number; to: number; label: string }, now: number): Promise<ReconciliationReport> {
    const accounts = await this.ledger.listAccounts();
    // A week before the period anchors each meter's chain.
    const charges = await this.ledger.chargesEffective(period.from - ANCHOR_MS, period.to);
    // The local days that begin inside the period.
    const dates: string[] = [];
    for (let date = this.localDate(period.from); this.dayStart(date) < period.to; date = nextDate(date))
      if (this.dayStart(date) >= period.from) dates.push(date);
    const report = reconcile({
      period,
      now,
      charges,
      meterDays: [...this.meterDays.values()].filter(
        (d) =>
          d.from >= period.from - DAY && d.to <= period.to + DAY && d.from < period.to && d.to > period.from,
      ),
      accounts,
      totals: await this.ledger.entryTotals(),
      dates,
      intake: this.intake(dates),
    });
    this.state.last = report;
    this.save();
    return report;
  }

  csv(report: ReconciliationReport): string {
    return reconciliationCsv(report);
  }

  flush(): void {
    this.file.flush();
  }

  private intake(dates: string[]): IntakeDay {
    const day: IntakeDay = {
      accepted: 0,
      committed: 0,
      duplicates: 0,
      refused: 0,
      pending: 0,
      refusedCharges: [],
    };
    for (const date of dates) {
      const counts = this.journal.dayCounts(date);
      day.accepted += counts.accepted;
      day.committed += counts.committed;
      day.duplicates += counts.duplicates;
      day.refused += counts.refused;
      day.pending += counts.pending;
      day.refusedCharges.push(...(this.state.refused[date] ?? []));
    }
    return day;
  }

  private save(withinMs?: number): void {
    this.file.save(() => {
      this.writing = [...this.unsaved];
      return Object.assign({}, this.state, { meterDays: [...this.meterDays.values()] });
    }, withinMs);
  }
}
