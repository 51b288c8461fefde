/**
 * Admin endpoints (behind Node-RED's own authentication) for the meter node's edit dialog: the profiles
 * the dropdown offers, and CSV import that answers with the rows or the exact row and column at fault.
 * And the operator's rebaseline, carried out by the running meter reader that has the meter:
 *   POST /prepay-meter/rebaseline   {meterId, value, reason, ts?}
 * behind the prepay.write permission (nodes/shared/operator-access.ts), recorded with the user's name.
 */
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { meterTableFromCsv, meterTableRecord, MeterTableError } from '../core/meter/meter-table';
import { ProfileError } from '../core/meter/profile';
import { MeterOwners, type MeterOwner } from '../shared/meter-owners';
import { auditAction, operatorAccess, operatorOf } from '../shared/operator-access';
import { profilesWith } from './profile-registry';

export type RebaselineAnswer =
  | {
      ok: true;
      outcome: 'applied';
      meterId: string;
      value: number;
      previous?: number;
      ts: number;
      reason: string;
      by: string;
      reader: { id: string; name: string };
      /** The meter reader's operator log (in the user directory) the action was written to before it took effect. */
      log: string;
    }
  | {
      ok: false;
      outcome: 'refused';
      meterId: string;
      error: string;
      code: 'invalid' | 'unknown-meter' | 'not-owned';
      field?: string;
    };

export interface MeterReaderHandle extends MeterOwner {
  /** Reads, checks, records and applies a rebaseline payload (the node's `topic: "rebaseline"` input). */
  rebaseline(payload: unknown, by: string): RebaselineAnswer;
}

/** Running meter readers and their meters (the table, and meters seen in upstream readings). */
export const meterReaders = new MeterOwners<MeterReaderHandle>();

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

  RED.httpAdmin.post('/prepay-meter/rebaseline', ...operatorAccess(RED), (req: Request, res: Response) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const meterId = typeof body.meterId === 'string' ? body.meterId.trim() : '';
    const reply = (status: number, answer: Record<string, unknown>): void => {
      auditAction(RED, req, 'prepay-meter.rebaseline', { meterId, outcome: answer.outcome });
      res.status(status).json(answer);
    };
    const refuse = (status: number, code: 'invalid' | 'unknown-meter' | 'not-owned', error: string) =>
      reply(status, { ok: false, outcome: 'refused', meterId, code, error });
    if (meterId === '') return void refuse(400, 'invalid', 'meterId: is required');
    const owners = meterReaders.owning(meterId);
    if (owners.length === 0)
      return void refuse(404, 'unknown-meter', `unknown meter "${meterId}": no running meter reader has it`);
    if (owners.length > 1)
      return void refuse(409, 'not-owned', `meter "${meterId}" is in ${owners.length} meter readers' tables`);
    const answer = owners[0]!.rebaseline(Object.assign({}, body, { meterId }), operatorOf(req));
    reply(answer.ok ? 200 : 400, answer);
  });
}
