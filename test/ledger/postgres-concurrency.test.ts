/**
 * Four gateways on one PostgreSQL ledger: four independent stores and Ledger services post top-ups
 * and charges to the same five accounts at once, some references deliberately sent by all four.
 * Nothing may be lost and nothing doubled: every reference is posted exactly once, and every
 * balance is the expected total and the sum of its entries.
 */
import assert from 'node:assert/strict';
import { SystemClock } from '../../dist/nodes/core/clock';
import { Ledger, LedgerResponse } from '../../dist/nodes/core/ledger/ledger';
import { PostgresLedgerStore } from '../../dist/nodes/store/postgres-ledger-store';
import { assertSound, requirePostgres, ScratchDatabase, send, sleep } from './ledger-support';

const WRITERS = 4;
const POSTINGS = 300;
const ACCOUNTS = ['C1', 'C2', 'C3', 'C4', 'C5'];

interface Planned {
  payload: Record<string, unknown>;
  topic?: string;
  reference: string;
  accountId: string;
  /** Top-up minor units, or charge sub-minor units. */
  topup: bigint;
  chargeSub: bigint;
}

/** Writer w's postings; every 10th one is the same posting (same reference, same content) for all. */
function plan(writer: number): Planned[] {
  const list: Planned[] = [];
  for (let i = 0; i < POSTINGS; i++) {
    if (i % 10 === 0) {
      const accountId = ACCOUNTS[(i / 10) % ACCOUNTS.length];
      const reference = `shared-${i}`;
      list.push({
        payload: { command: 'topup', reference, accountId, amount: 1000 + i, method: 'kiosk' },
        reference,
        accountId,
        topup: BigInt(1000 + i),
        chargeSub: 0n,
      });
      continue;
    }
    const accountId = ACCOUNTS[(writer * 3 + i) % ACCOUNTS.length];
    if (i % 3 === 0) {
      const reference = `w${writer}-pay-${i}`;
      const amount = 100 + ((writer * 31 + i * 7) % 400);
      list.push({
        payload: { command: 'topup', reference, accountId, amount },
        reference,
        accountId,
        topup: BigInt(amount),
        chargeSub: 0n,
      });
    } else {
      const readingId = `w${writer}-read-${i}`;
      // Sub-minor amounts: the balance must still be round(total), whatever the order of posting.
      const amount = 1_000 + ((writer * 7_919 + i * 104_729) % 60_000);
      list.push({
        payload: { readingId, accountId, amount, currency: 'GBP', breakdown: [], to: Date.now() },
        topic: 'charge',
        reference: `charge:${readingId}`,
        accountId,
        topup: 0n,
        chargeSub: BigInt(amount),
      });
    }
  }
  return list;
}

/** half-even rounding of sub-minor units to minor units */
function roundSub(sub: bigint): bigint {
  const whole = sub / 10_000n;
  const rest = sub % 10_000n;
  return rest > 5_000n || (rest === 5_000n && whole % 2n === 1n) ? whole + 1n : whole;
}

describe('PostgreSQL ledger: four gateways posting to the same accounts at once', function () {
  this.timeout(60_000);
  let db: ScratchDatabase | undefined;
  const stores: PostgresLedgerStore[] = [];
  const ledgers: Ledger[] = [];

  before(async function () {
    await requirePostgres(this, 'PostgreSQL concurrency');
    db = await ScratchDatabase.create('prepay_concurrency');
  });

  after(async function () {
    for (const ledger of ledgers) ledger.close();
    for (const store of stores) await store.close();
    await db?.drop();
  });

  it('loses nothing and doubles nothing: 4 writers x 300 postings, shared references posted once', async function () {
    assert.ok(db);
    const health: Array<{ writer: number; up: boolean; error?: string }> = [];
    for (let w = 0; w < WRITERS; w++) {
      const store = new PostgresLedgerStore(db.config());
      stores.push(store);
      ledgers.push(
        new Ledger(store, {
          clock: new SystemClock(),
          onHealth: ({ up, error }) => health.push({ writer: w, up, error }),
        }),
      );
    }
    // Gateways starting together migrate once.
    await Promise.all(stores.map((store) => store.init()));
    for (const accountId of ACCOUNTS) {
      await send(ledgers[0], { command: 'open', reference: `open-${accountId}`, accountId, currency: 'GBP' });
    }

    const plans = Array.from({ length: WRITERS }, (_, w) => plan(w));
    const started = Date.now();
    // Each gateway sends its postings as they would arrive, in bursts, without waiting for answers.
    const results = await Promise.all(
      plans.map(async (list, w) => {
        const inFlight: Array<Promise<LedgerResponse>> = [];
        for (let i = 0; i < list.length; i++) {
          inFlight.push(send(ledgers[w], list[i].payload, list[i].topic));
          if (i % 25 === 24) await sleep(1 + w);
        }
        return Promise.allSettled(inFlight);
      }),
    );
    const elapsed = Date.now() - started;

    const failures = results.flat().filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.deepEqual(
      failures.map((f) => String(f.reason)),
      [],
      'every posting answered with success',
    );
    const responses = results.flat().map((r) => (r as PromiseFulfilledResult<LedgerResponse>).value);
    const shared = POSTINGS / 10;
    assert.equal(
      responses.filter((r) => !r.duplicate).length,
      WRITERS * POSTINGS - (WRITERS - 1) * shared,
      'each shared reference is new for exactly one writer',
    );
    for (let i = 0; i < POSTINGS; i += 10) {
      const answers = plans.map((_, w) => results[w][i] as PromiseFulfilledResult<LedgerResponse>);
      assert.equal(answers.filter((a) => !a.value.duplicate).length, 1, `shared-${i} posted by one writer`);
      for (const a of answers)
        assert.deepEqual(a.value.result, answers[0].value.result, 'all see the same result');
    }

    // In the database: every reference exactly once, with its entries.
    const unique = new Map<string, Planned>();
    for (const p of plans.flat()) unique.set(p.reference, p);
    const postings = await stores[1].query(
      "SELECT reference, COUNT(*) AS n FROM postings WHERE command <> 'open' GROUP BY reference",
    );
    assert.equal(postings.rows.length, unique.size);
    assert.ok(postings.rows.every((r) => Number(r.n) === 1));
    assert.deepEqual(new Set(postings.rows.map((r) => String(r.reference))), new Set(unique.keys()));
    const entries = await stores[2].query(
      "SELECT reference, COUNT(*) AS n FROM entries WHERE kind IN ('topup', 'charge') GROUP BY reference HAVING COUNT(*) <> 1",
    );
    assert.deepEqual(entries.rows, [], 'one entry per posting');

    for (const accountId of ACCOUNTS) {
      const mine = [...unique.values()].filter((p) => p.accountId === accountId);
      const topups = mine.reduce((sum, p) => sum + p.topup, 0n);
      const chargeSub = mine.reduce((sum, p) => sum + p.chargeSub, 0n);
      const account = await stores[3].getAccount(accountId);
      assert.ok(account);
      assert.equal(account.chargeSubTotal, chargeSub, `${accountId}: every charge counted once`);
      assert.equal(account.balance, topups - roundSub(chargeSub), `${accountId}: expected balance`);
      assert.equal(account.seq, 1 + mine.length);
    }
    for (const ledger of ledgers) await assertSound(ledger, stores[0]);
    const downs = health.filter((h) => !h.up);
    // Contention is not an outage: the accounts are locked in one order, so writers queue, not deadlock.
    assert.deepEqual(downs, [], 'no writer saw the store as down');
    console.log(`      ${WRITERS} writers x ${POSTINGS} postings in ${elapsed} ms`);
  });
});
