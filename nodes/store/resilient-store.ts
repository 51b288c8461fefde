/**
 * Wraps a store so that it connects and migrates on first use and again after a failure: while the
 * database cannot be reached every call fails with a transient error, which the ledger answers by
 * keeping postings queued and retrying with backoff, rather than by losing them.
 */
import type { LedgerIntegrity } from '../core/ledger/checkpoint';
import {
  AccountHistory,
  AuditRecord,
  EntryTotals,
  LedgerStore,
  PostingsAudit,
  SummaryRow,
} from '../core/ledger/store';
import type { AccessTokenStore } from '../core/tenant/access-tokens';
import {
  AccountRecord,
  ApplyOutcome,
  BindingRecord,
  EntryRecord,
  PostingResult,
  PreparedPosting,
} from '../core/ledger/types';

/** The code given to a failure to open the store that has none of its own (it counts as transient). */
export const STORE_UNAVAILABLE = 'STORE_UNAVAILABLE';

export class ResilientStore implements LedgerStore {
  private ready: Promise<void> | undefined;
  lastError: Error | undefined;

  constructor(readonly inner: LedgerStore) {}

  get kind(): 'sqlite' | 'postgres' {
    return this.inner.kind;
  }

  get integrity(): LedgerIntegrity | undefined {
    return this.inner.integrity;
  }

  init(): Promise<void> {
    if (!this.ready) {
      this.ready = this.inner.init().then(
        () => {
          this.lastError = undefined;
        },
        (error: Error) => {
          this.ready = undefined;
          this.lastError = error;
          throw error;
        },
      );
    }
    return this.ready;
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      await this.init();
    } catch (error) {
      // A store that cannot be opened (unreachable, a schema from a newer version after a rollback, a file
      // that cannot be read) is unavailable, not a reason to refuse the posting: it waits, and is retried.
      if (!(error as { code?: unknown }).code) Object.assign(error as object, { code: STORE_UNAVAILABLE });
      throw error;
    }
    return fn();
  }

  getPosting(reference: string): Promise<PostingResult | undefined> {
    return this.call(() => this.inner.getPosting(reference));
  }
  chargesEffective(from: number, to: number): Promise<EntryRecord[]> {
    return this.call(() => this.inner.chargesEffective(from, to));
  }
  existingReferences(references: readonly string[]): Promise<Set<string>> {
    return this.call(() => this.inner.existingReferences(references));
  }
  getAccount(id: string): Promise<AccountRecord | undefined> {
    return this.call(() => this.inner.getAccount(id));
  }
  listAccounts(): Promise<AccountRecord[]> {
    return this.call(() => this.inner.listAccounts());
  }
  entriesOf(
    accountId: string,
    range?: { from?: number; to?: number; afterSeq?: number },
  ): Promise<EntryRecord[]> {
    return this.call(() => this.inner.entriesOf(accountId, range));
  }
  auditPostings(accountId: string, afterSeq?: number): Promise<PostingsAudit> {
    return this.call(() => this.inner.auditPostings(accountId, afterSeq));
  }
  accountHistory(accountId: string, afterSeq?: number): Promise<AccountHistory | undefined> {
    return this.call(() => this.inner.accountHistory(accountId, afterSeq));
  }
  phantomPostings(accountId?: string): Promise<Array<{ accountId: string; reference: string }>> {
    return this.call(() => this.inner.phantomPostings(accountId));
  }
  entriesByReference(reference: string): Promise<EntryRecord[]> {
    return this.call(() => this.inner.entriesByReference(reference));
  }
  isReversed(reference: string): Promise<boolean> {
    return this.call(() => this.inner.isReversed(reference));
  }
  bindingAt(meterId: string, at: number): Promise<BindingRecord | undefined> {
    return this.call(() => this.inner.bindingAt(meterId, at));
  }
  bindingsOf(accountId: string): Promise<BindingRecord[]> {
    return this.call(() => this.inner.bindingsOf(accountId));
  }
  apply(postings: PreparedPosting[]): Promise<ApplyOutcome[]> {
    return this.call(() => this.inner.apply(postings));
  }
  periodSummary(from: number, to: number): Promise<SummaryRow[]> {
    return this.call(() => this.inner.periodSummary(from, to));
  }

  entryTotals(): Promise<EntryTotals[]> {
    return this.call(() => this.inner.entryTotals());
  }

  appendAudit(records: AuditRecord[]): Promise<void> {
    return this.call(() => this.inner.appendAudit(records));
  }

  auditLog(filter?: { meterId?: string; from?: number; to?: number }): Promise<AuditRecord[]> {
    return this.call(() => this.inner.auditLog(filter));
  }

  /** The inner store's access tokens, each call made once the store is up. */
  accessTokens(): AccessTokenStore {
    const tokens = this.inner.accessTokens?.();
    if (!tokens) throw new Error(`the ${this.inner.kind} store keeps no tenant access tokens`);
    return {
      insertToken: (record, replacing) => this.call(() => tokens.insertToken(record, replacing)),
      tokenByHash: (hash) => this.call(() => tokens.tokenByHash(hash)),
      tokensOf: (accountId) => this.call(() => tokens.tokensOf(accountId)),
      revokeTokens: (which, at, by) => this.call(() => tokens.revokeTokens(which, at, by)),
    };
  }
}
