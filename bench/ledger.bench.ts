/**
 * Ledger throughput, each figure beside a raw-driver baseline measured in the same run (rounds of
 * the two alternate, the median of each is reported):
 *
 * (a) SQLite, one posting per transaction (maxGroup 1, WAL, synchronous FULL): the ledger core
 *     (request parsing, rules, hash chain, idempotency record, group-commit queue) against raw
 *     better-sqlite3 doing the same entry INSERT + account UPDATE per transaction, on the ledger's
 *     own schema with the same pragmas. Target >= 0.7x. A second baseline adds the idempotency row
 *     the ledger also writes (a compact record of the same size), to separate storage cost from core cost.
 * (b) SQLite with group commit (maxGroup 100, many postings in flight) against raw better-sqlite3
 *     with 100 postings per transaction; once more with a seal key (every entry sealed, HMAC-SHA256).
 * (c) PostgreSQL with 1 and 4 writers (4 gateways: 4 stores + ledgers, each on its own accounts)
 *     against raw pg clients doing one INSERT+UPDATE statement per posting (1 and 4 clients).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Client, PoolConfig } from 'pg';
import { SystemClock } from '../dist/nodes/core/clock';
import { LedgerIntegrity } from '../dist/nodes/core/ledger/checkpoint';
import { Ledger } from '../dist/nodes/core/ledger/ledger';
import { readRequest } from '../dist/nodes/core/ledger/requests';
import { Keyring, sealKey } from '../dist/nodes/core/ledger/seal';
import { PostgresLedgerStore } from '../dist/nodes/store/postgres-ledger-store';
import { SqliteLedgerStore } from '../dist/nodes/store/sqlite-ledger-store';
import { SQLITE_MIGRATIONS } from '../dist/nodes/store/sqlite-schema';
import { BenchResult, higherIsBetter, median } from './harness';

const ACCOUNTS = 10;
const HASH = 'a'.repeat(64);
const META = JSON.stringify({ meterId: 'M1', readingId: 'R-000001', amountSub: '12345', breakdown: [] });
const POLICY = JSON.stringify({ lowThreshold: '1000', lowHysteresis: '500', emergencyCredit: '0' });
// The postings record the ledger stores for a charge (its compact form, about 80 bytes: the entry row holds the
// rest of the answer): the raw baseline's postings row is the same.
const RESULT = JSON.stringify({
  available: 99_999_999,
  state: 'ok',
  readingId: 'R-000001',
  amountSub: 12_345,
});

function rate(postings: number, start: bigint): number {
  return postings / (Number(process.hrtime.bigint() - start) / 1e9);
}

let runs = 0;

/** Postings per second of charges through Ledger services (request parsing included), all in flight. */
async function ledgerRate(
  ledgers: Ledger[],
  perLedger: number,
  accountsOf: (w: number) => string[],
): Promise<number> {
  const tag = `run${++runs}`;
  const start = process.hrtime.bigint();
  await Promise.all(
    ledgers.map((ledger, w) => {
      const accounts = accountsOf(w);
      const work: Array<Promise<unknown>> = [];
      for (let i = 0; i < perLedger; i++) {
        const request = readRequest('charge', {
          readingId: `${tag}-w${w}-${i}`,
          accountId: accounts[i % accounts.length],
          meterId: 'M1',
          amount: 12_345,
          currency: 'GBP',
          breakdown: [],
          to: 1_700_000_000_000 + i,
        });
        work.push(ledger.execute(request));
      }
      return Promise.all(work);
    }),
  );
  return rate(ledgers.length * perLedger, start);
}

async function openAccounts(ledger: Ledger, ids: string[]): Promise<void> {
  for (const accountId of ids) {
    await ledger.execute(
      readRequest('open', { command: 'open', reference: `open-${accountId}`, accountId, currency: 'GBP' }),
    );
    await ledger.execute(
      readRequest('topup', {
        command: 'topup',
        reference: `pay-${accountId}`,
        accountId,
        amount: 100_000_000,
      }),
    );
  }
}

class SqliteLedgerRig {
  private readonly store: SqliteLedgerStore;
  private readonly ledger: Ledger;
  private readonly ids = Array.from({ length: ACCOUNTS }, (_, i) => `A${i}`);

  constructor(path: string, maxGroup: number, integrity?: LedgerIntegrity) {
    this.store = new SqliteLedgerStore({ path, synchronous: 'FULL', integrity });
    this.ledger = new Ledger(this.store, { clock: new SystemClock(), maxGroup, maxQueue: 1_000_000 });
  }

  async open(): Promise<void> {
    await this.store.init();
    await openAccounts(this.ledger, this.ids);
  }

  rate(postings: number): Promise<number> {
    return ledgerRate([this.ledger], postings, () => this.ids);
  }

  async close(): Promise<void> {
    this.ledger.close();
    await this.store.close();
  }
}

/**
 * Raw better-sqlite3 on the ledger's own schema and pragmas: per posting the entry INSERT and the
 * account UPDATE (and, with `withPosting`, the idempotency row the ledger also writes).
 */
class SqliteRawRig {
  private readonly db: Database.Database;
  private readonly post: (i: number) => void;
  private readonly transaction: Database.Transaction<(from: number, to: number) => void>;
  private next = 0;

  constructor(path: string, withPosting: boolean) {
    const db = new Database(path);
    db.defaultSafeIntegers(true);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    for (const migration of SQLITE_MIGRATIONS) db.exec(migration.sql);
    const insertAccount = db.prepare(
      `INSERT INTO accounts (id, tenant, name, currency, utilities, status, balance, debt, emergency_active,
         charge_sub_total, state, state_changed_at, seq, last_hash, version, policy, opened_at, closed_at)
       VALUES (?, '', '', 'GBP', '[]', 'open', 100000000, 0, 0, 0, 'ok', 0, 0, ?, 0, ?, 0, NULL)`,
    );
    for (let a = 0; a < ACCOUNTS; a++) insertAccount.run(`A${a}`, HASH, POLICY);
    const insertEntry = db.prepare(
      `INSERT INTO entries (account_id, seq, kind, reference, part, amount, debt_delta, balance_after, debt_after,
         currency, posted_at, effective_at, meta, prev_hash, hash)
       VALUES (?, ?, 'charge', ?, 0, -1, 0, ?, 0, 'GBP', ?, ?, ?, ?, ?)`,
    );
    const updateAccount = db.prepare(
      `UPDATE accounts SET status = 'open', balance = ?, debt = 0, emergency_active = 0, charge_sub_total = ?,
         state = 'ok', state_changed_at = ?, seq = ?, last_hash = ?, version = ?, policy = ?, closed_at = NULL
       WHERE id = ? AND version = ?`,
    );
    const insertPosting = db.prepare(
      `INSERT INTO postings (reference, command, account_id, reverses, result, posted_at, entry_count)
       VALUES (?, 'charge', ?, NULL, ?, ?, 1)`,
    );
    const seq = new Array<number>(ACCOUNTS).fill(0);
    this.post = (i: number): void => {
      const a = i % ACCOUNTS;
      const s = ++seq[a];
      const now = Date.now();
      insertEntry.run(
        `A${a}`,
        s,
        `charge:R-${i}`,
        100_000_000 - s,
        now,
        1_700_000_000_000 + i,
        META,
        HASH,
        HASH,
      );
      updateAccount.run(100_000_000 - s, s * 12_345, now, s, HASH, s, POLICY, `A${a}`, s - 1);
      if (withPosting) insertPosting.run(`charge:R-${i}`, `A${a}`, RESULT, now);
    };
    this.transaction = db.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) this.post(i);
    });
    this.db = db;
  }

  rate(postings: number, perTransaction: number): number {
    const first = this.next;
    this.next += postings;
    const start = process.hrtime.bigint();
    for (let i = first; i < first + postings; i += perTransaction)
      this.transaction.immediate(i, Math.min(first + postings, i + perTransaction));
    return rate(postings, start);
  }

  close(): void {
    this.db.close();
  }
}

/** Median rates of `a` and `b`, their rounds alternating so both see the same machine. */
async function alternate(
  rounds: number,
  a: () => Promise<number> | number,
  b: () => Promise<number> | number,
): Promise<[number, number]> {
  const [ra, rb] = await alternateAll(rounds, [a, b]);
  return [ra as number, rb as number];
}

/** Median rates of several, their rounds interleaved. */
async function alternateAll(rounds: number, runs: Array<() => Promise<number> | number>): Promise<number[]> {
  const rates = runs.map((): number[] => []);
  for (let r = 0; r < rounds; r++) for (const [i, run] of runs.entries()) rates[i]?.push(await run());
  return rates.map(median);
}

async function sqliteResults(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'prepay-bench-'));
  const rigs: Array<SqliteLedgerRig | SqliteRawRig> = [];
  try {
    const single = new SqliteLedgerRig(join(dir, 'ledger-1.db'), 1);
    const grouped = new SqliteLedgerRig(join(dir, 'ledger-100.db'), 100);
    const sealed = new SqliteLedgerRig(join(dir, 'ledger-100-sealed.db'), 100, {
      keyring: new Keyring(sealKey(randomBytes(32).toString('hex'), 'seal key')),
    });
    await single.open();
    await grouped.open();
    await sealed.open();
    const raw = new SqliteRawRig(join(dir, 'raw.db'), false);
    const rawWithPosting = new SqliteRawRig(join(dir, 'raw-posting.db'), true);
    const rawGrouped = new SqliteRawRig(join(dir, 'raw-100.db'), false);
    rigs.push(single, grouped, sealed, raw, rawWithPosting, rawGrouped);
    // Warm-up (JIT, page cache, WAL file).
    await single.rate(300);
    raw.rate(300, 1);
    rawWithPosting.rate(300, 1);
    await grouped.rate(3000);
    await sealed.rate(3000);
    rawGrouped.rate(3000, 100);

    const rounds = 5;
    const [a, aRaw] = await alternate(
      rounds,
      () => single.rate(1500),
      () => raw.rate(1500, 1),
    );
    const aRawPosting = median(Array.from({ length: rounds }, () => rawWithPosting.rate(1500, 1)));
    // The sealed ledger in the same rounds: its figure beside the unsealed one of the same moments.
    const [b, bRaw, c] = (await alternateAll(rounds, [
      () => grouped.rate(10_000),
      () => rawGrouped.rate(10_000, 100),
      () => sealed.rate(10_000),
    ])) as [number, number, number];
    return [
      higherIsBetter(
        'ledger sqlite: postings/s, 1 per transaction (maxGroup 1, FULL)',
        a,
        'postings/s',
        'raw better-sqlite3 INSERT+UPDATE, 1 per transaction',
        aRaw,
        `target >= 0.7x`,
      ),
      higherIsBetter(
        'ledger sqlite: postings/s, 1 per transaction (maxGroup 1, FULL)',
        a,
        'postings/s',
        'raw better-sqlite3 INSERT+UPDATE+posting row, 1 per transaction',
        aRawPosting,
        'same rows the ledger writes: core cost only',
      ),
      higherIsBetter(
        'ledger sqlite: postings/s, group commit (maxGroup 100, FULL)',
        b,
        'postings/s',
        'raw better-sqlite3 INSERT+UPDATE, 100 per transaction',
        bRaw,
      ),
      higherIsBetter(
        'ledger sqlite: postings/s, group commit, entries sealed (seal key)',
        c,
        'postings/s',
        'the same ledger without a key',
        b,
        'the cost of sealing',
      ),
    ];
  } finally {
    for (const rig of rigs) await rig.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const PG: PoolConfig = {
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  password: process.env.PGPASSWORD,
};

async function maintenance(sql: string): Promise<void> {
  const client = new Client({ ...PG, database: 'postgres', connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** `writers` gateways (a store and a ledger each), each posting to 5 accounts of its own. */
class PgLedgerRig {
  private readonly stores: PostgresLedgerStore[];
  private readonly ledgers: Ledger[];
  private readonly accountsOf: (w: number) => string[];

  constructor(database: string, writers: number) {
    this.stores = Array.from({ length: writers }, () => new PostgresLedgerStore({ ...PG, database }));
    this.ledgers = this.stores.map(
      (store) => new Ledger(store, { clock: new SystemClock(), maxQueue: 1_000_000 }),
    );
    this.accountsOf = (w) => Array.from({ length: 5 }, (_, i) => `L${writers}-${w}-${i}`);
  }

  async open(): Promise<void> {
    await Promise.all(this.stores.map((store) => store.init()));
    await Promise.all(this.ledgers.map((ledger, w) => openAccounts(ledger, this.accountsOf(w))));
  }

  rate(perWriter: number): Promise<number> {
    return ledgerRate(this.ledgers, perWriter, this.accountsOf);
  }

  async close(): Promise<void> {
    for (const ledger of this.ledgers) ledger.close();
    for (const store of this.stores) await store.close();
  }
}

/** Raw pg clients, one statement per posting (the UPDATE ... RETURNING feeds the INSERT), autocommit. */
class PgRawRig {
  private readonly clients: Client[];
  private next = 0;

  constructor(
    database: string,
    private readonly count: number,
  ) {
    this.clients = Array.from({ length: count }, () => new Client({ ...PG, database }));
  }

  async open(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.connect()));
    for (let w = 0; w < this.count; w++) {
      for (let a = 0; a < 5; a++) {
        await this.clients[0].query(
          `INSERT INTO accounts (id, tenant, name, currency, utilities, status, balance, debt, emergency_active,
             charge_sub_total, state, state_changed_at, seq, last_hash, version, policy, opened_at, closed_at)
           VALUES ($1, '', '', 'GBP', '[]', 'open', 100000000, 0, false, 0, 'ok', 0, 0, $2, 0, $3, 0, NULL)`,
          [`R${this.count}-${w}-${a}`, HASH, POLICY],
        );
      }
    }
  }

  async rate(perClient: number): Promise<number> {
    const sql = `WITH moved AS (
        UPDATE accounts SET balance = balance - 1, charge_sub_total = charge_sub_total + 12345, seq = seq + 1,
          version = version + 1, last_hash = $2, state_changed_at = $4
        WHERE id = $1 RETURNING id, seq, balance)
      INSERT INTO entries (account_id, seq, kind, reference, part, amount, debt_delta, balance_after, debt_after,
        currency, posted_at, effective_at, meta, prev_hash, hash)
      SELECT id, seq, 'charge', $3, 0, -1, 0, balance, 0, 'GBP', $4, $4, $5::jsonb, $2, $2 FROM moved`;
    const first = this.next;
    this.next += perClient;
    const start = process.hrtime.bigint();
    await Promise.all(
      this.clients.map(async (client, w) => {
        for (let i = first; i < first + perClient; i++) {
          await client.query({
            name: 'raw-posting',
            text: sql,
            values: [`R${this.count}-${w}-${i % 5}`, HASH, `raw${this.count}-${w}-${i}`, Date.now(), META],
          });
        }
      }),
    );
    return rate(this.count * perClient, start);
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.end()));
  }
}

async function postgresResults(): Promise<BenchResult[]> {
  const database = `prepay_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
  try {
    await maintenance(`CREATE DATABASE ${database}`);
  } catch (error) {
    const reason = `PostgreSQL at ${String(PG.host)}:${String(PG.port)} unavailable: ${(error as Error).message}`;
    process.stdout.write(`ledger.bench: SKIPPING the PostgreSQL figures (${reason})\n`);
    return [];
  }
  const rigs: Array<PgLedgerRig | PgRawRig> = [];
  try {
    const results: BenchResult[] = [];
    for (const writers of [1, 4]) {
      const ledger = new PgLedgerRig(database, writers);
      const raw = new PgRawRig(database, writers);
      rigs.push(ledger, raw);
      await ledger.open();
      await raw.open();
      await ledger.rate(200);
      await raw.rate(100);
      const [value, baseline] = await alternate(
        3,
        () => ledger.rate(writers === 1 ? 3000 : 1500),
        () => raw.rate(writers === 1 ? 800 : 400),
      );
      results.push(
        higherIsBetter(
          `ledger postgres: postings/s, ${writers} writer${writers === 1 ? '' : 's (4 gateways)'}`,
          value,
          'postings/s',
          `raw pg, 1 INSERT+UPDATE statement per posting, ${writers} client${writers === 1 ? '' : 's'}`,
          baseline,
          'ledger: group commit, 1 round trip per batch',
        ),
      );
    }
    return results;
  } finally {
    for (const rig of rigs) await rig.close();
    await maintenance(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  }
}

export async function run(): Promise<BenchResult[]> {
  return [...(await sqliteResults()), ...(await postgresResults())];
}
