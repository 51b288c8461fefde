/**
 * The SQLite store's compact postings records: every kind of posting sent again, before and after a restart,
 * is answered with an answer equal to the first one; a reference reused for other content is still refused; a
 * charge's record is a fraction of its answer; and a database written before the compact records (whole answers
 * in its postings records) is migrated and answers its duplicates as before.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SystemClock } from '../../dist/nodes/core/clock';
import { Ledger, LedgerResponse } from '../../dist/nodes/core/ledger/ledger';
import { DEFAULT_POLICY, prepare } from '../../dist/nodes/core/ledger/postings';
import { LedgerRequest, readRequest } from '../../dist/nodes/core/ledger/requests';
import { PreparedPosting } from '../../dist/nodes/core/ledger/types';
import { policyToJson } from '../../dist/nodes/store/records';
import { SqliteLedgerStore } from '../../dist/nodes/store/sqlite-ledger-store';
import { SQLITE_MIGRATIONS } from '../../dist/nodes/store/sqlite-schema';
import { assertSound, scratchDir } from './ledger-support';

type Row = Record<string, unknown>;

/** A request as the ledger node reads it from a message, or one the ledger's own jobs build. */
type Sent = { topic?: string; payload: Record<string, unknown> } | { request: LedgerRequest };

const request = (sent: Sent): LedgerRequest =>
  'request' in sent ? sent.request : readRequest(sent.topic, sent.payload);

/** Every kind of posting, in an order the rules accept, each with a reason to be sent again. */
const POSTINGS: Array<[string, Sent]> = [
  [
    'open with an opening debt',
    {
      payload: {
        command: 'open',
        reference: 'open-R1',
        accountId: 'R1',
        currency: 'GBP',
        openingDebt: 900,
        tenant: 'T',
        name: 'Flat 1',
        utilities: ['electricity'],
        policy: { emergencyCredit: 500, emergencyMode: 'request', debtRecoveryShareBp: 2500 },
      },
    },
  ],
  [
    'top-up with debt recovery',
    { payload: { command: 'topup', reference: 'pay-1', accountId: 'R1', amount: 4000, method: 'card' } },
  ],
  [
    'charge',
    {
      topic: 'charge',
      payload: {
        readingId: 'RD-1',
        accountId: 'R1',
        meterId: 'M1',
        amount: 123_456,
        currency: 'GBP',
        breakdown: [{ band: 'day', amountSub: 123_456 }],
        to: 1_700_000_000_000,
      },
    },
  ],
  [
    'standing charge',
    {
      topic: 'charge',
      payload: {
        readingId: 'SC-1',
        accountId: 'R1',
        amount: 25_000,
        kind: 'standing',
        currency: 'GBP',
        breakdown: [],
      },
    },
  ],
  [
    'refund',
    { payload: { command: 'refund', reference: 'rf-1', accountId: 'R1', amount: 100, reason: 'x' } },
  ],
  [
    'balance adjustment',
    {
      payload: {
        command: 'adjust',
        reference: 'adj-1',
        accountId: 'R1',
        amount: -50,
        reason: 'fee',
        by: 'op',
      },
    },
  ],
  [
    'debt adjustment',
    {
      payload: {
        command: 'adjust',
        reference: 'adj-2',
        accountId: 'R1',
        amount: 200,
        register: 'debt',
        reason: 'meter fault',
      },
    },
  ],
  [
    'reversal',
    {
      payload: { command: 'reverse', reference: 'rev-1', accountId: 'R1', target: 'rf-1', reason: 'mistake' },
    },
  ],
  ['bind', { payload: { command: 'bind', reference: 'bind-1', accountId: 'R1', meterId: 'M9', from: 1000 } }],
  ['unbind', { payload: { command: 'unbind', reference: 'unbind-1', meterId: 'M9', at: 2000 } }],
  [
    'daily debt recovery',
    {
      request: {
        command: 'debt-recovery',
        reference: 'dr-1',
        accountId: 'R1',
        date: '2026-12-01',
      } as LedgerRequest,
    },
  ],
  [
    'adjustment down to zero',
    {
      payload: { command: 'adjust', reference: 'adj-3', accountId: 'R1', amount: -2_900, reason: 'to zero' },
    },
  ],
  ['emergency credit', { payload: { command: 'emergency', reference: 'em-1', accountId: 'R1' } }],
  ['close', { payload: { command: 'close', reference: 'close-1', accountId: 'R1' } }],
];

class Rig {
  store: SqliteLedgerStore;
  ledger: Ledger;

  constructor(readonly path: string) {
    this.store = new SqliteLedgerStore({ path, synchronous: 'FULL' });
    this.ledger = new Ledger(this.store, { clock: new SystemClock(), maxGroup: 1 });
  }

  async init(): Promise<this> {
    await this.store.init();
    return this;
  }

  async restart(): Promise<void> {
    this.ledger.close();
    await this.store.close();
    this.store = new SqliteLedgerStore({ path: this.path, synchronous: 'FULL' });
    this.ledger = new Ledger(this.store, { clock: new SystemClock(), maxGroup: 1 });
    await this.store.init();
  }

  rows(sql: string): Row[] {
    return this.store.database().prepare(sql).all() as Row[];
  }

  async close(): Promise<void> {
    this.ledger.close();
    await this.store.close();
  }
}

/** The answer as a message carries it (close answers with a statement besides: its own query, left out). */
const answer = (response: LedgerResponse): unknown => {
  const result = { ...(response.result as Record<string, unknown>) };
  delete result.statement;
  return result;
};

describe('ledger store: compact postings records (SQLite)', function () {
  let dir = '';

  before(function () {
    dir = scratchDir();
  });

  it('answers every kind of posting sent again with the first answer, before and after a restart', async function () {
    const rig = await new Rig(join(dir, 'kinds.db')).init();
    try {
      const first = new Map<string, LedgerResponse>();
      for (const [name, sent] of POSTINGS) {
        const response = await rig.ledger.execute(request(sent));
        assert.equal(response.duplicate, false, name);
        first.set(name, response);
        // At once, and through the store's duplicate path (its rows collide with the earlier ones).
        const again = await rig.ledger.execute(request(sent));
        assert.equal(again.duplicate, true, name);
        assert.deepStrictEqual(answer(again), answer(response), name);
      }
      const kinds = rig.rows('SELECT command, entry_count FROM postings');
      assert.ok(
        kinds.some((r) => r.entry_count === null),
        'bindings keep their whole answer',
      );
      assert.ok(kinds.filter((r) => r.entry_count !== null).length >= 10, 'the others are compact');

      await rig.restart();
      for (const [name, sent] of POSTINGS) {
        const again = await rig.ledger.execute(request(sent));
        assert.equal(again.duplicate, true, `${name} after a restart`);
        const expected = answer(first.get(name) as LedgerResponse);
        assert.deepStrictEqual(answer(again), expected, `${name} after a restart`);
        // The same text too: field order kept, as a message or an HTTP answer shows it.
        assert.equal(JSON.stringify(answer(again)), JSON.stringify(expected), name);
        assert.deepStrictEqual(
          await rig.store.getPosting(String(expected && (expected as Row).reference)),
          expected,
        );
      }
      await assertSound(rig.ledger, rig.store);
    } finally {
      await rig.close();
    }
  });

  it('refuses a reference reused for other content after a restart, naming both, nothing posted', async function () {
    const rig = await new Rig(join(dir, 'conflict.db')).init();
    try {
      await rig.ledger.execute(
        readRequest(undefined, { command: 'open', reference: 'o', accountId: 'C1', currency: 'GBP' }),
      );
      await rig.ledger.execute(
        readRequest(undefined, { command: 'topup', reference: 'pay:pi_9', accountId: 'C1', amount: 1250 }),
      );
      await rig.ledger.execute(
        readRequest('charge', {
          readingId: 'RC',
          accountId: 'C1',
          meterId: 'M1',
          amount: 5000,
          currency: 'GBP',
          breakdown: [],
        }),
      );
      await rig.restart();
      const before = await rig.store.entriesOf('C1');
      await assert.rejects(
        rig.ledger.execute(
          readRequest(undefined, { command: 'topup', reference: 'pay:pi_9', accountId: 'C1', amount: 9999 }),
        ),
        (error: Error & { code?: string }) =>
          error.code === 'reference-conflict' &&
          /posted before as topup \(accountId C1, amount 1250, currency GBP\); this one is topup \(accountId C1, amount 9999/.test(
            error.message,
          ),
      );
      await assert.rejects(
        rig.ledger.execute(
          readRequest('charge', {
            readingId: 'RC',
            accountId: 'C1',
            meterId: 'M2',
            amount: 5000,
            currency: 'GBP',
            breakdown: [],
          }),
        ),
        (error: Error & { code?: string }) =>
          error.code === 'reference-conflict' && /meterId differs/.test(error.message),
      );
      assert.deepEqual(await rig.store.entriesOf('C1'), before);
    } finally {
      await rig.close();
    }
  });

  it("keeps a charge's postings record to a fraction of its answer", async function () {
    const rig = await new Rig(join(dir, 'bytes.db')).init();
    try {
      await rig.ledger.execute(
        readRequest(undefined, { command: 'open', reference: 'o', accountId: 'B1', currency: 'GBP' }),
      );
      const response = await rig.ledger.execute(
        readRequest('charge', {
          readingId: 'R-000001',
          accountId: 'B1',
          meterId: 'M1',
          amount: 12_345,
          currency: 'GBP',
          breakdown: [],
        }),
      );
      const [row] = rig.rows(
        "SELECT length(result) AS bytes FROM postings WHERE reference = 'charge:R-000001'",
      );
      const whole = JSON.stringify(response.result).length;
      assert.ok(whole > 500, `the answer is ${whole} bytes`);
      assert.ok(Number(row?.bytes) <= 100, `the record is ${String(row?.bytes)} bytes`);
    } finally {
      await rig.close();
    }
  });

  it('migrates a database written with whole answers and answers its duplicates with them', async function () {
    const path = join(dir, 'old.db');
    // The database as the version before compact records left it: schema version 5, whole answers.
    const old = new Database(path);
    old.defaultSafeIntegers(true);
    old.pragma('journal_mode = WAL');
    old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
    for (const migration of SQLITE_MIGRATIONS.filter((m) => m.version <= 5)) {
      old.exec(migration.sql);
      old
        .prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)')
        .run(migration.version, 1);
    }
    const ctx = { now: 1_790_000_000_000, defaults: DEFAULT_POLICY, rounding: 'half-even' as const };
    const opened = prepare(
      undefined,
      readRequest(undefined, {
        command: 'open',
        reference: 'o-1',
        accountId: 'O1',
        currency: 'GBP',
      }) as never,
      ctx,
    );
    const topup = prepare(
      opened.account,
      readRequest(undefined, { command: 'topup', reference: 'pay-o', accountId: 'O1', amount: 700 }) as never,
      ctx,
    );
    const write = (posting: PreparedPosting): void => {
      const a = posting.account;
      if (!a) throw new Error('no account');
      old
        .prepare(
          `INSERT OR REPLACE INTO accounts (id, tenant, name, currency, utilities, status, balance, debt, emergency_active,
             charge_sub_total, state, state_changed_at, seq, last_hash, version, policy, opened_at, closed_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
        )
        .run(
          a.id,
          a.tenant,
          a.name,
          a.currency,
          JSON.stringify(a.utilities),
          a.status,
          a.balance,
          a.debt,
          0,
          a.chargeSubTotal,
          a.state,
          a.stateChangedAt,
          a.seq,
          a.lastHash,
          a.version,
          policyToJson(a.policy),
          a.openedAt,
        );
      for (const e of posting.entries)
        old
          .prepare(
            `INSERT INTO entries (account_id, seq, kind, reference, part, amount, debt_delta, balance_after, debt_after,
               currency, posted_at, effective_at, meta, prev_hash, hash, seal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
          )
          .run(
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
            JSON.stringify(e.meta),
            e.prevHash,
            e.hash,
          );
      old
        .prepare(
          'INSERT INTO postings (reference, command, account_id, reverses, result, posted_at) VALUES (?, ?, ?, NULL, ?, ?)',
        )
        .run(
          posting.reference,
          posting.command,
          posting.accountId,
          JSON.stringify(posting.result),
          posting.postedAt,
        );
    };
    write(opened);
    write(topup);
    old.close();

    const rig = await new Rig(path).init();
    try {
      assert.equal(rig.store.schemaVersion(), SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1]?.version);
      // The records copied as they were, still append-only.
      assert.deepEqual(
        rig.rows('SELECT reference FROM postings ORDER BY reference').map((r) => r.reference),
        ['o-1', 'pay-o'],
      );
      const db = rig.store.database();
      assert.throws(() => db.exec("DELETE FROM postings WHERE reference = 'pay-o'"), /append-only/);
      assert.throws(
        () => db.exec("UPDATE postings SET result = '{}' WHERE reference = 'pay-o'"),
        /append-only/,
      );
      const [record] = rig.rows("SELECT entry_count FROM postings WHERE reference = 'pay-o'");
      assert.equal(record?.entry_count, null, 'the whole answer is kept as it was');
      const again = await rig.ledger.execute(
        readRequest(undefined, { command: 'topup', reference: 'pay-o', accountId: 'O1', amount: 700 }),
      );
      assert.equal(again.duplicate, true);
      assert.deepStrictEqual(again.result, JSON.parse(JSON.stringify(topup.result)));
      await assert.rejects(
        rig.ledger.execute(
          readRequest(undefined, { command: 'topup', reference: 'pay-o', accountId: 'O1', amount: 701 }),
        ),
        (error: Error & { code?: string }) => error.code === 'reference-conflict',
      );
      // New postings on the migrated file are compact, and the old ones still duplicates after them.
      const next = await rig.ledger.execute(
        readRequest(undefined, { command: 'topup', reference: 'pay-o2', accountId: 'O1', amount: 5 }),
      );
      await rig.restart();
      const replay = await rig.ledger.execute(
        readRequest(undefined, { command: 'topup', reference: 'pay-o2', accountId: 'O1', amount: 5 }),
      );
      assert.deepStrictEqual(replay.result, next.result);
      assert.equal(
        rig.rows("SELECT entry_count FROM postings WHERE reference = 'pay-o2'")[0]?.entry_count,
        1n,
      );
      await assertSound(rig.ledger, rig.store);
    } finally {
      await rig.close();
    }
  });

  it('never answers a compact record whose entries are gone: refused, and verify names it', async function () {
    const rig = await new Rig(join(dir, 'gone.db')).init();
    try {
      await rig.ledger.execute(
        readRequest(undefined, { command: 'open', reference: 'o', accountId: 'G1', currency: 'GBP' }),
      );
      const pay = { command: 'topup', reference: 'pay-g', accountId: 'G1', amount: 300 };
      await rig.ledger.execute(readRequest(undefined, pay));
      const db = rig.store.database();
      db.exec("DROP TRIGGER entries_no_delete; DELETE FROM entries WHERE reference = 'pay-g'");
      await assert.rejects(
        rig.ledger.execute(readRequest(undefined, pay)),
        /postings record of reference "pay-g" lists entries the ledger does not have/,
      );
      assert.deepEqual(await rig.store.phantomPostings('G1'), [{ accountId: 'G1', reference: 'pay-g' }]);
    } finally {
      await rig.close();
    }
  });
});
