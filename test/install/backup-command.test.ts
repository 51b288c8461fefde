/**
 * The `prepay-ledger-backup` command's refusals and checks, run as a user runs it (a child process, exit
 * status and output): it never overwrites a copy, refuses a ledger owned by another user, finds an edited
 * copy and will not restore it, will not restore over a ledger another process has open, keeps the ledger
 * it replaces, and checks an older copy without changing it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SystemClock } from '../../dist/nodes/core/clock';
import { Ledger } from '../../dist/nodes/core/ledger/ledger';
import { readRequest } from '../../dist/nodes/core/ledger/requests';
import { SqliteLedgerStore } from '../../dist/nodes/store/sqlite-ledger-store';
import { SQLITE_MIGRATIONS } from '../../dist/nodes/store/sqlite-schema';
import { scratchDir } from '../ledger/ledger-support';
import { guideText } from './guide';
import { postingStream, seed } from './ledger-site';

const CLI = join(__dirname, '..', '..', '..', 'dist', 'nodes', 'store', 'backup-cli.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) =>
    execFile(process.execPath, [CLI, ...args], (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    ),
  );
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

async function ledgerFile(postings = 200): Promise<string> {
  const file = join(scratchDir(), 'ledger.db');
  const store = new SqliteLedgerStore({ path: file });
  await store.init();
  await seed(store, postingStream(postings, 7, ''));
  await store.close();
  return file;
}

describe('prepay-ledger-backup command', function () {
  this.timeout(60_000);

  it('prints its usage, refuses unknown commands and never overwrites a copy', async function () {
    const help = await cli('--help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /prepay-ledger-backup backup <ledger\.db> <copy\.db>/);
    const unknown = await cli('copy', 'a', 'b');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown command "copy"/);

    const ledger = await ledgerFile();
    const copy = join(scratchDir(), 'copy.db');
    writeFileSync(copy, 'an older backup');
    const refused = await cli('backup', ledger, copy);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /exists \(a backup never overwrites\)/);
    assert.equal(readFileSync(copy, 'utf8'), 'an older backup');
  });

  it('refuses a ledger that belongs to another user', async function () {
    if (process.getuid?.() !== 0) this.skip(); // only root can give a file away
    const ledger = await ledgerFile(20);
    chownSync(ledger, 65534, 65534);
    const refused = await cli('backup', ledger, join(scratchDir(), 'copy.db'));
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /belongs to user id 65534 .*\(sudo -u nodered/);
    const check = await cli('check', ledger);
    assert.equal(check.code, 1);
    assert.match(check.stderr, /belongs to user id 65534/);
  });

  it('finds an edited copy (exit status 2) and will not restore it', async function () {
    const ledger = await ledgerFile();
    const copy = join(scratchDir(), 'copy.db');
    assert.equal((await cli('backup', ledger, copy)).code, 0);
    const db = new Database(copy);
    db.exec('DROP TRIGGER entries_no_update');
    db.prepare("UPDATE entries SET amount = amount + 100 WHERE account_id = 'T02' AND seq = 3").run();
    db.close();

    const check = await cli('check', copy, '--json');
    assert.equal(check.code, 2);
    const report = JSON.parse(check.stdout) as { ok: boolean; problems: Array<{ accountId: string }> };
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.problems.map((p) => p.accountId),
      ['T02'],
    );

    const target = join(scratchDir(), 'ledger.db');
    const restore = await cli('restore', copy, target);
    assert.equal(restore.code, 1);
    assert.match(restore.stderr, /does not pass the ledger check \(T02: .*\): nothing restored/);
    assert.equal(existsSync(target), false);
  });

  it('will not restore over a ledger that is open, and keeps the ledger it replaces', async function () {
    const ledger = await ledgerFile(300);
    const copy = join(scratchDir(), 'copy.db');
    assert.equal((await cli('backup', ledger, copy)).code, 0);
    // The running ledger moves on after the copy.
    const store = new SqliteLedgerStore({ path: ledger });
    await store.init();
    const running = new Ledger(store, { clock: new SystemClock() });
    await running.execute(
      readRequest(undefined, { command: 'topup', accountId: 'T01', amount: 500, reference: 'after-copy' }),
    );

    const refused = await cli('restore', copy, ledger);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /is open in another process: stop Node-RED first/);
    running.close();
    await store.close();

    const restored = await cli('restore', copy, ledger, '--json');
    assert.equal(restored.code, 0, restored.stderr);
    const report = JSON.parse(restored.stdout) as { previous: string };
    assert.match(report.previous, /ledger\.db\.before-restore-\d{4}-\d\d-\d\dT/);
    const kept = new Database(report.previous, { readonly: true });
    assert.equal(
      (
        kept.prepare("SELECT COUNT(*) AS n FROM postings WHERE reference = 'after-copy'").get() as {
          n: number;
        }
      ).n,
      1,
      'the replaced ledger is kept, with what it took after the copy',
    );
    kept.close();

    const back = new SqliteLedgerStore({ path: ledger });
    await back.init();
    try {
      assert.equal(await back.getPosting('after-copy'), undefined, 'the restored ledger is the copy');
      assert.equal((await back.listAccounts()).length, 5);
    } finally {
      await back.close();
    }
    assert.deepEqual(
      readdirSync(join(ledger, '..')).filter((f) => f.includes('partial')),
      [],
    );
  });

  it('checks a copy made by an older version of the package without changing it', async function () {
    const file = join(scratchDir(), 'v1.db');
    const db = new Database(file);
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
    db.exec(SQLITE_MIGRATIONS[0].sql);
    db.prepare('INSERT INTO schema_migrations VALUES (1, 0)').run();
    db.close();
    const before = sha256(file);
    const check = await cli('check', file, '--json');
    assert.equal(check.code, 0, check.stderr);
    const report = JSON.parse(check.stdout) as { ok: boolean; schemaVersion: number };
    assert.deepEqual([report.ok, report.schemaVersion], [true, 1]);
    assert.equal(sha256(file), before, 'the checked file is unchanged');
  });

  it('after an upgrade migrated the ledger, the older version refuses it and the pre-upgrade copy brings it back', async function () {
    const ledger = await ledgerFile();
    const preUpgrade = join(scratchDir(), 'before-upgrade.db');
    assert.equal((await cli('backup', ledger, preUpgrade)).code, 0);
    // What a newer version's migration leaves behind.
    const latest = SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1]?.version as number;
    const db = new Database(ledger);
    db.exec('CREATE TABLE a_newer_feature (x INTEGER)');
    db.prepare('INSERT INTO schema_migrations VALUES (?, 0)').run(latest + 1);
    db.close();

    const refused = new SqliteLedgerStore({ path: ledger });
    const message = `ledger database schema version ${latest + 1} is newer than this package supports (${latest})`;
    await assert.rejects(refused.init(), { message });
    assert.ok(
      guideText().includes('`ledger database schema version <n> is newer than this package supports (<m>)`'),
      'the guide quotes the message a rollback meets',
    );
    const check = await cli('check', ledger);
    assert.equal(check.code, 1);
    assert.match(check.stderr, new RegExp(message.replace(/[()]/g, '\\$&')));

    const restored = await cli('restore', preUpgrade, ledger, '--json');
    assert.equal(restored.code, 0, restored.stderr);
    const store = new SqliteLedgerStore({ path: ledger });
    await store.init();
    try {
      assert.equal(store.schemaVersion(), latest);
      assert.equal((await store.listAccounts()).length, 5);
    } finally {
      await store.close();
    }
  });
});
