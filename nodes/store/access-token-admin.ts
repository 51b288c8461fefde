/**
 * Tenant access tokens over Node-RED's admin API, behind its authentication: an operator issues a tenant's
 * token, rotates it (the old ones revoked in the same step) or revokes one or all, in a store's database.
 *   GET  /prepay-store/<store id>/tenant-tokens?account=T0412          list (prepay.read)
 *   POST /prepay-store/<store id>/tenant-tokens         {accountId, label?}   issue (prepay.write)
 *   POST /prepay-store/<store id>/tenant-tokens/rotate  {accountId, label?}   rotate (prepay.write)
 *   POST /prepay-store/<store id>/tenant-tokens/revoke  {tokenId} | {accountId}   revoke (prepay.write)
 * An issued token is in that answer only (sent with no-store); the store keeps its SHA-256. The writing routes
 * are operator actions like the ledger's (nodes/shared/operator-access.ts): 401 to someone not signed in, 403 to a
 * user without prepay.write, the operator recorded as who issued or revoked, each action in Node-RED's audit log
 * with the token's id, never the token.
 */
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { LedgerError } from '../core/ledger/requests';
import { readAccessTokenCommand, TenantAccess } from '../core/tenant/access-tokens';
import { SystemClock } from '../core/clock';
import { auditAction, operatorAccess, operatorOf } from '../shared/operator-access';
import { activeStores } from './store-admin';

const registeredApps = new WeakSet<object>();

function sendError(res: Response, error: unknown): void {
  if (error instanceof LedgerError)
    res.status(error.code === 'unknown-account' ? 404 : 400).json({ ok: false, error: error.message });
  else res.status(500).json({ ok: false, error: 'the token store failed; see the Node-RED log' });
}

export function registerAccessTokenRoutes(RED: NodeAPI): void {
  if (!RED.httpAdmin || registeredApps.has(RED.httpAdmin)) return;
  registeredApps.add(RED.httpAdmin);
  const read = RED.auth.needsPermission('prepay.read');
  const write = operatorAccess(RED);
  const clock = new SystemClock();

  const accessFor = (req: Request, res: Response): TenantAccess | undefined => {
    const node = activeStores.get(String(req.params.id))?.node;
    if (!node) {
      res.status(404).json({ ok: false, error: `no running prepay-store node "${req.params.id}"` });
      return undefined;
    }
    const store = node.store;
    try {
      return new TenantAccess(
        store.accessTokens(),
        clock,
        async (id) => (await store.getAccount(id)) !== undefined,
      );
    } catch (error) {
      sendError(res, error);
      return undefined;
    }
  };
  const run = (action: 'issue' | 'rotate' | 'revoke', status: number) => (req: Request, res: Response) => {
    const access = accessFor(req, res);
    if (!access) return;
    (async () => {
      const body: unknown = req.body;
      const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
      // Whoever the body names, the signed-in operator is recorded.
      const command = readAccessTokenCommand(Object.assign({}, fields, { action, by: operatorOf(req) }));
      const result = await access.run(command);
      auditAction(RED, req, `prepay-store.tenant-token.${action}`, {
        store: req.params.id,
        accountId: result.accountId,
        tokenId: result.tokenId,
        revoked: result.revoked,
      });
      res.status(status).set('cache-control', 'no-store').json(result);
    })().catch((error) => {
      auditAction(RED, req, `prepay-store.tenant-token.${action}`, {
        store: req.params.id,
        outcome: 'refused',
      });
      sendError(res, error);
    });
  };

  RED.httpAdmin.get('/prepay-store/:id/tenant-tokens', read, (req: Request, res: Response) => {
    const access = accessFor(req, res);
    if (!access) return;
    (async () => {
      const command = readAccessTokenCommand({ action: 'list', accountId: req.query.account });
      res.set('cache-control', 'no-store').json(await access.run(command));
    })().catch((error) => sendError(res, error));
  });
  RED.httpAdmin.post('/prepay-store/:id/tenant-tokens', ...write, run('issue', 201));
  RED.httpAdmin.post('/prepay-store/:id/tenant-tokens/rotate', ...write, run('rotate', 201));
  RED.httpAdmin.post('/prepay-store/:id/tenant-tokens/revoke', ...write, run('revoke', 200));
}
