/**
 * Backup and restore of a PostgreSQL ledger while Node-RED keeps posting (docs/INSTALL.md, "Backup and
 * restore"): a database this suite creates (and drops) with 20,000 postings of history, a real Node-RED
 * posting to it over HTTP the whole time, the nightly backup script taking its `pg_dump`, the dump restored
 * with the guide's `pg_restore` command into a second new database: it holds every posting answered before
 * the dump began, passes verify, its balances equal their entries and its postings, and a Node-RED on it
 * continues with earlier references answered as duplicates.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PostgresLedgerStore } from '../../dist/nodes/store/postgres-ledger-store';
import { POSTGRES_MIGRATIONS } from '../../dist/nodes/store/postgres-schema';
import { PG_BASE, requirePostgres, ScratchDatabase, scratchDir } from '../ledger/ledger-support';
import { NodeRedProcess } from '../support/node-red-process';
import {
  assertConsistentCopy,
  assertLedgerContinues,
  ledgerFlow,
  opens,
  Posting,
  postingStream,
  Producer,
  runBackupScript,
  seed,
  STORE_ID,
  tarList,
  userDirWithPackage,
} from './ledger-site';
import { guideCommand } from './guide';

const SEEDED = 20_000;
const run = promisify(execFile);

const libpq = (database: string): Record<string, string> => ({
  PGHOST: String(PG_BASE.host),
  PGPORT: String(PG_BASE.port),
  PGUSER: String(PG_BASE.user),
  PGDATABASE: database,
});

function storeOn(database: string): Record<string, unknown> {
  return {
    backend: 'postgres',
    host: String(PG_BASE.host),
    port: String(PG_BASE.port),
    database,
    user: String(PG_BASE.user),
    ssl: false,
  };
}

describe('ledger backup and restore while a producer posts: PostgreSQL (pg_dump, pg_restore)', function () {
  this.timeout(300_000);
  const stream: Posting[] = postingStream(SEEDED + 20_000, 20_261_207, 'pg-');
  const databases: ScratchDatabase[] = [];
  let red: NodeRedProcess | undefined;
  let producer: Producer | undefined;

  before(async function () {
    await requirePostgres(this, 'backup and restore');
  });

  after(async function () {
    await producer?.stop().catch(() => undefined);
    await red?.stop();
    for (const database of databases) await database.drop();
  });

  it('dumps while postings go on; the restored database is consistent and the ledger continues on it', async function () {
    const live = await ScratchDatabase.create('prepay_backup');
    databases.push(live);
    const seedStore = new PostgresLedgerStore(live.config());
    await seedStore.init();
    await seed(seedStore, stream.slice(0, SEEDED));
    await seedStore.close();

    const userDir = userDirWithPackage();
    red = await NodeRedProcess.start({ userDir, flows: ledgerFlow(storeOn(live.name)) });
    // The store's backup route is for SQLite: a PostgreSQL ledger says to use pg_dump.
    const route = await red.request(`/prepay-store/${STORE_ID}/backup`, { method: 'POST' });
    assert.equal(route.status, 400);
    assert.match(((await route.json()) as { error: string }).error, /^backend: .*pg_dump/);

    producer = new Producer(red.baseUrl, stream.slice(SEEDED));
    producer.start();
    await producer.waitFor(300);
    const answeredBefore = [...opens(), ...stream.slice(0, SEEDED)]
      .map((p) => p.reference)
      .concat(producer.acked);
    const atStart = producer.acked.length;
    const { folder, ms } = await runBackupScript({
      NODE_RED_USER_DIR: userDir,
      PREPAY_BACKUP_DIR: scratchDir(),
      ...libpq(live.name),
    });
    const during = producer.acked.length - atStart;
    assert.ok((await tarList(join(folder, 'user-dir.tar.gz'))).includes('./flows.json'));
    await producer.waitFor(300);
    await producer.stop();
    await red.stop();
    red = undefined;
    console.log(`      pg_dump and archive ${ms} ms with ${during} postings answered meanwhile`);

    const restored = await ScratchDatabase.create('prepay_restored');
    databases.push(restored);
    const restore = guideCommand('pg_restore');
    await run(
      restore[0] as string,
      [...restore.slice(1), `--dbname=${restored.name}`, join(folder, 'ledger.dump')],
      {
        env: { ...process.env, ...libpq(restored.name) },
      },
    );

    const store = new PostgresLedgerStore(restored.config());
    await store.init();
    let references: string[];
    try {
      assert.equal(
        await store.schemaVersion(),
        POSTGRES_MIGRATIONS[POSTGRES_MIGRATIONS.length - 1]?.version,
        'the restored schema is the latest: it needed no migration',
      );
      references = (await store.query('SELECT reference FROM postings')).rows.map((r) => String(r.reference));
      assert.ok(references.length < SEEDED + 5 + producer.acked.length, 'the dump is a copy of a moment');
      await assertConsistentCopy(store, references, stream, answeredBefore);
      // The append-only triggers came back with the schema.
      await assert.rejects(
        store.query("UPDATE entries SET amount = 0 WHERE account_id = 'T01'"),
        /append-only/,
      );
    } finally {
      await store.close();
    }

    red = await NodeRedProcess.start({
      userDir: userDirWithPackage(),
      flows: ledgerFlow(storeOn(restored.name)),
    });
    await assertLedgerContinues(red.baseUrl, stream, answeredBefore, new Set(references), producer.acked);
  });
});
