/**
 * The ledger node's `tenant-token` command: issue, rotate, revoke, verify and list tenant access tokens in the
 * node's store. The tenant API verifies every request's token this way before it asks for the account's data;
 * a refusal is an error (`token: is not an access token of this account`) for the flow's Catch node, which
 * answers 401. The issued token appears in the command's answer only, never in a log or status.
 */
import type { NodeMessageInFlow } from 'node-red';
import { Clock } from '../core/clock';
import { readAccessTokenCommand, TenantAccess } from '../core/tenant/access-tokens';
import { ResilientStore } from '../store/resilient-store';

export const ACCESS_TOKEN_COMMAND = 'tenant-token';

export function isAccessTokenCommand(msg: NodeMessageInFlow): boolean {
  const payload = msg.payload as { command?: unknown } | undefined;
  return typeof payload === 'object' && payload !== null && payload.command === ACCESS_TOKEN_COMMAND;
}

export function tenantAccess(store: ResilientStore, clock: Clock): TenantAccess {
  return new TenantAccess(
    store.accessTokens(),
    clock,
    async (id) => (await store.getAccount(id)) !== undefined,
  );
}

/** Runs the command; resolves with its answer or rejects with a LedgerError naming the field. */
export async function runAccessTokenCommand(
  access: TenantAccess,
  msg: NodeMessageInFlow,
): Promise<Record<string, unknown>> {
  return access.run(readAccessTokenCommand(msg.payload as Record<string, unknown>));
}
