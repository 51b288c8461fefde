/**
 * Supply overrides over Node-RED's admin API, carried out by the running cutoff relay node that drives the
 * meter's relay:
 *   POST /prepay-cutoff/override   {meterId, action: "connect"|"disconnect"|"clear", reason, minutes | until}
 * Only a signed-in user with the prepay.write permission may give one (nodes/shared/operator-access.ts); the
 * user's name is the override's `by` and the audit entry's actor. The answer is what happened: `applied`, with
 * the audit entry and what the relay did, or `refused` with the reason (a bad field 400, an unknown meter 404,
 * no cutoff node owning the meter, what the policy forbids, or no audit log 409).
 */
import type { Request, Response } from 'express';
import type { NodeAPI } from 'node-red';
import type { AuditRecord } from '../core/ledger/store';
import { meterReaders } from '../meter/meter-admin';
import { MeterOwners, type MeterOwner } from '../shared/meter-owners';
import { auditAction, operatorAccess, operatorOf } from '../shared/operator-access';

/** What the relay did about an applied override. */
export interface RelayOutcome {
  /** The command the override led to; none when the relay already was as the override wants. */
  action?: string;
  /** Read back (Modbus relays); undefined when the node only emits commands. */
  confirmed?: boolean;
  relay?: string;
  attempts?: number;
  /** The relay command's own audit entry. */
  auditReference?: string;
  text: string;
}

export type OverrideAnswer =
  | {
      ok: true;
      outcome: 'applied';
      meterId: string;
      accountId?: string;
      action: 'connect' | 'disconnect' | 'clear';
      until?: number;
      reason: string;
      by?: string;
      cutoff: { id: string; name: string };
      /** The override's audit entry, written before it took effect (null: the node has no audit log). */
      audit: AuditRecord | null;
      relay: RelayOutcome;
    }
  | {
      ok: false;
      outcome: 'refused';
      meterId: string;
      error: string;
      code: 'invalid' | 'unknown-meter' | 'not-owned' | 'policy' | 'audit';
      field?: string;
      cutoff?: { id: string; name: string };
    };

export interface CutoffHandle extends MeterOwner {
  /** Whether overrides are written to a supply audit log (a store under "Audit to"). */
  readonly audited: boolean;
  /** Reads, checks, audits and applies an override payload (the node's `topic: "override"` input). */
  override(payload: unknown, by: string): Promise<OverrideAnswer>;
}

/** Running cutoff relay nodes and the meters whose relays they drive. */
export const cutoffRelays = new MeterOwners<CutoffHandle>();
const registeredApps = new WeakSet<object>();

const STATUS: Record<Extract<OverrideAnswer, { ok: false }>['code'], number> = {
  invalid: 400,
  'unknown-meter': 404,
  'not-owned': 409,
  policy: 409,
  audit: 409,
};

/** Which cutoff node answers for a meter, or the refusal when none (or more than one) does. */
export function ownerOf(meterId: string): CutoffHandle | Extract<OverrideAnswer, { ok: false }> {
  const owners = cutoffRelays.owning(meterId);
  if (owners.length === 1) return owners[0]!;
  const refused = (code: 'unknown-meter' | 'not-owned', error: string) =>
    ({ ok: false, outcome: 'refused', meterId, code, error }) as const;
  if (owners.length > 1)
    return refused(
      'not-owned',
      `meter "${meterId}" is in the tables of ${owners.length} cutoff nodes (${owners.map((o) => o.name).join(', ')}): ` +
        'a relay must have one owner',
    );
  if (meterReaders.owning(meterId).length === 0)
    return refused(
      'unknown-meter',
      `unknown meter "${meterId}": no running meter reader or cutoff node has it`,
    );
  return refused(
    'not-owned',
    `no cutoff node owns meter "${meterId}": it has no relay in any running cutoff node's table`,
  );
}

export function registerCutoffAdminRoutes(RED: NodeAPI): void {
  if (!RED.httpAdmin || registeredApps.has(RED.httpAdmin)) return;
  registeredApps.add(RED.httpAdmin);

  RED.httpAdmin.post('/prepay-cutoff/override', ...operatorAccess(RED), (req: Request, res: Response) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const meterId = typeof body.meterId === 'string' ? body.meterId.trim() : '';
    const reply = (status: number, answer: Record<string, unknown>): void => {
      auditAction(RED, req, 'prepay-cutoff.override', {
        meterId,
        action: body.action,
        outcome: answer.outcome,
      });
      res.status(status).json(answer);
    };
    if (meterId === '')
      return reply(400, {
        ok: false,
        outcome: 'refused',
        meterId,
        code: 'invalid',
        field: 'meterId',
        error: 'meterId: is required',
      });
    const owner = ownerOf(meterId);
    if ('outcome' in owner) return reply(STATUS[owner.code], owner);
    const cutoff = { id: owner.id, name: owner.name };
    if (!owner.audited)
      return reply(409, {
        ok: false,
        outcome: 'refused',
        meterId,
        code: 'audit',
        cutoff,
        error: `cutoff node "${owner.name}" has no supply audit log ("Audit to" a store): operator overrides need one`,
      });
    owner.override(Object.assign({}, body, { meterId }), operatorOf(req)).then(
      (answer) => reply(answer.ok ? 200 : STATUS[answer.code], answer),
      (error: Error) => reply(500, { ok: false, outcome: 'refused', meterId, cutoff, error: error.message }),
    );
  });
}
