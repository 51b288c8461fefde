/**
 * The operator's override of load control over Node-RED's admin API, carried out by the running node:
 *   POST /prepay-loadcontrol/<node id>/release   {account, action: "release"|"resume", reason, minutes?}
 * `release` relinquishes every command the node holds for the account's objects (NULL at its priority) and
 * keeps them released for `minutes` (default 240, at most 31 days): the BEMS runs the unit meanwhile. `resume`
 * ends that early. Only a signed-in user with prepay.write may (nodes/shared/operator-access.ts); the user's
 * name is recorded in the node's operator log before the action and in Node-RED's audit log.
 * Also `POST /prepay-loadcontrol/check-table` {table, device, priority}: the table's rows or the line at fault.
 */
import type { Request, Response } from 'express';
import type { NodeAPI } from 'node-red';
import { HvacMapError, parseHvacMap } from '../core/loadcontrol/hvac-map';
import { auditAction, operatorAccess, operatorOf } from '../shared/operator-access';
import type { CommandEvent } from './bacnet-commander';

export type ReleaseAnswer =
  | {
      ok: true;
      outcome: 'applied';
      account: string;
      action: 'release' | 'resume';
      until?: number;
      reason: string;
      by: string;
      commands: CommandEvent[];
    }
  | {
      ok: false;
      outcome: 'refused';
      error: string;
      code: 'invalid' | 'unknown-node' | 'unknown-account';
      field?: string;
    };

export interface LoadControlHandle {
  release(body: Record<string, unknown>, by: string): Promise<ReleaseAnswer>;
}

export const loadControlNodes = new Map<string, LoadControlHandle>();
const registeredApps = new WeakSet<object>();
const STATUS = { invalid: 400, 'unknown-node': 404, 'unknown-account': 404 } as const;

export function registerLoadControlRoutes(RED: NodeAPI): void {
  if (!RED.httpAdmin || registeredApps.has(RED.httpAdmin)) return;
  registeredApps.add(RED.httpAdmin);

  RED.httpAdmin.post(
    '/prepay-loadcontrol/:id/release',
    ...operatorAccess(RED),
    (req: Request, res: Response) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const reply = (status: number, answer: ReleaseAnswer | Record<string, unknown>): void => {
        auditAction(RED, req, 'prepay-loadcontrol.release', {
          node: req.params.id,
          account: body.account,
          action: body.action,
          outcome: answer.outcome,
        });
        res.status(status).json(answer);
      };
      const handle = loadControlNodes.get(String(req.params.id));
      if (!handle)
        return reply(404, {
          ok: false,
          outcome: 'refused',
          code: 'unknown-node',
          error: `no running prepay-loadcontrol node ${req.params.id}`,
        });
      handle.release(body, operatorOf(req)).then(
        (answer) => reply(answer.ok ? 200 : STATUS[answer.code], answer),
        (error: Error) => reply(500, { ok: false, outcome: 'refused', error: error.message }),
      );
    },
  );

  RED.httpAdmin.post(
    '/prepay-loadcontrol/check-table',
    RED.auth.needsPermission('prepay-loadcontrol.read'),
    (req: Request, res: Response) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      try {
        const rows = parseHvacMap(
          String(body.table ?? ''),
          Number(body.device) || 0,
          Number(body.priority) || 10,
        );
        res.json({ ok: true, rows: rows.length, accounts: new Set(rows.map((r) => r.account)).size });
      } catch (error) {
        const e = error as Error;
        res
          .status(400)
          .json({ ok: false, error: e.message, line: e instanceof HvacMapError ? e.line : undefined });
      }
    },
  );
}
