/**
 * The store node's tamper evidence inside a real Node-RED runtime: the seal key from the encrypted
 * credentials or the environment, the checkpoint file in the user directory (at start, on the
 * runtime clock and on demand through the ledger), and verify through the ledger node.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ManualClock } from '../../dist/nodes/core/clock';
import { sealKey } from '../../dist/nodes/core/ledger/seal';
import {
  collect,
  helper,
  loadBuiltNode,
  sleep,
  startServer,
  stopServer,
  tempUserDir,
} from '../support/node-red-helper';
import { ledgerNodeConfig } from '../support/ledger-node';

const storeNode = loadBuiltNode('store/prepay-store.js');
const ledgerNode = loadBuiltNode('ledger/prepay-ledger.js');

const KEY = 'f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff';

interface LogCall {
  level: number;
  msg: unknown;
}
const logged = (): LogCall[] =>
  (helper as unknown as { log(): { args: Array<[LogCall]> } }).log().args.map(([entry]) => entry);

function flow(store: Record<string, unknown> = {}): Array<Record<string, unknown>> {
  return [
    { id: 's1', type: 'prepay-store', backend: 'sqlite', file: 'ledger.db', synchronous: 'FULL', ...store },
    ledgerNodeConfig({
      id: 'l1',
      store: 's1',
      snapshotMinutes: 0,
      maxQueue: 1000,
      timezone: 'Europe/London',
      wires: [['results'], []],
    }),
    { id: 'results', type: 'helper' },
  ];
}

async function until<T>(what: string, probe: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function lines(file: string): Array<Record<string, unknown>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('prepay-store node: seal key and checkpoints', function () {
  let userDir: string;
  let results: ReturnType<typeof collect>;

  async function start(
    store: Record<string, unknown> = {},
    credentials: Record<string, unknown> = {},
    settings: Record<string, unknown> = {},
  ): Promise<void> {
    userDir = tempUserDir();
    helper.settings({ userDir, ...settings });
    await startServer();
    await helper.load([storeNode, ledgerNode], flow(store), { s1: credentials });
    results = collect(helper.getNode('results'));
  }

  async function command(payload: Record<string, unknown>): Promise<Record<string, unknown>> {
    const before = results.length;
    helper.getNode('l1').receive({ payload });
    const msg = await until('the ledger answer', () => results[before]);
    return msg.payload as Record<string, unknown>;
  }

  afterEach(async function () {
    await helper.unload();
    await stopServer();
    helper.settings({});
  });

  it('seals entries with the key in the credentials and keeps checkpoints in the user directory: at start and on demand', async function () {
    await start({}, { sealKey: KEY });
    const file = join(userDir, 'ledger.checkpoints.jsonl');
    const id = sealKey(KEY, 'seal key').id;
    const first = await until('the first checkpoint', () => lines(file)[0]);
    assert.equal(first.n, 1);
    assert.equal(first.key, id);
    assert.deepEqual(first.accounts, []);

    await command({ command: 'open', reference: 'open-T1', accountId: 'T1', currency: 'GBP' });
    await command({ command: 'topup', reference: 'pay-1', accountId: 'T1', amount: 2500 });
    const written = await command({ command: 'checkpoint' });
    assert.equal(written.ok, true);
    assert.equal(written.line, 2);
    assert.equal(written.keyId, id);
    assert.equal(written.location, file);
    assert.deepEqual(lines(file)[1]?.accounts, [
      { a: 'T1', s: 2, h: (lines(file)[1]?.accounts as Array<{ h: string }>)[0]?.h, b: '2500', d: '0', p: 0 },
    ]);
    const verified = await command({ command: 'verify' });
    assert.equal(verified.ok, true);
    assert.deepEqual(
      (verified.accounts as Array<Record<string, unknown>>).map((a) => [a.accountId, a.sealed, a.checkpoint]),
      [['T1', true, 2]],
    );
    // In the database: a seal on every entry, the key nowhere.
    const db = new Database(join(userDir, 'ledger.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT seal FROM entries').all() as Array<{ seal: string }>;
      assert.equal(rows.length, 2);
      for (const row of rows) assert.match(row.seal, /^[0-9a-f]{32}$/);
      const dump = (
        db.prepare("SELECT group_concat(sql, ' ') AS s FROM sqlite_master").get() as { s: string }
      ).s;
      assert.ok(!dump.includes(KEY));
    } finally {
      db.close();
    }
    assert.ok(
      logged().some((l) =>
        /prepay-store: checkpoint 1 of 0 accounts .* sealed with key [0-9a-f]{12}: [0-9a-f]{64}$/.test(
          String(l.msg),
        ),
      ),
    );
  });

  it('takes the key from PREPAY_LEDGER_SEAL_KEY when the credentials hold none', async function () {
    process.env.PREPAY_LEDGER_SEAL_KEY = KEY;
    try {
      await start({ checkpointFile: 'audit/ledger-seals.jsonl' });
    } finally {
      delete process.env.PREPAY_LEDGER_SEAL_KEY;
    }
    const first = await until(
      'the first checkpoint',
      () => lines(join(userDir, 'audit/ledger-seals.jsonl'))[0],
    );
    assert.equal(first.key, sealKey(KEY, 'seal key').id);
  });

  it('refuses a key too short, naming the field, and warns when there is no key', async function () {
    await start({}, { sealKey: 'secret' });
    assert.ok(
      logged().some((l) => /prepay-store: seal key: must be at least 32 characters/.test(String(l.msg))),
      JSON.stringify(logged().map((l) => l.msg)),
    );
    await helper.unload();
    await stopServer();
    await start();
    assert.ok(logged().some((l) => /prepay-store: no seal key/.test(String(l.msg))));
    const first = await until(
      'the first checkpoint',
      () => lines(join(userDir, 'ledger.checkpoints.jsonl'))[0],
    );
    assert.equal(first.key, null);
  });

  it('writes a checkpoint every few hours on the runtime clock, and says which account failed its check', async function () {
    const clock = new ManualClock(Date.UTC(2025, 0, 6, 9));
    await start({ checkpointHours: 6 }, { sealKey: KEY }, { prepay: { clock } });
    const file = join(userDir, 'ledger.checkpoints.jsonl');
    clock.advance(0);
    await until('the first checkpoint', () => lines(file)[0]);
    await command({ command: 'open', reference: 'open-T1', accountId: 'T1', currency: 'GBP' });
    await command({ command: 'topup', reference: 'pay-1', accountId: 'T1', amount: 2500 });
    clock.advance(5 * 3_600_000);
    await sleep(100);
    assert.equal(lines(file).length, 1, 'not before six hours');
    clock.advance(3_600_000);
    const second = await until('the second checkpoint', () => lines(file)[1]);
    assert.equal(second.at, Date.UTC(2025, 0, 6, 15));
    // The database owner removes the top-up and rolls the account back.
    const db = new Database(join(userDir, 'ledger.db'));
    try {
      db.exec('DROP TRIGGER entries_no_delete; DROP TRIGGER postings_no_delete;');
      db.exec(
        "DELETE FROM entries WHERE reference = 'pay-1'; DELETE FROM postings WHERE reference = 'pay-1'",
      );
      const open = db.prepare("SELECT hash FROM entries WHERE account_id = 'T1' AND seq = 1").get() as {
        hash: string;
      };
      db.prepare("UPDATE accounts SET seq = 1, balance = 0, last_hash = ? WHERE id = 'T1'").run(open.hash);
    } finally {
      db.close();
    }
    clock.advance(6 * 3_600_000);
    // Verifying every account takes a while on a busy machine: wait longer than for the others.
    const third = await until('the third checkpoint', () => lines(file)[2], 20_000);
    assert.deepEqual(third.accounts, second.accounts, 'the rolled-back account keeps its last record');
    assert.ok(
      logged().some((l) =>
        /checkpoint 3: account T1 failed its check .*checkpoint 2 recorded 2: entries removed/.test(
          String(l.msg),
        ),
      ),
    );
    const verified = await command({ command: 'verify' });
    assert.equal(verified.ok, false);
  });
});
