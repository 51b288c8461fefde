#!/usr/bin/env node
/**
 * prepay-ledger-backup: backups of a SQLite ledger from a shell or a timer (docs/INSTALL.md).
 *
 *   prepay-ledger-backup backup <ledger.db> <copy.db>    a consistent copy while Node-RED keeps posting, checked
 *   prepay-ledger-backup check <copy.db>                 integrity and the ledger's verify on a copy
 *   prepay-ledger-backup restore <copy.db> <ledger.db>   a checked copy in place of a stopped ledger
 *
 * Exit status: 0 done; 1 refused or failed, nothing changed; 2 a copy was written but does not pass the
 * check (a faithful copy of a ledger that has a problem: look at it before relying on either).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BackupError, BackupReport } from './sqlite-backup';
import {
  backupFile,
  checkFile,
  CheckReport,
  describeProblems,
  restoreFile,
  ToolError,
} from './ledger-backup-tool';

const USAGE = `usage:
  prepay-ledger-backup backup <ledger.db> <copy.db> [--no-check] [--json]
      a consistent copy of the ledger, safe while Node-RED posts to it, then checked
  prepay-ledger-backup check <copy.db> [--json]
      SQLite's integrity check and the ledger's verify (hash chains, balances equal to entries) on a copy
  prepay-ledger-backup restore <copy.db> <ledger.db> [--no-check] [--json]
      puts a checked copy in place of the ledger; Node-RED must be stopped; the old file is kept aside

Run it as the Node-RED service's user (sudo -u nodered ...). Exit status 0 done, 1 refused or failed
(nothing changed), 2 a copy was written but does not pass the check.`;

function version(): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function size(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} kB`;
}

function checkLine(check: CheckReport): string {
  return check.ok
    ? `check ok: ${check.accounts} accounts, ${check.postings} postings, ${check.entries} entries; every hash chain ` +
        `intact, every balance and debt equal to its entries (schema ${check.schemaVersion}, ${check.ms} ms)`
    : `CHECK FAILED: ${describeProblems(check)}`;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'no-check': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      version: { type: 'boolean', default: false },
    },
  });
  const print = (human: string, data: unknown): void =>
    console.log(values.json ? JSON.stringify(data, null, 2) : human);
  if (values.version) {
    console.log(version());
    return 0;
  }
  const [command, ...files] = positionals;
  if (values.help || command === undefined) {
    console.log(USAGE);
    return values.help ? 0 : 1;
  }
  const expect = (count: number): void => {
    if (files.length !== count) throw new ToolError(`${command} takes ${count} file(s)\n\n${USAGE}`);
  };
  switch (command) {
    case 'backup': {
      expect(2);
      const copy: BackupReport = await backupFile(files[0] as string, files[1] as string);
      const check = values['no-check'] ? undefined : await checkFile(copy.file);
      print(
        `backup written: ${copy.file} (${size(copy.bytes)}, ${copy.postings ?? '?'} postings, ${copy.ms} ms)` +
          (check ? `\n${checkLine(check)}` : ''),
        { ok: check ? check.ok : true, backup: copy, check },
      );
      return check && !check.ok ? 2 : 0;
    }
    case 'check': {
      expect(1);
      const check = await checkFile(files[0] as string);
      print(`${check.file}\n${checkLine(check)}`, check);
      return check.ok ? 0 : 2;
    }
    case 'restore': {
      expect(2);
      const report = await restoreFile(files[0] as string, files[1] as string, !values['no-check']);
      print(
        (report.check ? `${checkLine(report.check)}\n` : '') +
          `restored ${report.from} to ${report.restored}` +
          (report.previous ? `; the ledger it replaced is kept as ${report.previous}` : '') +
          '\nstart Node-RED again: postings made after the copy was taken are not in it (see docs/INSTALL.md)',
        { ok: true, ...report },
      );
      return 0;
    }
    default:
      throw new ToolError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: Error) => {
    const known =
      error instanceof ToolError ||
      error instanceof BackupError ||
      String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
    console.error(`prepay-ledger-backup: ${known ? error.message : (error.stack ?? error.message)}`);
    process.exitCode = 1;
  },
);
