/**
 * The savings evidence over Node-RED's admin API, behind its own authentication, for LEED/BREEAM reporting:
 *   GET /prepay-savings/<node id>/report?from=2026-10-01&to=2026-10-31&unit=S-101&format=csv
 * `from` and `to` are local dates (default: this month up to yesterday), `unit` one unit (default all).
 */
import type { Request, Response } from 'express';
import type { NodeAPI } from 'node-red';

export interface SavingsReporter {
  /** The report of `from`..`to` for `unit` (all units without), as JSON or CSV text. */
  answer(request: Record<string, unknown>): { csv: string; label: string } | { json: unknown };
}

/** Running savings nodes by node id. */
export const activeSavings = new Map<string, SavingsReporter>();
const registeredApps = new WeakSet<object>();

export function registerSavingsAdminRoutes(RED: NodeAPI): void {
  if (!RED.httpAdmin || registeredApps.has(RED.httpAdmin)) return;
  registeredApps.add(RED.httpAdmin);
  const permission = RED.auth.needsPermission('prepay-savings.read');

  RED.httpAdmin.get('/prepay-savings/:id/report', permission, (req: Request, res: Response) => {
    const reporter = activeSavings.get(String(req.params.id));
    if (!reporter) {
      res.status(404).json({ ok: false, error: `no running prepay-savings node "${req.params.id}"` });
      return;
    }
    try {
      const q = req.query;
      const request: Record<string, unknown> = {
        format: q.format === 'csv' ? 'csv' : 'json',
        ...(typeof q.unit === 'string' && q.unit !== '' ? { unit: q.unit } : {}),
      };
      if (q.from !== undefined || q.to !== undefined)
        Object.assign(request, { period: 'range', from: q.from, to: q.to });
      else request.period = 'month-to-date';
      const answer = reporter.answer(request);
      if ('csv' in answer) res.type('text/csv').attachment(`savings-${answer.label}.csv`).send(answer.csv);
      else res.json(answer.json);
    } catch (error) {
      res.status(400).json({ ok: false, error: (error as Error).message });
    }
  });
}
