/**
 * Operator actions on Node-RED's admin API (money and supply: top-ups, account changes, overrides,
 * rebaselines): who may act, and who acted.
 *
 * Node-RED's adminAuth decides who someone is (a login for a bearer token, or a token set in settings.js)
 * and what they may do (their permissions). An operator needs `prepay.write`: "*" and "write" include it, so
 * does a list such as ["read", "prepay.write"], which acts as an operator without being able to deploy.
 * Node-RED's own check answers 401 to everyone it refuses; the routes here first tell a signed-in user
 * without the permission apart (403, "you may not") from someone not signed in (401, "log in"), then leave
 * the last word to Node-RED's check itself. Without adminAuth the admin API is open to whoever reaches it,
 * and so are these routes: then it must only be reachable from the site's own machine or network.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { NodeAPI } from 'node-red';

/** Needed to move money or supply through the admin API. */
export const OPERATOR_PERMISSION = 'prepay.write';

/** Recorded as the operator when the admin API has no login (adminAuth off). */
export const NO_LOGIN = 'unauthenticated (adminAuth off)';

interface AdminUser {
  username?: string;
  anonymous?: boolean;
  permissions?: unknown;
}

type AuthenticatedRequest = Request & { user?: AdminUser; authInfo?: { scope?: unknown } };

const READ = /^((.+)\.)?read$/;
const WRITE = /^((.+)\.)?write$/;

/**
 * Node-RED's permission rule (@node-red/editor-api lib/auth/permissions.js, the same since Node-RED 1.0),
 * repeated here only to choose between 401 and 403; Node-RED's own check still runs after it, so a
 * difference could refuse more, never allow more. A test compares the two on a table of scopes.
 */
export function hasPermission(scope: unknown, permission: string): boolean {
  if (permission === '') return true;
  if (Array.isArray(scope)) return scope.some((one) => hasPermission(one, permission));
  if (scope === '*' || scope === permission) return true;
  if (scope === 'read' || scope === '*.read') return READ.test(permission);
  if (scope === 'write' || scope === '*.write') return WRITE.test(permission);
  return false;
}

/** The identity an operator action is recorded with. */
export function operatorOf(req: Request): string {
  const user = (req as AuthenticatedRequest).user;
  if (!user) return NO_LOGIN;
  if (user.anonymous || !user.username) return 'anonymous';
  return user.username;
}

/** Whether the request came through adminAuth (a known user) rather than an open admin API. */
export function signedIn(req: Request): boolean {
  const user = (req as AuthenticatedRequest).user;
  return user !== undefined && !user.anonymous && typeof user.username === 'string';
}

/**
 * Writes an operator action to Node-RED's audit log (with the user, path and address Node-RED adds), whatever
 * became of it, beside the package's own records (ledger entries, the supply audit log).
 */
export function auditAction(
  RED: NodeAPI,
  req: Request,
  event: string,
  details: Record<string, unknown>,
): void {
  // Node-RED's audit log takes {event, ...} (its type says otherwise).
  const entry = Object.assign({ event }, details);
  RED.log.audit(entry as unknown as Parameters<NodeAPI['log']['audit']>[0], req);
}

/** Middleware for a route that moves money or supply: signed in (401), allowed (403), then Node-RED's check. */
export function operatorAccess(RED: NodeAPI): RequestHandler[] {
  const anyone = RED.auth.needsPermission('') as RequestHandler;
  const allowed = (req: Request, res: Response, next: NextFunction): void => {
    const request = req as AuthenticatedRequest;
    const user = request.user;
    if (!user) return next(); // adminAuth off: Node-RED lets everyone through, and so do we
    if (hasPermission(request.authInfo?.scope ?? user.permissions, OPERATOR_PERMISSION)) return next();
    const anonymous = user.anonymous || !user.username;
    auditAction(RED, req, 'prepay.operator.refused', { permissions: OPERATOR_PERMISSION });
    res.status(anonymous ? 401 : 403).json({
      ok: false,
      outcome: 'refused',
      error: anonymous
        ? 'not logged in: operator actions need a login with the prepay.write permission'
        : `user "${user.username}" may not act as an operator: the prepay.write permission is needed`,
    });
  };
  return [anyone, allowed, RED.auth.needsPermission(OPERATOR_PERMISSION) as RequestHandler];
}
