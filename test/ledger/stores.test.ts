/**
 * One scenario suite, run for real against both stores: SQLite on disk (a scratch file) and
 * PostgreSQL (a scratch database, one schema per scenario). Every scenario goes through the Ledger
 * service with requests read from message payloads, and ends with verify() ok for every account
 * and every balance equal to the sum of its entries.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ManualClock, SystemClock } from '../../dist/nodes/core/clock';
import { Ledger, LedgerOptions } from '../../dist/nodes/core/ledger/ledger';
import { LedgerError, readRequest } from '../../dist/nodes/core/ledger/requests';
import { LedgerStore } from '../../dist/nodes/core/ledger/store';
import { PostingResult } from '../../dist/nodes/core/ledger/types';
import { PostgresLedgerStore } from '../../dist/nodes/store/postgres-ledger-store';
import { SqliteLedgerStore } from '../../dist/nodes/store/sqlite-ledger-store';
import { POSTGRES_MIGRATIONS } from '../../dist/nodes/store/postgres-schema';
import { SQLITE_MIGRATIONS } from '../../dist/nodes/store/sqlite-schema';
import { assertSound, driven, requirePostgres, ScratchDatabase, scratchDir, send } from './ledger-support';

type Row = Record<string, unknown>;

/** One scenario's database, reached through the store and, like an administrator would, directly. */
interface Harness {
  store: LedgerStore;
  /** Another store on the same database (a restart, or a second gateway). */
  another(): Promise<LedgerStore>;
  /** Raw SQL as the database owner. */
  exec(sql: string): Promise<void>;
  rows(sql: string): Promise<Row[]>;
  /** What a malicious administrator would do first: remove the append-only triggers. */
  dropAppendOnly(): Promise<void>;
  close(): Promise<void>;
}

interface Backend {
  name: string;
  before(context: Mocha.Context): Promise<void>;
  harness(): Promise<Harness>;
  after(): Promise<void>;
}

const sqliteBackend = (): Backend => {
  let dir = '';
  let n = 0;
  return {
    name: 'SQLite (file on disk)',
    async before() {
      dir = scratchDir();
    },
    async harness() {
      const path = join(dir, `ledger-${++n}.db`);
      const store = new SqliteLedgerStore({ path, synchronous: 'FULL' });
      await store.init();
      const stores: SqliteLedgerStore[] = [store];
      return {
        store,
        async another() {
          const other = new SqliteLedgerStore({ path });
          await other.init();
          stores.push(other);
          return other;
        },
        async exec(sql) {
          store.database().exec(sql);
        },
        async rows(sql) {
          return store.database().prepare(sql).all() as Row[];
        },
        async dropAppendOnly() {
          store.database().exec('DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete;');
        },
        async close() {
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
  return {
    name: 'PostgreSQL',
    async before(context) {
      await requirePostgres(context, 'ledger stores');
      db = await ScratchDatabase.create('prepay_stores');
    },
    async harness() {
      assert.ok(db);
      const scratch = db;
      const schema = `scenario_${++n}`;
      await scratch.query(`CREATE SCHEMA ${schema}`);
      const store = new PostgresLedgerStore(scratch.config(schema));
      await store.init();
      const stores: PostgresLedgerStore[] = [store];
      return {
        store,
        async another() {
          const other = new PostgresLedgerStore(scratch.config(schema));
          await other.init();
          stores.push(other);
          return other;
        },
        async exec(sql) {
          await store.query(sql);
        },
        async rows(sql) {
          return (await store.query(sql)).rows;
        },
        async dropAppendOnly() {
          await store.query(
            'DROP TRIGGER entries_append_only ON entries; DROP TRIGGER IF EXISTS entries_no_truncate ON entries',
          );
        },
        async close() {
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
    });

    afterEach(async function () {
      if (!h) return;
      try {
        if (this.currentTest?.state === 'passed') await assertSound(ledger, h.store);
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
      // R2 was written by hand above, without the ledger's entries: close it out of the soundness check.
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
