/**
 * Operator postings over Node-RED's admin API, carried out by the running ledger node itself:
 *   POST /prepay-ledger/<node id>/<command>     open, topup, refund, adjust, reverse, close, emergency
 * with the command's fields as JSON (money in integer minor units; `reference` makes it idempotent). Only a
 * signed-in user with the prepay.write permission may post (nodes/shared/operator-access.ts); the user's name
 * is recorded in the posting's entries and result as `by`, whatever the body says.
 *
 * A posting takes the same way as the node's input: into the intake journal (on disk) first, then to the
 * ledger. The answer is the committed outcome: 200 `applied` (the result) or `duplicate` (the reference was
 * posted before: the original result, nothing added), or `refused` with the reason and the field at fault
 * (400 a bad field, 404 an unknown account, 409 what the account's state forbids). While the store is down a
 * posting waits in the journal: 202 `pending` (kept on disk, posted once the store is back), or 503 `pending`
 * when it was not committed within 20 s; repeating it with the same reference is safe and tells its outcome.
 */
import type { Request, Response } from 'express';
import type { NodeAPI } from 'node-red';
import type { LedgerResponse } from '../core/ledger/ledger';
import { LedgerError, readRequest } from '../core/ledger/requests';
import { auditAction, operatorAccess, operatorOf } from '../shared/operator-access';
import type { PostingRequest, Requester } from './ledger-intake';

/** The commands an operator may post through the admin API. */
export const OPERATOR_COMMANDS = ['open', 'topup', 'refund', 'adjust', 'reverse', 'close', 'emergency'];

/** A running ledger node, as the operator routes use it. */
export interface OperatorLedger {
  /** Journals and posts a parsed posting as the node's input does; `payload` is what the journal keeps. */
  submit(request: PostingRequest, payload: Record<string, unknown>, from: Requester): void;
  /** Sends the account's state on the node's second output. */
  announce(accountId: string): void;
}

/** Running ledger nodes by node id. */
export const operatorLedgers = new Map<string, OperatorLedger>();

const PENDING_AFTER_MS = 20_000;
const registeredApps = new WeakSet<object>();

function refusalStatus(error: LedgerError): number {
  if (error.code === 'invalid') return 400;
  if (error.code === 'unknown-account') return 404;
  return 409;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function registerLedgerOperatorRoutes(RED: NodeAPI): void {
  if (!RED.httpAdmin || registeredApps.has(RED.httpAdmin)) return;
  registeredApps.add(RED.httpAdmin);

  RED.httpAdmin.post('/prepay-ledger/:id/:command', ...operatorAccess(RED), (req: Request, res: Response) => {
    const command = String(req.params.command);
    const by = operatorOf(req);
    const reply = (status: number, answer: Record<string, unknown>, reference?: string): void => {
      auditAction(RED, req, `prepay-ledger.${command}`, {
        ledger: req.params.id,
        reference,
        outcome: answer.outcome,
      });
      res.status(status).json(answer);
    };
    const refuse = (status: number, error: string, extra: Record<string, unknown> = {}): void =>
      reply(status, Object.assign({ ok: false, outcome: 'refused', error, by }, extra));
    if (!OPERATOR_COMMANDS.includes(command))
      return refuse(404, `"${command}" is not an operator command (${OPERATOR_COMMANDS.join(', ')})`);
    const ledger = operatorLedgers.get(String(req.params.id));
    if (!ledger) return refuse(404, `no running prepay-ledger node "${req.params.id}"`);
    let request: PostingRequest;
    let payload: Record<string, unknown>;
    try {
      if (!isObject(req.body))
        throw new LedgerError('body', `must be the ${command} command's fields as JSON`);
      payload = Object.assign({}, req.body, { command, by });
      request = readRequest(command, payload) as PostingRequest;
    } catch (error) {
      const refusal = error as LedgerError;
      return refuse(400, refusal.message, { field: refusal.field });
    }
    let answered = false;
    const finish = (status: number, body: Record<string, unknown>): void => {
      clearTimeout(timer);
      if (answered) return;
      answered = true;
      reply(status, body, request.reference);
    };
    const pending = (status: number, error: string): void =>
      finish(status, { ok: false, outcome: 'pending', reference: request.reference, by, error });
    const timer = setTimeout(
      () =>
        pending(
          503,
          'not committed within 20 s: the ledger store is unavailable; send it again with the same reference ' +
            'to learn its outcome (it is never posted twice)',
        ),
      PENDING_AFTER_MS,
    );
    ledger.submit(request, payload, {
      answer: (response: LedgerResponse) => {
        const accountId = (response.result as { accountId?: unknown }).accountId;
        if (!response.duplicate && typeof accountId === 'string') ledger.announce(accountId);
        finish(200, {
          ok: true,
          outcome: response.duplicate ? 'duplicate' : 'applied',
          duplicate: response.duplicate,
          by,
          result: response.result,
        });
      },
      fail: (error: Error) => {
        if (error instanceof LedgerError)
          finish(refusalStatus(error), {
            ok: false,
            outcome: 'refused',
            error: error.message,
            field: error.field,
            code: error.code,
            by,
          });
        else finish(500, { ok: false, outcome: 'refused', error: error.message, by });
      },
      release: () =>
        pending(
          202,
          "kept in the ledger's intake journal (on disk) and posted once the store takes postings again; " +
            'send it again with the same reference to learn its outcome',
        ),
    });
  });
}
