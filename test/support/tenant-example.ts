/**
 * The tenant API example (examples/tenant-api.json) for the suites that run it: deployed on a tab of its own
 * in a real Node-RED, its demo secrets read from the example's group environment, tokens and signatures
 * computed independently with node:crypto as a tenant's client and a payment provider would.
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
export const TENANT_SECRET = groupEnv.PREPAY_TENANT_SECRET as string;

/** The example on a tab of its own, as Import > Examples puts it (config nodes stay global). */
export function exampleOnTab(flow: FlowNode[] = example): FlowNode[] {
  const tab = { id: 'tenanttab0000001', type: 'tab', label: 'tenant API' };
  return [tab, ...flow.map((n) => (n.type === 'prepay-store' ? n : { ...n, z: tab.id }))];
}

/** A tenant's access token: the first 32 hex digits of HMAC-SHA256(secret, "tenant:" + account). */
export function tenantToken(account: string, secret = TENANT_SECRET): string {
  return createHmac('sha256', secret).update(`tenant:${account}`).digest('hex').slice(0, 32);
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

/** Node-RED 4.1 running the example, once its demo set-up has run. */
export async function startExample(
  settings: Record<string, unknown> = {},
  env: Record<string, string> = {},
): Promise<{ red: NodeRedProcess; userDir: string }> {
  const userDir = userDirWithPackage();
  const red = await NodeRedProcess.start({ userDir, flows: exampleOnTab(), settings, env });
  await red.waitFor(/tenant page for T0102/, 15_000);
  return { red, userDir };
}
