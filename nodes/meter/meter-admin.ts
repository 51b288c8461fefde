/**
 * Admin endpoints (behind Node-RED's own authentication) for the meter node's edit dialog: the profiles
 * the dropdown offers, and CSV import that answers with the rows or the exact row and column at fault.
 */
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { meterTableFromCsv, meterTableRecord, MeterTableError } from '../core/meter/meter-table';
import { ProfileError } from '../core/meter/profile';
import { profilesWith } from './profile-registry';

const registeredApps = new WeakSet<object>();

export function profileSummaries(userJson?: string): Array<Record<string, unknown>> {
  return [...profilesWith(userJson).values()].map((profile) => ({
    id: profile.id,
    name: profile.name,
    utility: profile.utility,
    counter: profile.counter ? `${profile.counter.name} (${profile.counter.unit})` : undefined,
    relay: profile.relay !== undefined,
    values: profile.values.length,
  }));
}

export function importCsv(csv: string, userJson?: string): unknown[] {
  const profiles = profilesWith(userJson);
  const context = {
    profiles: new Map(
      [...profiles.values()].map((p) => [
        p.id,
        { utility: p.utility, hasRelay: p.relay !== undefined, hasCounter: p.counter !== undefined },
      ]),
    ),
  };
  return meterTableFromCsv(csv, context).map(meterTableRecord);
}

export function registerMeterAdminRoutes(RED: NodeAPI): void {
  if (!RED.httpAdmin || registeredApps.has(RED.httpAdmin)) return;
  registeredApps.add(RED.httpAdmin);
  const permission = RED.auth.needsPermission('prepay-meter.read');

  RED.httpAdmin.post('/prepay-meter/profiles', permission, (req: Request, res: Response) => {
    try {
      res.json({ ok: true, profiles: profileSummaries((req.body as { profiles?: string })?.profiles) });
    } catch (error) {
      res.status(400).json({ ok: false, error: (error as Error).message });
    }
  });

  RED.httpAdmin.post('/prepay-meter/csv', permission, (req: Request, res: Response) => {
    const body = (req.body ?? {}) as { csv?: unknown; profiles?: string };
    if (typeof body.csv !== 'string') {
      res.status(400).json({ ok: false, error: 'csv: expected the CSV text' });
      return;
    }
    try {
      res.json({ ok: true, rows: importCsv(body.csv, body.profiles) });
    } catch (error) {
      if (error instanceof MeterTableError)
        res.status(400).json({ ok: false, error: error.message, row: error.row, column: error.column });
      else if (error instanceof ProfileError)
        res.status(400).json({ ok: false, error: error.message, field: error.field });
      else res.status(500).json({ ok: false, error: (error as Error).message });
    }
  });
}
