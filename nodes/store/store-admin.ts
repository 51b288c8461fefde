/**
 * The ledger's online backup over Node-RED's admin API, behind its own authentication:
 *   POST /prepay-store/<config node id>/backup   {"name"?: "before-upgrade.db"}
 * writes a consistent copy of a running SQLite ledger to backups/<name> in the user directory while
 * postings go on, and answers what the copy holds. It changes nothing in the ledger, but it writes a
 * file with every tenant's money in it, so it takes the operators' permission `prepay.write`, and it
 * is written to the audit log with who asked.
 */
import type { Request, Response } from 'express';
import { mkdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import type { NodeAPI } from 'node-red';
import { BackupError } from './sqlite-backup';
import { SqliteLedgerStore } from './sqlite-ledger-store';
import type { StoreNode } from './store-config';

/** Running store config nodes by id, with the user directory their backups go to. */
export const activeStores = new Map<string, { node: StoreNode; userDir: string }>();
const registeredApps = new WeakSet<object>();
/** Stores with a backup in progress: one at a time each. */
const busy = new Set<string>();

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$/;

/** `prepay-ledger-2026-12-05T23-45-00-123Z.db` for the default file `prepay-ledger.db`. */
export function defaultBackupName(ledgerFile: string, now: Date): string {
  const stem = basename(ledgerFile, extname(ledgerFile)) || 'prepay-ledger';
  return `${stem}-${now.toISOString().replace(/[:.]/g, '-')}.db`;
}

function backupName(body: unknown, ledgerFile: string): string {
  const name = (body as { name?: unknown } | undefined)?.name;
  if (name === undefined || name === '') return defaultBackupName(ledgerFile, new Date());
  if (typeof name !== 'string' || !NAME.test(name))
    throw new BackupError(
      'name',
      'must be a file name of letters, digits, ".", "_" and "-" (the file goes in backups/ in the user directory)',
    );
  return name;
}

export function registerStoreAdminRoutes(RED: NodeAPI): void {
  if (!RED.httpAdmin || registeredApps.has(RED.httpAdmin)) return;
  registeredApps.add(RED.httpAdmin);

  RED.httpAdmin.post(
    '/prepay-store/:id/backup',
    RED.auth.needsPermission('prepay.write'),
    (req: Request, res: Response) => {
      const id = String(req.params.id);
      const entry = activeStores.get(id);
      if (!entry) {
        res.status(404).json({ ok: false, error: `no running prepay-store "${id}" (deploy the flow first)` });
        return;
      }
      if (busy.has(id)) {
        res.status(409).json({ ok: false, error: 'a backup of this store is already running' });
        return;
      }
      busy.add(id);
      (async () => {
        const { node, userDir } = entry;
        const inner = node.store.inner;
        if (!(inner instanceof SqliteLedgerStore))
          throw new BackupError(
            'backend',
            'a PostgreSQL ledger is backed up with pg_dump on the database server (docs/INSTALL.md)',
          );
        await node.store.init();
        const name = backupName(req.body, inner.file);
        const dir = join(userDir, 'backups');
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const report = await inner.backup(join(dir, name));
        // Node-RED's audit entries are free-form objects with an `event` (its types say otherwise).
        const audit = { event: 'prepay-store.backup', store: id, file: report.file };
        RED.log.audit(audit as unknown as Parameters<NodeAPI['log']['audit']>[0], req);
        node.log(`backup written: ${report.file} (${report.postings ?? '?'} postings, ${report.ms} ms)`);
        res.json({ ok: true, name, ...report });
      })()
        .catch((error: Error) => {
          const status = error instanceof BackupError ? error.status : 500;
          if (status === 500) entry.node.error(`prepay-store: backup failed: ${error.message}`);
          res.status(status).json({
            ok: false,
            error: error.message,
            ...(error instanceof BackupError ? { field: error.field } : {}),
          });
        })
        .finally(() => busy.delete(id));
    },
  );
}
