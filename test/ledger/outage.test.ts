/**
 * The store unavailable: postings wait in the ledger's bounded queue, are retried with backoff and
 * committed once the store is back; a posting that cannot be queued is refused at once, naming the
 * queue; onHealth tells the flow the store went down and came back.
 */
import assert from 'node:assert/strict';
import { createServer, connect, Server, Socket } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SystemClock } from '../../dist/nodes/core/clock';
import { Ledger, LedgerResponse } from '../../dist/nodes/core/ledger/ledger';
import { LedgerError } from '../../dist/nodes/core/ledger/requests';
import {
  AccountHistory,
  AuditRecord,
  EntryTotals,
  LedgerStore,
  PostingsAudit,
  SummaryRow,
} from '../../dist/nodes/core/ledger/store';
import {
  AccountRecord,
  ApplyOutcome,
  BindingRecord,
  EntryRecord,
  PostingResult,
  PreparedPosting,
} from '../../dist/nodes/core/ledger/types';
import { PostgresLedgerStore } from '../../dist/nodes/store/postgres-ledger-store';
import { POSTGRES_MIGRATIONS } from '../../dist/nodes/store/postgres-schema';
import { ResilientStore } from '../../dist/nodes/store/resilient-store';
import { SqliteLedgerStore } from '../../dist/nodes/store/sqlite-ledger-store';
import {
  assertSound,
  PG_BASE,
  requirePostgres,
  ScratchDatabase,
  scratchDir,
  send,
  sleep,
} from './ledger-support';

type Health = { up: boolean; queued: number; error?: string };

/**
 * A real store behind a switch: while off, every call fails as an unreachable database does
 * (ECONNREFUSED, after `failAfterMs`, like a connection attempt). The ledger sees exactly what a
 * PostgreSQL outage shows it.
 */
class SwitchedStore implements LedgerStore {
  up = true;
  failAfterMs = 0;

  constructor(readonly inner: LedgerStore) {}

  get kind(): 'sqlite' | 'postgres' {
    return this.inner.kind;
  }

  private async gate(): Promise<void> {
    if (this.up) return;
    if (this.failAfterMs > 0) await sleep(this.failAfterMs);
    throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  }

  init(): Promise<void> {
    return this.inner.init();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  async getPosting(reference: string): Promise<PostingResult | undefined> {
    await this.gate();
    return this.inner.getPosting(reference);
  }
  async chargesEffective(from: number, to: number): Promise<EntryRecord[]> {
    await this.gate();
    return this.inner.chargesEffective(from, to);
  }
  async existingReferences(references: readonly string[]): Promise<Set<string>> {
    await this.gate();
    return this.inner.existingReferences(references);
  }
  async getAccount(id: string): Promise<AccountRecord | undefined> {
    await this.gate();
    return this.inner.getAccount(id);
  }
  async listAccounts(): Promise<AccountRecord[]> {
    await this.gate();
    return this.inner.listAccounts();
  }
  async entriesOf(
    accountId: string,
    range?: { from?: number; to?: number; afterSeq?: number },
  ): Promise<EntryRecord[]> {
    await this.gate();
    return this.inner.entriesOf(accountId, range);
  }
  async auditPostings(accountId: string, afterSeq?: number): Promise<PostingsAudit> {
    await this.gate();
    return this.inner.auditPostings(accountId, afterSeq);
  }
  async accountHistory(accountId: string, afterSeq?: number): Promise<AccountHistory | undefined> {
    await this.gate();
    return this.inner.accountHistory(accountId, afterSeq);
  }
  async phantomPostings(accountId?: string): Promise<Array<{ accountId: string; reference: string }>> {
    await this.gate();
    return this.inner.phantomPostings(accountId);
  }
  async entriesByReference(reference: string): Promise<EntryRecord[]> {
    await this.gate();
    return this.inner.entriesByReference(reference);
  }
  async isReversed(reference: string): Promise<boolean> {
    await this.gate();
    return this.inner.isReversed(reference);
  }
  async bindingAt(meterId: string, at: number): Promise<BindingRecord | undefined> {
    await this.gate();
    return this.inner.bindingAt(meterId, at);
  }
  async bindingsOf(accountId: string): Promise<BindingRecord[]> {
    await this.gate();
    return this.inner.bindingsOf(accountId);
  }
  async apply(postings: PreparedPosting[]): Promise<ApplyOutcome[]> {
    await this.gate();
    return this.inner.apply(postings);
  }
  async periodSummary(from: number, to: number): Promise<SummaryRow[]> {
    await this.gate();
    return this.inner.periodSummary(from, to);
  }

  async entryTotals(): Promise<EntryTotals[]> {
    await this.gate();
    return this.inner.entryTotals();
  }

  async appendAudit(records: AuditRecord[]): Promise<void> {
    await this.gate();
    return this.inner.appendAudit(records);
  }

  async auditLog(filter?: { meterId?: string; from?: number; to?: number }): Promise<AuditRecord[]> {
    await this.gate();
    return this.inner.auditLog(filter);
  }
}

/** A TCP relay to PostgreSQL that can be cut (connections dropped, port closed) and restored. */
class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(Number(PG_BASE.port), String(PG_BASE.host));
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address && typeof address === 'object') this.port = address.port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Tracks which of a set of promises have settled, without consuming them. */
function watch(promises: Array<Promise<unknown>>): () => number {
  let settled = 0;
  for (const p of promises)
    p.then(
      () => (settled += 1),
      () => (settled += 1),
    );
  return () => settled;
}

async function refusedForQueue(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof LedgerError);
    assert.equal(error.code, 'queue-full');
    assert.match(error.message, /queue is full/);
    assert.match(error.message, /not stored/);
    return true;
  });
}

describe('ledger outage: SQLite locked by another connection', function () {
  this.timeout(20_000);

  it('holds postings while BEGIN EXCLUSIVE is held elsewhere, commits them on release, reports down then up', async function () {
    const path = join(scratchDir(), 'locked.db');
    const store = new SqliteLedgerStore({ path, busyTimeoutMs: 30 });
    await store.init();
    const health: Health[] = [];
    const ledger = new Ledger(store, { clock: new SystemClock(), onHealth: (h) => health.push(h) });
    const locker = new Database(path);
    try {
      await send(ledger, { command: 'open', reference: 'open', accountId: 'L1', currency: 'GBP' });
      locker.exec('BEGIN EXCLUSIVE');
      const postings = [1, 2, 3, 4, 5].map((i) =>
        send(ledger, { command: 'topup', reference: `pay-${i}`, accountId: 'L1', amount: 100 * i }),
      );
      const settled = watch(postings);
      await until('the store to be reported down', () => health.some((h) => !h.up));
      const down = health.find((h) => !h.up);
      assert.ok(down);
      assert.match(String(down.error), /locked|busy/i);
      assert.equal(down.queued, 5);
      await sleep(250);
      assert.equal(settled(), 0, 'nothing answered while the lock is held');
      assert.equal(ledger.queued, 5);
      // Readers are not blocked (WAL): the balance still answers.
      assert.equal((await send(ledger, { command: 'balance', accountId: 'L1' })).result.balance, 0);
      // A posting sent during the outage waits behind the others.
      const late = send(ledger, { command: 'topup', reference: 'pay-6', accountId: 'L1', amount: 600 });
      locker.exec('COMMIT');
      const answers = await Promise.all([...postings, late]);
      assert.deepEqual(
        answers.map((a) => a.result.balance),
        [100, 300, 600, 1000, 1500, 2100],
        'committed in the order sent',
      );
      const firstDown = health.findIndex((h) => !h.up);
      assert.ok(
        health.slice(firstDown).some((h) => h.up),
        'reported up again',
      );
      assert.deepEqual(health[health.length - 1], { up: true, queued: 0 });
      assert.equal((await store.getAccount('L1'))?.balance, 2100n);
      await assertSound(ledger, store);
    } finally {
      ledger.close();
      locker.close();
      await store.close();
    }
  });
});

describe('ledger outage: store unreachable, bounded queue', function () {
  this.timeout(30_000);

  it('refuses the 6th posting with maxQueue 5, posts the first 5 when the store is back (SQLite behind a switch)', async function () {
    const inner = new SqliteLedgerStore({ path: join(scratchDir(), 'switched.db') });
    await inner.init();
    const store = new SwitchedStore(inner);
    const health: Health[] = [];
    const ledger = new Ledger(store, {
      clock: new SystemClock(),
      maxQueue: 5,
      onHealth: (h) => health.push(h),
    });
    try {
      await send(ledger, { command: 'open', reference: 'open', accountId: 'Q1', currency: 'GBP' });
      store.up = false;
      const waiting = [1, 2, 3, 4, 5].map((i) =>
        send(ledger, { command: 'topup', reference: `pay-${i}`, accountId: 'Q1', amount: i }),
      );
      await refusedForQueue(
        send(ledger, { command: 'topup', reference: 'pay-6', accountId: 'Q1', amount: 6 }),
      );
      await until('the store to be reported down', () => health.some((h) => !h.up));
      // Still refused while the ledger retries (a retry in flight is still waiting for the store).
      for (let i = 0; i < 20; i++) {
        await refusedForQueue(
          send(ledger, { command: 'topup', reference: `pay-x${i}`, accountId: 'Q1', amount: 1 }),
        );
        await sleep(10);
      }
      store.up = true;
      const answers = await Promise.all(waiting);
      assert.deepEqual(
        answers.map((a) => a.result.balance),
        [1, 3, 6, 10, 15],
      );
      assert.equal(await inner.getPosting('pay-6'), undefined, 'the refused posting was not stored');
      assert.equal(health[health.length - 1].up, true);
      await assertSound(ledger, inner);
    } finally {
      ledger.close();
      await inner.close();
    }
  });

  it('counts a retry in flight against maxQueue, however long the store takes to fail', async function () {
    const inner = new SqliteLedgerStore({ path: join(scratchDir(), 'slow.db') });
    await inner.init();
    const store = new SwitchedStore(inner);
    const ledger = new Ledger(store, { clock: new SystemClock(), maxQueue: 5 });
    try {
      await send(ledger, { command: 'open', reference: 'open', accountId: 'S1', currency: 'GBP' });
      store.up = false;
      store.failAfterMs = 300; // a connection attempt timing out
      const accepted: Array<Promise<LedgerResponse>> = [];
      let refused = 0;
      for (let i = 0; i < 12; i++) {
        const posting = send(ledger, { command: 'topup', reference: `pay-${i}`, accountId: 'S1', amount: 1 });
        const outcome = await Promise.race([
          posting.then(
            () => 'ok',
            (e: unknown) => e,
          ),
          sleep(50).then(() => 'waiting'),
        ]);
        if (outcome === 'waiting') accepted.push(posting);
        else {
          assert.ok(outcome instanceof LedgerError && outcome.code === 'queue-full', String(outcome));
          refused += 1;
        }
      }
      assert.equal(accepted.length, 5, 'never more than maxQueue postings waiting');
      assert.equal(refused, 7);
      store.up = true;
      store.failAfterMs = 0;
      const answers = await Promise.all(accepted);
      assert.equal(answers[answers.length - 1].result.balance, 5);
      await assertSound(ledger, inner);
    } finally {
      ledger.close();
      await inner.close();
    }
  });

  describe('PostgreSQL behind a relay that is cut and restored', function () {
    let db: ScratchDatabase | undefined;

    before(async function () {
      await requirePostgres(this, 'ledger outage');
      db = await ScratchDatabase.create('prepay_outage');
    });

    after(async function () {
      await db?.drop();
    });

    it('starts with the database unreachable: 5 postings queue, the 6th is refused, all 5 post once it answers', async function () {
      assert.ok(db);
      const relay = new Relay();
      await relay.start();
      await relay.stop(); // the port is now closed: ECONNREFUSED
      const pg = new PostgresLedgerStore({
        ...db.config(),
        host: '127.0.0.1',
        port: relay.port,
        connectionTimeoutMillis: 2000,
      });
      const store = new ResilientStore(pg);
      const health: Health[] = [];
      const ledger = new Ledger(store, {
        clock: new SystemClock(),
        maxQueue: 5,
        onHealth: (h) => health.push(h),
      });
      try {
        const waiting = [
          send(ledger, { command: 'open', reference: 'open', accountId: 'P1', currency: 'GBP' }),
          ...[1, 2, 3, 4].map((i) =>
            send(ledger, { command: 'topup', reference: `pay-${i}`, accountId: 'P1', amount: 10 * i }),
          ),
        ];
        const settled = watch(waiting);
        await refusedForQueue(
          send(ledger, { command: 'topup', reference: 'pay-5', accountId: 'P1', amount: 50 }),
        );
        await until('the store to be reported down', () => health.some((h) => !h.up));
        assert.match(String(health.find((h) => !h.up)?.error), /ECONNREFUSED/);
        assert.match(String(store.lastError?.message), /ECONNREFUSED/);
        await sleep(200);
        await refusedForQueue(
          send(ledger, { command: 'topup', reference: 'pay-6', accountId: 'P1', amount: 60 }),
        );
        assert.equal(settled(), 0);

        await relay.start(); // the database answers again; the store connects and migrates
        const answers = await Promise.all(waiting);
        assert.deepEqual(
          answers.map((a) => a.result.balance),
          [0, 10, 30, 60, 100],
        );
        assert.equal(await store.getPosting('pay-5'), undefined);
        assert.equal(await pg.schemaVersion(), POSTGRES_MIGRATIONS[POSTGRES_MIGRATIONS.length - 1]?.version);
        assert.equal(health[health.length - 1].up, true);

        // Cut again mid-life: in-flight connections dropped; postings wait and then go through.
        await relay.stop();
        const more = [7, 8].map((i) =>
          send(ledger, { command: 'topup', reference: `pay-${i}`, accountId: 'P1', amount: i }),
        );
        const count = health.length;
        await until('the store to be reported down again', () => health.slice(count).some((h) => !h.up));
        await relay.start();
        const after = await Promise.all(more);
        assert.deepEqual(
          after.map((a) => a.result.balance),
          [107, 115],
        );
        await assertSound(ledger, store);
      } finally {
        ledger.close();
        await store.close();
        await relay.stop();
      }
    });
  });
});
