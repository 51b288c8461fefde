/**
 * Node-RED settings for a prepay site (docs/INSTALL.md). Installed as /etc/node-red/settings.js and used as
 * it is: what differs from site to site is in site.json beside it (the address to serve on, the TLS files,
 * the logins) and the credential secret is in the service's environment file. The install test starts
 * Node-RED with this very file.
 *
 * It refuses to start, saying why, rather than serve the editor unprotected: no administrator, a password
 * that is not a bcrypt hash, no TLS files or no credential secret all stop Node-RED before it listens.
 */
/* global require, module, __dirname */
'use strict';
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const dashboardSocketGuard = require('./dashboard-socket-guard.js');

const siteFile = process.env.PREPAY_SITE_FILE || join(__dirname, 'site.json');
const site = JSON.parse(readFileSync(siteFile, 'utf8'));

function refuse(message) {
  throw new Error(`${message} (see docs/INSTALL.md of node-red-contrib-prepay)`);
}

// A hash from `node-red admin hash-pw` (or bcryptjs), never a password itself.
const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;

function permissionsOf(user, where) {
  const valid = (p) => typeof p === 'string' && p !== '';
  if (valid(user.permissions) || (Array.isArray(user.permissions) && user.permissions.every(valid)))
    return user.permissions;
  return refuse(
    `${siteFile}: ${where}.permissions must be "*", "read" or a list such as ["read", "prepay.write"]`,
  );
}

// Editor and admin API logins: one per person, so the audit log says who did what.
const users = (Array.isArray(site.users) ? site.users : []).map((user, i) => {
  const where = `users[${i}]`;
  if (typeof user.username !== 'string' || user.username === '')
    refuse(`${siteFile}: ${where}.username is missing`);
  if (!BCRYPT.test(String(user.password)))
    refuse(`${siteFile}: ${where}.password must be a bcrypt hash (node-red admin hash-pw), not a password`);
  return { username: user.username, password: user.password, permissions: permissionsOf(user, where) };
});
if (!users.some((user) => user.permissions === '*'))
  refuse(`${siteFile}: users needs an administrator (permissions "*")`);

// One user and password for every http in endpoint (the dashboard, the tenant API, webhooks).
const httpNode = site.httpNodeAuth;
if (httpNode && (typeof httpNode.user !== 'string' || !BCRYPT.test(String(httpNode.pass))))
  refuse(`${siteFile}: httpNodeAuth needs a user and a bcrypt hash as pass (node-red admin hash-pw)`);

const credentialSecret = process.env.NODE_RED_CREDENTIAL_SECRET || '';
if (credentialSecret.length < 32 || credentialSecret.startsWith('replace-'))
  refuse(
    'NODE_RED_CREDENTIAL_SECRET must be set to a random string of 32 characters or more (openssl rand -hex 32)',
  );

if (!site.tls || !site.tls.key || !site.tls.cert) refuse(`${siteFile}: tls.key and tls.cert are required`);

module.exports = {
  // Serve on the site network's address only (never 0.0.0.0 on a machine that also faces another network).
  uiHost: site.host || '127.0.0.1',
  uiPort: site.port || 1880,

  // HTTPS only: the editor, the admin API and every http in endpoint. Read at start; restart after renewing.
  https: () => ({ key: readFileSync(site.tls.key), cert: readFileSync(site.tls.cert) }),
  requireHttps: true,

  adminAuth: {
    type: 'credentials',
    users,
    // A login lasts a working day.
    sessionExpiryTime: 12 * 60 * 60,
  },
  httpNodeAuth: httpNode ? { user: httpNode.user, pass: httpNode.pass } : undefined,
  // httpNodeAuth guards the dashboard's pages but not its socket, which would give any client the widgets'
  // data (tenants, balances): the socket asks for the same user and password (dashboard-socket-guard.js).
  dashboard: httpNode ? { ioMiddleware: dashboardSocketGuard(httpNode) } : undefined,

  // Encrypts the flows' credentials (flows_cred.json): keep a copy apart from the backups.
  credentialSecret,
  flowFile: 'flows.json',

  logging: {
    // To the journal through systemd. `audit` records every admin API request with the user who made it.
    console: { level: 'info', metrics: false, audit: true },
  },

  // A site network without the internet: no palette catalogue or update check from the editor.
  editorTheme: { projects: { enabled: false }, tours: false, palette: { catalogues: [] } },
  telemetry: { enabled: false },
};
