/**
 * Charges (and credits) a tariff node has sent and no ledger has confirmed yet. They are saved with the node's state and
 * sent again after a restart (a charge is idempotent by its reading id, so a ledger that has it ignores it),
 * and dropped once a ledger in the runtime confirms it holds them (see shared/charge-receipts). Where no
 * ledger runs in the same Node-RED to confirm, consumption charges are kept for `consumptionKeepMs` of wall
 * time and calendar charges (few, and only raised once) for `calendarKeepMs` of building time.
 */
import type { Charge, Credit } from '../core/messages';

/** What an outbox holds: a charge, or a credit (posted with the ledger's `adjust`). */
export type OutboxItem = Charge | Credit;

/** As saved: [ledger reference, item, building time raised, wall time sent, times sent again]. */
export type SavedOutboxEntry = [string, OutboxItem, number, number, number?];

/** The reference a ledger posts an item under: `charge:<reading id>`, or the credit's own. */
export function ledgerReference(item: OutboxItem): string {
  return item.kind === 'credit' ? item.reference : `charge:${item.readingId}`;
}

interface Entry {
  charge: OutboxItem;
  /** Building time the charge was raised (retention of calendar charges). */
  raisedAt: number;
  /** Wall time it was last sent (confirmation is asked once it had time to arrive). */
  sentAt: number;
  /** Times sent again because no ledger confirmed it. */
  resent: number;
}

/** A charge no ledger confirmed is sent again after a minute, then after 2, 4, 8... up to an hour. */
const RESEND_FIRST_MS = 60_000;
const RESEND_MAX_MS = 3_600_000;

export interface OutboxOptions {
  calendarKeepMs: number;
  consumptionKeepMs: number;
  /** More than this, unconfirmed: the oldest consumption charges go first. */
  maxEntries: number;
}

export const DEFAULT_OUTBOX: OutboxOptions = {
  calendarKeepMs: 7 * 86_400_000,
  consumptionKeepMs: 15 * 60_000,
  maxEntries: 200_000,
};

export class ChargeOutbox {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: OutboxOptions = DEFAULT_OUTBOX) {}

  get size(): number {
    return this.entries.size;
  }

  load(saved: readonly SavedOutboxEntry[] | undefined): void {
    // Keyed by ledger reference (saved states before credits were keyed by reading id).
    for (const [, charge, raisedAt, sentAt, resent] of saved ?? [])
      this.entries.set(ledgerReference(charge), { charge, raisedAt, sentAt, resent: resent ?? 0 });
  }

  add(charge: OutboxItem, now: number, wallNow: number): void {
    const key = ledgerReference(charge);
    this.entries.delete(key); // re-added at the end: the order stays the order sent
    this.entries.set(key, { charge, raisedAt: now, sentAt: wallNow, resent: 0 });
  }

  /**
   * Charges to send again now: a ledger runs in this Node-RED and has not confirmed them (it refused them,
   * or they were lost on the way), each after its backoff. They count as sent now.
   */
  resendDue(wallNow: number): OutboxItem[] {
    const out: OutboxItem[] = [];
    for (const entry of this.entries.values()) {
      const wait = Math.min(RESEND_MAX_MS, RESEND_FIRST_MS * 2 ** entry.resent);
      if (wallNow - entry.sentAt < wait) continue;
      entry.sentAt = wallNow;
      entry.resent += 1;
      out.push(entry.charge);
    }
    return out;
  }

  /** The waiting charge of a reading, if any. */
  find(readingId: string): Charge | undefined {
    const item = this.entries.get(`charge:${readingId}`)?.charge;
    return item?.kind === 'credit' ? undefined : item;
  }

  /** Every item waiting, oldest first (to send again after a restart). */
  charges(): OutboxItem[] {
    return [...this.entries.values()].map((entry) => entry.charge);
  }

  /** Ledger references of items sent at least `settleMs` ago: a ledger should have them by now. */
  due(wallNow: number, settleMs: number, limit: number): string[] {
    const out: string[] = [];
    for (const [readingId, entry] of this.entries) {
      if (out.length >= limit) break;
      if (wallNow - entry.sentAt >= settleMs) out.push(readingId);
    }
    return out;
  }

  /** Forgets items a ledger holds (by ledger reference); returns how many. */
  confirm(references: Iterable<string>): number {
    let removed = 0;
    for (const reference of references) if (this.entries.delete(reference)) removed += 1;
    return removed;
  }

  /** Forgets what is past its keeping time (and the oldest beyond the cap); returns how many. */
  expire(now: number, wallNow: number): number {
    let removed = 0;
    for (const [readingId, entry] of this.entries) {
      const calendar = entry.charge.kind !== 'consumption';
      const old = calendar
        ? now - entry.raisedAt > this.options.calendarKeepMs
        : wallNow - entry.sentAt > this.options.consumptionKeepMs;
      if (old) {
        this.entries.delete(readingId);
        removed += 1;
      }
    }
    for (const [readingId, entry] of this.entries) {
      if (this.entries.size <= this.options.maxEntries) break;
      if (entry.charge.kind !== 'consumption') continue;
      this.entries.delete(readingId);
      removed += 1;
    }
    return removed;
  }

  snapshot(): SavedOutboxEntry[] {
    return [...this.entries].map(([readingId, e]) => [readingId, e.charge, e.raisedAt, e.sentAt, e.resent]);
  }
}
