/**
 * One scenario suite, run for real against both stores: SQLite on disk (a scratch file) and
 * PostgreSQL (a scratch database, one schema per scenario). Every scenario goes through the Ledger
 * service with requests read from message payloads, and ends with verify() ok for every account
 * and every balance equal to the sum of its entries.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Client } from 'pg';
import { ManualClock, SystemClock } from '../../dist/nodes/core/clock';
import { LedgerIntegrity } from '../../dist/nodes/core/ledger/checkpoint';
import { entryHash, genesisHash, verifyChain } from '../../dist/nodes/core/ledger/hash-chain';
import { Ledger, LedgerOptions } from '../../dist/nodes/core/ledger/ledger';
import { LedgerError, readRequest } from '../../dist/nodes/core/ledger/requests';
import { LedgerStore } from '../../dist/nodes/core/ledger/store';
import { Keyring, sealKey } from '../../dist/nodes/core/ledger/seal';
import { EntryRecord, PostingResult } from '../../dist/nodes/core/ledger/types';
import { CheckpointFile } from '../../dist/nodes/store/checkpoint-file';
import { PostgresLedgerStore } from '../../dist/nodes/store/postgres-ledger-store';
import { SqliteLedgerStore } from '../../dist/nodes/store/sqlite-ledger-store';
import { POSTGRES_MIGRATIONS } from '../../dist/nodes/store/postgres-schema';
import { SQLITE_MIGRATIONS } from '../../dist/nodes/store/sqlite-schema';
import { assertSound, driven, requirePostgres, ScratchDatabase, scratchDir, send } from './ledger-support';

type Row = Record<string, unknown>;

/** One scenario's database, reached through the store and, like an administrator would, directly. */
interface Harness {
  store: LedgerStore;
  /**
   * The store's ledger key (a fresh one per scenario, as a prepay-store node with a seal key has) and,
   * once a scenario starts checkpoints, its checkpoint log.
   */
  integrity: LedgerIntegrity;
  /** A checkpoint log of this scenario's own, outside the database. */
  checkpointFile: string;
  /** Another store on the same database (a restart, or a second gateway), by default with the same key. */
  another(integrity?: LedgerIntegrity): Promise<LedgerStore>;
  /**
   * Raw SQL as the database owner, on a connection of its own (better-sqlite3 on the file, a pg
   * client), as an administrator with the database's password would.
   */
  exec(sql: string): Promise<void>;
  rows(sql: string): Promise<Row[]>;
  /** One statement with parameters written `?`. */
  run(sql: string, params: unknown[]): Promise<void>;
  /**
   * What a malicious administrator (the database owner) would do first: remove the triggers that
   * refuse changes to entries, postings, accounts and bindings.
   */
  dropAppendOnly(): Promise<void>;
  close(): Promise<void>;
}

interface Backend {
  name: string;
  before(context: Mocha.Context): Promise<void>;
  harness(integrity?: LedgerIntegrity): Promise<Harness>;
  after(): Promise<void>;
}

/** The key a scenario's store seals with (generated, as `openssl rand -hex 32` would). */
function freshIntegrity(): LedgerIntegrity {
  return { keyring: new Keyring(sealKey(randomBytes(32).toString('hex'), 'seal key')) };
}

const sqliteBackend = (): Backend => {
  let dir = '';
  let n = 0;
  return {
    name: 'SQLite (file on disk)',
    async before() {
      dir = scratchDir();
    },
    async harness(integrity = freshIntegrity()) {
      const path = join(dir, `ledger-${++n}.db`);
      const store = new SqliteLedgerStore({ path, synchronous: 'FULL', integrity });
      await store.init();
      const stores: SqliteLedgerStore[] = [store];
      let owner: Database.Database | undefined;
      const direct = (): Database.Database => (owner ??= new Database(path, { timeout: 5000 }));
      return {
        store,
        integrity,
        checkpointFile: join(dir, `ledger-${n}.checkpoints.jsonl`),
        async another(other = integrity) {
          const next = new SqliteLedgerStore({ path, integrity: other });
          await next.init();
          stores.push(next);
          return next;
        },
        async exec(sql) {
          direct().exec(sql);
        },
        async rows(sql) {
          return direct().prepare(sql).all() as Row[];
        },
        async run(sql, params) {
          direct()
            .prepare(sql)
            .run(...params);
        },
        async dropAppendOnly() {
          direct().exec(
            [
              'entries_no_update',
              'entries_no_delete',
              'postings_no_update',
              'postings_no_delete',
              'accounts_no_delete',
              'bindings_no_delete',
              'bindings_close_only',
            ]
              .map((t) => `DROP TRIGGER IF EXISTS ${t};`)
              .join(' '),
          );
        },
        async close() {
          owner?.close();
          for (const s of stores) await s.close();
        },
      };
    },
    async after() {},
  };
};

const postgresBackend = (): Backend => {
  let db: ScratchDatabase | undefined;
  let n = 0;
  let checkpoints = '';
  return {
    name: 'PostgreSQL',
    async before(context) {
      await requirePostgres(context, 'ledger stores');
      db = await ScratchDatabase.create('prepay_stores');
      checkpoints = scratchDir();
    },
    async harness(integrity = freshIntegrity()) {
      assert.ok(db);
      const scratch = db;
      const schema = `scenario_${++n}`;
      await scratch.query(`CREATE SCHEMA ${schema}`);
      const store = new PostgresLedgerStore(scratch.config(schema), integrity);
      await store.init();
      const stores: PostgresLedgerStore[] = [store];
      let owner: Client | undefined;
      const direct = async (): Promise<Client> => {
        if (!owner) {
          owner = new Client(scratch.config(schema));
          await owner.connect();
        }
        return owner;
      };
      return {
        store,
        integrity,
        checkpointFile: join(checkpoints, `${schema}.checkpoints.jsonl`),
        async another(other = integrity) {
          const next = new PostgresLedgerStore(scratch.config(schema), other);
          await next.init();
          stores.push(next);
          return next;
        },
        async exec(sql) {
          await (await direct()).query(sql);
        },
        async rows(sql) {
          return (await (await direct()).query(sql)).rows as Row[];
        },
        async run(sql, params) {
          let i = 0;
          await (
            await direct()
          ).query(
            sql.replace(/\?/g, () => `$${++i}`),
            params.map((p) => (typeof p === 'bigint' ? p.toString() : p)),
          );
        },
        async dropAppendOnly() {
          await (
            await direct()
          ).query(
            [
              ['entries_append_only', 'entries'],
              ['entries_no_truncate', 'entries'],
              ['postings_append_only', 'postings'],
              ['postings_no_truncate', 'postings'],
              ['accounts_no_delete', 'accounts'],
              ['accounts_no_truncate', 'accounts'],
              ['bindings_no_delete', 'bindings'],
              ['bindings_no_truncate', 'bindings'],
              ['bindings_close_only', 'bindings'],
            ]
              .map(([t, table]) => `DROP TRIGGER IF EXISTS ${t} ON ${table};`)
              .join(' '),
          );
        },
        async close() {
          await owner?.end();
          for (const s of stores) await s.close();
        },
      };
    },
    async after() {
      await db?.drop();
    },
  };
};

const DAY = 86_400_000;

function entriesOf(result: unknown): Array<Record<string, unknown>> {
  return (result as PostingResult).entries;
}

async function rejects(promise: Promise<unknown>, field: string, pattern?: RegExp): Promise<LedgerError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof LedgerError, `expected a LedgerError naming ${field}, got ${String(caught)}`);
  assert.equal(caught.field, field);
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}

for (const backend of [sqliteBackend(), postgresBackend()]) {
  describe(`ledger stores: ${backend.name}`, function () {
    this.timeout(20_000);
    let h: Harness;
    let ledger: Ledger;
    const ledgers: Ledger[] = [];
    /** Set by a scenario that leaves a tampered ledger behind on purpose (no soundness check after it). */
    let tampered = false;

    function newLedger(store: LedgerStore, options: Partial<LedgerOptions> = {}): Ledger {
      const created = new Ledger(store, { clock: new SystemClock(), ...options });
      ledgers.push(created);
      return created;
    }

    before(async function () {
      await backend.before(this);
    });

    after(async function () {
      await backend.after();
    });

    beforeEach(async function () {
      h = await backend.harness();
      ledger = newLedger(h.store);
      tampered = false;
    });

    afterEach(async function () {
      if (!h) return;
      try {
        if (this.currentTest?.state === 'passed' && !tampered) await assertSound(ledger, h.store);
      } finally {
        for (const l of ledgers.splice(0)) l.close();
        await h.close();
      }
    });

    async function openAccount(
      accountId: string,
      extra: Record<string, unknown> = {},
    ): Promise<PostingResult> {
      const { result } = await send(ledger, {
        command: 'open',
        reference: `open-${accountId}`,
        accountId,
        currency: 'GBP',
        tenant: `Tenant ${accountId}`,
        name: `Unit ${accountId}`,
        utilities: ['electricity'],
        ...extra,
      });
      return result as PostingResult;
    }

    it('runs an account from open to close: bind, top-ups, charges, refund, adjust, reverse, statement', async function () {
      const opened = await openAccount('A1', {
        policy: { lowThreshold: 1000, lowHysteresis: 500, debtRecoveryShareBp: 2000 },
        openingDebt: 300,
      });
      assert.equal(opened.state, 'exhausted');
      assert.equal(opened.debt, 300);

      const bound = await send(ledger, {
        command: 'bind',
        reference: 'bind-1',
        meterId: 'M1',
        accountId: 'A1',
      });
      assert.equal(bound.result.meterId, 'M1');

      const t1 = await send(ledger, {
        command: 'topup',
        reference: 'pay-1',
        accountId: 'A1',
        amount: 5000,
        method: 'card',
      });
      assert.equal(t1.duplicate, false);
      assert.deepEqual(
        entriesOf(t1.result).map((e) => [e.kind, e.amount, e.balanceAfter, e.debtAfter]),
        [
          ['topup', 5000, 5000, 300],
          ['debt-recovery', -300, 4700, 0],
        ],
      );
      assert.equal(t1.result.state, 'ok');

      const now = Date.now();
      const c1 = await send(
        ledger,
        {
          readingId: 'M1-0001',
          meterId: 'M1',
          amount: 1_230_000,
          currency: 'GBP',
          breakdown: [],
          to: now,
          quantity: 5.25,
        },
        'charge',
      );
      assert.equal(c1.result.balance, 4700 - 123);
      assert.equal(c1.result.amountSub, 1_230_000);
      assert.equal(c1.result.accountId, 'A1');
      assert.deepEqual(entriesOf(c1.result)[0].meta, {
        meterId: 'M1',
        readingId: 'M1-0001',
        quantity: 5.25,
        amountSub: '1230000',
        breakdown: [],
      });
      // The same reading again (a gateway retry): a no-op returning the original result.
      const again = await send(
        ledger,
        { readingId: 'M1-0001', meterId: 'M1', amount: 1_230_000, currency: 'GBP', breakdown: [], to: now },
        'charge',
      );
      assert.equal(again.duplicate, true);
      assert.deepEqual(again.result, c1.result);
      // Priced again otherwise (a tariff's residue lost in a crash): still that reading, a duplicate that says
      // so; the original stands. From another meter it is another reading: refused, naming both.
      const repriced = await send(
        ledger,
        { readingId: 'M1-0001', meterId: 'M1', amount: 1_230_001, currency: 'GBP', breakdown: [], to: now },
        'charge',
      );
      assert.equal(repriced.duplicate, true);
      assert.deepEqual(repriced.repriced, { original: '1230000', attempted: '1230001' });
      const altered = await rejects(
        send(
          ledger,
          { readingId: 'M1-0001', meterId: 'M9', amount: 99, currency: 'GBP', breakdown: [], to: now },
          'charge',
        ),
        'reference',
        /"charge:M1-0001" was posted before as charge \(accountId A1, meterId M1, amount 1230000, currency GBP\); this one is charge \(meterId M9, amount 99, currency GBP\): meterId differs/,
      );
      assert.equal(altered.code, 'reference-conflict');
      assert.equal((await h.store.getAccount('A1'))?.balance, 4577n);
      const c2 = await send(
        ledger,
        { readingId: 'M1-0002', accountId: 'A1', amount: 4_999, currency: 'GBP', breakdown: [], to: now + 1 },
        'charge',
      );
      assert.equal(c2.result.balance, 4577, 'half a penny rounds to zero (half-even) and is kept for later');
      const c3 = await send(
        ledger,
        { readingId: 'M1-0003', accountId: 'A1', amount: 5_001, currency: 'GBP', breakdown: [], to: now + 2 },
        'charge',
      );
      assert.equal(c3.result.balance, 4576, 'the two halves make a penny');

      const refund = await send(ledger, {
        command: 'refund',
        reference: 'rf-1',
        accountId: 'A1',
        amount: 1000,
        reason: 'overpaid',
      });
      assert.equal(refund.result.balance, 3576);
      await rejects(
        send(ledger, { command: 'refund', reference: 'rf-2', accountId: 'A1', amount: 10_000 }),
        'amount',
        /more than the balance/,
      );

      const adjust = await send(ledger, {
        command: 'adjust',
        reference: 'adj-1',
        accountId: 'A1',
        amount: 250,
        reason: 'goodwill',
      });
      assert.equal(adjust.result.balance, 3826);
      const adjustDebt = await send(ledger, {
        command: 'adjust',
        reference: 'adj-2',
        accountId: 'A1',
        amount: 400,
        register: 'debt',
        reason: 'arrears',
      });
      assert.equal(adjustDebt.result.debt, 400);

      const t2 = await send(ledger, { command: 'topup', reference: 'pay-2', accountId: 'A1', amount: 1000 });
      assert.equal(t2.result.balance, 3826 + 1000 - 200);
      assert.equal(t2.result.debt, 200);
      const reverse = await send(ledger, {
        command: 'reverse',
        reference: 'rev-1',
        accountId: 'A1',
        target: 'pay-2',
        reason: 'chargeback',
      });
      assert.equal(reverse.result.balance, 3826);
      assert.equal(reverse.result.debt, 400);
      await rejects(
        send(ledger, {
          command: 'reverse',
          reference: 'rev-2',
          accountId: 'A1',
          target: 'pay-2',
          reason: 'again',
        }),
        'target',
        /already reversed/,
      );
      await rejects(
        send(ledger, {
          command: 'reverse',
          reference: 'rev-3',
          accountId: 'A1',
          target: 'nope',
          reason: 'x',
        }),
        'target',
      );
      // A retried reversal is the original, not a refusal.
      const reverseAgain = await send(ledger, {
        command: 'reverse',
        reference: 'rev-1',
        accountId: 'A1',
        target: 'pay-2',
        reason: 'chargeback',
      });
      assert.equal(reverseAgain.duplicate, true);

      await rejects(
        send(ledger, { command: 'topup', reference: 'pay-x', accountId: 'A1', amount: 100, currency: 'EUR' }),
        'currency',
      );
      await rejects(
        send(ledger, { command: 'topup', reference: 'pay-y', accountId: 'NOPE', amount: 100 }),
        'accountId',
        /NOPE/,
      );

      const unbound = await send(ledger, { command: 'unbind', reference: 'unbind-1', meterId: 'M1' });
      assert.equal(unbound.result.accountId, 'A1');
      const closed = await send(ledger, { command: 'close', reference: 'close-1', accountId: 'A1' });
      assert.equal(closed.result.state, 'closed');
      assert.deepEqual(entriesOf(closed.result)[0].meta, { finalBalance: '3826', finalDebt: '400' });
      await rejects(
        send(ledger, { command: 'topup', reference: 'pay-3', accountId: 'A1', amount: 100 }),
        'accountId',
        /closed/,
      );
      // A retry of an old posting after the close is still answered with its original result.
      const late = await send(ledger, {
        command: 'topup',
        reference: 'pay-1',
        accountId: 'A1',
        amount: 5000,
      });
      assert.equal(late.duplicate, true);
      assert.deepEqual(late.result, t1.result);

      const statement = await send(ledger, { command: 'statement', accountId: 'A1' });
      const doc = statement.result;
      assert.equal(doc.status, 'closed');
      assert.deepEqual(doc.opening, { balance: 0, debt: 0 });
      assert.deepEqual(doc.closing, { balance: 3826, debt: 400 });
      const kinds = (doc.entries as Array<Record<string, unknown>>).map((e) => e.kind);
      assert.deepEqual(kinds, [
        'open',
        'adjustment',
        'topup',
        'debt-recovery',
        'charge',
        'charge',
        'charge',
        'refund',
        'adjustment',
        'adjustment',
        'topup',
        'debt-recovery',
        'reversal',
        'reversal',
        'close',
      ]);
      assert.deepEqual(doc.totals, {
        open: 0,
        adjustment: 250,
        topup: 6000,
        'debt-recovery': -500,
        charge: -124,
        refund: -1000,
        reversal: -800,
        close: 0,
      });

      // A restarted gateway (a new store and ledger on the same database) sees the same ledger.
      const restarted = newLedger(await h.another());
      const retry = await send(restarted, {
        command: 'topup',
        reference: 'pay-2',
        accountId: 'A1',
        amount: 1000,
      });
      assert.equal(retry.duplicate, true);
      assert.deepEqual(retry.result, t2.result);
      const balance = await send(restarted, { command: 'balance', accountId: 'A1' });
      assert.equal(balance.result.balance, 3826);
      assert.equal(balance.result.state, 'closed');
    });

    it('moves a meter out: charges after the move-out fail naming the meter, earlier ones still post', async function () {
      await openAccount('OLD');
      await openAccount('NEW');
      await send(ledger, { command: 'topup', reference: 'old-pay', accountId: 'OLD', amount: 2000 });
      await send(ledger, { command: 'topup', reference: 'new-pay', accountId: 'NEW', amount: 2000 });
      const boundAt = Date.now();
      await send(ledger, {
        command: 'bind',
        reference: 'bind-old',
        meterId: 'M7',
        accountId: 'OLD',
        from: boundAt - 10 * 60_000,
      });
      await rejects(
        send(ledger, { command: 'bind', reference: 'bind-dup', meterId: 'M7', accountId: 'NEW' }),
        'meterId',
        /bound to account "OLD".*unbind it first/,
      );
      const during = await send(
        ledger,
        {
          readingId: 'M7-1',
          meterId: 'M7',
          amount: 1_000_000,
          currency: 'GBP',
          breakdown: [],
          to: boundAt - 60_000,
        },
        'charge',
      );
      assert.equal(during.result.accountId, 'OLD');
      const movedOut = await send(ledger, {
        command: 'unbind',
        reference: 'move-out',
        meterId: 'M7',
        at: boundAt,
      });
      assert.equal(movedOut.result.to, boundAt);

      const error = await rejects(
        send(
          ledger,
          {
            readingId: 'M7-2',
            meterId: 'M7',
            amount: 1_000_000,
            currency: 'GBP',
            breakdown: [],
            to: boundAt + 60_000,
          },
          'charge',
        ),
        'meterId',
        /M7/,
      );
      assert.equal(error.code, 'unbound');
      await rejects(
        send(ledger, { command: 'unbind', reference: 'move-out-2', meterId: 'M7' }),
        'meterId',
        /M7/,
      );
      // A reading from before the move-out, arriving late, still goes to the old tenant.
      const lateReading = await send(
        ledger,
        {
          readingId: 'M7-3',
          meterId: 'M7',
          amount: 500_000,
          currency: 'GBP',
          breakdown: [],
          to: boundAt - 1,
        },
        'charge',
      );
      assert.equal(lateReading.result.accountId, 'OLD');
      assert.equal(lateReading.result.balance, 2000 - 100 - 50);

      // The next tenant moves in; the meter now charges the new account.
      await send(ledger, {
        command: 'bind',
        reference: 'bind-new',
        meterId: 'M7',
        accountId: 'NEW',
        from: boundAt + 120_000,
      });
      const after = await send(
        ledger,
        {
          readingId: 'M7-4',
          meterId: 'M7',
          amount: 2_000_000,
          currency: 'GBP',
          breakdown: [],
          to: boundAt + 180_000,
        },
        'charge',
      );
      assert.equal(after.result.accountId, 'NEW');
      assert.equal(after.result.balance, 1800);
      // Still nobody's meter between move-out and move-in.
      await rejects(
        send(
          ledger,
          {
            readingId: 'M7-5',
            meterId: 'M7',
            amount: 1,
            currency: 'GBP',
            breakdown: [],
            to: boundAt + 90_000,
          },
          'charge',
        ),
        'meterId',
      );
      const bindings = await h.store.bindingsOf('OLD');
      assert.deepEqual(
        bindings.map((b) => [b.meterId, b.from, b.to]),
        [['M7', boundAt - 10 * 60_000, boundAt]],
      );
    });

    it('keeps message order within a group commit: bind, charges, unbind and a late charge sent at once', async function () {
      await openAccount('G1');
      await send(ledger, { command: 'topup', reference: 'g-pay', accountId: 'G1', amount: 10_000 });
      const t = Date.now();
      const inFlight = [
        send(ledger, {
          command: 'bind',
          reference: 'g-bind',
          meterId: 'GM',
          accountId: 'G1',
          from: t - 1000,
        }),
        send(
          ledger,
          { readingId: 'GM-1', meterId: 'GM', amount: 1_000_000, currency: 'GBP', breakdown: [], to: t },
          'charge',
        ),
        send(
          ledger,
          { readingId: 'GM-2', meterId: 'GM', amount: 1_000_000, currency: 'GBP', breakdown: [], to: t + 1 },
          'charge',
        ),
        send(ledger, { command: 'unbind', reference: 'g-unbind', meterId: 'GM', at: t + 2 }),
        send(
          ledger,
          { readingId: 'GM-3', meterId: 'GM', amount: 1_000_000, currency: 'GBP', breakdown: [], to: t + 3 },
          'charge',
        ),
      ];
      const settled = await Promise.allSettled(inFlight);
      assert.deepEqual(
        settled.map((s) => s.status),
        ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected'],
      );
      const last = settled[4];
      assert.ok(
        last.status === 'rejected' && last.reason instanceof LedgerError && last.reason.field === 'meterId',
      );
      assert.equal((await h.store.getAccount('G1'))?.balance, 9800n);
    });

    it('refuses a negative charge: nothing posted, the reading id not used up', async function () {
      await openAccount('N1');
      await send(ledger, { command: 'topup', reference: 'n-pay-1', accountId: 'N1', amount: 1000 });
      const charge = {
        readingId: 'N1-E:1',
        accountId: 'N1',
        amount: 250_000,
        quantity: '1',
        currency: 'GBP',
        breakdown: [{ component: 'energy', amount: 250_000 }],
        to: Date.now(),
      };
      // As a message (refused when it is read) and as a request built by code (refused by the rule).
      const attempt = (payload: Record<string, unknown>): Promise<unknown> =>
        Promise.resolve().then(() => send(ledger, payload, 'charge'));
      await rejects(attempt({ ...charge, amount: -50_000_000 }), 'amount', /must not be negative/);
      await rejects(
        attempt({ ...charge, breakdown: [{ component: 'energy', amount: -1 }] }),
        'breakdown[0].amount',
      );
      await rejects(attempt({ ...charge, quantity: '-1' }), 'quantity');
      const built = readRequest('charge', charge);
      assert.ok(built.command === 'charge');
      await rejects(ledger.execute({ ...built, amountSub: -50_000_000n }), 'amount', /must not be negative/);
      assert.equal((await h.store.getAccount('N1'))?.balance, 1000n);
      assert.equal(await h.store.getPosting('charge:N1-E:1'), undefined);
      assert.deepEqual(await h.store.entriesByReference('charge:N1-E:1'), []);
      const posted = await send(ledger, charge, 'charge');
      assert.equal(posted.duplicate, false);
      assert.equal((await h.store.getAccount('N1'))?.balance, 1000n - 25n);
    });

    it('answers a reused reference: the same request is a duplicate, other content a conflict naming both', async function () {
      await openAccount('K1');
      await openAccount('K2');
      const conflict = async (
        payload: Record<string, unknown>,
        original: string,
        attempted: string,
        topic?: string,
      ): Promise<void> => {
        const before = await Promise.all(['K1', 'K2'].map((id) => h.store.entriesOf(id)));
        const error = await rejects(
          Promise.resolve().then(() => send(ledger, payload, topic)),
          'reference',
          new RegExp(`was posted before as ${original}; this one is ${attempted}: `),
        );
        assert.equal(error.code, 'reference-conflict');
        const after = await Promise.all(['K1', 'K2'].map((id) => h.store.entriesOf(id)));
        assert.deepEqual(after, before, `${String(payload.reference ?? payload.readingId)}: nothing posted`);
      };
      const same = async (payload: Record<string, unknown>, topic?: string): Promise<void> => {
        const answer = await send(ledger, payload, topic);
        assert.equal(answer.duplicate, true, JSON.stringify(payload));
      };

      // A payment: the provider's retry is a duplicate; the same id with another amount or account is not.
      const pay = {
        command: 'topup',
        reference: 'pay:pi_77',
        accountId: 'K1',
        amount: 1250,
        currency: 'GBP',
      };
      await send(ledger, pay);
      await same(pay);
      await same({ ...pay, amount: '1250', method: 'card' });
      await conflict(
        { ...pay, amount: 9999 },
        String.raw`topup \(accountId K1, amount 1250, currency GBP\)`,
        String.raw`topup \(accountId K1, amount 9999, currency GBP\)`,
      );
      await conflict(
        { ...pay, accountId: 'K2' },
        'topup .*',
        String.raw`topup \(accountId K2, amount 1250, currency GBP\)`,
      );
      // To an account that does not exist: still the conflict (the reference is taken), not "unknown account".
      await conflict({ ...pay, accountId: 'NOPE' }, 'topup .*', String.raw`topup \(accountId NOPE, .*`);
      await conflict({ ...pay, currency: 'EUR' }, 'topup .*', String.raw`topup .*currency EUR\)`);
      await conflict({ ...pay, command: 'refund' }, 'topup .*', 'refund .*');

      const refund = { command: 'refund', reference: 'rf-77', accountId: 'K1', amount: 50 };
      await send(ledger, refund);
      await same({ ...refund, reason: 'said twice' });
      await conflict({ ...refund, amount: 60 }, 'refund .*amount 50.*', 'refund .*amount 60.*');

      const adjust = { command: 'adjust', reference: 'adj-77', accountId: 'K1', amount: -20, reason: 'x' };
      await send(ledger, adjust);
      await same(adjust);
      await conflict({ ...adjust, amount: 20 }, 'adjust .*amount -20.*', 'adjust .*amount 20.*');
      await conflict(
        { ...adjust, register: 'debt' },
        'adjust .*register balance.*',
        'adjust .*register debt.*',
      );

      const reverse = {
        command: 'reverse',
        reference: 'rv-77',
        accountId: 'K1',
        target: 'adj-77',
        reason: 'x',
      };
      await send(ledger, reverse);
      await same(reverse);
      await conflict(
        { ...reverse, target: 'rf-77' },
        'reverse .*target adj-77.*',
        'reverse .*target rf-77.*',
      );

      const bind = { command: 'bind', reference: 'bind-77', meterId: 'KM', accountId: 'K1', from: 1000 };
      await send(ledger, bind);
      await same(bind);
      await conflict({ ...bind, accountId: 'K2' }, 'bind .*accountId K1.*', 'bind .*accountId K2.*');
      await conflict({ ...bind, meterId: 'KX' }, 'bind .*meterId KM.*', 'bind .*meterId KX.*');

      const now = Date.now();
      const charge = {
        readingId: 'KM:1',
        meterId: 'KM',
        amount: 250_000,
        currency: 'GBP',
        breakdown: [],
        to: now,
      };
      await send(ledger, charge, 'charge');
      await same(charge, 'charge');
      await same({ ...charge, accountId: 'K1' }, 'charge');
      await same({ ...charge, amount: 1 }, 'charge'); // priced otherwise: the same reading (see repricedCharge)
      await conflict(
        { ...charge, meterId: 'KZ' },
        'charge .*meterId KM.*',
        'charge .*meterId KZ.*',
        'charge',
      );
      await conflict(
        { ...charge, accountId: 'K2' },
        'charge .*accountId K1.*',
        'charge .*accountId K2.*',
        'charge',
      );

      const unbind = { command: 'unbind', reference: 'unbind-77', meterId: 'KM', at: now + 1 };
      await send(ledger, unbind);
      await same(unbind);
      await conflict({ ...unbind, at: now + 2 }, 'unbind .*', 'unbind .*', undefined);

      const close = { command: 'close', reference: 'close-77', accountId: 'K2' };
      await send(ledger, close);
      await same(close);
      await conflict(
        { ...close, accountId: 'K1' },
        String.raw`close \(accountId K2, currency GBP\)`,
        String.raw`close \(accountId K1\)`,
      );

      // Two deliveries of one payment id with different amounts in one group commit: one is posted, the
      // other refused as a conflict (found by the store inside the same transaction).
      const race = await Promise.allSettled([
        send(ledger, { command: 'topup', reference: 'pay:pi_race', accountId: 'K1', amount: 100 }),
        send(ledger, { command: 'topup', reference: 'pay:pi_race', accountId: 'K1', amount: 200 }),
      ]);
      assert.deepEqual(
        race.map((r) => r.status),
        ['fulfilled', 'rejected'],
      );
      assert.equal(((race[1] as PromiseRejectedResult).reason as LedgerError).code, 'reference-conflict');
      const credits = (await h.store.entriesOf('K1')).filter((e) => e.kind === 'topup');
      assert.deepEqual(
        credits.map((e) => [e.reference, e.amount]),
        [
          ['pay:pi_77', 1250n],
          ['pay:pi_race', 100n],
        ],
      );
      assert.equal((await h.store.getAccount('K2'))?.balance, 0n);
    });

    it('posts many commands in flight through group commit, duplicates included, exactly once', async function () {
      await openAccount('P1');
      await openAccount('P2');
      const work: Array<Promise<unknown>> = [];
      for (let i = 0; i < 60; i++) {
        const accountId = i % 2 === 0 ? 'P1' : 'P2';
        // pay-0 .. pay-19 come twice (a provider's retries, the same request): posted once each.
        work.push(
          send(ledger, { command: 'topup', reference: `pay-${i % 40}`, accountId, amount: 100 + (i % 40) }),
        );
        work.push(
          send(
            ledger,
            {
              readingId: `r-${i}`,
              accountId,
              amount: 10_000,
              currency: 'GBP',
              breakdown: [],
              to: Date.now(),
            },
            'charge',
          ),
        );
      }
      const responses = (await Promise.all(work)) as Array<{ duplicate: boolean }>;
      assert.equal(responses.filter((r) => r.duplicate).length, 20);
      const rows = await h.rows("SELECT COUNT(*) AS n FROM postings WHERE command = 'topup'");
      assert.equal(Number(rows[0].n), 40);
      let expected = 0n;
      for (let i = 0; i < 40; i++) expected += BigInt(100 + i);
      const p1 = await h.store.getAccount('P1');
      const p2 = await h.store.getAccount('P2');
      assert.ok(p1 && p2);
      assert.equal(p1.balance + p2.balance, expected - 60n);
    });

    it('takes a replay of readings already posted, mixed with new ones, in one go: duplicates answered, none refused', async function () {
      await openAccount('RP');
      const reading = (i: number): Record<string, unknown> => ({
        readingId: `RP-${i}`,
        accountId: 'RP',
        amount: 10_000,
        currency: 'GBP',
        breakdown: [],
        to: Date.now(),
      });
      const first = await Promise.all(
        Array.from({ length: 150 }, (_, i) => send(ledger, reading(i), 'charge')),
      );
      assert.ok(first.every((r) => !r.duplicate));
      // A gateway reconnects and replays its buffer: the 150 old readings interleaved with 50 new ones.
      const replay: number[] = [];
      for (let i = 0; i < 150; i++) {
        replay.push(i);
        if (i % 3 === 0) replay.push(150 + i / 3);
      }
      const answers = await Promise.allSettled(replay.map((i) => send(ledger, reading(i), 'charge')));
      const refused = answers.filter((a) => a.status === 'rejected').map((a) => String(a.reason));
      assert.deepEqual(refused, [], 'nothing refused');
      const values = answers.map((a) => (a as PromiseFulfilledResult<{ duplicate: boolean }>).value);
      assert.equal(values.filter((v) => v.duplicate).length, 150);
      assert.equal((await h.store.getAccount('RP'))?.balance, -200n);
    });

    it('finds a reference posted before by its rows, in a group of new postings: answered, the others posted once', async function () {
      await openAccount('D1');
      await send(ledger, {
        command: 'bind',
        reference: 'd-bind',
        meterId: 'DM',
        accountId: 'D1',
        from: 1000,
      });
      await send(ledger, { command: 'topup', reference: 'd-pay-1', accountId: 'D1', amount: 100 });
      const before = (await h.store.getAccount('D1'))!.version;
      // Sent together: one group. The retry of d-pay-1 is prepared on the account as it stands, so only its
      // entry collides with the earlier one; the payment reusing the bind's reference (a posting without
      // entries) collides only by its postings record.
      const answers = await Promise.allSettled([
        send(ledger, { command: 'topup', reference: 'd-pay-2', accountId: 'D1', amount: 200 }),
        send(ledger, { command: 'topup', reference: 'd-pay-1', accountId: 'D1', amount: 100 }),
        send(ledger, { command: 'topup', reference: 'd-bind', accountId: 'D1', amount: 400 }),
        send(ledger, { command: 'topup', reference: 'd-pay-3', accountId: 'D1', amount: 800 }),
      ]);
      assert.deepEqual(
        answers.map((a) => (a.status === 'fulfilled' ? a.value.duplicate : (a.reason as LedgerError).code)),
        [false, true, 'reference-conflict', false],
      );
      const account = (await h.store.getAccount('D1'))!;
      assert.equal(account.balance, 1100n);
      assert.equal(account.version, before + 2, 'two postings moved the account');
      assert.deepEqual(
        (await h.store.entriesOf('D1')).filter((e) => e.kind === 'topup').map((e) => e.reference),
        ['d-pay-1', 'd-pay-2', 'd-pay-3'],
      );
      const rows = await h.rows("SELECT command FROM postings WHERE reference = 'd-bind'");
      assert.deepEqual(
        rows.map((r) => r.command),
        ['bind'],
      );
    });

    it('two writers on one account: a group prepared on a stale cache is retried whole, never half-applied', async function () {
      // Two ledger services on one database (two ledger nodes on one store, or two gateways).
      const other = newLedger(await h.another());
      await openAccount('W1');
      await send(ledger, { command: 'topup', reference: 'w-pay-0', accountId: 'W1', amount: 1000 });
      // `ledger` now caches W1; `other` moves it on by one version behind its back.
      await send(other, { command: 'topup', reference: 'w-pay-other', accountId: 'W1', amount: 1 });
      // Two postings in one group, prepared from the stale cache: the first is stale, and the second,
      // prepared on top of it, carries the very version number the account now has.
      const [a, b] = await Promise.all([
        send(ledger, { command: 'topup', reference: 'w-pay-1', accountId: 'W1', amount: 10 }),
        send(ledger, { command: 'topup', reference: 'w-pay-2', accountId: 'W1', amount: 100 }),
      ]);
      assert.equal(a.result.balance, 1011);
      assert.equal(b.result.balance, 1111);
      const account = await h.store.getAccount('W1');
      assert.equal(account?.balance, 1111n);
      assert.deepEqual(
        (await h.store.entriesOf('W1')).map((e) => [e.reference, e.amount]),
        [
          ['open-W1', 0n],
          ['w-pay-0', 1000n],
          ['w-pay-other', 1n],
          ['w-pay-1', 10n],
          ['w-pay-2', 100n],
        ],
      );
    });

    it('refuses one posting of a group in the store and commits the rest, leaving nothing of the refused one', async function () {
      // What a second writer's group looks like when the store refuses part of it: an open of an account
      // that exists by now, and a bind of a meter that is bound by now (refused after the account row
      // was written). The store must answer each and keep the rest of the group.
      await openAccount('R1');
      await send(ledger, { command: 'bind', reference: 'r-bind', meterId: 'RM', accountId: 'R1' });
      const r1 = (await h.store.getAccount('R1'))!;
      const result = (reference: string, accountId: string): PostingResult => ({
        ok: true,
        command: 'x',
        reference,
        accountId,
        entries: [],
      });
      const postedAt = Date.now();
      const outcomes = await h.store.apply([
        {
          reference: 'r-open-again',
          command: 'open',
          accountId: 'R1',
          account: { ...r1, balance: 999n, version: 1 },
          expectedVersion: 0,
          entries: [],
          result: result('r-open-again', 'R1'),
          postedAt,
        },
        {
          reference: 'r-open-2',
          command: 'open',
          accountId: 'R2',
          account: { ...r1, id: 'R2', seq: 0, version: 1 },
          expectedVersion: 0,
          entries: [],
          result: result('r-open-2', 'R2'),
          postedAt,
        },
        {
          reference: 'r-bind-again',
          command: 'bind',
          accountId: 'R2',
          account: { ...r1, id: 'R2', seq: 0, balance: 777n, version: 2 },
          expectedVersion: 1,
          entries: [],
          bindings: { add: { meterId: 'RM', accountId: 'R2', from: postedAt, reference: 'r-bind-again' } },
          result: result('r-bind-again', 'R2'),
          postedAt,
        },
      ]);
      assert.deepEqual(
        outcomes.map((o) => o.status),
        ['rejected', 'applied', 'rejected'],
      );
      assert.equal((await h.store.getAccount('R1'))?.balance, r1.balance);
      const r2 = await h.store.getAccount('R2');
      assert.equal(r2?.balance, r1.balance, 'the refused bind left the account row as the open wrote it');
      assert.equal(r2?.version, 1);
      assert.deepEqual(await h.store.entriesByReference('r-open-again'), []);
      assert.deepEqual(
        (await h.store.bindingsOf('R2')).map((b) => b.meterId),
        [],
        'the refused bind added no binding',
      );
      // R2 was written by hand above, without the ledger's entries: close it out of the soundness check
      // (as the database owner: accounts and postings refuse deletes).
      await h.dropAppendOnly();
      await h.exec("DELETE FROM postings WHERE reference = 'r-open-2'");
      await h.exec("DELETE FROM accounts WHERE id = 'R2'");
    });

    it('migrates once: schema_migrations holds every migration’s version, and initialising again changes nothing', async function () {
      await openAccount('M1');
      const before = await h.rows('SELECT version, applied_at FROM schema_migrations ORDER BY version');
      const migrations = (h.store.kind === 'sqlite' ? SQLITE_MIGRATIONS : POSTGRES_MIGRATIONS).map(
        (m) => m.version,
      );
      assert.deepEqual(
        before.map((r) => Number(r.version)),
        migrations,
      );
      // Two more stores (gateways restarting together) initialise the same database at once.
      const [again] = await Promise.all([h.another(), h.another()]);
      const after = await h.rows('SELECT version, applied_at FROM schema_migrations ORDER BY version');
      assert.deepEqual(
        after.map((r) => [Number(r.version), String(r.applied_at)]),
        before.map((r) => [Number(r.version), String(r.applied_at)]),
      );
      assert.ok(await again.getAccount('M1'), 'data kept');
      const version =
        again instanceof SqliteLedgerStore
          ? again.schemaVersion()
          : await (again as PostgresLedgerStore).schemaVersion();
      assert.equal(version, migrations[migrations.length - 1]);
    });

    it('keeps the supply audit log: idempotent by reference, filtered by meter and time, append-only', async function () {
      const record = (reference: string, at: number, meterId: string, action: string) => ({
        reference,
        at,
        kind: 'command' as const,
        meterId,
        accountId: 'T1',
        action,
        reason: 'credit exhausted and grace period over',
        policy: 'uk-friendly',
        detail: { confirmed: true },
      });
      await h.store.appendAudit([
        record('cmd-1', 1000, 'E-1', 'disconnect'),
        record('cmd-2', 2000, 'E-2', 'disconnect'),
      ]);
      await h.store.appendAudit([
        record('cmd-1', 1000, 'E-1', 'disconnect'),
        record('cmd-3', 3000, 'E-1', 'connect'),
      ]);
      await h.store.appendAudit([
        {
          reference: 'ovr-1',
          at: 2500,
          kind: 'override',
          meterId: 'E-1',
          action: 'connect',
          reason: 'medical equipment',
          actor: 'ops',
        },
      ]);
      const all = await h.store.auditLog();
      assert.deepEqual(
        all.map((r) => r.reference),
        ['cmd-1', 'cmd-2', 'ovr-1', 'cmd-3'],
      );
      assert.deepEqual(all[0], record('cmd-1', 1000, 'E-1', 'disconnect'));
      assert.equal(all[2]!.actor, 'ops');
      assert.deepEqual(
        (await h.store.auditLog({ meterId: 'E-1', from: 1500 })).map((r) => r.reference),
        ['ovr-1', 'cmd-3'],
      );
      await assert.rejects(h.exec("UPDATE supply_audit SET reason = 'x'"), /append-only/);
      await assert.rejects(h.exec('DELETE FROM supply_audit'), /append-only/);
    });

    it('refuses UPDATE and DELETE of entries in the database itself (append-only)', async function () {
      await openAccount('AO');
      await send(ledger, { command: 'topup', reference: 'ao-pay', accountId: 'AO', amount: 700 });
      for (const sql of [
        "UPDATE entries SET amount = amount + 1 WHERE account_id = 'AO'",
        "UPDATE entries SET meta = meta WHERE account_id = 'AO' AND seq = 1",
        "DELETE FROM entries WHERE account_id = 'AO' AND seq = 2",
        'DELETE FROM entries',
      ]) {
        await assert.rejects(h.exec(sql), /append-only/, sql);
      }
      if (backend.name === 'PostgreSQL') await assert.rejects(h.exec('TRUNCATE entries'), /append-only/);
      const rows = await h.rows("SELECT COUNT(*) AS n FROM entries WHERE account_id = 'AO'");
      assert.equal(Number(rows[0].n), 2);
    });

    it('detects tampering once the triggers are dropped: an edited amount, a deleted middle row, a deleted last row', async function () {
      await openAccount('T1');
      await openAccount('T2');
      for (let i = 1; i <= 4; i++) {
        await send(ledger, { command: 'topup', reference: `t1-${i}`, accountId: 'T1', amount: 1000 * i });
        await send(ledger, { command: 'topup', reference: `t2-${i}`, accountId: 'T2', amount: 1000 * i });
      }
      assert.ok((await ledger.verify()).every((r) => r.ok));
      await h.dropAppendOnly();
      await h.exec('CREATE TABLE entries_backup AS SELECT * FROM entries');
      const restore = async (): Promise<void> => {
        await h.exec('DELETE FROM entries');
        await h.exec('INSERT INTO entries SELECT * FROM entries_backup');
        assert.ok(
          (await ledger.verify()).every((r) => r.ok),
          'restored',
        );
      };
      const problems = async (): Promise<string[]> => {
        const response = await send(ledger, { command: 'verify' });
        assert.equal(response.result.ok, false);
        const accounts = response.result.accounts as Array<{
          accountId: string;
          ok: boolean;
          problems: string[];
        }>;
        assert.deepEqual(
          accounts.map((a) => [a.accountId, a.ok]),
          [
            ['T1', false],
            ['T2', true],
          ],
          'only the tampered account fails',
        );
        return accounts[0].problems;
      };

      await h.exec("UPDATE entries SET amount = amount + 100 WHERE account_id = 'T1' AND seq = 3");
      const edited = await problems();
      assert.ok(
        edited.some((p) => /entry 3 .*edited/.test(p)),
        edited.join('\n'),
      );
      assert.ok(edited.some((p) => /entries sum to/.test(p)));
      await restore();

      await h.exec('UPDATE entries SET meta = \'{"method":"forged"}\' WHERE account_id = \'T1\' AND seq = 2');
      assert.ok((await problems()).some((p) => /entry 2 .*edited/.test(p)));
      await restore();

      await h.exec("DELETE FROM entries WHERE account_id = 'T1' AND seq = 3");
      const middle = await problems();
      assert.ok(
        middle.some((p) => /missing/.test(p)),
        middle.join('\n'),
      );
      assert.ok(middle.some((p) => /previous entry's hash/.test(p)));
      await restore();

      await h.exec("DELETE FROM entries WHERE account_id = 'T1' AND seq = 5");
      const last = await problems();
      assert.ok(
        last.some((p) => /records 5 entries, found 4/.test(p)),
        last.join('\n'),
      );
      assert.ok(last.some((p) => /last entry is not the one/.test(p)));
      assert.ok(last.some((p) => /account balance 10000 but entries sum to 6000/.test(p)));
      await restore();

      const one = await send(ledger, { command: 'verify', accountId: 'T1' });
      assert.equal(one.result.ok, true);
      await h.exec('DROP TABLE entries_backup');
    });

    /** Starts this scenario's checkpoint log (as a prepay-store node does when it starts) with a first line. */
    async function startCheckpoints(): Promise<Record<string, unknown>> {
      h.integrity.log = new CheckpointFile(h.checkpointFile);
      return checkpoint(ledger);
    }

    async function checkpoint(by: Ledger): Promise<Record<string, unknown>> {
      return (await send(by, { command: 'checkpoint' })).result as Record<string, unknown>;
    }

    /** verify's problems per account, through the ledger command as a flow would ask. */
    async function verified(by: Ledger = ledger): Promise<Map<string, string[]>> {
      const { result } = await send(by, { command: 'verify' });
      const accounts = result.accounts as Array<{ accountId: string; ok: boolean; problems: string[] }>;
      assert.equal(
        result.ok,
        accounts.every((a) => a.ok),
      );
      return new Map(accounts.map((a) => [a.accountId, a.problems]));
    }

    function hasProblem(problems: string[] | undefined, pattern: RegExp): void {
      assert.ok(
        problems?.some((p) => pattern.test(p)),
        `${String(pattern)} among:\n${(problems ?? ['(no report)']).join('\n')}`,
      );
    }

    /**
     * The attacker who owns the database and knows the chain's algorithm (it is in this package):
     * edits an account's entries, recomputes every hash and register after the edit, and moves the
     * account to match. Nothing the chain alone can see.
     */
    async function rewriteChain(accountId: string, edit: (entries: EntryRecord[]) => void): Promise<void> {
      const entries = await h.store.entriesOf(accountId);
      edit(entries);
      let previous = genesisHash(accountId);
      let balance = 0n;
      let debt = 0n;
      for (const e of entries) {
        balance += e.amount;
        debt += e.debtDelta;
        e.prevHash = previous;
        e.balanceAfter = balance;
        e.debtAfter = debt;
        e.hash = entryHash(e);
        previous = e.hash;
        await h.run(
          `UPDATE entries SET amount = ?, debt_delta = ?, balance_after = ?, debt_after = ?, prev_hash = ?, hash = ?
           WHERE account_id = ? AND seq = ?`,
          [e.amount, e.debtDelta, e.balanceAfter, e.debtAfter, e.prevHash, e.hash, accountId, e.seq],
        );
      }
      await h.run('UPDATE accounts SET balance = ?, debt = ?, last_hash = ? WHERE id = ?', [
        balance,
        debt,
        previous,
        accountId,
      ]);
      assert.ok(verifyChain((await h.store.getAccount(accountId))!, await h.store.entriesOf(accountId)).ok);
    }

    /** The same attacker removing an account's last entries and rolling the account back to match. */
    async function truncateChain(accountId: string, keep: number): Promise<void> {
      const last = (await h.store.entriesOf(accountId))[keep - 1]!;
      await h.run('DELETE FROM entries WHERE account_id = ? AND seq > ?', [accountId, keep]);
      await h.run('UPDATE accounts SET seq = ?, balance = ?, debt = ?, last_hash = ? WHERE id = ?', [
        keep,
        last.balanceAfter,
        last.debtAfter,
        last.hash,
        accountId,
      ]);
      assert.ok(verifyChain((await h.store.getAccount(accountId))!, await h.store.entriesOf(accountId)).ok);
    }

    it('refuses changes to postings, accounts and bindings in the database itself; a binding can only be closed, once', async function () {
      await openAccount('P1');
      await send(ledger, { command: 'bind', reference: 'p-bind', meterId: 'PM1', accountId: 'P1' });
      await send(ledger, { command: 'topup', reference: 'p-pay', accountId: 'P1', amount: 700 });
      for (const sql of [
        "DELETE FROM postings WHERE reference = 'p-pay'",
        'DELETE FROM postings',
        "UPDATE postings SET posted_at = 0 WHERE reference = 'p-pay'",
        "DELETE FROM accounts WHERE id = 'P1'",
        "DELETE FROM bindings WHERE meter_id = 'PM1'",
        "UPDATE bindings SET account_id = 'P2' WHERE meter_id = 'PM1'",
        "UPDATE bindings SET valid_from = 0 WHERE meter_id = 'PM1'",
        "UPDATE bindings SET valid_to = valid_from - 1 WHERE meter_id = 'PM1'",
      ]) {
        await assert.rejects(h.exec(sql), /append-only|never deleted|only be closed/, sql);
      }
      if (backend.name === 'PostgreSQL') {
        for (const table of ['postings', 'accounts', 'bindings'])
          await assert.rejects(h.exec(`TRUNCATE ${table} CASCADE`), /append-only|never deleted/, table);
      }
      // The move-out is the one change: allowed, and only once.
      await send(ledger, { command: 'unbind', reference: 'p-unbind', meterId: 'PM1' });
      await assert.rejects(
        h.exec("UPDATE bindings SET valid_to = NULL WHERE meter_id = 'PM1'"),
        /only be closed/,
      );
      await assert.rejects(
        h.exec("UPDATE bindings SET valid_to = valid_to + 1 WHERE meter_id = 'PM1'"),
        /only be closed/,
      );
      assert.equal((await h.store.bindingsOf('P1')).length, 1);
      // The payment, retried, is still a duplicate.
      const retry = await send(ledger, {
        command: 'topup',
        reference: 'p-pay',
        accountId: 'P1',
        amount: 700,
      });
      assert.equal(retry.duplicate, true);
      assert.equal((await h.store.getAccount('P1'))?.balance, 700n);
    });

    it('never credits a retried payment twice after the database owner deletes its postings record; verify names it', async function () {
      await openAccount('R1');
      await openAccount('R2');
      await send(ledger, { command: 'topup', reference: 'r-pay', accountId: 'R1', amount: 1000 });
      await h.dropAppendOnly();
      await h.exec("DELETE FROM postings WHERE reference = 'r-pay'");
      // After a restart (nothing cached), the payment provider retries.
      const restarted = newLedger(await h.another());
      await rejects(
        send(restarted, { command: 'topup', reference: 'r-pay', accountId: 'R1', amount: 1000 }),
        'reference',
        /postings record is missing.*not posted again/,
      );
      assert.equal((await h.store.getAccount('R1'))?.balance, 1000n, 'credited once');
      assert.equal((await h.store.entriesOf('R1')).length, 2);
      // Other postings go on.
      await send(restarted, { command: 'topup', reference: 'r2-pay', accountId: 'R2', amount: 50 });
      const problems = await verified(restarted);
      hasProblem(problems.get('R1'), /entries of "r-pay" have no postings record/);
      assert.deepEqual(problems.get('R2'), []);
      // An owner who also drops the index that keeps a reference's entries unique gets the payment
      // credited again; verify names it.
      await h.exec('DROP INDEX entries_reference_part');
      await send(restarted, { command: 'topup', reference: 'r-pay', accountId: 'R1', amount: 1000 });
      assert.equal((await h.store.getAccount('R1'))?.balance, 2000n);
      hasProblem((await verified(restarted)).get('R1'), /entry 3 \(topup r-pay\): reference posted twice/);
      tampered = true;
    });

    it('finds an entry rewritten by the database owner with the whole chain re-hashed: its seal', async function () {
      await openAccount('S1');
      await openAccount('S2');
      for (let i = 1; i <= 4; i++) {
        await send(ledger, { command: 'topup', reference: `s1-${i}`, accountId: 'S1', amount: 1000 * i });
        await send(ledger, { command: 'topup', reference: `s2-${i}`, accountId: 'S2', amount: 1000 * i });
      }
      await h.dropAppendOnly();
      // A top-up of 20.00 becomes 90.00; the chain and the account agree with it afterwards.
      await rewriteChain('S1', (entries) => {
        entries[2]!.amount += 7000n;
      });
      assert.equal((await h.store.getAccount('S1'))?.balance, 17_000n);
      let problems = await verified();
      for (const seq of [3, 4, 5])
        hasProblem(problems.get('S1'), new RegExp(`entry ${seq} .*seal does not match`));
      assert.deepEqual(problems.get('S2'), [], 'only the tampered account fails');
      // Removing the seals instead: an unsealed entry is refused as well.
      await h.exec("UPDATE entries SET seal = NULL WHERE account_id = 'S1'");
      problems = await verified();
      hasProblem(problems.get('S1'), /entry 3 .*not sealed/);
      tampered = true;
    });

    it('finds entries removed from the end by the database owner with the account rolled back: the checkpoint', async function () {
      await openAccount('C1');
      await openAccount('C2');
      for (let i = 1; i <= 4; i++)
        await send(ledger, { command: 'topup', reference: `c1-${i}`, accountId: 'C1', amount: 1000 * i });
      const first = await startCheckpoints();
      assert.equal(first.ok, true);
      assert.equal(first.line, 1);
      assert.equal(first.accounts, 2);
      assert.equal(first.keyId, h.integrity.keyring.current?.id);
      await h.dropAppendOnly();
      await h.exec("DELETE FROM postings WHERE reference = 'c1-4'");
      await truncateChain('C1', 4);
      assert.equal((await h.store.getAccount('C1'))?.balance, 6000n);
      let problems = await verified();
      hasProblem(
        problems.get('C1'),
        /account has 4 entries but checkpoint 1 recorded 5: entries removed and the account rolled back/,
      );
      assert.deepEqual(problems.get('C2'), []);
      // A checkpoint now will not record the rolled-back account: it keeps what the last one said.
      const second = await checkpoint(ledger);
      assert.equal(second.ok, false);
      assert.equal(second.line, 2);
      assert.deepEqual(
        (second.refused as Array<{ accountId: string }>).map((r) => r.accountId),
        ['C1'],
      );
      problems = await verified();
      hasProblem(problems.get('C1'), /checkpoint 2 recorded 5: entries removed/);
      tampered = true;
    });

    it('checkpoints and verifies while payments post to the same accounts: nothing refused, nothing reported', async function () {
      for (const id of ['K1', 'K2', 'K3']) await openAccount(id);
      await startCheckpoints();
      // Postings keep landing on every account while the checkpoints and verifies read them: each
      // account must be read as of one moment, or its count, last entry and registers disagree.
      let posting = true;
      const payments = (async () => {
        for (let i = 0; i < 300; i++) {
          const batch = ['K1', 'K2', 'K3'].map((accountId) =>
            send(ledger, { command: 'topup', reference: `k-${accountId}-${i}`, accountId, amount: 100 + i }),
          );
          await Promise.all(batch);
        }
        posting = false;
      })();
      let checkpoints = 0;
      while (posting) {
        const result = await checkpoint(ledger);
        assert.deepEqual(result.refused, [], JSON.stringify(result.refused));
        const problems = await verified();
        for (const id of ['K1', 'K2', 'K3'])
          assert.deepEqual(problems.get(id), [], `${id} after ${checkpoints}`);
        checkpoints++;
      }
      await payments;
      assert.ok(checkpoints >= 3, `${checkpoints} checkpoints taken while posting`);
      const final = await checkpoint(ledger);
      assert.deepEqual(final.refused, []);
      // 300 top-ups of 100 + i minor units each.
      assert.equal((await h.store.getAccount('K1'))?.balance, 74_850n);
    });

    it('finds postings records the database owner deleted: fewer than checkpointed, or entries without theirs', async function () {
      await openAccount('E1');
      await send(ledger, { command: 'bind', reference: 'e-bind', meterId: 'EM1', accountId: 'E1' });
      await send(ledger, { command: 'topup', reference: 'e-pay', accountId: 'E1', amount: 300 });
      await startCheckpoints();
      await h.dropAppendOnly();
      // A bind posts no entry: only the count the checkpoint kept shows it gone.
      await h.exec("DELETE FROM postings WHERE reference = 'e-bind'");
      let problems = await verified();
      hasProblem(
        problems.get('E1'),
        /0 binding and debt-recovery postings records but checkpoint 1 recorded 1 \(deleted\)/,
      );
      await h.exec("DELETE FROM postings WHERE reference = 'e-pay'");
      problems = await verified();
      hasProblem(problems.get('E1'), /entries of "e-pay" have no postings record/);
      tampered = true;
    });

    it('refuses a payment whose postings record was forged ahead of it, rather than answer it as a duplicate; verify names the record', async function () {
      await openAccount('F1');
      const forged = (reference: string, accountId: string | null): unknown[] => [
        reference,
        'topup',
        accountId,
        JSON.stringify({
          ok: true,
          command: 'topup',
          reference,
          accountId: 'F1',
          entries: [{ kind: 'topup', amount: 500, balanceAfter: 500 }],
          balance: 500,
        }),
        Date.now(),
      ];
      // INSERTs: no trigger can refuse them without refusing the ledger's own. One names no account.
      const insert =
        'INSERT INTO postings (reference, command, account_id, reverses, result, posted_at) VALUES (?, ?, ?, NULL, ?, ?)';
      await h.run(insert, forged('f-pay', 'F1'));
      await h.run(insert, forged('f-pay-2', null));
      for (const reference of ['f-pay', 'f-pay-2'])
        await rejects(
          send(ledger, { command: 'topup', reference, accountId: 'F1', amount: 500 }),
          'reference',
          new RegExp(`postings record of reference "${reference}" lists entries the ledger does not have`),
        );
      assert.equal((await h.store.getAccount('F1'))?.balance, 0n);
      const problems = await verified();
      hasProblem(problems.get('F1'), /postings "f-pay" list entries the ledger does not have \(forged\)/);
      hasProblem(problems.get(''), /postings "f-pay-2" name an account the ledger does not have/);
      tampered = true;
    });

    it("finds an account's policy edited in the database (emergency credit granted by hand)", async function () {
      await openAccount('G1', { policy: { emergencyCredit: 500, emergencyMode: 'request' } });
      const account = (await h.store.getAccount('G1'))!;
      const policy = Object.fromEntries(Object.entries(account.policy).map(([k, v]) => [k, String(v)]));
      policy.emergencyCredit = '5000000';
      await h.run('UPDATE accounts SET policy = ? WHERE id = ?', [JSON.stringify(policy), 'G1']);
      hasProblem((await verified()).get('G1'), /policy is not the one its open entry recorded/);
      tampered = true;
    });

    it('seals from the first checkpoint after a key is given, and rotates the key: older entries stay proved by the checkpoints', async function () {
      const log = new CheckpointFile(h.checkpointFile);
      // A ledger written before it had a key (an existing site).
      const plain = newLedger(await h.another({ keyring: new Keyring(undefined), log }));
      await send(plain, { command: 'open', reference: 'open-K1', accountId: 'K1', currency: 'GBP' });
      await send(plain, { command: 'topup', reference: 'k-1', accountId: 'K1', amount: 100 });
      const unsealed = await checkpoint(plain);
      assert.equal(unsealed.line, 1);
      assert.equal(unsealed.keyId, undefined);
      await send(plain, { command: 'topup', reference: 'k-2', accountId: 'K1', amount: 200 });
      assert.equal((await h.store.entriesOf('K1')).filter((e) => e.seal !== undefined).length, 0);

      // Key A arrives: the first sealed checkpoint takes the older, unsealed entries as they are.
      const keyA = sealKey(randomBytes(32).toString('hex'), 'seal key');
      const withA = newLedger(await h.another({ keyring: new Keyring(keyA), log }));
      const switched = await checkpoint(withA);
      assert.equal(switched.ok, true, JSON.stringify(switched.refused));
      assert.equal(switched.keyId, keyA.id);
      await send(withA, { command: 'topup', reference: 'k-3', accountId: 'K1', amount: 300 });
      assert.ok((await h.store.entriesOf('K1', { afterSeq: 3 }))[0]?.seal, 'new entries are sealed');
      assert.deepEqual((await verified(withA)).get('K1'), []);

      // Rotation: key B seals, A still verifies what it sealed until a checkpoint under B covers it.
      const keyB = sealKey(randomBytes(32).toString('hex'), 'seal key');
      const withBoth = newLedger(await h.another({ keyring: new Keyring(keyB, [keyA]), log }));
      assert.deepEqual((await verified(withBoth)).get('K1'), []);
      const rotated = await checkpoint(withBoth);
      assert.equal(rotated.ok, true);
      assert.equal(rotated.keyId, keyB.id);
      await send(withBoth, { command: 'topup', reference: 'k-4', accountId: 'K1', amount: 400 });
      // Key A retired: everything up to the last checkpoint is proved by the chain to it.
      const withB = newLedger(await h.another({ keyring: new Keyring(keyB), log }));
      const reports = await withB.verify();
      assert.deepEqual(
        reports.map((r) => [r.accountId, r.ok, r.sealed, r.checkpoint]),
        [['K1', true, true, 3]],
        JSON.stringify(reports.map((r) => r.problems)),
      );
      // A rewrite of an old, unsealed entry, re-hashed, is still found: by the checkpoint.
      await h.dropAppendOnly();
      await rewriteChain('K1', (entries) => {
        entries[1]!.amount += 1000n;
      });
      const problems = (await verified(withB)).get('K1');
      hasProblem(problems, /entry 4 .*is not the entry checkpoint 3 recorded \(history rewritten\)/);
      hasProblem(problems, /entry 5 .*seal does not match/);
      tampered = true;
    });

    it('finds a checkpoint log edited, cut in the middle, emptied or extended without the key', async function () {
      await openAccount('L1');
      await startCheckpoints();
      await send(ledger, { command: 'topup', reference: 'l-1', accountId: 'L1', amount: 100 });
      await checkpoint(ledger);
      await send(ledger, { command: 'topup', reference: 'l-2', accountId: 'L1', amount: 200 });
      await checkpoint(ledger);
      assert.deepEqual((await verified()).get('L1'), []);
      const original = readFileSync(h.checkpointFile, 'utf8');
      const lines = original.split('\n').slice(0, -1);
      assert.equal(lines.length, 3);
      const attempt = async (text: string, pattern: RegExp): Promise<void> => {
        writeFileSync(h.checkpointFile, text);
        hasProblem((await verified()).get('L1'), pattern);
      };
      await attempt(original.replace('"b":"300"', '"b":"30000"'), /line 3: its seal does not match/);
      await attempt(`${lines[0]}\n${lines[2]}\n`, /line 2: numbered 3|line 2: does not follow/);
      const forged = lines[2]!.replace(/"n":3/, '"n":4').replace(/"key":"[0-9a-f]+"/, '"key":"0123456789ab"');
      await attempt(`${original}${forged}\n`, /line 4: .*(does not follow|not configured)/);
      await attempt('', /checkpoint log at .* is empty/);
      // A write torn by a crash (no newline) was never acknowledged: ignored, and cut by the next one.
      writeFileSync(h.checkpointFile, `${original}{"v":1,"n":4,"at`);
      assert.deepEqual((await verified()).get('L1'), []);
      assert.equal((await checkpoint(ledger)).line, 4);
      assert.equal(readFileSync(h.checkpointFile, 'utf8').split('\n').length, 5);
      assert.deepEqual((await verified()).get('L1'), []);
    });

    it('exports a statement for a period as JSON and CSV', async function () {
      const clock = new ManualClock(Date.UTC(2025, 2, 1));
      const timed = newLedger(h.store, { clock });
      const run = (payload: Record<string, unknown>, topic?: string): Promise<unknown> =>
        driven(clock, send(timed, payload, topic));
      await run({
        command: 'open',
        reference: 'o',
        accountId: 'S1',
        currency: 'GBP',
        tenant: 'Café "Bistro", Ltd',
        name: 'Unit 1',
      });
      await run({ command: 'topup', reference: 'day1-pay', accountId: 'S1', amount: 5000, method: 'card' });
      clock.advance(DAY); // 2 March
      const day2 = clock.now();
      await run(
        {
          readingId: 'R-1',
          accountId: 'S1',
          amount: 1_234_500,
          currency: 'GBP',
          breakdown: [],
          to: day2,
          meterId: 'E1',
        },
        'charge',
      );
      await run({ command: 'refund', reference: 'day2-refund', accountId: 'S1', amount: 50 });
      await run({
        command: 'adjust',
        reference: 'day2-adj',
        accountId: 'S1',
        amount: -7,
        reason: 'meter fault, "replaced"',
      });
      clock.advance(DAY); // 3 March
      const day3 = Date.UTC(2025, 2, 3);
      await run({ command: 'topup', reference: 'day3-pay', accountId: 'S1', amount: 100 });

      const json = (await run({
        command: 'statement',
        accountId: 'S1',
        from: '2025-03-02T00:00:00Z',
        to: '2025-03-03T00:00:00Z',
      })) as {
        result: Record<string, unknown>;
      };
      const doc = json.result;
      assert.equal(doc.from, Date.UTC(2025, 2, 2));
      assert.equal(doc.to, day3);
      assert.deepEqual(doc.opening, { balance: 5000, debt: 0 });
      assert.deepEqual(doc.closing, { balance: 5000 - 123 - 50 - 7, debt: 0 });
      assert.deepEqual(doc.totals, { charge: -123, refund: -50, adjustment: -7 });
      const entries = doc.entries as Array<Record<string, unknown>>;
      assert.deepEqual(
        entries.map((e) => [e.kind, e.reference, e.amount, e.balanceAfter]),
        [
          ['charge', 'charge:R-1', -123, 4877],
          ['refund', 'day2-refund', -50, 4827],
          ['adjustment', 'day2-adj', -7, 4820],
        ],
      );
      assert.equal(doc.tenant, 'Café "Bistro", Ltd');

      const csvResponse = (await run({
        command: 'statement',
        accountId: 'S1',
        from: day2 - (day2 % DAY),
        to: day3,
        format: 'csv',
      })) as {
        result: Record<string, unknown>;
      };
      const csv = String(csvResponse.result.csv);
      assert.ok(csv.endsWith('\r\n'));
      const lines = csv.split('\r\n').slice(0, -1);
      assert.equal(lines.length, 1 + 1 + 3 + 1);
      assert.equal(
        lines[0],
        'account,seq,posted_at,effective_at,kind,reference,amount,debt_change,balance_after,debt_after,currency,details,hash',
      );
      assert.equal(lines[1], 'S1,,2025-03-02T00:00:00.000Z,,opening,,,,50.00,0.00,GBP,,');
      const charge = lines[2].split(',');
      assert.deepEqual(charge.slice(4, 11), [
        'charge',
        'charge:R-1',
        '-1.23',
        '0.00',
        '48.77',
        '0.00',
        'GBP',
      ]);
      assert.equal(charge[3], new Date(day2).toISOString());
      assert.equal(charge[11], 'meterId=E1; readingId=R-1');
      assert.match(charge[12], /^[0-9a-f]{64}$/);
      assert.ok(
        lines[4].includes(
          ',adjustment,day2-adj,-0.07,0.00,48.20,0.00,GBP,"reason=meter fault, ""replaced""",',
        ),
        lines[4],
      );
      assert.equal(lines[5], 'S1,,2025-03-03T00:00:00.000Z,,closing,,,,48.20,0.00,GBP,,');
      // The whole history: opening zero, closing the balance now, and no period end in the CSV.
      const all = (await run({ command: 'statement', accountId: 'S1', format: 'csv' })) as {
        result: Record<string, unknown>;
      };
      const allLines = String(all.result.csv).split('\r\n');
      assert.equal(allLines[allLines.length - 2], 'S1,,,,closing,,,,49.20,0.00,GBP,,');
      await rejects(
        run({ command: 'statement', accountId: 'NOPE' }) as Promise<unknown>,
        'accountId',
        /NOPE/,
      );
      timed.close();
    });

    it('summarises a period for every account as JSON and CSV', async function () {
      const clock = new ManualClock(Date.UTC(2025, 3, 1));
      const timed = newLedger(h.store, { clock });
      const run = (payload: Record<string, unknown>, topic?: string): Promise<unknown> =>
        driven(clock, send(timed, payload, topic));
      await run({
        command: 'open',
        reference: 'oa',
        accountId: 'SA',
        currency: 'GBP',
        tenant: 'A',
        policy: { debtRecoveryShareBp: 5000 },
        openingDebt: 300,
      });
      await run({ command: 'open', reference: 'ob', accountId: 'SB', currency: 'EUR', tenant: 'B' });
      await run({ command: 'topup', reference: 'a1', accountId: 'SA', amount: 200 });
      clock.advance(DAY);
      const from = clock.now();
      await run({ command: 'topup', reference: 'a2', accountId: 'SA', amount: 1000 });
      await run(
        { readingId: 'ra', accountId: 'SA', amount: 2_000_000, currency: 'GBP', breakdown: [], to: from },
        'charge',
      );
      await run({ command: 'refund', reference: 'a3', accountId: 'SA', amount: 100 });
      await run({ command: 'topup', reference: 'b1', accountId: 'SB', amount: 2500 });
      await run({ command: 'reverse', reference: 'b2', accountId: 'SB', target: 'b1', reason: 'bounced' });
      await run({ command: 'adjust', reference: 'b3', accountId: 'SB', amount: 75, reason: 'credit note' });
      clock.advance(DAY);
      const to = clock.now();
      await run({ command: 'topup', reference: 'a4', accountId: 'SA', amount: 999 });

      const response = (await run({ command: 'summary', from, to })) as { result: Record<string, unknown> };
      const rows = response.result.accounts as Array<Record<string, unknown>>;
      assert.deepEqual(rows, [
        {
          accountId: 'SA',
          tenant: 'A',
          name: '',
          currency: 'GBP',
          opening: 100,
          topups: 1000,
          charges: -200,
          refunds: -100,
          adjustments: 0,
          debtRecovered: 200,
          closing: 600,
          debt: 0,
        },
        {
          accountId: 'SB',
          tenant: 'B',
          name: '',
          currency: 'EUR',
          opening: 0,
          topups: 2500,
          charges: 0,
          refunds: 0,
          adjustments: -2425,
          debtRecovered: 0,
          closing: 75,
          debt: 0,
        },
      ]);
      const csv = (await run({ command: 'summary', from, to, format: 'csv' })) as {
        result: Record<string, unknown>;
      };
      const lines = String(csv.result.csv).split('\r\n');
      assert.equal(
        lines[0],
        'account,tenant,name,currency,period_from,period_to,opening,topups,charges,refunds,adjustments,debt_recovered,closing,debt',
      );
      assert.equal(
        lines[1],
        `SA,A,,GBP,${new Date(from).toISOString()},${new Date(to).toISOString()},1.00,10.00,-2.00,-1.00,0.00,2.00,6.00,0.00`,
      );
      assert.equal(
        lines[2],
        `SB,B,,EUR,${new Date(from).toISOString()},${new Date(to).toISOString()},0.00,25.00,0.00,0.00,-24.25,0.00,0.75,0.00`,
      );
      timed.close();
    });
  });
}
