/**
 * The ledger's records. Money is bigint minor units inside the ledger (JSON numbers only at the
 * message boundary, checked to be safe integers). An account has two registers: `balance` (credit,
 * negative while running on emergency credit or after charges past exhaustion) and `debt` (what the
 * tenant owes outside the prepaid balance, recovered from top-ups or by a daily rate).
 */
import { CreditState, Utility } from '../messages';

export type EntryKind =
  | 'open'
  | 'close'
  | 'topup'
  | 'refund'
  | 'adjustment'
  | 'reversal'
  | 'charge'
  | 'standing'
  | 'monthly'
  | 'debt-recovery'
  | 'emergency-credit';

export type EmergencyMode = 'auto' | 'request' | 'off';
export type StandingWhileOff = 'accrue-debt' | 'pause';

export interface AccountPolicy {
  /** The account is `low` at or below this balance (minor units). */
  lowThreshold: bigint;
  /** ...and back to `ok` only at low + this (hysteresis). */
  lowHysteresis: bigint;
  /** Emergency credit allowance (minor units); 0 for none. */
  emergencyCredit: bigint;
  emergencyMode: EmergencyMode;
  /** Leaving `exhausted` needs at least this much available credit (no flapping on tiny top-ups). */
  reconnectAbove: bigint;
  /** Share of each top-up taken for debt, in basis points (2500 = 25%). */
  debtRecoveryShareBp: number;
  /** Most taken for debt from one top-up (minor units); 0 for no cap. */
  debtRecoveryCap: bigint;
  /** Taken for debt each day (minor units); 0 for none. */
  debtRecoveryPerDay: bigint;
  /** Largest balance a top-up may lead to; 0 for no limit. */
  maxBalance: bigint;
  /** Largest single top-up; 0 for no limit. */
  maxTopup: bigint;
  /** What standing charges do while the account is exhausted (off supply). */
  standingWhileOff: StandingWhileOff;
}

export interface AccountRecord {
  id: string;
  tenant: string;
  name: string;
  currency: string;
  utilities: Utility[];
  status: 'open' | 'closed';
  balance: bigint;
  debt: bigint;
  /** True while emergency credit is in use (until a top-up brings the balance back to zero). */
  emergencyActive: boolean;
  /** Running total of sub-minor charges posted, for drift-free rounding to minor units. */
  chargeSubTotal: bigint;
  state: CreditState;
  stateChangedAt: number;
  /** Number of entries so far; the next entry is seq + 1. */
  seq: number;
  /** Hash of the last entry (hex), or the account's genesis hash. */
  lastHash: string;
  /** Optimistic-concurrency version: bumped on every change. */
  version: number;
  policy: AccountPolicy;
  openedAt: number;
  closedAt?: number;
}

export interface EntryRecord {
  accountId: string;
  seq: number;
  kind: EntryKind;
  /** The posting (command) reference this entry belongs to. */
  reference: string;
  /** Position within the posting (a top-up can carry a debt-recovery part). */
  part: number;
  /** Change to the balance register, minor units. */
  amount: bigint;
  /** Change to the debt register, minor units. */
  debtDelta: bigint;
  balanceAfter: bigint;
  debtAfter: bigint;
  currency: string;
  /** When the ledger posted it. */
  postedAt: number;
  /** When it happened (reading time for charges; posting time otherwise). */
  effectiveAt: number;
  /** Details: meterId, readingId, breakdown, reason, payment method... */
  meta: Record<string, unknown>;
  prevHash: string;
  hash: string;
  /**
   * HMAC of `hash` under the ledger key, added by the store as it writes the entry (see seal.ts);
   * absent when no key is configured and on entries written before one was.
   */
  seal?: string;
}

export interface BindingRecord {
  meterId: string;
  accountId: string;
  from: number;
  /** Exclusive end; undefined while the binding is current. */
  to?: number;
  reference: string;
}

/** The outcome a command reports; stored with its reference and returned again on a retry. */
export interface PostingResult {
  ok: true;
  command: string;
  reference: string;
  accountId?: string;
  /** Entries posted (JSON form). */
  entries: Array<Record<string, unknown>>;
  balance?: number;
  debt?: number;
  available?: number;
  state?: CreditState;
  [field: string]: unknown;
}

/** A fully computed posting, ready to be applied atomically by a store. */
export interface PreparedPosting {
  reference: string;
  command: string;
  accountId: string;
  /** The account as it must be after the posting; undefined for binding-only postings. */
  account?: AccountRecord;
  /** The version the account must still have for the posting to apply (0 for a new account). */
  expectedVersion?: number;
  entries: EntryRecord[];
  /** Each entry's meta as the JSON text it was made from, when known (the store writes it as it is). */
  metaJson?: string[];
  bindings?: { add?: BindingRecord; close?: { meterId: string; at: number } };
  /** Reference of the posting this one reverses (each may be reversed once). */
  reverses?: string;
  result: PostingResult;
  postedAt: number;
}

export type ApplyOutcome =
  | { status: 'applied' }
  | { status: 'duplicate'; result: PostingResult }
  | { status: 'stale' }
  | { status: 'rejected'; reason: string };
