/**
 * What the ledger node's intake journal costs: charges through the node's intake path (journaled and fsynced
 * before the ledger works on them, settled after the commit) against the same ledger core on the same kind of
 * SQLite store without the journal, in the same run (rounds alternate, medians reported). Two loads: a burst
 * of 2,000 charges in flight (group commit, as a site's billing boundary brings), and one charge at a time
 * (each answered before the next is sent, as a lone webhook).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SystemClock } from '../dist/nodes/core/clock';
import { Ledger } from '../dist/nodes/core/ledger/ledger';
import { readRequest } from '../dist/nodes/core/ledger/requests';
import { SqliteLedgerStore } from '../dist/nodes/store/sqlite-ledger-store';
import { IntakeJournal } from '../dist/nodes/ledger/intake-journal';
import { LedgerIntake, type PostingRequest } from '../dist/nodes/ledger/ledger-intake';
import { BenchResult, higherIsBetter, median } from './harness';

const ACCOUNTS = 20;
const ROUNDS = 5;

interface Rig {
  post(payload: Record<string, unknown>): Promise<unknown>;
  close(): Promise<void>;
}

async function rig(journaled: boolean): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'prepay-bench-journal-'));
  const store = new SqliteLedgerStore({ path: join(dir, 'ledger.db'), synchronous: 'FULL' });
  await store.init();
  const ledger = new Ledger(store, { clock: new SystemClock(), maxQueue: 50_000 });
  for (let a = 0; a < ACCOUNTS; a++) {
    await ledger.execute(
      readRequest(undefined, {
        command: 'open',
        accountId: `A${a}`,
        currency: 'GBP',
        reference: `open-${a}`,
      }),
    );
    await ledger.execute(
      readRequest(undefined, {
        command: 'topup',
        accountId: `A${a}`,
        amount: 1_000_000_000,
        reference: `pay-${a}`,
      }),
    );
  }
  const journal = journaled
    ? new IntakeJournal(join(dir, 'ledger.journal'), { reserveBytes: 16 << 20 })
    : undefined;
  const intake = journal
    ? new LedgerIntake(ledger, journal, {
        window: 49_000,
        onPosted: () => undefined,
        onRefused: () => undefined,
        onChange: () => undefined,
      })
    : undefined;
  return {
    post(payload) {
      const request = readRequest('charge', payload, Date.now()) as PostingRequest;
      if (!intake) return ledger.execute(request);
      return new Promise((resolve, reject) =>
        intake.submit(request, 'charge', payload, Date.now(), {
          answer: resolve,
          fail: reject,
          release: () => resolve(undefined),
        }),
      );
    },
    async close() {
      intake?.stop();
      ledger.close();
      journal?.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let serial = 0;
function charge(i: number): Record<string, unknown> {
  serial += 1;
  return {
    readingId: `M${i % 200}:${serial}`,
    accountId: `A${i % ACCOUNTS}`,
    meterId: `M${i % 200}`,
    amount: 12_345,
    currency: 'GBP',
    breakdown: [{ component: 'energy', amount: 12_345 }],
    to: 1_700_000_000_000 + serial,
    kind: 'consumption',
  };
}

async function burst(r: Rig, count: number): Promise<number> {
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: count }, (_, i) => r.post(charge(i))));
  return count / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function oneByOne(r: Rig, count: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await r.post(charge(i));
  return count / (Number(process.hrtime.bigint() - start) / 1e9);
}

export async function run(): Promise<BenchResult[]> {
  const journaled = await rig(true);
  const bare = await rig(false);
  const results: BenchResult[] = [];
  try {
    for (const [label, load, count] of [
      ['a burst of 2,000 charges in flight (group commit)', burst, 2_000],
      ['one charge at a time, each answered first', oneByOne, 300],
    ] as const) {
      await load(journaled, 200); // warm-up
      await load(bare, 200);
      const withJournal: number[] = [];
      const without: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        withJournal.push(await load(journaled, count));
        without.push(await load(bare, count));
      }
      results.push(
        higherIsBetter(
          `ledger intake journal, ${label}, SQLite synchronous=FULL`,
          median(withJournal),
          'postings/s',
          'the same ledger core and store without the journal',
          median(without),
          'every posting fsynced to the journal before the ledger works on it',
        ),
      );
    }
  } finally {
    await journaled.close();
    await bare.close();
  }
  return results;
}
