/**
 * What the `prepay-ledger-backup` command does with SQLite ledger files: an online copy of a running
 * ledger, a check of a copy (SQLite's integrity check and the ledger's own `verify`: every hash chain
 * intact, every balance and debt equal to its entries), and a restore that puts a checked copy in place
 * of a stopped ledger, keeping the old file aside.
 */
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { SystemClock } from '../core/clock';
import { Ledger } from '../core/ledger/ledger';
import { BackupReport, describeLedgerFile, onlineBackup } from './sqlite-backup';
import { SqliteLedgerStore } from './sqlite-ledger-store';

/** A refusal: nothing was changed. */
export class ToolError extends Error {}

export interface CheckReport {
  ok: boolean;
  file: string;
  /** The schema version the file was written with; the check runs on a migrated scratch copy when older. */
  schemaVersion: number;
  accounts: number;
  postings: number;
  entries: number;
  /** SQLite's `PRAGMA integrity_check` of the file's pages. */
  integrity: string;
  /** Accounts whose chain or registers do not add up, with what is wrong. */
  problems: Array<{ accountId: string; problems: string[] }>;
  ms: number;
}

export interface RestoreReport {
  restored: string;
  from: string;
  /** Where the ledger that was replaced now is (none when there was no ledger). */
  previous?: string;
  check?: CheckReport;
}

/**
 * Files SQLite creates beside a database (-wal, -shm) belong to whoever opens it first: a command run as
 * root on the service's ledger would leave files the service cannot write, and Node-RED would fail to open
 * its ledger. So the command runs as the owner of what it touches.
 */
export function assertOwner(path: string, what: string): void {
  if (typeof process.getuid !== 'function') return; // Windows: no owners to match
  const owner = statSync(path).uid;
  const me = process.getuid();
  if (owner !== me)
    throw new ToolError(
      `${what} ${path} belongs to user id ${owner} but this command runs as user id ${me}: run it as the ` +
        `Node-RED service's user (sudo -u nodered ...), so that the files SQLite creates beside it belong to that user`,
    );
}

function openReadOnly(file: string): Database.Database {
  if (!existsSync(file)) throw new ToolError(`${file} does not exist`);
  return new Database(file, { readonly: true, fileMustExist: true, timeout: 5000 });
}

/** A consistent copy of `source`, safe while Node-RED posts to it (one read transaction; see sqlite-backup.ts). */
export async function backupFile(source: string, target: string): Promise<BackupReport> {
  const from = resolve(source);
  const to = resolve(target);
  assertOwner(from, 'the ledger');
  mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
  const db = openReadOnly(from);
  try {
    return await onlineBackup(db, to, { pagesPerStep: 'all' });
  } finally {
    db.close();
  }
}

/**
 * Checks a ledger file (a backup, or a running ledger) on a scratch copy, so the file itself is never
 * written: not even by a schema migration, which the copy gets when it is older than this package.
 */
export async function checkFile(file: string): Promise<CheckReport> {
  const started = Date.now();
  const path = resolve(file);
  if (existsSync(path)) assertOwner(path, 'the ledger');
  const scratch = mkdtempSync(join(tmpdir(), 'prepay-ledger-check-'));
  try {
    const copyPath = join(scratch, 'ledger.db');
    const source = openReadOnly(path);
    let integrity: string;
    let described: ReturnType<typeof describeLedgerFile>;
    try {
      await onlineBackup(source, copyPath, { pagesPerStep: 'all' });
    } finally {
      source.close();
    }
    const copy = new Database(copyPath, { fileMustExist: true });
    try {
      integrity = (copy.pragma('integrity_check') as Array<{ integrity_check: string }>)
        .map((row) => row.integrity_check)
        .join('; ');
      described = describeLedgerFile(copy);
    } finally {
      copy.close();
    }
    if (described.schemaVersion === undefined)
      throw new ToolError(`${path} is not a prepay ledger (no schema_migrations or postings table)`);
    const store = new SqliteLedgerStore({ path: copyPath });
    await store.init();
    const ledger = new Ledger(store, { clock: new SystemClock() });
    try {
      const reports = await ledger.verify();
      const problems = reports
        .filter((report) => !report.ok)
        .map((report) => ({ accountId: report.accountId, problems: report.problems }));
      return {
        ok: integrity === 'ok' && problems.length === 0,
        file: path,
        schemaVersion: described.schemaVersion,
        accounts: described.accounts ?? 0,
        postings: described.postings ?? 0,
        entries: described.entries ?? 0,
        integrity,
        problems,
        ms: Date.now() - started,
      };
    } finally {
      ledger.close();
      await store.close();
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** True when another connection (a running Node-RED) has the database open. */
function inUse(file: string): boolean {
  const db = new Database(file, { fileMustExist: true, timeout: 0 });
  try {
    // Leaving WAL mode needs the only connection: it fails while any other process has the file open, and
    // when it succeeds the old ledger is one self-contained file (its log checkpointed) to keep aside.
    db.pragma('journal_mode = DELETE');
    return false;
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_BUSY') return true;
    throw error;
  } finally {
    db.close();
  }
}

/**
 * Puts `copy` in place as the ledger `target`: checked first (unless `check` is false), refused while the
 * ledger is open in another process, the ledger it replaces renamed to `<target>.before-restore-<time>`.
 */
export async function restoreFile(copy: string, target: string, check = true): Promise<RestoreReport> {
  const from = resolve(copy);
  const to = resolve(target);
  const report: RestoreReport = { restored: to, from };
  if (check) {
    report.check = await checkFile(from);
    if (!report.check.ok)
      throw new ToolError(
        `${from} does not pass the ledger check (${describeProblems(report.check)}): nothing restored`,
      );
  }
  if (!existsSync(dirname(to))) throw new ToolError(`directory ${dirname(to)} does not exist`);
  assertOwner(dirname(to), 'the directory');
  if (existsSync(to)) {
    assertOwner(to, 'the ledger');
    if (inUse(to))
      throw new ToolError(
        `${to} is open in another process: stop Node-RED first (systemctl stop node-red): nothing restored`,
      );
    report.previous = `${to}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(to, report.previous);
  }
  const source = openReadOnly(from);
  try {
    await onlineBackup(source, to, { pagesPerStep: 'all' });
  } finally {
    source.close();
  }
  return report;
}

export function describeProblems(report: CheckReport): string {
  const parts: string[] = [];
  if (report.integrity !== 'ok') parts.push(`integrity check: ${report.integrity}`);
  for (const account of report.problems) parts.push(`${account.accountId}: ${account.problems.join('; ')}`);
  return parts.join('; ');
}
