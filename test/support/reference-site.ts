/**
 * The reference site (flows/reference.json, as the generator writes it) in a real Node-RED process on free
 * ports, with this package linked into its user directory, and the users an operator test needs: Node-RED's
 * adminAuth with bcrypt-hashed passwords (bcryptjs, which Node-RED itself uses), logged in through the admin
 * API's password grant as the editor and the dashboard's operator panel do.
 */
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { freeUdpPort } from '../bacnet/support';
import { tempUserDir } from './node-red-helper';
import { NodeRedProcess, onFreePorts } from './node-red-process';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const bcrypt = require('bcryptjs') as { hashSync(password: string, rounds: number): string };

const root = join(__dirname, '..', '..', '..');

export interface SiteUser {
  username: string;
  password: string;
  permissions: string | string[];
}

/** Acts as an operator (prepay.write) and reads, but cannot deploy. */
export const OPERATOR: SiteUser = {
  username: 'olivia',
  password: 'desk-shift-2026',
  permissions: ['read', 'prepay.write'],
};
/** Reads everything, may not act. */
export const READER: SiteUser = { username: 'rick', password: 'reads-only-2026', permissions: 'read' };

/** settings.js fragments: adminAuth with these users (bcrypt-hashed). */
export function adminAuth(users: SiteUser[]): Record<string, unknown> {
  return {
    type: 'credentials',
    users: users.map((user) => ({
      username: user.username,
      password: bcrypt.hashSync(user.password, 8),
      permissions: user.permissions,
    })),
  };
}

/** settings.js fragment: Basic authentication on the http in nodes and the dashboard's pages. */
export function httpNodeAuth(user: string, pass: string): Record<string, unknown> {
  return { user, pass: bcrypt.hashSync(pass, 8) };
}

/**
 * With httpNodeAuth, the dashboard's socket is guarded by the same user and password, as the site guide's
 * settings do (docs/examples/dashboard-socket-guard.js, required as the guide's settings.js requires it).
 */
const DASHBOARD_SOCKET_GUARD = `
const dashboardSocketGuard = require(${JSON.stringify(join(root, 'docs', 'examples', 'dashboard-socket-guard.js'))});
module.exports.dashboard = Object.assign({}, module.exports.dashboard, {
  ioMiddleware: dashboardSocketGuard(module.exports.httpNodeAuth),
});`;

export interface RunningSite {
  /** The Node-RED process running the site now (a new one after each restart). */
  red: NodeRedProcess;
  userDir: string;
  /** The site BACnet device's UDP port on 127.0.0.1 (a free one). */
  bacnetPort: number;
  /** The site's SQLite ledger, read-only. */
  db: Database.Database;
  /** Stops Node-RED (SIGTERM, or SIGKILL) and starts it again on the same user directory and flow. */
  restart(how: 'stop' | 'kill'): Promise<void>;
  stop(): Promise<void>;
}

export async function startReferenceSite(
  settings: Record<string, unknown>,
  /** Changes to the generated flow before it is deployed (debug nodes to the log, for example). */
  edit: (flows: Array<Record<string, unknown> & { type: string }>) => void = () => undefined,
): Promise<RunningSite> {
  const userDir = tempUserDir();
  mkdirSync(join(userDir, 'node_modules'), { recursive: true });
  symlinkSync(root, join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
  const flows = JSON.parse(readFileSync(join(root, 'flows', 'reference.json'), 'utf8')) as Array<{
    type: string;
    port?: unknown;
  }>;
  await onFreePorts(flows);
  edit(flows as Array<Record<string, unknown> & { type: string }>);
  const bacnetPort = await freeUdpPort();
  const env = { PREPAY_BACNET_PORT: String(bacnetPort) };
  const settingsCode = settings.httpNodeAuth ? DASHBOARD_SOCKET_GUARD : undefined;
  const red = await NodeRedProcess.start({ userDir, flows, settings, settingsCode, env });
  const db = new Database(join(userDir, 'prepay-ledger.db'), { readonly: true, fileMustExist: true });
  const site: RunningSite = {
    red,
    userDir,
    bacnetPort,
    db,
    async restart(how) {
      if (how === 'stop') await site.red.stop();
      else await site.red.kill('SIGKILL');
      site.red = await NodeRedProcess.start({ userDir, settings, settingsCode, env });
    },
    async stop() {
      db.close();
      await site.red.stop();
    },
  };
  return site;
}

/** An admin API token for the user (the password grant the editor and the operator panel use). */
export async function login(red: NodeRedProcess, user: SiteUser): Promise<string> {
  const response = await red.request('/auth/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      client_id: 'node-red-admin',
      grant_type: 'password',
      scope: '',
      username: user.username,
      password: user.password,
    }),
  });
  const body = (await response.json()) as { access_token?: string };
  if (!response.ok || !body.access_token) throw new Error(`login of ${user.username}: ${response.status}`);
  return body.access_token;
}
