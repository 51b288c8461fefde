/**
 * Shared pieces of the ledger tests: scratch SQLite files, scratch PostgreSQL databases (created
 * through the `postgres` maintenance database and dropped afterwards), the PostgreSQL-missing
 * policy (skip loudly on a workstation, fail in CI), and the soundness check every scenario ends
 * with.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, PoolConfig } from 'pg';
import { ManualClock } from '../../dist/nodes/core/clock';
import { Ledger, LedgerResponse } from '../../dist/nodes/core/ledger/ledger';
import { readRequest } from '../../dist/nodes/core/ledger/requests';
import { LedgerStore } from '../../dist/nodes/core/ledger/store';

export const PG_BASE: PoolConfig = {
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  password: process.env.PGPASSWORD,
};

const scratchDirs: string[] = [];
process.on('exit', () => {
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory for SQLite files, removed when the test process exits. */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'prepay-ledger-'));
  scratchDirs.push(dir);
  return dir;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let probe: Promise<string | undefined> | undefined;

/** Why PostgreSQL cannot be used, or undefined when it can. Asked once per process. */
export function postgresProblem(): Promise<string | undefined> {
  probe ??= (async () => {
    const client = new Client({ ...PG_BASE, database: 'postgres', connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return undefined;
    } catch (error) {
      return (error as Error).message || String(error);
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return probe;
}

let warned = false;

/**
 * Call in a `before` hook of a PostgreSQL suite: returns when the server answers. When it does not,
 * CI (CI=true) fails the suite; anywhere else the suite is skipped with a banner nobody can miss.
 */
export async function requirePostgres(context: Mocha.Context, suite: string): Promise<void> {
  const problem = await postgresProblem();
  if (!problem) return;
  const where = `${String(PG_BASE.host)}:${String(PG_BASE.port)}`;
  if (process.env.CI === 'true') {
    throw new Error(`PostgreSQL is required in CI (CI=true) but ${where} cannot be reached: ${problem}`);
  }
  if (!warned) {
    warned = true;
    const line = '!'.repeat(100);
    console.warn(
      `\n${line}\n!!! PostgreSQL at ${where} is NOT AVAILABLE (${problem}).\n` +
        `!!! SKIPPING the PostgreSQL ledger tests (${suite} and others). They are NOT run; CI=true makes this a failure.\n${line}\n`,
    );
  }
  context.skip();
}

/** A database of its own for one suite: created now, dropped (with its connections) by drop(). */
export class ScratchDatabase {
  private constructor(readonly name: string) {}

  static async create(prefix: string): Promise<ScratchDatabase> {
    const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`.toLowerCase();
    await ScratchDatabase.maintenance(`CREATE DATABASE ${name}`);
    return new ScratchDatabase(name);
  }

  private static async maintenance(sql: string): Promise<void> {
    const client = new Client({ ...PG_BASE, database: 'postgres' });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }

  /** Pool settings for this database; `schema` puts a scenario in a schema of its own. */
  config(schema?: string): PoolConfig {
    return { ...PG_BASE, database: this.name, ...(schema ? { options: `-c search_path=${schema}` } : {}) };
  }

  async query(sql: string): Promise<void> {
    const client = new Client(this.config());
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }

  async drop(): Promise<void> {
    await ScratchDatabase.maintenance(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`);
  }
}

/** Runs a command from a message payload through the ledger, as the node does. */
export function send(
  ledger: Ledger,
  payload: Record<string, unknown>,
  topic?: string,
): Promise<LedgerResponse> {
  return ledger.execute(readRequest(topic, payload));
}

/**
 * Waits for `promise` while moving a ManualClock forward a millisecond at a time, so the ledger's
 * group-commit and retry timers fire.
 */
export async function driven<T>(clock: ManualClock, promise: Promise<T>): Promise<T> {
  let done = false;
  const watched = promise.finally(() => {
    done = true;
  });
  watched.catch(() => undefined);
  while (!done) {
    clock.advance(1);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return watched;
}

/** verify() is ok for every account and every balance and debt is the sum of its entries. */
export async function assertSound(ledger: Ledger, store: LedgerStore): Promise<void> {
  const reports = await ledger.verify();
  for (const report of reports) assert.deepEqual(report.problems, [], `account ${report.accountId}`);
  for (const account of await store.listAccounts()) {
    const entries = await store.entriesOf(account.id);
    assert.equal(
      entries.reduce((sum, e) => sum + e.amount, 0n),
      account.balance,
      `balance of ${account.id} is the sum of its entries`,
    );
    assert.equal(
      entries.reduce((sum, e) => sum + e.debtDelta, 0n),
      account.debt,
      `debt of ${account.id} is the sum of its entries`,
    );
    assert.equal(entries.length, account.seq);
  }
}
