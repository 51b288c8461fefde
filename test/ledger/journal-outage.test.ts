/**
 * A store outage with a stop and a kill inside it, in a real Node-RED: charges keep arriving while the
 * store cannot be written (PostgreSQL cut off behind a proxy; SQLite on a full disk), Node-RED is stopped
 * with SIGTERM and, started again with the store still out, killed with SIGKILL; then the store comes back.
 * Every charge the ledger node took in is posted exactly once, every balance equals its entries, and verify
 * passes. Before the intake journal, everything queued at the stop was lost without a word.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Ledger } from '../../dist/nodes/core/ledger/ledger';
import { SystemClock } from '../../dist/nodes/core/clock';
import type { LedgerStore } from '../../dist/nodes/core/ledger/store';
import { CumulativeRounder, SUB_MINOR_PER_MINOR } from '../../dist/nodes/core/money';
import { PostgresLedgerStore } from '../../dist/nodes/store/postgres-ledger-store';
import { SqliteLedgerStore } from '../../dist/nodes/store/sqlite-ledger-store';
import { NodeRedProcess } from '../support/node-red-process';
import { sleep, tempUserDir } from '../support/node-red-helper';
import { TcpProxy } from '../support/tcp-proxy';
import { PG_BASE, requirePostgres, ScratchDatabase } from './ledger-support';
import { ledgerNodeConfig } from '../support/ledger-node';

const root = join(__dirname, '..', '..', '..');
const ACCOUNTS = ['T01', 'T02', 'T03', 'T04'];
const LEDGER_ID = 'outageledger0001';

function flow(store: Record<string, unknown>): unknown[] {
  return [
    { id: 'outagetab0000001', type: 'tab', label: 'outage' },
    {
      id: 'outagehttpin0001',
      type: 'http in',
      z: 'outagetab0000001',
      url: '/post',
      method: 'post',
      upload: false,
      swaggerDoc: '',
      wires: [['outageaccept0001']],
    },
    {
      // Answers at once (202) and hands the posting on: as a meter reader or tariff node does, the sender
      // does not wait for the store.
      id: 'outageaccept0001',
      type: 'function',
      z: 'outagetab0000001',
      func: 'const p = msg.payload;\nreturn [{ req: msg.req, res: msg.res, statusCode: 202, payload: { accepted: true } }, { topic: p.command ? undefined : "charge", payload: p }];',
      outputs: 2,
      wires: [['outageresp000001'], [LEDGER_ID]],
    },
    {
      id: 'outageresp000001',
      type: 'http response',
      z: 'outagetab0000001',
      statusCode: '',
      headers: {},
      wires: [],
    },
    ledgerNodeConfig({
      id: LEDGER_ID,
      z: 'outagetab0000001',
      store: 'outagestore00001',
      wires: [[], [], []],
    }),
    { id: 'outagestore00001', type: 'prepay-store', ...store },
  ];
}

function charges(count: number, offset: number): Array<Record<string, unknown>> {
  return Array.from({ length: count }, (_, i) => {
    const n = offset + i;
    const accountId = ACCOUNTS[n % ACCOUNTS.length] as string;
    return {
      accountId,
      meterId: `E-${accountId}`,
      readingId: `E-${accountId}:${n}`,
      amount: 10_000 + ((n * 7919) % 90_000),
      currency: 'GBP',
      breakdown: [],
      to: 1_700_000_000_000 + n * 60_000,
      kind: 'consumption',
    };
  });
}

async function post(
  red: NodeRedProcess,
  payloads: Array<Record<string, unknown>>,
  inFlight = 8,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < payloads.length) {
      const payload = payloads[next++];
      const response = await red.request('/post', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(payload),
      });
      assert.equal(response.status, 202, await response.text());
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

/** Accepted lines in the node's journal that have no settled mark (what a restart must post). */
function journaled(userDir: string): number {
  const path = join(userDir, 'prepay', `ledger-${LEDGER_ID}.journal`);
  if (!existsSync(path)) return 0;
  const text = readFileSync(path).toString('utf8');
  const end = text.indexOf('\u0000');
  const accepted = new Set<number>();
  for (const line of (end >= 0 ? text.slice(0, end) : text).split('\n')) {
    try {
      const value = JSON.parse(line) as { q?: number; s?: number };
      if (typeof value.q === 'number') accepted.add(value.q);
      if (typeof value.s === 'number') accepted.delete(value.s);
    } catch {
      // a stale fragment
    }
  }
  return accepted.size;
}

/**
 * Waits until `check` holds, at most `ms`. Without `required` it only gives the system time (the assertions
 * that follow say what went wrong): on a ledger without a journal they show the charges that were lost.
 */
async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 60_000,
  required = true,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) {
      if (required) throw new Error(`timed out waiting until ${what}`);
      return;
    }
    await sleep(100);
  }
}

async function assertEveryChargeOnce(
  store: LedgerStore,
  sent: Array<Record<string, unknown>>,
  topups: Map<string, bigint>,
): Promise<void> {
  const ledger = new Ledger(store, { clock: new SystemClock() });
  try {
    const reports = await ledger.verify();
    assert.equal(reports.length, ACCOUNTS.length);
    for (const report of reports) assert.deepEqual(report.problems, [], report.accountId);
    for (const accountId of ACCOUNTS) {
      const entries = await store.entriesOf(accountId);
      const chargeEntries = entries.filter((e) => e.kind === 'charge');
      const mine = sent.filter((c) => c.accountId === accountId);
      assert.equal(chargeEntries.length, mine.length, `${accountId}: one entry per charge`);
      assert.equal(
        new Set(chargeEntries.map((e) => e.reference)).size,
        mine.length,
        `${accountId}: no doubles`,
      );
      const chargeSub = mine.reduce((s, c) => s + BigInt(c.amount as number), 0n);
      const charged = new CumulativeRounder(SUB_MINOR_PER_MINOR, 'half-even').add(0n, chargeSub).emit;
      const account = await store.getAccount(accountId);
      assert.equal(account?.balance, (topups.get(accountId) ?? 0n) - charged, `${accountId} balance`);
      assert.equal(
        entries.reduce((s, e) => s + e.amount, 0n),
        account?.balance,
        `${accountId} balance is the sum of its entries`,
      );
    }
  } finally {
    ledger.close();
  }
}

function userDirWithPackage(dir = tempUserDir()): string {
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(root, join(dir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
  return dir;
}

async function openAccounts(red: NodeRedProcess, topups: Map<string, bigint>): Promise<void> {
  await post(
    red,
    ACCOUNTS.map((accountId) => ({
      command: 'open',
      accountId,
      currency: 'GBP',
      reference: `open-${accountId}`,
    })),
    1,
  );
  await post(
    red,
    ACCOUNTS.map((accountId) => ({
      command: 'topup',
      accountId,
      amount: 500_000,
      reference: `pay-${accountId}`,
    })),
    1,
  );
  for (const accountId of ACCOUNTS) topups.set(accountId, 500_000n);
}

describe('ledger: a store outage with a stop and a kill inside it (real Node-RED)', function () {
  this.timeout(300_000);

  describe('PostgreSQL cut off behind a proxy', function () {
    let database: ScratchDatabase | undefined;
    let proxy: TcpProxy | undefined;
    before(async function () {
      await requirePostgres(this, 'journal outage');
      database = await ScratchDatabase.create('prepay_outage');
      proxy = await TcpProxy.start({
        host: String(PG_BASE.host ?? '127.0.0.1'),
        port: Number(PG_BASE.port ?? 5432),
      });
    });
    after(async function () {
      await proxy?.stop();
      await database?.drop();
    });

    it('posts every charge taken in during the outage exactly once, across SIGTERM and SIGKILL', async function () {
      const userDir = userDirWithPackage();
      const flows = flow({
        backend: 'postgres',
        host: '127.0.0.1',
        port: String(proxy!.port),
        database: database!.name,
        user: String(PG_BASE.user ?? 'postgres'),
        ssl: false,
      });
      const topups = new Map<string, bigint>();
      let red = await NodeRedProcess.start({ userDir, flows });
      await openAccounts(red, topups);
      const before = charges(200, 0);
      await post(red, before);
      const store = new PostgresLedgerStore(database!.config());
      await until('the first charges are committed', async () => {
        await store.init();
        return (await store.existingReferences(before.map((c) => `charge:${c.readingId}`))).size === 200;
      });

      // The database goes away: 1,720 charges arrive and are journaled.
      await proxy!.cut();
      const during = charges(1_720, 200);
      await post(red, during);
      await until(
        'every charge of the outage is journaled',
        () => journaled(userDir) >= 1_720,
        10_000,
        false,
      );
      // A stop inside the outage, a start with the database still away, a kill, another start.
      await red.stop();
      assert.ok(journaled(userDir) >= 1_720, 'the journal keeps them across the stop');
      red = await NodeRedProcess.start({ userDir });
      const more = charges(300, 1_920);
      await post(red, more);
      await until('the later charges are journaled too', () => journaled(userDir) >= 2_020, 10_000, false);
      await red.kill('SIGKILL');
      red = await NodeRedProcess.start({ userDir });
      await sleep(1_000);
      await proxy!.restore();
      const all = [...before, ...during, ...more];
      await until(
        'every charge is committed',
        async () =>
          (await store.existingReferences(all.map((c) => `charge:${c.readingId}`))).size === all.length,
        60_000,
        false,
      );
      await until('the journal is settled', () => journaled(userDir) === 0, 10_000, false);
      await red.stop();
      try {
        await assertEveryChargeOnce(store, all, topups);
      } finally {
        await store.close();
      }
    });
  });

  describe('SQLite on a full disk (a tmpfs)', function () {
    let mount: string | undefined;
    before(function () {
      const dir = join(tempUserDir(), 'site');
      mkdirSync(dir, { recursive: true });
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', dir], { stdio: 'pipe' });
        mount = dir;
      } catch (error) {
        if (process.env.CI === 'true') throw new Error(`mounting a tmpfs is needed in CI: ${String(error)}`);
        console.warn(
          `\n!!! cannot mount a tmpfs (${(error as Error).message.split('\n')[0]}): SKIPPING the full-disk ledger test\n`,
        );
        this.skip();
      }
    });
    after(function () {
      if (mount) execFileSync('umount', ['-l', mount]);
    });

    it('keeps what it took in while the disk was full and posts it once the disk has room', async function () {
      const userDir = userDirWithPackage(mount);
      const flows = flow({ backend: 'sqlite', file: 'ledger.db', synchronous: 'FULL' });
      const settings = { prepay: { journalReserveMiB: 2 } };
      const topups = new Map<string, bigint>();
      let red = await NodeRedProcess.start({ userDir, flows, settings });
      await openAccounts(red, topups);
      const before = charges(100, 0);
      await post(red, before);
      await sleep(1_000);
      // Nothing else can be written on the disk now.
      const filler = join(userDir, 'filler');
      const chunk = Buffer.alloc(256 * 1024, 1);
      try {
        for (;;) appendFileSync(filler, chunk);
      } catch (error) {
        assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
      }
      for (let size = 4096; size >= 1; size = Math.floor(size / 2)) {
        try {
          for (;;) appendFileSync(filler, Buffer.alloc(size, 1));
        } catch {
          // down to the last bytes
        }
      }
      const during = charges(1_000, 100);
      await post(red, during);
      await until(
        'every charge of the outage is journaled',
        () => journaled(userDir) >= 1_000,
        10_000,
        false,
      );
      await red.kill('SIGKILL');
      rmSync(filler);
      red = await NodeRedProcess.start({ userDir, settings });
      const all = [...before, ...during];
      const store = new SqliteLedgerStore({ path: join(userDir, 'ledger.db') });
      await store.init();
      try {
        await until('the journal is settled', () => journaled(userDir) === 0, 60_000, false);
        await until(
          'the store is written',
          async () => (await store.entriesOf('T01')).length > 1 + before.length / 4,
          5_000,
          false,
        );
        await red.stop();
        await assertEveryChargeOnce(store, all, topups);
      } finally {
        await store.close();
      }
    });
  });
});
