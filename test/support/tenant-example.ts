/**
 * The tenant API example (examples/tenant-api.json) for the suites that run it: deployed on a tab of its own
 * in a real Node-RED, its demo webhook secret read from the example's group environment, signatures computed
 * independently with node:crypto as a payment provider would, tenant tokens issued over the admin API as an
 * operator does.
 */
import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tempUserDir } from './node-red-helper';
import { NodeRedProcess } from './node-red-process';

export const root = join(__dirname, '..', '..', '..');
export type FlowNode = Record<string, unknown> & { id: string; type: string };
export const example = JSON.parse(
  readFileSync(join(root, 'examples', 'tenant-api.json'), 'utf8'),
) as FlowNode[];

const groupEnv = Object.fromEntries(
  ((example.find((n) => n.type === 'group')?.env ?? []) as Array<{ name: string; value: string }>).map(
    (e) => [e.name, e.value],
  ),
);
/** The demo's published webhook secret: accepted only in demo mode, when no real one is set. */
export const WEBHOOK_SECRET = groupEnv.PREPAY_DEMO_WEBHOOK_SECRET as string;

/** The example on a tab of its own, as Import > Examples puts it (config nodes stay global). */
export function exampleOnTab(flow: FlowNode[] = example): FlowNode[] {
  const tab = { id: 'tenanttab0000001', type: 'tab', label: 'tenant API' };
  return [tab, ...flow.map((n) => (n.type === 'prepay-store' ? n : { ...n, z: tab.id }))];
}

/** The example's store node, whose admin routes issue tenant tokens. */
export const STORE_ID = (example.find((n) => n.type === 'prepay-store') as FlowNode).id;

export interface IssuedToken {
  token: string;
  tokenId: string;
  accountId: string;
  revoked: number;
}

/**
 * A tenant's access token, issued as an operator issues one: over Node-RED's admin API (rotating revokes the
 * account's other tokens). The store keeps only its hash.
 */
export async function issueToken(
  red: NodeRedProcess,
  account: string,
  options: { rotate?: boolean; storeId?: string; headers?: Record<string, string> } = {},
): Promise<IssuedToken> {
  const path = `/prepay-store/${options.storeId ?? STORE_ID}/tenant-tokens${options.rotate ? '/rotate' : ''}`;
  const response = await red.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    body: JSON.stringify({ accountId: account, label: 'test' }),
  });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`POST ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as IssuedToken;
}

/**
 * The token the example used to derive from its one site secret (HMAC-SHA256 of the demo secret over
 * "tenant:" + account): anyone who knew the secret had every tenant's. It must be refused now.
 */
export function derivedToken(account: string): string {
  return createHmac('sha256', 'demo-tenant-secret-replace-me')
    .update(`tenant:${account}`)
    .digest('hex')
    .slice(0, 32);
}

/** The signature header a provider sends for `body`, signed `offsetSeconds` from now. */
export function sign(body: string, secret = WEBHOOK_SECRET, offsetSeconds = 0): string {
  const t = Math.floor(Date.now() / 1000) + offsetSeconds;
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/** A user directory with the package linked in, as an installed palette module is. */
export function userDirWithPackage(): string {
  const userDir = tempUserDir();
  mkdirSync(join(userDir, 'node_modules'), { recursive: true });
  symlinkSync(root, join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
  return userDir;
}

/** Node-RED 4.1 running the example, once its demo set-up has run (in demo mode: the last demo link issued). */
export async function startExample(
  settings: Record<string, unknown> = {},
  env: Record<string, string> = {},
  ready: RegExp = /DEMO: the tenant page link for T0102 is in the debug sidebar/,
): Promise<{ red: NodeRedProcess; userDir: string }> {
  const userDir = userDirWithPackage();
  const red = await NodeRedProcess.start({ userDir, flows: exampleOnTab(), settings, env });
  await red.waitFor(ready, 15_000);
  return { red, userDir };
}
