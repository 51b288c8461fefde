/**
 * Accounting exports over Node-RED's admin API, behind its own authentication: a statement of one
 * account for a period, and the all-accounts period summary for the property-management system.
 *   GET /prepay-ledger/<node id>/statement?account=T0412&from=2024-10-01&to=2024-11-01&format=csv
 *   GET /prepay-ledger/<node id>/summary?from=...&to=...&format=csv
 * and the reconciliation of a local day (yesterday by default), or the last report:
 *   GET /prepay-ledger/<node id>/reconciliation?date=2024-10-01&format=csv
 *   GET /prepay-ledger/<node id>/reconciliation/last
 */
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { Ledger, summaryJson } from '../core/ledger/ledger';
import { LedgerError } from '../core/ledger/requests';
import { summaryCsv } from '../core/ledger/statement';
import type { LedgerReconciliation } from './ledger-reconciliation';
import { validDate } from './reconciliation-messages';
import { runtimeClock } from '../shared/runtime-clock';
import { parseInstant } from '../core/instant';

/** Running ledger nodes by node id. */
export const activeLedgers = new Map<string, Ledger>();
/** Their reconciliations, by node id. */
export const activeReconciliations = new Map<string, LedgerReconciliation>();
const registeredApps = new WeakSet<object>();

function time(value: unknown, field: string, fallback?: number): number {
  if (value === undefined || value === '') {
    if (fallback !== undefined) return fallback;
    throw new LedgerError(field, 'is required');
  }
  try {
    // Strict: 2024-02-30 is refused, where Date.parse would roll it over into March.
    return parseInstant(value);
  } catch (error) {
    throw new LedgerError(field, (error as Error).message);
  }
}

function sendError(res: Response, error: unknown): void {
  const status = error instanceof LedgerError ? (error.code === 'unknown-account' ? 404 : 400) : 500;
  res.status(status).json({ ok: false, error: (error as Error).message });
}

export function registerLedgerAdminRoutes(RED: NodeAPI): void {
  if (!RED.httpAdmin || registeredApps.has(RED.httpAdmin)) return;
  registeredApps.add(RED.httpAdmin);
  const permission = RED.auth.needsPermission('prepay-ledger.read');

  const ledgerFor = (req: Request, res: Response): Ledger | undefined => {
    const ledger = activeLedgers.get(String(req.params.id));
    if (!ledger)
      res.status(404).json({ ok: false, error: `no running prepay-ledger node "${req.params.id}"` });
    return ledger;
  };

  RED.httpAdmin.get('/prepay-ledger/:id/statement', permission, (req: Request, res: Response) => {
    const ledger = ledgerFor(req, res);
    if (!ledger) return;
    (async () => {
      const account = req.query.account;
      if (typeof account !== 'string' || account === '') throw new LedgerError('account', 'is required');
      const format = req.query.format === 'csv' ? 'csv' : 'json';
      const statement = await ledger.statement(
        account,
        time(req.query.from, 'from', 0),
        time(req.query.to, 'to', Number.MAX_SAFE_INTEGER),
        format,
      );
      if (format === 'csv') {
        res.type('text/csv').attachment(`statement-${account}.csv`).send(statement.csv);
      } else {
        res.json(statement);
      }
    })().catch((error) => sendError(res, error));
  });

  RED.httpAdmin.get('/prepay-ledger/:id/summary', permission, (req: Request, res: Response) => {
    const ledger = ledgerFor(req, res);
    if (!ledger) return;
    (async () => {
      const from = time(req.query.from, 'from');
      const to = time(req.query.to, 'to');
      const rows = await ledger.summaryRows(from, to);
      if (req.query.format === 'csv')
        res
          .type('text/csv')
          .attachment('summary.csv')
          .send(summaryCsv(rows, from, to));
      else res.json({ ok: true, from, to, accounts: rows.map(summaryJson) });
    })().catch((error) => sendError(res, error));
  });

  RED.httpAdmin.get('/prepay-ledger/:id/reconciliation/last', permission, (req: Request, res: Response) => {
    const reconciliation = activeReconciliations.get(String(req.params.id));
    if (!reconciliation) {
      res.status(404).json({ ok: false, error: `no running prepay-ledger node "${req.params.id}"` });
      return;
    }
    res.json({ ok: true, report: reconciliation.last ?? null });
  });

  RED.httpAdmin.get('/prepay-ledger/:id/reconciliation', permission, (req: Request, res: Response) => {
    const reconciliation = activeReconciliations.get(String(req.params.id));
    if (!reconciliation) {
      res.status(404).json({ ok: false, error: `no running prepay-ledger node "${req.params.id}"` });
      return;
    }
    (async () => {
      const date = req.query.date;
      if (
        date !== undefined &&
        (typeof date !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(date) || !validDate(date))
      )
        throw new LedgerError('date', 'must be a local date "YYYY-MM-DD"');
      const now = runtimeClock(RED.settings).now();
      const report = await reconciliation.runDay(
        (date as string | undefined) ?? reconciliation.localDate(now - 86_400_000),
        now,
      );
      if (req.query.format === 'csv')
        res
          .type('text/csv')
          .attachment(`reconciliation-${report.period.label}.csv`)
          .send(reconciliation.csv(report));
      else res.json(report);
    })().catch((error) => sendError(res, error));
  });
}
