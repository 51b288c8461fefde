/**
 * What each meter measured and billed per local day: the meter reader's side of the ledger's daily
 * reconciliation. A consumption counts in the day it ends in (its end included: 23:45-24:00 is the day's
 * last quarter hour); the day's register runs from the start of its first consumption to the end of its last,
 * so that the movement equals what was billed but for what an operator moved (rebaselines, replacements) and
 * rollovers, which are listed with the values held as suspect.
 *
 * The tallies live in each meter's state (saved with its baseline, so they stay consistent with it across a
 * crash). At local midnight the reader sends the day's summary; a consumption that arrives later for a day
 * already summarised (a gap billed when a meter answers again) updates that day, and its summary is sent again.
 *
 * Each summary carries a `receipt`: the meter, the date and a hash of what it says. Until a ledger in the same
 * runtime confirms it holds that receipt durably, the day is kept and its summary sent again (at once after a
 * restart, then after 1, 2, 4... minutes, at most hourly). A day waits at most AWAIT_DAYS after it ended, and a
 * meter keeps at most MAX_AWAITING days waiting (the oldest give up first); where no ledger runs in the runtime
 * nothing waits (the summary is sent once, as it always was).
 */
import { createHash } from 'node:crypto';
import { addDecimalText } from '../decimal';
import type { Consumption, MeterDaySummary, Utility } from '../messages';
import { isoDate, type TimeZone } from '../tariff/zone';
import type { DeltaOutcome, MeterInfo, MeterState } from './delta-engine';

/** A meter's day as it is being counted (saved with the meter's state). */
export interface DayTally extends Pick<
  MeterDaySummary,
  | 'from'
  | 'to'
  | 'start'
  | 'end'
  | 'billed'
  | 'consumptions'
  | 'held'
  | 'rebaselines'
  | 'replacements'
  | 'rollovers'
> {
  date: string;
  /** Its summary went out (and goes out again if the day changes). */
  sent?: boolean;
  /** Changed since its summary went out: its late summary is still to go, so it is not forgotten before. */
  changed?: boolean;
  /** The receipt of its last summary while no ledger has confirmed it. */
  receipt?: string;
  /** That summary was a late one (sent again because the day changed): its resends say so too. */
  late?: boolean;
  /** Wall time that summary was last sent, and how many times it was sent again. */
  sentAt?: number;
  resent?: number;
  /** The meter as that summary named it (a reader fed by messages knows it again only at its next reading). */
  subject?: Pick<MeterInfo, 'utility' | 'unit' | 'accountId'>;
}

/** The day summary a meter reader sends (event type `day-summary`), as the ledger reads it. */
export interface DaySummary extends MeterDaySummary {
  type: 'day-summary';
  utility: Utility;
  alarm: false;
  ts: number;
  text: string;
  date: string;
  /** The meter's state when the summary was made, when not ok: what is not billed yet, and since when. */
  pending?: { status: string; since?: number };
  /** Sent again because the day changed after its first summary. */
  late?: boolean;
  /** What a ledger confirms it holds: `day-summary:<meter>:<date>:<hash of the figures>`. */
  receipt: string;
  [detail: string]: unknown;
}

/** At most this many held values are listed per day (a meter stuck on a wrong value would list thousands). */
const MAX_HELD = 20;
/** Final days (ended before the baseline) kept after their summary. */
const KEEP_SENT_DAYS = 3;
/** A summary no ledger confirmed waits this long after its day ended, then is given up. */
export const AWAIT_DAYS = 7;
/** A meter keeps at most this many summaries waiting for a ledger's receipt (the oldest give up first). */
export const MAX_AWAITING = 10;
const DAY_MS = 86_400_000;
/** An unconfirmed summary goes again after a minute, then 2, 4, 8... up to an hour. */
const RESEND_FIRST_MS = 60_000;
const RESEND_MAX_MS = 3_600_000;

/**
 * The receipt of a day summary: the meter, the date, and a hash of every figure the ledger reconciles with, so
 * that a summary changed by a late consumption is a new one and the same summary sent again is the same.
 */
export function summaryReceipt(summary: Omit<DaySummary, 'receipt'>): string {
  const figures = [
    summary.meterId,
    summary.accountId ?? null,
    summary.unit,
    summary.from,
    summary.to,
    summary.start ?? null,
    summary.end ?? null,
    summary.billed,
    summary.consumptions,
    summary.held,
    summary.rebaselines,
    summary.replacements,
    summary.rollovers,
  ];
  const hash = createHash('sha256').update(JSON.stringify(figures)).digest('hex').slice(0, 16);
  return `day-summary:${summary.meterId}:${summary.date}:${hash}`;
}

export class DayTallies {
  constructor(private readonly zone: TimeZone) {}

  /** The local day a moment ends (a moment exactly at midnight ends the day before). */
  dayOf(t: number): { date: string; from: number; to: number } {
    // Nearly every reading falls in the day of the one before: its bounds are kept, not worked out again.
    const last = this.lastDay;
    if (last && t > last.from && t <= last.to) return last;
    const day = this.computeDay(t);
    this.lastDay = day;
    return day;
  }

  private lastDay: { readonly date: string; readonly from: number; readonly to: number } | undefined;

  private computeDay(t: number): { date: string; from: number; to: number } {
    const parts = this.zone.wallParts(t - 1);
    const date = isoDate(parts.year, parts.month, parts.day);
    const from = this.zone.wallToInstant(parts.year, parts.month, parts.day);
    const next = new Date(Date.UTC(parts.year, parts.month - 1, parts.day + 1));
    const to = this.zone.wallToInstant(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate());
    return { date, from, to };
  }

  /**
   * Counts what an engine outcome billed or held into the meter's days. Returns the dates of days already
   * summarised that it changed (their summaries go out again).
   */
  record(state: MeterState, outcome: DeltaOutcome): string[] {
    const late: string[] = [];
    const touch = (t: number): DayTally => {
      const tally = this.tally(state, t);
      if (tally.sent) {
        tally.changed = true;
        if (!late.includes(tally.date)) late.push(tally.date);
      }
      return tally;
    };
    let rolled = false;
    for (const c of outcome.consumptions) {
      const tally = touch(c.to);
      this.count(tally, c);
      if (c.rollover && !rolled) {
        tally.rollovers += 1;
        rolled = true;
      }
    }
    for (const e of outcome.events) {
      if (e.type === 'suspect') {
        const tally = touch(e.ts);
        if (tally.held.length < MAX_HELD) tally.held.push({ ts: e.ts, value: Number(e.value), text: e.text });
      } else if (e.type === 'rebaselined') {
        const value = 'value' in outcome.reading ? outcome.reading.value : undefined;
        if (value !== undefined)
          touch(e.ts).rebaselines.push({
            ts: e.ts,
            ...(typeof e.previous === 'number' ? { previous: e.previous } : {}),
            value,
            reason: e.text,
          });
      } else if (e.type === 'replaced') {
        touch(e.ts).replacements.push({
          ts: e.ts,
          oldFinal: Number(e.oldFinal),
          newStart: Number(e.newStart),
        });
      }
    }
    return late;
  }

  /** Days that have ended by `now` and have not been summarised since they last changed (oldest first). */
  due(state: MeterState, now: number): DayTally[] {
    return Object.values(state.days ?? {})
      .filter((tally) => (!tally.sent || tally.changed) && tally.to <= now)
      .sort((a, b) => a.from - b.from);
  }

  /** The day that has just ended for every meter without a tally of its own (nothing billed that day). */
  ensureDay(state: MeterState, t: number): void {
    this.tally(state, t);
  }

  /**
   * The summary of one day, marked sent and waiting for a ledger's receipt (from `wallNow`); `late` when it was
   * sent before.
   */
  summarise(
    meter: MeterInfo,
    state: MeterState,
    date: string,
    now: number,
    wallNow = now,
  ): DaySummary | undefined {
    const tally = state.days?.[date];
    if (!tally) return undefined;
    const late = tally.sent === true;
    tally.sent = true;
    delete tally.changed;
    const summary = this.build(meter, state, tally, now);
    if (late) summary.late = tally.late = true;
    else delete tally.late;
    tally.receipt = summary.receipt;
    tally.sentAt = wallNow;
    tally.resent = 0;
    tally.subject = { utility: meter.utility, unit: meter.unit };
    if (meter.accountId !== undefined) tally.subject.accountId = meter.accountId;
    this.prune(state, now);
    return summary;
  }

  /** Receipts of the summaries of this meter that no ledger has confirmed yet. */
  awaiting(state: MeterState): string[] {
    return this.waiting(state).map((tally) => tally.receipt as string);
  }

  /** A ledger holds these receipts: their days stop waiting. Returns how many. */
  confirm(state: MeterState, held: ReadonlySet<string>, now: number): number {
    let confirmed = 0;
    for (const tally of this.waiting(state)) {
      if (!held.has(tally.receipt as string)) continue;
      stopWaiting(tally);
      confirmed += 1;
    }
    if (confirmed > 0) this.prune(state, now);
    return confirmed;
  }

  /**
   * No ledger in the runtime can confirm: nothing waits (each summary was sent once). Returns how many stopped
   * waiting.
   */
  release(state: MeterState, now: number): number {
    let released = 0;
    for (const tally of Object.values(state.days ?? {}))
      if (tally.receipt !== undefined) {
        stopWaiting(tally);
        released += 1;
      }
    if (released > 0) this.prune(state, now);
    return released;
  }

  /**
   * The summaries to send again: unconfirmed ones whose wait is over (after 1, 2, 4... minutes, at most an hour)
   * or, with `sentBefore`, every unconfirmed one sent before that wall time (after a restart). They count as sent
   * now. Each is the same summary (same receipt) as before.
   */
  resendDue(
    meterId: string,
    state: MeterState,
    now: number,
    wallNow: number,
    sentBefore?: number,
  ): DaySummary[] {
    const out: DaySummary[] = [];
    for (const tally of this.waiting(state)) {
      if (!tally.subject) continue;
      const meter: MeterInfo = Object.assign({ meterId }, tally.subject);
      const sentAt = tally.sentAt ?? 0;
      const wait = Math.min(RESEND_MAX_MS, RESEND_FIRST_MS * 2 ** (tally.resent ?? 0));
      const due = sentBefore !== undefined ? sentAt < sentBefore : wallNow - sentAt >= wait;
      if (!due) continue;
      const summary = this.build(meter, state, tally, now);
      if (summary.receipt !== tally.receipt) {
        // Changed in a way record() did not see (a state from an older version): a new summary.
        tally.receipt = summary.receipt;
        tally.resent = 0;
      } else tally.resent = (tally.resent ?? 0) + 1;
      if (tally.late) summary.late = true;
      tally.sentAt = wallNow;
      out.push(summary);
    }
    return out;
  }

  private waiting(state: MeterState): DayTally[] {
    return Object.values(state.days ?? {})
      .filter((tally) => tally.receipt !== undefined && tally.sent && !tally.changed)
      .sort((a, b) => a.from - b.from);
  }

  private build(meter: MeterInfo, state: MeterState, tally: DayTally, now: number): DaySummary {
    const date = tally.date;
    const summary: Omit<DaySummary, 'receipt'> & { receipt?: string } = {
      type: 'day-summary',
      meterId: meter.meterId,
      utility: meter.utility,
      unit: meter.unit,
      alarm: false,
      ts: Math.min(now, tally.to),
      text: `${date}: billed ${tally.billed} ${meter.unit} in ${tally.consumptions} consumption(s)${tally.held.length ? `, ${tally.held.length} value(s) held` : ''}`,
      date,
      from: tally.from,
      to: tally.to,
      billed: tally.billed,
      consumptions: tally.consumptions,
      held: tally.held,
      rebaselines: tally.rebaselines,
      replacements: tally.replacements,
      rollovers: tally.rollovers,
    };
    if (meter.accountId !== undefined) summary.accountId = meter.accountId;
    if (tally.start !== undefined) summary.start = tally.start;
    if (tally.end !== undefined) summary.end = tally.end;
    if (state.status !== 'ok') summary.pending = { status: state.status, since: state.since };
    summary.receipt = summaryReceipt(summary);
    return summary as DaySummary;
  }

  private count(tally: DayTally, c: Consumption): void {
    if (tally.start === undefined && c.start !== undefined) tally.start = String(c.start);
    tally.end = String(c.value);
    tally.billed = addDecimalText(tally.billed, c.delta);
    tally.consumptions += 1;
  }

  private tally(state: MeterState, t: number): DayTally {
    const day = this.dayOf(t);
    const days = (state.days ??= {});
    let tally = days[day.date];
    if (!tally) {
      tally = {
        date: day.date,
        from: day.from,
        to: day.to,
        billed: '0',
        consumptions: 0,
        held: [],
        rebaselines: [],
        replacements: [],
        rollovers: 0,
      };
      days[day.date] = tally;
    }
    return tally;
  }

  /**
   * Summarised days are forgotten once nothing can change them: a consumption runs from the baseline to a
   * later reading, so a day that ended by the baseline's time is final. A day after it is kept however long
   * the meter is silent (its gap, billed when it answers, ends partly in that day): a late summary is always
   * the whole day, never only its late part. The last few are kept regardless, and so is a day changed since
   * its summary: a gap billed over many days makes several late summaries in turn, and forgetting the later
   * days while the first is summarised would lose theirs (their first summaries, without the gap, would stand).
   */
  private prune(state: MeterState, now: number): void {
    const days = state.days;
    if (!days) return;
    // A summary waits for a ledger's receipt at most AWAIT_DAYS after its day, and at most MAX_AWAITING a meter.
    const waiting = Object.values(days)
      .filter((t) => t.receipt !== undefined)
      .sort((a, b) => b.from - a.from);
    waiting.forEach((tally, index) => {
      if (index >= MAX_AWAITING || now - tally.to > AWAIT_DAYS * DAY_MS) stopWaiting(tally);
    });
    const final = Math.min(now, state.baseline?.ts ?? now);
    const sent = Object.values(days)
      .filter((t) => t.sent && !t.changed && t.to <= final)
      .sort((a, b) => b.from - a.from);
    let kept = 0;
    for (const tally of sent) {
      if (tally.receipt !== undefined) continue; // waiting for a receipt: kept, and not counted
      kept += 1;
      if (kept > KEEP_SENT_DAYS) delete days[tally.date];
    }
  }
}

function stopWaiting(tally: DayTally): void {
  delete tally.subject;
  delete tally.receipt;
  delete tally.sentAt;
  delete tally.resent;
  delete tally.late;
}
