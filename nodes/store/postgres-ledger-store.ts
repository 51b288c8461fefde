/**
 * The shared ledger store: PostgreSQL through pg, for sites where several Node-RED gateways post
 * to one ledger. A batch of postings is one statement (`SELECT prepay_apply($1)`), because round
 * trips, not fsync, bound PostgreSQL's posting rate; concurrency is optimistic (account versions)
 * and idempotency is the postings table's primary key.
 */
import { Pool, PoolConfig } from 'pg';
import type { LedgerIntegrity } from '../core/ledger/checkpoint';
import type { Keyring } from '../core/ledger/seal';
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
import { POSTGRES_MIGRATIONS } from './postgres-schema';
import { PostgresAccessTokens } from './postgres-access-tokens';
import type { AccessTokenStore } from '../core/tenant/access-tokens';
import { accountFromRow, auditFromRow, auditRow, bindingFromRow, entryFromRow } from './records';
import { ENTRY_CONFLICT, summaryRow } from './sqlite-ledger-store';

type Row = Record<string, unknown>;

const MIGRATION_LOCK = 7_311_042_901; // advisory lock id for schema changes

function jsonWithBigints(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

function postingJson(posting: PreparedPosting, keyring: Keyring | undefined): Record<string, unknown> {
  const account = posting.account;
  return {
    reference: posting.reference,
    command: posting.command,
    accountId: posting.accountId,
    reverses: posting.reverses ?? null,
    result: posting.result,
    postedAt: posting.postedAt,
    expectedVersion: posting.expectedVersion ?? null,
    account: account
      ? {
          ...account,
          policy: Object.fromEntries(
            Object.entries(account.policy).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]),
          ),
          closedAt: account.closedAt ?? null,
        }
      : null,
    bindings: posting.bindings ?? null,
    entries: posting.entries.map((e) => ({
      account_id: e.accountId,
      seq: e.seq,
      kind: e.kind,
      reference: e.reference,
      part: e.part,
      amount: e.amount,
      debt_delta: e.debtDelta,
      balance_after: e.balanceAfter,
      debt_after: e.debtAfter,
      currency: e.currency,
      posted_at: e.postedAt,
      effective_at: e.effectiveAt,
      meta: e.meta,
      prev_hash: e.prevHash,
      hash: e.hash,
      seal: keyring?.sealEntry(e.hash) ?? null,
    })),
  };
}

/** Turns PostgreSQL's constraint messages into the ledger's own words. */
function rejectionReason(reason: string, reference: string): string {
  // Entries under this reference already: its postings record was deleted (the triggers dropped
  // first). Posting again would credit a retried payment twice.
  if (reason.includes('entries_reference_part')) return ENTRY_CONFLICT(reference);
  if (reason.includes('accounts_pkey')) return 'the account already exists';
  if (reason.includes('bindings_current') || reason.includes('bindings_pkey'))
    return 'the meter is already bound';
  if (reason.includes('postings_reverses_key')) return 'that posting was already reversed';
  return reason;
}

export class PostgresLedgerStore implements LedgerStore {
  readonly kind = 'postgres' as const;
  private readonly pool: Pool;

  /** `integrity`: the ledger key (entries are sealed as they are written) and the checkpoint log. */
  constructor(
    config: PoolConfig,
    readonly integrity?: LedgerIntegrity,
  ) {
    this.pool = new Pool({ max: 4, connectionTimeoutMillis: 5000, ...config });
    // An idle client losing its server must not crash Node-RED: the next query reports it.
    this.pool.on('error', () => undefined);
  }

  private tokens: PostgresAccessTokens | undefined;

  accessTokens(): AccessTokenStore {
    this.tokens ??= new PostgresAccessTokens(this.pool);
    return this.tokens;
  }

  async init(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)',
      );
      const current = Number(
        (await client.query('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations')).rows[0].v,
      );
      const latest = POSTGRES_MIGRATIONS[POSTGRES_MIGRATIONS.length - 1]?.version ?? 0;
      if (current > latest)
        throw new Error(
          `ledger database schema version ${current} is newer than this package supports (${latest})`,
        );
      for (const migration of POSTGRES_MIGRATIONS.filter((m) => m.version > current)) {
        await client.query('BEGIN');
        try {
          await client.query(migration.sql);
          await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [
            migration.version,
            Date.now(),
          ]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async schemaVersion(): Promise<number> {
    return Number((await this.pool.query('SELECT MAX(version) AS v FROM schema_migrations')).rows[0].v);
  }

  /** Direct SQL for tests that need to reach under the ledger. */
  query(sql: string, params: unknown[] = []): Promise<{ rows: Row[]; rowCount: number | null }> {
    return this.pool.query(sql, params);
  }

  async getPosting(reference: string): Promise<PostingResult | undefined> {
    const { rows } = await this.pool.query('SELECT result FROM postings WHERE reference = $1', [reference]);
    return rows[0] ? (rows[0].result as PostingResult) : undefined;
  }

  async existingReferences(references: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < references.length; i += 5_000) {
      const { rows } = await this.pool.query('SELECT reference FROM postings WHERE reference = ANY($1)', [
        references.slice(i, i + 5_000),
      ]);
      for (const row of rows) found.add(String((row as Row).reference));
    }
    return found;
  }

  async getAccount(id: string): Promise<AccountRecord | undefined> {
    const { rows } = await this.pool.query('SELECT * FROM accounts WHERE id = $1', [id]);
    return rows[0] ? accountFromRow(rows[0] as Row) : undefined;
  }

  async listAccounts(): Promise<AccountRecord[]> {
    const { rows } = await this.pool.query('SELECT * FROM accounts ORDER BY id');
    return rows.map((row) => accountFromRow(row as Row));
  }

  async entriesOf(
    accountId: string,
    range: { from?: number; to?: number; afterSeq?: number } = {},
  ): Promise<EntryRecord[]> {
    const { rows } = await this.pool.query(
      'SELECT * FROM entries WHERE account_id = $1 AND seq > $2 AND posted_at >= $3 AND posted_at < $4 ORDER BY seq',
      [accountId, range.afterSeq ?? 0, range.from ?? 0, range.to ?? Number.MAX_SAFE_INTEGER],
    );
    return rows.map((row) => entryFromRow(row as Row));
  }

  async chargesEffective(from: number, to: number): Promise<EntryRecord[]> {
    const { rows } = await this.pool.query(
      "SELECT * FROM entries WHERE kind IN ('charge', 'standing', 'monthly') AND effective_at >= $1 AND effective_at <= $2 ORDER BY account_id, seq",
      [from, to],
    );
    return rows.map((row) => entryFromRow(row as Row));
  }

  async auditPostings(accountId: string, afterSeq = 0): Promise<PostingsAudit> {
    return postingsAudit(this.pool, accountId, afterSeq);
  }

  async accountHistory(accountId: string, afterSeq = 0): Promise<AccountHistory | undefined> {
    // One REPEATABLE READ transaction: the three reads see the same snapshot while postings go on.
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const { rows } = await client.query('SELECT * FROM accounts WHERE id = $1', [accountId]);
      if (!rows[0]) return undefined;
      const entries = await client.query(
        'SELECT * FROM entries WHERE account_id = $1 AND seq > $2 ORDER BY seq',
        [accountId, afterSeq],
      );
      return {
        account: accountFromRow(rows[0] as Row),
        entries: entries.rows.map((row) => entryFromRow(row as Row)),
        postings: await postingsAudit(client, accountId, afterSeq),
      };
    } finally {
      await client.query('COMMIT').catch(() => undefined);
      client.release();
    }
  }

  async phantomPostings(accountId?: string): Promise<Array<{ accountId: string; reference: string }>> {
    const { rows } = await this.pool.query(
      `SELECT p.account_id, p.reference FROM postings p WHERE ($1::text IS NULL OR p.account_id = $1)
         AND jsonb_typeof(p.result->'entries') = 'array' AND jsonb_array_length(p.result->'entries') > 0
         AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.reference = p.reference) ORDER BY p.account_id, p.reference`,
      [accountId ?? null],
    );
    return rows.map((r) => ({ accountId: String(r.account_id ?? ''), reference: String(r.reference) }));
  }

  async entriesByReference(reference: string): Promise<EntryRecord[]> {
    const { rows } = await this.pool.query('SELECT * FROM entries WHERE reference = $1 ORDER BY part', [
      reference,
    ]);
    return rows.map((row) => entryFromRow(row as Row));
  }

  async isReversed(reference: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('SELECT 1 FROM postings WHERE reverses = $1', [reference]);
    return (rowCount ?? 0) > 0;
  }

  async bindingAt(meterId: string, at: number): Promise<BindingRecord | undefined> {
    const { rows } = await this.pool.query(
      `SELECT * FROM bindings WHERE meter_id = $1 AND valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2)
       ORDER BY valid_from DESC LIMIT 1`,
      [meterId, at],
    );
    return rows[0] ? bindingFromRow(rows[0] as Row) : undefined;
  }

  async bindingsOf(accountId: string): Promise<BindingRecord[]> {
    const { rows } = await this.pool.query(
      'SELECT * FROM bindings WHERE account_id = $1 ORDER BY valid_from',
      [accountId],
    );
    return rows.map((row) => bindingFromRow(row as Row));
  }

  async apply(postings: PreparedPosting[]): Promise<ApplyOutcome[]> {
    if (postings.length === 0) return [];
    const { rows } = await this.pool.query('SELECT prepay_apply($1::jsonb) AS outcomes', [
      jsonWithBigints(postings.map((posting) => postingJson(posting, this.integrity?.keyring))),
    ]);
    const outcomes = rows[0].outcomes as Array<{ status: string; result?: PostingResult; reason?: string }>;
    return outcomes.map((o, index): ApplyOutcome => {
      if (o.status === 'duplicate') return { status: 'duplicate', result: o.result as PostingResult };
      if (o.status === 'stale') return { status: 'stale' };
      if (o.status === 'rejected')
        return {
          status: 'rejected',
          reason: rejectionReason(o.reason ?? 'rejected', postings[index]?.reference ?? ''),
        };
      return { status: 'applied' };
    });
  }

  async periodSummary(from: number, to: number): Promise<SummaryRow[]> {
    const accounts = await this.listAccounts();
    const { rows: sums } = await this.pool.query(
      'SELECT account_id, kind, SUM(amount) AS amount FROM entries WHERE posted_at >= $1 AND posted_at < $2 GROUP BY account_id, kind',
      [from, to],
    );
    const edge = async (at: number): Promise<Map<string, Row>> => {
      const { rows } = await this.pool.query(
        `SELECT DISTINCT ON (account_id) account_id, balance_after, debt_after FROM entries
         WHERE posted_at < $1 ORDER BY account_id, seq DESC`,
        [at],
      );
      return new Map(rows.map((r) => [String(r.account_id), r as Row]));
    };
    const opening = await edge(from);
    const closing = await edge(to);
    return accounts.map((account) => {
      const totals = new Map<string, bigint>();
      for (const s of sums.filter((r) => r.account_id === account.id))
        totals.set(String(s.kind), BigInt(String(s.amount)));
      return summaryRow(account, totals, opening.get(account.id), closing.get(account.id));
    });
  }

  async entryTotals(): Promise<EntryTotals[]> {
    const { rows } = await this.pool.query(
      `SELECT a.id AS account_id, a.balance::text AS recorded_balance, a.debt::text AS recorded_debt,
         a.seq AS recorded_seq, COALESCE(SUM(e.amount), 0)::text AS balance,
         COALESCE(SUM(e.debt_delta), 0)::text AS debt, COUNT(e.seq)::int AS n
       FROM accounts a LEFT JOIN entries e ON e.account_id = a.id GROUP BY a.id`,
    );
    return rows.map((row: Row) => ({
      accountId: String(row.account_id),
      recorded: {
        balance: BigInt(String(row.recorded_balance)),
        debt: BigInt(String(row.recorded_debt)),
        seq: Number(row.recorded_seq),
      },
      balance: BigInt(String(row.balance)),
      debt: BigInt(String(row.debt)),
      count: Number(row.n),
    }));
  }

  async appendAudit(records: AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    // One round trip for the batch; a reference already stored is skipped.
    await this.pool.query(
      `INSERT INTO supply_audit (reference, at, kind, meter_id, account_id, action, reason, policy, actor, detail)
       SELECT r.reference, r.at, r.kind, r.meter_id, r.account_id, r.action, r.reason, r.policy, r.actor, r.detail
       FROM jsonb_to_recordset($1::jsonb) AS r(reference text, at bigint, kind text, meter_id text, account_id text,
         action text, reason text, policy text, actor text, detail jsonb)
       ON CONFLICT (reference) DO NOTHING`,
      [JSON.stringify(records.map(auditRow))],
    );
  }

  async auditLog(filter: { meterId?: string; from?: number; to?: number } = {}): Promise<AuditRecord[]> {
    const { rows } = await this.pool.query(
      `SELECT * FROM supply_audit WHERE ($1::text IS NULL OR meter_id = $1) AND at >= $2 AND at < $3 ORDER BY at, reference`,
      [filter.meterId ?? null, filter.from ?? 0, filter.to ?? Number.MAX_SAFE_INTEGER],
    );
    return rows.map((row) => auditFromRow(row as Record<string, unknown>));
  }
}

/** An account's postings audit in one round trip: the count and the entries without a postings record. */
async function postingsAudit(
  db: { query(sql: string, params: unknown[]): Promise<{ rows: unknown[] }> },
  accountId: string,
  afterSeq: number,
): Promise<PostingsAudit> {
  const { rows } = await db.query(
    `SELECT (SELECT count(*) FROM postings WHERE account_id = $1
         AND command IN ('bind', 'unbind', 'debt-recovery')) AS count,
       ARRAY(SELECT DISTINCT e.reference FROM entries e WHERE e.account_id = $1 AND e.seq > $2
         AND NOT EXISTS (SELECT 1 FROM postings p WHERE p.reference = e.reference) ORDER BY e.reference) AS unrecorded`,
    [accountId, afterSeq],
  );
  const row = rows[0] as { count: string; unrecorded: string[] };
  return { count: Number(row.count), unrecorded: row.unrecorded };
}
