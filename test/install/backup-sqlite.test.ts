/**
 * Backup and restore of a SQLite ledger while Node-RED keeps posting (docs/INSTALL.md, "Backup and
 * restore"): a ledger with 20,000 postings of history in a real Node-RED, a producer posting over HTTP the
 * whole time, one copy taken through the store's admin route and one by the nightly backup script
 * (docs/examples/prepay-backup.sh, which runs the `prepay-ledger-backup` command from another process).
 * Each copy holds every posting answered before it was asked for, passes the ledger's verify, and its
 * balances equal their entries and the postings it holds. The script's copy is restored with the command
 * into a new user directory, where a new Node-RED continues: references from before the copy are
 * duplicates, new ones post.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SqliteLedgerStore } from '../../dist/nodes/store/sqlite-ledger-store';
import { SQLITE_MIGRATIONS } from '../../dist/nodes/store/sqlite-schema';
import { scratchDir } from '../ledger/ledger-support';
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

const CLI = join(__dirname, '..', '..', '..', 'dist', 'nodes', 'store', 'backup-cli.js');
const SEEDED = 20_000;
const run = promisify(execFile);

/** A copy's store (on a scratch copy of it: opening a ledger switches it to WAL) and its references. */
async function openCopy(file: string): Promise<{ store: SqliteLedgerStore; references: string[] }> {
  const scratch = join(scratchDir(), 'copy.db');
  copyFileSync(file, scratch);
  const store = new SqliteLedgerStore({ path: scratch });
  await store.init();
  const rows = store.database().prepare('SELECT reference FROM postings').all() as Array<{
    reference: string;
  }>;
  return { store, references: rows.map((r) => r.reference) };
}

function backupRoute(red: NodeRedProcess, name: string): Promise<Response> {
  return fetch(`${red.baseUrl}/prepay-store/${STORE_ID}/backup`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name }),
  });
}

describe('ledger backup and restore while a producer posts: SQLite', function () {
  this.timeout(300_000);
  const stream: Posting[] = postingStream(SEEDED + 20_000, 20_261_206, '');
  const history = stream.slice(0, SEEDED);
  const answeredBefore = { route: [] as string[], script: [] as string[] };
  let userDir: string;
  let red: NodeRedProcess | undefined;
  let producer: Producer;
  let scriptCopy: string;

  before(async function () {
    userDir = userDirWithPackage();
    const store = new SqliteLedgerStore({ path: join(userDir, 'ledger.db') });
    await store.init();
    await seed(store, history);
    await store.close();
    red = await NodeRedProcess.start({
      userDir,
      flows: ledgerFlow({ backend: 'sqlite', file: 'ledger.db', synchronous: 'FULL' }),
    });
    producer = new Producer(red.baseUrl, stream.slice(SEEDED));
  });

  after(async function () {
    await producer?.stop().catch(() => undefined);
    await red?.stop();
  });

  it('writes consistent copies through the admin route and the backup script while postings go on', async function () {
    const seeded = [...opens(), ...history].map((p) => p.reference);
    producer.start();
    await producer.waitFor(300);

    answeredBefore.route = [...seeded, ...producer.acked];
    let atStart = producer.acked.length;
    const response = await backupRoute(red!, 'route.db');
    const report = (await response.json()) as Record<string, unknown>;
    assert.equal(response.status, 200, JSON.stringify(report));
    const duringRoute = producer.acked.length - atStart;
    const routeCopy = join(userDir, 'backups', 'route.db');
    assert.equal(report.file, routeCopy);
    assert.equal(report.schemaVersion, SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1]?.version);
    assert.equal(existsSync(`${routeCopy}.partial`), false);
    assert.equal(existsSync(`${routeCopy}-wal`), false, 'the copy is one self-contained file');
    // The same name again is refused (a backup never overwrites another), and so is a path.
    assert.equal((await backupRoute(red!, 'route.db')).status, 409);
    const outside = await backupRoute(red!, '../ledger.db');
    assert.equal(outside.status, 400);
    assert.equal(((await outside.json()) as { field: string }).field, 'name');

    await producer.waitFor(300);
    answeredBefore.script = [...seeded, ...producer.acked];
    atStart = producer.acked.length;
    const backupDir = scratchDir();
    const { folder, ms } = await runBackupScript({
      NODE_RED_USER_DIR: userDir,
      PREPAY_BACKUP_DIR: backupDir,
      PREPAY_LEDGER_FILE: 'ledger.db',
    });
    const duringScript = producer.acked.length - atStart;
    scriptCopy = join(folder, 'ledger.db');
    const archived = await tarList(join(folder, 'user-dir.tar.gz'));
    assert.ok(archived.includes('./flows.json'), archived.join(' '));
    assert.deepEqual(
      archived.filter((name) => /node_modules|backups|\.db/.test(name)),
      [],
      'no packages, route copies or SQLite files in the archive',
    );

    await producer.waitFor(300);
    await producer.stop();
    console.log(
      `      ledger ${Math.round(statSync(join(userDir, 'ledger.db')).size / 1024)} kB; route copy ${String(report.ms)} ms ` +
        `with ${duringRoute} postings answered meanwhile; the script ${ms} ms (copy, check, archive) ` +
        `with ${duringScript} answered meanwhile; ${producer.acked.length} posted live in all`,
    );
    assert.ok(duringRoute + duringScript > 0, 'postings went on while the copies were taken');

    for (const [file, before] of [
      [routeCopy, answeredBefore.route],
      [scriptCopy, answeredBefore.script],
    ] as const) {
      const { store, references } = await openCopy(file);
      try {
        if (file === routeCopy)
          assert.equal(references.length, report.postings, 'the report counts the copy');
        assert.ok(references.length < SEEDED + 5 + producer.acked.length, `${file} is a copy of a moment`);
        await assertConsistentCopy(store, references, stream, before);
      } finally {
        await store.close();
      }
    }
  });

  it("restores the script's copy into a new user directory, where the ledger continues", async function () {
    assert.ok(scriptCopy, 'the first test made the copy');
    const userDir2 = userDirWithPackage();
    const { stdout } = await run(process.execPath, [
      CLI,
      'restore',
      scriptCopy,
      join(userDir2, 'ledger.db'),
      '--json',
    ]);
    const restored = JSON.parse(stdout) as { ok: boolean; previous?: string; check: { ok: boolean } };
    assert.equal(restored.ok, true);
    assert.equal(restored.check.ok, true);
    assert.equal(restored.previous, undefined, 'there was no ledger to keep aside');

    const copy = await openCopy(join(userDir2, 'ledger.db'));
    await copy.store.close();
    const red2 = await NodeRedProcess.start({
      userDir: userDir2,
      flows: ledgerFlow({ backend: 'sqlite', file: 'ledger.db', synchronous: 'FULL' }),
    });
    try {
      await assertLedgerContinues(
        red2.baseUrl,
        stream,
        answeredBefore.script,
        new Set(copy.references),
        producer.acked,
      );
    } finally {
      await red2.stop();
    }
  });
});
