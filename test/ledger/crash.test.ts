/**
 * Crash safety of the ledger in a real Node-RED process: a producer posts a stream of top-ups and
 * charges over HTTP (each answered only after the ledger committed it); Node-RED is killed with
 * SIGKILL at random moments 20 times and restarted, and after each restart the producer replays
 * the stream from the first posting it has no answer for. At the end every reference is posted
 * exactly once and every balance equals both the expected total and the sum of its entries.
 */
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Ledger } from '../../dist/nodes/core/ledger/ledger';
import { SystemClock } from '../../dist/nodes/core/clock';
import { SqliteLedgerStore } from '../../dist/nodes/store/sqlite-ledger-store';
import { CumulativeRounder, SUB_MINOR_PER_MINOR } from '../../dist/nodes/core/money';
import { NodeRedProcess } from '../support/node-red-process';
import { tempUserDir } from '../support/node-red-helper';
import { ledgerNodeConfig } from '../support/ledger-node';

const root = join(__dirname, '..', '..', '..');
const ACCOUNTS = ['T01', 'T02', 'T03', 'T04', 'T05'];
const POSTINGS = 1500;
const KILLS = 20;
const IN_FLIGHT = 4;

const FLOW = [
  { id: 'crashtab00000001', type: 'tab', label: 'crash test' },
  {
    id: 'crashhttpin00001',
    type: 'http in',
    z: 'crashtab00000001',
    url: '/post',
    method: 'post',
    upload: false,
    swaggerDoc: '',
    wires: [['crashledger00001']],
  },
  ledgerNodeConfig({
    id: 'crashledger00001',
    z: 'crashtab00000001',
    store: 'crashstore000001',
    wires: [['crashresponse001'], []],
  }),
  {
    id: 'crashresponse001',
    type: 'http response',
    z: 'crashtab00000001',
    statusCode: '',
    headers: {},
    wires: [],
  },
  {
    id: 'crashcatch000001',
    type: 'catch',
    z: 'crashtab00000001',
    scope: ['crashledger00001'],
    uncaught: false,
    wires: [['crashfail0000001']],
  },
  {
    id: 'crashfail0000001',
    type: 'function',
    z: 'crashtab00000001',
    func: 'msg.statusCode = 500;\nmsg.payload = { error: msg.error.message };\nreturn msg;',
    outputs: 1,
    wires: [['crashresponse001']],
  },
  { id: 'crashstore000001', type: 'prepay-store', backend: 'sqlite', file: 'ledger.db', synchronous: 'FULL' },
];

interface Posting {
  payload: Record<string, unknown>;
  reference: string;
}

/** A deterministic pseudo-random stream (so a failure can be replayed). */
function stream(seed: number): Posting[] {
  let state = seed;
  const random = (): number => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const postings: Posting[] = ACCOUNTS.map((accountId) => ({
    reference: `open-${accountId}`,
    payload: { command: 'open', accountId, currency: 'GBP', reference: `open-${accountId}` },
  }));
  for (let i = 0; postings.length < POSTINGS; i++) {
    const accountId = ACCOUNTS[Math.floor(random() * ACCOUNTS.length)] as string;
    if (random() < 0.3) {
      const reference = `pay-${i}`;
      postings.push({
        reference,
        payload: { command: 'topup', accountId, amount: 100 + Math.floor(random() * 5000), reference },
      });
    } else {
      const readingId = `E-${accountId}:${i}`;
      postings.push({
        reference: `charge:${readingId}`,
        payload: {
          accountId,
          readingId,
          amount: 1 + Math.floor(random() * 2_000_000),
          currency: 'GBP',
          breakdown: [],
          to: 1_700_000_000_000 + i * 900_000,
          kind: 'consumption',
        },
      });
    }
  }
  return postings;
}

describe('ledger crash safety in a real Node-RED (SIGKILL x 20)', function () {
  this.timeout(600_000);

  it('posts every reference exactly once and keeps every balance equal to its entries', async function () {
    const userDir = tempUserDir();
    mkdirSync(join(userDir, 'node_modules'), { recursive: true });
    symlinkSync(root, join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
    const postings = stream(20_261_125);
    const acked = new Set<number>();
    let kills = 0;
    let replayed = 0;
    let interrupted = 0;
    let flows: unknown[] | undefined = FLOW;

    while (acked.size < postings.length || kills < KILLS) {
      const red = await NodeRedProcess.start({ userDir, flows });
      flows = undefined; // keep the deployed flow on restarts
      const killing = kills < KILLS;
      const killTimer = killing
        ? setTimeout(() => void red.kill('SIGKILL'), 50 + Math.floor(Math.random() * 400))
        : undefined;
      // Replay from a little before the first posting without an answer (answered ones are sent
      // again too: each must come back as the original result and post nothing).
      let next = 0;
      while (acked.has(next)) next += 1;
      next = next >= postings.length ? Math.floor(Math.random() * postings.length) : Math.max(0, next - 20);
      // The opens go one at a time and are answered before anything else is sent: with several
      // requests in flight, a charge could otherwise reach the ledger before its account's open
      // (and be refused, rightly, as a charge to an unknown account).
      const send = async (index: number): Promise<void> => {
        if (acked.has(index)) replayed += 1;
        const response = await fetch(`${red.baseUrl}/post`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(postings[index]?.payload),
        });
        const body = (await response.json()) as { ok?: boolean; error?: string };
        assert.equal(response.status, 200, `posting ${index}: ${body.error}`);
        acked.add(index);
      };
      const opens = async (): Promise<void> => {
        for (; next < ACCOUNTS.length; next++) await send(next);
      };
      const worker = async (): Promise<void> => {
        for (;;) {
          const index = next++;
          if (index >= postings.length) return;
          await send(index);
        }
      };
      const results = await opens().then(
        () => Promise.allSettled(Array.from({ length: IN_FLIGHT }, worker)),
        (reason: unknown) => [{ status: 'rejected', reason } as PromiseRejectedResult],
      );
      clearTimeout(killTimer);
      const failures = results
        .filter((r) => r.status === 'rejected')
        .map((r) => String((r as PromiseRejectedResult).reason));
      if (killing) {
        await red.kill('SIGKILL');
        kills += 1;
        if (failures.length > 0) interrupted += 1;
        // Only connection failures are acceptable while being killed.
        for (const failure of failures)
          assert.match(
            failure,
            /fetch failed|ECONNRESET|ECONNREFUSED|socket|terminated|other side closed/i,
            failure,
          );
      } else {
        assert.deepEqual(failures, []);
        await red.stop();
      }
    }
    assert.equal(kills, KILLS);
    assert.ok(replayed > 0, 'some postings were replayed after a restart');
    assert.ok(interrupted >= KILLS / 2, `only ${interrupted} kills hit postings in flight`);

    // Read the ledger file directly.
    const store = new SqliteLedgerStore({ path: join(userDir, 'ledger.db') });
    await store.init();
    try {
      const db = store.database();
      const count = (sql: string): number => Number((db.prepare(sql).get() as { n: bigint }).n);
      assert.equal(count('SELECT COUNT(*) AS n FROM postings'), postings.length);
      assert.equal(
        count(
          "SELECT COUNT(*) AS n FROM (SELECT reference FROM entries WHERE kind IN ('topup','charge') GROUP BY reference HAVING COUNT(*) > 1)",
        ),
        0,
      );
      assert.equal(
        count("SELECT COUNT(*) AS n FROM entries WHERE kind IN ('topup','charge')"),
        postings.length - ACCOUNTS.length,
      );
      const ledger = new Ledger(store, { clock: new SystemClock() });
      const reports = await ledger.verify();
      assert.equal(reports.length, ACCOUNTS.length);
      for (const report of reports) assert.deepEqual(report.problems, [], report.accountId);
      for (const accountId of ACCOUNTS) {
        const mine = postings.filter((p) => p.payload.accountId === accountId);
        const topups = mine
          .filter((p) => p.payload.command === 'topup')
          .reduce((s, p) => s + BigInt(p.payload.amount as number), 0n);
        const chargeSub = mine
          .filter((p) => p.payload.readingId)
          .reduce((s, p) => s + BigInt(p.payload.amount as number), 0n);
        const charged = new CumulativeRounder(SUB_MINOR_PER_MINOR, 'half-even').add(0n, chargeSub).emit;
        const account = await store.getAccount(accountId);
        assert.equal(account?.balance, topups - charged, accountId);
      }
      ledger.close();
    } finally {
      await store.close();
    }
  });
});
