/**
 * Puts the httpNodeAuth user and password in front of Dashboard 2.0's socket (`<dashboard path>/socket.io`),
 * as settings.dashboard.ioMiddleware (docs/INSTALL.md). Installed beside settings.js, which requires it.
 *
 * Why: httpNodeAuth guards the dashboard's pages, but socket.io answers on the HTTP server itself, before
 * Node-RED's routes, so a client that skips the page and opens the socket reads every widget's data (tenants,
 * balances, alarms) without a password. A browser that has opened the page sends the same Basic credentials
 * on the socket's requests, so the page works as before; a raw client without them gets `connect_error`.
 */
/* global require, module, Buffer */
'use strict';

/** Node-RED's own bcrypt (it checks httpNodeAuth with the same module), found from Node-RED's red.js. */
function nodeRedBcrypt() {
  const from = require.main || module;
  for (const name of ['@node-rs/bcrypt', 'bcryptjs']) {
    try {
      return from.require(name);
    } catch {
      // Not installed beside Node-RED: try the next one.
    }
  }
  throw new Error('dashboard socket guard: neither @node-rs/bcrypt nor bcryptjs is found beside Node-RED');
}

/** The user and password of a `Basic` Authorization header, or undefined. */
function basicCredentials(header) {
  const match = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header || '');
  if (!match) return undefined;
  const text = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : { user: text.slice(0, colon), pass: text.slice(colon + 1) };
}

/**
 * A socket.io middleware that admits a connection only with httpNodeAuth's user and password. It keeps
 * Dashboard's own default checks, which a configured ioMiddleware replaces: no websocket opened without the
 * polling handshake first, and no cross-origin handshake.
 */
module.exports = function dashboardSocketGuard(httpNodeAuth) {
  if (!httpNodeAuth || typeof httpNodeAuth.user !== 'string' || typeof httpNodeAuth.pass !== 'string')
    throw new Error('dashboard socket guard: needs httpNodeAuth with a user and a bcrypt hash as pass');
  const bcrypt = nodeRedBcrypt();
  // The hash cannot change without a restart, so a password once found right is remembered (as Node-RED does
  // for httpNodeAuth): a bcrypt check costs milliseconds of CPU on every connection otherwise.
  let knownGood;
  const passwordIsRight = (pass) => {
    if (knownGood !== undefined && pass === knownGood) return true;
    const right = bcrypt.compareSync(pass, httpNodeAuth.pass);
    if (right) knownGood = pass;
    return right;
  };
  return function guardDashboardSocket(socket, next) {
    if (String(socket.request.url).includes('transport=websocket')) {
      socket.client.conn.close();
      return;
    }
    if (socket.handshake.xdomain !== false) {
      socket.disconnect(true);
      return;
    }
    const given = basicCredentials(socket.request.headers.authorization);
    if (given && given.user === httpNodeAuth.user && passwordIsRight(given.pass)) {
      next();
      return;
    }
    const refused = new Error('unauthorized: the dashboard needs the site user and password');
    refused.data = { status: 401 };
    next(refused);
  };
};
