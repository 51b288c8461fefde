/**
 * What the ledger needs from storage. Two adapters implement it (SQLite, embedded; PostgreSQL,
 * shared by several gateways); the rules never see SQL. `apply` is the only write: each prepared
 * posting is applied atomically, exactly once per reference, and only if the account is still at
 * the version it was prepared from.
 */
import type { LedgerIntegrity } from './checkpoint';
import type { AccessTokenStore } from '../tenant/access-tokens';
import {
  AccountRecord,
  ApplyOutcome,
  BindingRecord,
  EntryRecord,
  PostingResult,
  PreparedPosting,
} from './types';

export interface SummaryRow {
  accountId: string;
  tenant: string;
  name: string;
  currency: string;
  opening: bigint;
  topups: bigint;
  charges: bigint;
  refunds: bigint;
  adjustments: bigint;
  debtRecovered: bigint;
  closing: bigint;
  debt: bigint;
}

/**
 * One line of the supply audit log: every relay command and every operator override, with its reason and the
 * policy that made it. `reference` is unique, so writing the same record twice stores it once.
 */
export interface AuditRecord {
  reference: string;
  at: number;
  kind: 'command' | 'override' | 'override-cleared' | 'relay-fault';
  meterId: string;
  accountId?: string;
  action?: string;
  reason: string;
  policy?: string;
  actor?: string;
  detail?: Record<string, unknown>;
}

/** An account's postings records cross-checked with its entries. */
/** An account with its entries and postings audit, as of one moment. */
export interface AccountHistory {
  account: AccountRecord;
  entries: EntryRecord[];
  postings: PostingsAudit;
}

export interface PostingsAudit {
  /**
   * The account's postings records of the commands that may leave no entry (bind, unbind,
   * debt-recovery): every other posting is vouched for by its entries.
   */
  count: number;
  /** References of entries that have no postings record. */
  unrecorded: string[];
  /** Postings whose stored result lists entries the ledger does not have (filled in by verify). */
  phantom?: string[];
}

export interface EntryTotals {
  accountId: string;
  /** The account's registers and entry count as its row records them. */
  recorded: { balance: bigint; debt: bigint; seq: number };
  /** What its entries add up to. */
  balance: bigint;
  debt: bigint;
  count: number;
}

export interface LedgerStore {
  readonly kind: 'sqlite' | 'postgres';
  /** The ledger key and checkpoint log, when configured: the store seals the entries it writes. */
  readonly integrity?: LedgerIntegrity;
  /** Connects and brings the schema to the current version. */
  init(): Promise<void>;
  close(): Promise<void>;
  getPosting(reference: string): Promise<PostingResult | undefined>;
  /** Charge entries (charge, standing, monthly) of every account effective in [from, to], by account and seq. */
  chargesEffective(from: number, to: number): Promise<EntryRecord[]>;
  /** Of the given posting references, those the store holds. */
  existingReferences(references: readonly string[]): Promise<Set<string>>;
  getAccount(id: string): Promise<AccountRecord | undefined>;
  listAccounts(): Promise<AccountRecord[]>;
  /** Entries of an account in seq order, optionally those posted in [from, to) or after seq `afterSeq`. */
  entriesOf(
    accountId: string,
    range?: { from?: number; to?: number; afterSeq?: number },
  ): Promise<EntryRecord[]>;
  /** The account's postings records against its entries (those after `afterSeq`). */
  auditPostings(accountId: string, afterSeq?: number): Promise<PostingsAudit>;
  /**
   * An account, its entries after `afterSeq` and its postings audit, read as of one moment (one read
   * transaction): what verify and checkpoints check while postings go on.
   */
  accountHistory(accountId: string, afterSeq?: number): Promise<AccountHistory | undefined>;
  /**
   * Postings records whose stored result lists entries the ledger does not have (forged, or their
   * entries deleted), of one account or of all; reads every postings record of the scope.
   */
  phantomPostings(accountId?: string): Promise<Array<{ accountId: string; reference: string }>>;
  entriesByReference(reference: string): Promise<EntryRecord[]>;
  isReversed(reference: string): Promise<boolean>;
  /** The binding of a meter in force at time `at`. */
  bindingAt(meterId: string, at: number): Promise<BindingRecord | undefined>;
  bindingsOf(accountId: string): Promise<BindingRecord[]>;
  /** Applies postings in order, in as few transactions as the store can (group commit). */
  apply(postings: PreparedPosting[]): Promise<ApplyOutcome[]>;
  periodSummary(from: number, to: number): Promise<SummaryRow[]>;
  /**
   * Per account, read together in one statement (a consistent snapshot while postings go on): its registers as
   * recorded, and the sums of its entries' amounts and debt changes with how many entries it has.
   */
  entryTotals(): Promise<EntryTotals[]>;
  /** Appends supply audit records (relay commands, overrides); a known reference is skipped. */
  appendAudit(records: AuditRecord[]): Promise<void>;
  auditLog(filter?: { meterId?: string; from?: number; to?: number }): Promise<AuditRecord[]>;
  /** Tenant access tokens kept in the same database (the tenant API checks them). */
  accessTokens?(): AccessTokenStore;
}

/**
 * Errors a store raises when it is unavailable rather than when a posting is wrong: the ledger
 * keeps such postings queued and retries them with backoff.
 */
export function isTransientStoreError(error: unknown): boolean {
  const code = String((error as { code?: unknown })?.code ?? '');
  // A store that could not be opened at all (see ResilientStore).
  if (code === 'STORE_UNAVAILABLE') return true;
  if (/^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|FULL|PROTOCOL)/.test(code)) return true;
  if (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'].includes(
      code,
    )
  )
    return true;
  // PostgreSQL: connection exceptions (08), insufficient resources (53), operator intervention (57),
  // serialization failure and deadlock (40001, 40P01).
  if (/^(08|53|57)/.test(code) || code === '40001' || code === '40P01') return true;
  const message = String((error as { message?: unknown })?.message ?? '');
  return /Connection terminated|connection timeout|Client has encountered a connection error|not queryable|database is locked/i.test(
    message,
  );
}
