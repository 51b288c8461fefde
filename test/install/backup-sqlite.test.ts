/**
 * Backup and restore of a SQLite ledger while Node-RED keeps posting (docs/INSTALL.md, "Backup and
 * restore"): a ledger with 20,000 postings of history in a real Node-RED, a producer posting over HTTP the
 * whole time, one copy taken through the store's admin route and one by the `prepay-ledger-backup`
 * command from another process. Each copy holds every posting answered before it was asked for, passes
 * the ledger's verify, and its balances equal their entries and the postings it holds. The command's copy
 * is restored into a new user directory, where a new Node-RED continues: references from before the copy
 * are duplicates, new ones post.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SqliteLedgerStore } from '../../dist/nodes/store/sqlite-ledger-store';
import { scratchDir } from '../ledger/ledger-support';
import { tempUserDir } from '../support/node-red-helper';
import { NodeRedProcess } from '../support/node-red-process';
import {
  assertConsistentCopy,
  ledgerFlow,
  opens,
  post,
  Posting,
  postingStream,
  Producer,
  seed,
  STORE_ID,
} from './ledger-site';

const root = join(__dirname, '..', '..', '..');
const CLI = join(root, 'dist', 'nodes', 'store', 'backup-cli.js');
const SEEDED = 20_000;
const run = promisify(execFile);

export function userDirWithPackage(): string {
  const userDir = tempUserDir();
  mkdirSync(join(userDir, 'node_modules'), { recursive: true });
  symlinkSync(root, join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
  return userDir;
}

/** The references a copy holds, read from a scratch copy of it (opening a ledger switches it to WAL). */
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

describe('ledger backup and restore while a producer posts: SQLite', function () {
  this.timeout(300_000);
  const stream: Posting[] = postingStream(SEEDED + 20_000, 20_261_206, '');
  const history = stream.slice(0, SEEDED);
  const live = stream.slice(SEEDED);
  const answeredBefore = { route: [] as string[], command: [] as string[] };
  let userDir: string;
  let red: NodeRedProcess | undefined;
  let producer: Producer;
  let commandCopy: string;

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
    producer = new Producer(red.baseUrl, live);
  });

  after(async function () {
    await producer?.stop().catch(() => undefined);
    await red?.stop();
  });

  it('writes consistent copies through the admin route and the command while postings go on', async function () {
    const seeded = [...opens(), ...history].map((p) => p.reference);
    producer.start();
    await producer.waitFor(300);

    answeredBefore.route = [...seeded, ...producer.acked];
    let atStart = producer.acked.length;
    const response = await fetch(`${red!.baseUrl}/prepay-store/${STORE_ID}/backup`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'route.db' }),
    });
    const report = (await response.json()) as Record<string, unknown>;
    assert.equal(response.status, 200, JSON.stringify(report));
    const duringRoute = producer.acked.length - atStart;
    const routeCopy = join(userDir, 'backups', 'route.db');
    assert.equal(report.file, routeCopy);
    assert.equal(report.schemaVersion, 2);
    assert.equal(existsSync(`${routeCopy}.partial`), false);
    assert.equal(existsSync(`${routeCopy}-wal`), false, 'the copy is one self-contained file');

    // The same name again is refused: a backup never overwrites another.
    const again = await fetch(`${red!.baseUrl}/prepay-store/${STORE_ID}/backup`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'route.db' }),
    });
    assert.equal(again.status, 409);
    const outside = await fetch(`${red!.baseUrl}/prepay-store/${STORE_ID}/backup`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: '../ledger.db' }),
    });
    assert.equal(outside.status, 400);
    assert.equal(((await outside.json()) as { field: string }).field, 'name');

    await producer.waitFor(300);
    answeredBefore.command = [...seeded, ...producer.acked];
    atStart = producer.acked.length;
    commandCopy = join(scratchDir(), 'nightly', 'ledger.db');
    const { stdout } = await run(process.execPath, [
      CLI,
      'backup',
      join(userDir, 'ledger.db'),
      commandCopy,
      '--json',
    ]);
    const duringCommand = producer.acked.length - atStart;
    const commandReport = JSON.parse(stdout) as {
      ok: boolean;
      backup: { postings: number; bytes: number; ms: number };
      check: { ok: boolean; accounts: number; problems: unknown[] };
    };
    assert.equal(commandReport.ok, true, stdout);
    assert.equal(commandReport.check.accounts, 5);
    assert.deepEqual(commandReport.check.problems, []);

    await producer.waitFor(300);
    await producer.stop();
    console.log(
      `      ledger ${Math.round(statSync(join(userDir, 'ledger.db')).size / 1024)} kB; route copy ${String(report.ms)} ms ` +
        `with ${duringRoute} postings answered meanwhile; command copy ${commandReport.backup.ms} ms (and its check) ` +
        `with ${duringCommand} answered meanwhile; ${producer.acked.length} posted live in all`,
    );
    assert.ok(duringRoute + duringCommand > 0, 'postings went on while the copies were taken');

    for (const [file, before, reported] of [
      [routeCopy, answeredBefore.route, report.postings],
      [commandCopy, answeredBefore.command, commandReport.backup.postings],
    ] as const) {
      const { store, references } = await openCopy(file);
      try {
        assert.equal(references.length, reported, `${file}: the report counts the copy's postings`);
        assert.ok(references.length < SEEDED + 5 + producer.acked.length, `${file} is a copy of a moment`);
        await assertConsistentCopy(store, references, stream, before);
      } finally {
        await store.close();
      }
    }
  });

  it("restores the command's copy into a new user directory, where the ledger continues", async function () {
    assert.ok(commandCopy, 'the first test made the copy');
    const userDir2 = userDirWithPackage();
    const { stdout } = await run(process.execPath, [
      CLI,
      'restore',
      commandCopy,
      join(userDir2, 'ledger.db'),
      '--json',
    ]);
    const restored = JSON.parse(stdout) as { ok: boolean; previous?: string; check: { ok: boolean } };
    assert.equal(restored.ok, true);
    assert.equal(restored.check.ok, true);
    assert.equal(restored.previous, undefined, 'there was no ledger to keep aside');

    const { references } = await openCopy(join(userDir2, 'ledger.db')).then(async (copy) => {
      await copy.store.close();
      return copy;
    });
    const inCopy = new Set(references);
    const red2 = await NodeRedProcess.start({
      userDir: userDir2,
      flows: ledgerFlow({ backend: 'sqlite', file: 'ledger.db', synchronous: 'FULL' }),
    });
    try {
      await assertLedgerContinues(red2.baseUrl, stream, answeredBefore.command, inCopy, producer.acked);
    } finally {
      await red2.stop();
    }
  });
});

/**
 * On a restored ledger: postings answered before the copy are duplicates (answered with their original
 * result, nothing posted), a posting the old ledger took after the copy posts again, a new one posts, and
 * verify passes.
 */
export async function assertLedgerContinues(
  baseUrl: string,
  stream: Posting[],
  answeredBefore: string[],
  inCopy: Set<string>,
  answeredLive: string[],
): Promise<void> {
  const byReference = new Map(stream.map((p) => [p.reference, p]));
  const beforeCopy = [answeredBefore[10], answeredBefore[answeredBefore.length - 1]].map(
    (reference) => byReference.get(reference as string) as Posting,
  );
  for (const posting of beforeCopy) {
    const answer = await post(baseUrl, posting.payload);
    assert.equal(answer.status, 200, answer.body.error);
    assert.equal(answer.body.duplicate, true, `${posting.reference} is a duplicate after the restore`);
  }
  const afterCopy = answeredLive.find((reference) => !inCopy.has(reference));
  assert.ok(afterCopy, 'the old ledger took postings after the copy');
  const lost = await post(baseUrl, (byReference.get(afterCopy) as Posting).payload);
  assert.equal(lost.status, 200, lost.body.error);
  assert.equal(lost.body.duplicate, false, 'a posting made after the copy is not in it, and posts again');

  const before = await post(baseUrl, { command: 'balance', accountId: 'T03' });
  const topup = await post(baseUrl, {
    command: 'topup',
    accountId: 'T03',
    amount: 1234,
    reference: 'after-restore-1',
  });
  assert.equal(topup.status, 200, topup.body.error);
  assert.equal(topup.body.duplicate, false);
  assert.equal(
    BigInt(topup.body.result?.balance as number),
    BigInt(before.body.result?.balance as number) + 1234n,
    'a new top-up moves the balance by its amount',
  );
  const verify = await post(baseUrl, { command: 'verify' });
  assert.equal(verify.body.result?.ok, true, JSON.stringify(verify.body));
}
