/**
 * The embedded ledger store: one SQLite file (WAL, synchronous FULL by default) through
 * better-sqlite3. Every `apply` call is one IMMEDIATE transaction, so a group of postings costs
 * one fsync; each posting moves its account only from the version it was prepared from, and a
 * reference posted before is never written twice (unique indexes find it; see `applyFast`).
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LedgerIntegrity } from '../core/ledger/checkpoint';
import {
  AccountHistory,
  AuditRecord,
  EntryTotals,
  LedgerStore,
  PostingsAudit,
  SummaryRow,
} from '../core/ledger/store';
import {
  AccountRecord,
  ApplyOutcome,
  BindingRecord,
  EntryRecord,
  PostingResult,
  PreparedPosting,
} from '../core/ledger/types';
import {
  accountFromRow,
  auditFromRow,
  auditRow,
  bindingFromRow,
  entryFromRow,
  metaJson,
  policyToJson,
} from './records';
import { compactRecord, expandRecord } from './posting-record';
import { BackupReport, onlineBackup } from './sqlite-backup';
import { SQLITE_MIGRATIONS } from './sqlite-schema';
import { SqliteAccessTokens } from './sqlite-access-tokens';
import type { AccessTokenStore } from '../core/tenant/access-tokens';

export interface SqliteOptions {
  path: string;
  synchronous?: 'FULL' | 'NORMAL';
  busyTimeoutMs?: number;
  /** The ledger key (entries are sealed as they are written) and the checkpoint log. */
  integrity?: LedgerIntegrity;
}

type Row = Record<string, unknown>;

class Rejected extends Error {}

/** The reason given for a posting whose reference already has entries but no postings record. */
export const ENTRY_CONFLICT = (reference: string): string =>
  `reference "${reference}" was posted before (its entries are in the ledger) but its postings record is missing: the ledger was tampered with; not posted again`;

/** The reason given for a posting whose reference has a postings record listing entries that do not exist. */
export const FORGED_RECORD = (reference: string): string =>
  `the postings record of reference "${reference}" lists entries the ledger does not have (forged, or its entries deleted): not answered as a duplicate, not posted`;

/** A second entry under a reference and part (entries_reference_part is unique). */
function isEntryConflict(error: unknown): boolean {
  return (
    (error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE' &&
    /entries\.reference, entries\.part/.test(String((error as Error).message))
  );
}

/** A reference posted before, found by a unique index instead of looked up first (see `applyBatch`). */
function isPostedBefore(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return (
    (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') &&
    /entries\.reference, entries\.part|postings\.reference/.test(String((error as Error).message))
  );
}

export class SqliteLedgerStore implements LedgerStore {
  readonly kind = 'sqlite' as const;
  readonly integrity: LedgerIntegrity | undefined;
  private db: Database.Database | undefined;
  /** Prepared statements by SQL text: preparing costs more than running them. */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly options: SqliteOptions) {
    this.integrity = options.integrity;
  }

  /** The database file's path. */
  get file(): string {
    return this.options.path;
  }

  async init(): Promise<void> {
    if (this.options.path !== ':memory:') mkdirSync(dirname(this.options.path), { recursive: true });
    const db = new Database(this.options.path, { timeout: this.options.busyTimeoutMs ?? 5000 });
    db.defaultSafeIntegers(true);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${this.options.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL'}`);
    db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)',
    );
    const current = Number(
      (db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as Row).v,
    );
    const latest = SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1]?.version ?? 0;
    if (current > latest) {
      db.close();
      throw new Error(
        `ledger database schema version ${current} is newer than this package supports (${latest})`,
      );
    }
    for (const migration of SQLITE_MIGRATIONS.filter((m) => m.version > current)) {
      db.transaction(() => {
        db.exec(migration.sql);
        db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(
          migration.version,
          Date.now(),
        );
      }).immediate();
    }
    this.db = db;
  }

  async close(): Promise<void> {
    this.statements.clear();
    this.transactions = undefined;
    this.db?.close();
    this.db = undefined;
  }

  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.database().prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private tokens: SqliteAccessTokens | undefined;

  accessTokens(): AccessTokenStore {
    this.tokens ??= new SqliteAccessTokens(() => this.database());
    return this.tokens;
  }

  /** The schema version in force (for tests and diagnostics). */
  schemaVersion(): number {
    return Number(
      (this.database().prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as Row).v,
    );
  }

  /**
   * A consistent copy of the ledger in `target` while it keeps posting: SQLite's online backup from this
   * store's own connection, in steps of 2 MB (4 KB pages), so postings go on between the steps and the copy
   * is kept up to date with them.
   */
  backup(target: string): Promise<BackupReport> {
    return onlineBackup(this.database(), target, { pagesPerStep: 512 });
  }

  /** The open database, for tests that need to reach under the ledger. */
  database(): Database.Database {
    if (!this.db) {
      const error = new Error('ledger database is not open') as Error & { code: string };
      error.code = 'SQLITE_CANTOPEN';
      throw error;
    }
    return this.db;
  }

  async getPosting(reference: string): Promise<PostingResult | undefined> {
    const row = this.postingRow(reference);
    // A compact record whose entries are not all there is not an answer (see `earlier`).
    return row ? this.answerOf(row) : undefined;
  }

  private postingRow(reference: string): Row | undefined {
    return this.statement(
      'SELECT reference, command, account_id, result, entry_count FROM postings WHERE reference = ?',
    ).get(reference) as Row | undefined;
  }

  /** The answer a postings record gives: as stored, or rebuilt from a compact record and its entries. */
  private answerOf(row: Row): PostingResult | undefined {
    const text = String(row.result);
    if (row.entry_count === null || row.entry_count === undefined) return JSON.parse(text) as PostingResult;
    const reference = String(row.reference);
    return expandRecord(
      { reference, command: String(row.command), accountId: String(row.account_id), text },
      Number(row.entry_count),
      this.entriesOfReference(reference),
    );
  }

  private entriesOfReference(reference: string): EntryRecord[] {
    return (
      this.statement('SELECT * FROM entries WHERE reference = ? ORDER BY part').all(reference) as Row[]
    ).map(entryFromRow);
  }

  async existingReferences(references: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    const query = this.statement(
      'SELECT reference FROM postings WHERE reference IN (SELECT value FROM json_each(?))',
    );
    // Bounded statements: a long list is asked in slices.
    for (let i = 0; i < references.length; i += 5_000) {
      const slice = JSON.stringify(references.slice(i, i + 5_000));
      for (const row of query.all(slice) as Row[]) found.add(String(row.reference));
    }
    return found;
  }

  async getAccount(id: string): Promise<AccountRecord | undefined> {
    const row = this.statement('SELECT * FROM accounts WHERE id = ?').get(id) as Row | undefined;
    return row ? accountFromRow(row) : undefined;
  }

  async listAccounts(): Promise<AccountRecord[]> {
    return (this.statement('SELECT * FROM accounts ORDER BY id').all() as Row[]).map(accountFromRow);
  }

  async entriesOf(
    accountId: string,
    range: { from?: number; to?: number; afterSeq?: number } = {},
  ): Promise<EntryRecord[]> {
    const rows = this.statement(
      'SELECT * FROM entries WHERE account_id = ? AND seq > ? AND posted_at >= ? AND posted_at < ? ORDER BY seq',
    ).all(accountId, range.afterSeq ?? 0, range.from ?? 0, range.to ?? Number.MAX_SAFE_INTEGER) as Row[];
    return rows.map(entryFromRow);
  }

  async chargesEffective(from: number, to: number): Promise<EntryRecord[]> {
    const rows = this.statement(
      "SELECT * FROM entries WHERE kind IN ('charge', 'standing', 'monthly') AND effective_at >= ? AND effective_at <= ? ORDER BY account_id, seq",
    ).all(from, to) as Row[];
    return rows.map(entryFromRow);
  }

  async auditPostings(accountId: string, afterSeq = 0): Promise<PostingsAudit> {
    return this.postingsAudit(accountId, afterSeq);
  }

  private postingsAudit(accountId: string, afterSeq: number): PostingsAudit {
    const count = this.statement(
      "SELECT COUNT(*) AS n FROM postings WHERE account_id = ? AND command IN ('bind', 'unbind', 'debt-recovery')",
    ).get(accountId) as Row;
    const unrecorded = this.statement(
      `SELECT DISTINCT e.reference FROM entries e WHERE e.account_id = ? AND e.seq > ?
         AND NOT EXISTS (SELECT 1 FROM postings p WHERE p.reference = e.reference) ORDER BY e.reference`,
    ).all(accountId, afterSeq) as Row[];
    return { count: Number(count.n), unrecorded: unrecorded.map((r) => String(r.reference)) };
  }

  async accountHistory(accountId: string, afterSeq = 0): Promise<AccountHistory | undefined> {
    // Synchronous reads in one read transaction: no posting can land between them.
    const db = this.database();
    return db.transaction(() => {
      const row = this.statement('SELECT * FROM accounts WHERE id = ?').get(accountId) as Row | undefined;
      if (!row) return undefined;
      const entries = (
        this.statement('SELECT * FROM entries WHERE account_id = ? AND seq > ? ORDER BY seq').all(
          accountId,
          afterSeq,
        ) as Row[]
      ).map(entryFromRow);
      return { account: accountFromRow(row), entries, postings: this.postingsAudit(accountId, afterSeq) };
    })();
  }

  async phantomPostings(accountId?: string): Promise<Array<{ accountId: string; reference: string }>> {
    const rows = this.statement(
      `SELECT p.account_id, p.reference FROM postings p WHERE (@account IS NULL OR p.account_id = @account)
         AND (p.entry_count > 0 OR NOT json_valid(p.result) OR json_array_length(p.result, '$.entries') > 0)
         AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.reference = p.reference) ORDER BY p.account_id, p.reference`,
    ).all({ account: accountId ?? null }) as Row[];
    return rows.map((r) => ({ accountId: String(r.account_id ?? ''), reference: String(r.reference) }));
  }

  async entriesByReference(reference: string): Promise<EntryRecord[]> {
    return this.entriesOfReference(reference);
  }

  async isReversed(reference: string): Promise<boolean> {
    return this.statement('SELECT 1 FROM postings WHERE reverses = ?').get(reference) !== undefined;
  }

  async bindingAt(meterId: string, at: number): Promise<BindingRecord | undefined> {
    const row = this.statement(
      'SELECT * FROM bindings WHERE meter_id = ? AND valid_from <= ? AND (valid_to IS NULL OR valid_to > ?) ORDER BY valid_from DESC LIMIT 1',
    ).get(meterId, at, at) as Row | undefined;
    return row ? bindingFromRow(row) : undefined;
  }

  async bindingsOf(accountId: string): Promise<BindingRecord[]> {
    return (
      this.statement('SELECT * FROM bindings WHERE account_id = ? ORDER BY valid_from').all(
        accountId,
      ) as Row[]
    ).map(bindingFromRow);
  }

  /** Transactions built once per open database: building them costs more than a posting. */
  private transactions:
    | {
        one: Database.Transaction<(posting: PreparedPosting) => ApplyOutcome>;
        batch: Database.Transaction<(postings: PreparedPosting[]) => ApplyOutcome[]>;
        careful: Database.Transaction<(postings: PreparedPosting[]) => ApplyOutcome[]>;
      }
    | undefined;

  async apply(postings: PreparedPosting[]): Promise<ApplyOutcome[]> {
    const db = this.database();
    if (!this.transactions) {
      const one = db.transaction((posting: PreparedPosting) => this.applyOne(posting, true));
      const batch = db.transaction((list: PreparedPosting[]) => this.applyBatch(list, one, false));
      const careful = db.transaction((list: PreparedPosting[]) => this.applyBatch(list, one, true));
      this.transactions = { one, batch, careful };
    }
    // One outer transaction (one commit, one fsync); a savepoint only around binding changes.
    try {
      return this.transactions.batch.immediate(postings);
    } catch (error) {
      if (!isPostedBefore(error)) throw error;
      // A reference posted before (a retry, a replayed backlog), which the fast way finds only when its
      // rows collide with the earlier ones; or one whose entries exist without its postings record (deleted
      // by hand, the triggers dropped first). Nothing of the group was written: the group again, each
      // posting looked up first and inside a savepoint, so that a duplicate is answered as one and only a
      // tampered reference is refused.
      return this.transactions.careful.immediate(postings);
    }
  }

  private applyBatch(
    postings: PreparedPosting[],
    applyOne: (posting: PreparedPosting) => ApplyOutcome,
    careful: boolean,
  ): ApplyOutcome[] {
    const outcomes: ApplyOutcome[] = [];
    // A posting prepared on top of one that was not applied is stale, whatever its version says:
    // another writer may have moved the account to that same version number in the meantime. A
    // duplicate is still answered as one, so a replayed backlog settles in one round.
    const broken = new Set<string>();
    for (const posting of postings) {
      const accountId = posting.account?.id;
      if (accountId !== undefined && broken.has(accountId)) {
        outcomes.push(this.earlier(posting.reference) ?? { status: 'stale' });
        continue;
      }
      try {
        // A savepoint per posting costs more than the posting's own statements. Only a binding change can
        // be refused after it has written (the account row); every other refusal comes before the first
        // write, and any other error aborts the whole batch, so those postings run without one.
        outcomes.push(posting.bindings || careful ? applyOne(posting) : this.applyFast(posting));
      } catch (error) {
        if (error instanceof Rejected) outcomes.push({ status: 'rejected', reason: error.message });
        else throw error;
      }
      if (accountId !== undefined && outcomes[outcomes.length - 1]?.status !== 'applied')
        broken.add(accountId);
    }
    return outcomes;
  }

  /**
   * The answer for a reference posted before: its stored result, unless that record lists entries the
   * ledger does not have (forged ahead of the posting, or its entries deleted): then a refusal, so a
   * payment is never taken for a duplicate of a record nobody posted.
   */
  private earlier(reference: string): ApplyOutcome | undefined {
    const row = this.postingRow(reference);
    if (!row) return undefined;
    let result: PostingResult | undefined;
    try {
      // A compact record is rebuilt only when all the entries it counts are there.
      result = this.answerOf(row);
    } catch {
      result = undefined;
    }
    if (
      !result ||
      (Array.isArray(result.entries) &&
        result.entries.length > 0 &&
        !this.statement('SELECT 1 FROM entries WHERE reference = ? LIMIT 1').get(reference))
    )
      return { status: 'rejected', reason: FORGED_RECORD(reference) };
    return { status: 'duplicate', result };
  }

  /**
   * The common posting (an account moved, entries added, no binding change) without looking its reference
   * up first: a reference posted before collides with its own rows (an entry under the same reference and
   * part, or its postings record), which aborts the whole group, and `apply` runs the group again the
   * careful way, where it is answered as a duplicate. The lookup would cost a read per posting for the
   * rare retry. An account that moved on since the posting was prepared is the one case answered before
   * any collision: it is told apart from a duplicate here.
   */
  private applyFast(posting: PreparedPosting): ApplyOutcome {
    const account = posting.account;
    const expected = posting.expectedVersion;
    if (!account || !expected || posting.reverses || posting.entries.length === 0)
      return this.applyOne(posting, false);
    if (!this.updateAccount(account, expected)) return this.earlier(posting.reference) ?? { status: 'stale' };
    this.insertEntries(posting, false);
    this.insertPosting(posting);
    return { status: 'applied' };
  }

  /** Moves the account from the version the posting was prepared from; false when it is no longer there. */
  private updateAccount(account: AccountRecord, expected: number | undefined): boolean {
    // Positional parameters: binding by name looks every one of them up on an object built for the purpose.
    const changed = this.statement(
      `UPDATE accounts SET status = ?, balance = ?, debt = ?, emergency_active = ?, charge_sub_total = ?, state = ?,
          state_changed_at = ?, seq = ?, last_hash = ?, version = ?, policy = ?, closed_at = ?
         WHERE id = ? AND version = ?`,
    ).run(
      account.status,
      account.balance,
      account.debt,
      account.emergencyActive ? 1 : 0,
      account.chargeSubTotal,
      account.state,
      account.stateChangedAt,
      account.seq,
      account.lastHash,
      account.version,
      policyToJson(account.policy),
      account.closedAt ?? null,
      account.id,
      expected,
    );
    return changed.changes > 0;
  }

  /** `savepoint`: runs inside one, so a refusal after the first write may be answered as one. */
  private applyOne(posting: PreparedPosting, savepoint: boolean): ApplyOutcome {
    const earlier = this.earlier(posting.reference);
    if (earlier) return earlier;
    if (
      posting.reverses &&
      this.statement('SELECT 1 FROM postings WHERE reverses = ?').get(posting.reverses)
    ) {
      throw new Rejected(`posting "${posting.reverses}" was already reversed`);
    }
    const account = posting.account;
    if (account) {
      if (posting.expectedVersion === 0) {
        if (this.statement('SELECT 1 FROM accounts WHERE id = ?').get(account.id))
          throw new Rejected(`account "${account.id}" already exists`);
        this.statement(
          `INSERT INTO accounts (id, tenant, name, currency, utilities, status, balance, debt, emergency_active,
            charge_sub_total, state, state_changed_at, seq, last_hash, version, policy, opened_at, closed_at)
           VALUES (@id, @tenant, @name, @currency, @utilities, @status, @balance, @debt, @emergency,
            @chargeSubTotal, @state, @stateChangedAt, @seq, @lastHash, @version, @policy, @openedAt, @closedAt)`,
        ).run(accountParams(account));
      } else if (!this.updateAccount(account, posting.expectedVersion)) return { status: 'stale' };
    }
    const add = posting.bindings?.add;
    if (add) {
      if (this.statement('SELECT 1 FROM bindings WHERE meter_id = ? AND valid_to IS NULL').get(add.meterId)) {
        throw new Rejected(`meter "${add.meterId}" is already bound`);
      }
      this.statement(
        'INSERT INTO bindings (meter_id, account_id, valid_from, valid_to, reference) VALUES (?, ?, ?, NULL, ?)',
      ).run(add.meterId, add.accountId, add.from, add.reference);
    }
    const close = posting.bindings?.close;
    if (close) {
      const closed = this.statement(
        'UPDATE bindings SET valid_to = ? WHERE meter_id = ? AND valid_to IS NULL AND valid_from <= ?',
      ).run(close.at, close.meterId, close.at);
      if (closed.changes === 0) throw new Rejected(`meter "${close.meterId}" has no current binding to end`);
    }
    this.insertEntries(posting, savepoint);
    this.insertPosting(posting);
    return { status: 'applied' };
  }

  private insertEntries(posting: PreparedPosting, savepoint: boolean): void {
    const insertEntry = this.statement(
      `INSERT INTO entries (account_id, seq, kind, reference, part, amount, debt_delta, balance_after, debt_after,
        currency, posted_at, effective_at, meta, prev_hash, hash, seal)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const keyring = this.integrity?.keyring;
    const texts = posting.metaJson?.length === posting.entries.length ? posting.metaJson : undefined;
    for (let i = 0; i < posting.entries.length; i++) {
      const e = posting.entries[i] as EntryRecord;
      try {
        insertEntry.run(
          e.accountId,
          e.seq,
          e.kind,
          e.reference,
          e.part,
          e.amount,
          e.debtDelta,
          e.balanceAfter,
          e.debtAfter,
          e.currency,
          e.postedAt,
          e.effectiveAt,
          texts?.[i] ?? metaJson(e.meta),
          e.prevHash,
          e.hash,
          keyring?.sealEntry(e.hash) ?? null,
        );
      } catch (error) {
        // Entries under this reference already: its postings record was deleted (the triggers dropped
        // first). Posting again would credit a retried payment twice.
        if (savepoint && isEntryConflict(error)) throw new Rejected(ENTRY_CONFLICT(posting.reference));
        throw error;
      }
    }
  }

  private insertPosting(posting: PreparedPosting): void {
    // The compact record where the entries can rebuild the answer: about 80 bytes for a charge instead of 600.
    const compact = compactRecord(posting);
    this.statement(
      'INSERT INTO postings (reference, command, account_id, reverses, result, posted_at, entry_count) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).run(
      posting.reference,
      posting.command,
      posting.accountId,
      posting.reverses ?? null,
      compact?.text ?? JSON.stringify(posting.result),
      posting.postedAt,
      compact?.entries ?? null,
    );
  }

  async periodSummary(from: number, to: number): Promise<SummaryRow[]> {
    const db = this.database();
    const accounts = await this.listAccounts();
    const sums = db.prepare(
      `SELECT kind, SUM(amount) AS amount FROM entries WHERE account_id = ? AND posted_at >= ? AND posted_at < ? GROUP BY kind`,
    );
    const before = db.prepare(
      `SELECT balance_after, debt_after FROM entries WHERE account_id = ? AND posted_at < ? ORDER BY seq DESC LIMIT 1`,
    );
    return accounts.map((account) => {
      const totals = new Map<string, bigint>();
      for (const row of sums.all(account.id, from, to) as Row[])
        totals.set(String(row.kind), BigInt(row.amount as bigint));
      const open = before.get(account.id, from) as Row | undefined;
      const close = before.get(account.id, to) as Row | undefined;
      return summaryRow(account, totals, open, close);
    });
  }

  async entryTotals(): Promise<EntryTotals[]> {
    const rows = this.statement(
      `SELECT a.id AS account_id, a.balance AS recorded_balance, a.debt AS recorded_debt, a.seq AS recorded_seq,
         COALESCE(SUM(e.amount), 0) AS balance, COALESCE(SUM(e.debt_delta), 0) AS debt, COUNT(e.seq) AS n
       FROM accounts a LEFT JOIN entries e ON e.account_id = a.id GROUP BY a.id`,
    ).all() as Row[];
    return rows.map((row) => ({
      accountId: String(row.account_id),
      recorded: {
        balance: BigInt(row.recorded_balance as bigint),
        debt: BigInt(row.recorded_debt as bigint),
        seq: Number(row.recorded_seq),
      },
      balance: BigInt(row.balance as bigint),
      debt: BigInt(row.debt as bigint),
      count: Number(row.n),
    }));
  }

  async appendAudit(records: AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    const insert = this.statement(
      `INSERT OR IGNORE INTO supply_audit (reference, at, kind, meter_id, account_id, action, reason, policy, actor, detail)
       VALUES (@reference, @at, @kind, @meter_id, @account_id, @action, @reason, @policy, @actor, @detail)`,
    );
    this.database().transaction(() => {
      for (const record of records) insert.run(auditRow(record));
    })();
  }

  async auditLog(filter: { meterId?: string; from?: number; to?: number } = {}): Promise<AuditRecord[]> {
    const rows = this.statement(
      `SELECT * FROM supply_audit WHERE (@meter IS NULL OR meter_id = @meter) AND at >= @from AND at < @to ORDER BY at, reference`,
    ).all({
      meter: filter.meterId ?? null,
      from: filter.from ?? 0,
      to: filter.to ?? Number.MAX_SAFE_INTEGER,
    }) as Row[];
    return rows.map((row) => auditFromRow(row as Record<string, unknown>));
  }
}

export function summaryRow(
  account: AccountRecord,
  totals: Map<string, bigint>,
  open: Row | undefined,
  close: Row | undefined,
): SummaryRow {
  const get = (...kinds: string[]): bigint => kinds.reduce((sum, k) => sum + (totals.get(k) ?? 0n), 0n);
  return {
    accountId: account.id,
    tenant: account.tenant,
    name: account.name,
    currency: account.currency,
    opening: open ? BigInt(open.balance_after as bigint) : 0n,
    topups: get('topup'),
    charges: get('charge', 'standing', 'monthly'),
    refunds: get('refund'),
    adjustments: get('adjustment', 'reversal'),
    debtRecovered: -get('debt-recovery'),
    closing: close ? BigInt(close.balance_after as bigint) : 0n,
    debt: close ? BigInt(close.debt_after as bigint) : 0n,
  };
}

function accountParams(account: AccountRecord): Record<string, unknown> {
  return {
    id: account.id,
    tenant: account.tenant,
    name: account.name,
    currency: account.currency,
    utilities: JSON.stringify(account.utilities),
    status: account.status,
    balance: account.balance,
    debt: account.debt,
    emergency: account.emergencyActive ? 1 : 0,
    chargeSubTotal: account.chargeSubTotal,
    state: account.state,
    stateChangedAt: account.stateChangedAt,
    seq: account.seq,
    lastHash: account.lastHash,
    version: account.version,
    policy: policyToJson(account.policy),
    openedAt: account.openedAt,
    closedAt: account.closedAt ?? null,
  };
}
