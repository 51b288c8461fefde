// The tenant interface as a group of nodes: the tenant page, the read API per account, the payment webhook
// through prepay-payment to a ledger node, and the demo payment provider. One definition serves the
// example (examples/tenant-api.json, with demo tenants of its own) and the reference site (the site's
// tenants, its store, and wires to the building through link nodes).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { embedCore } from './core-source.mjs';

const root = new URL('../..', import.meta.url).pathname;
const source = (name) => readFileSync(join(root, 'flows', 'tenant', name), 'utf8');
const code = (name) => embedCore(source(join('functions', `${name}.js`)).trimEnd());

/**
 * The nodes of the tenant API group. Options: id(n) names node n; store, the prepay-store id; currency and
 * timeZone of the site; ledger, the ledger node's settings; demoTenants, whose page links the demo prints;
 * demoAccounts, whether to open and charge the example's two demo tenants; statesTo, more targets of the
 * ledger's account states; z, the tab (none for an example, which imports onto the current tab).
 */
export function tenantApiGroup(o) {
  const id = o.id;
  const GROUP = id(1);
  const STORE = o.store;
  const LEDGER = id(10);
  const RESPONSE = id(11);
  const REQUEST = id(20);
  const SWITCH = id(30);
  const CRYPTO = [{ var: 'crypto', module: 'crypto' }];

  function fn(n, name, file, x, y, wires, libs = []) {
    return {
      id: id(n),
      type: 'function',
      g: GROUP,
      name,
      func: code(file),
      outputs: wires.length,
      timeout: 0,
      noerr: 0,
      initialize: '',
      finalize: '',
      libs,
      x,
      y,
      wires,
    };
  }

  function httpIn(n, method, url, x, y, wires, extra = {}) {
    return {
      id: id(n),
      type: 'http in',
      g: GROUP,
      name: '',
      url,
      method,
      upload: false,
      skipBodyParsing: false,
      swaggerDoc: '',
      x,
      y,
      wires,
      ...extra,
    };
  }

  function inject(n, name, delay, x, y, wires) {
    return {
      id: id(n),
      type: 'inject',
      g: GROUP,
      name,
      props: [],
      repeat: '',
      crontab: '',
      once: true,
      onceDelay: delay,
      topic: '',
      x,
      y,
      wires,
    };
  }

  const info = `The tenant interface: a tenant page, a read API per account, and a payment webhook that credits the ledger
only for verified provider notifications. Every node here is in the group "tenant API"; its environment
variables (group > Edit > Environment) hold the demo's settings.

Endpoints (under httpNodeRoot):
- GET  /prepay/tenant                           the tenant page (?account=T0101&token=... once)
- GET  /prepay/tenant/:account/balance          balance, available, currency, state, daysLeft?, lastTopup
- GET  /prepay/tenant/:account/usage?days=N     consumption per day per utility, from the ledger's charges
- GET  /prepay/tenant/:account/statement?from&to&format=json|csv
- POST /prepay/tenant/:account/topup            DEMO provider: signs a notification and posts it to the webhook
- POST /prepay/payments/webhook                 prepay-payment -> ledger -> 200 with the top-up (or the original);
                                                409 for a payment id credited before with another amount or account

Tenant endpoints need "Authorization: Bearer <token>": a token issued to that tenant, kept in the ledger
store only as its SHA-256 and checked by the ledger (tenant-token command: issue, rotate, revoke, verify,
list; or the admin API, POST /prepay-store/<store id>/tenant-tokens). One tenant's token is revoked or
rotated without touching another's. In demo mode the demo issues each demo tenant a token on deploy and
prints the page link to the debug sidebar only (never the log).

The payment node serves the webhook's path itself ("Listen on"): it reads the raw bytes the signature covers,
at most 64 KiB (413 beyond, refused while the body streams).

Demo mode: PREPAY_DEMO "on" in this group's environment; a value set outside the group (the process
environment, the tab's environment) wins over it. In demo mode the webhook accepts the published demo secret
(PREPAY_DEMO_WEBHOOK_SECRET) when PREPAY_WEBHOOK_SECRET is not set, and the demo provider works; outside demo
mode the demo secret is refused (500, and an error in the log) and the demo provider answers 404.

Production: set PREPAY_WEBHOOK_SECRET in Node-RED's environment to the provider's signing secret (or move it
into the payment node's credentials), PREPAY_DEMO to "off", delete the DEMO nodes, issue tenants their tokens
through the admin API, and put the tenant endpoints behind the site's own login.`;

  // Demo defaults only: no real secret lives in the flow. PREPAY_WEBHOOK_SECRET is read from outside the group
  // (the process environment, or the payment node's credentials instead), and the demo's published webhook
  // secret works only while PREPAY_DEMO is "on", a switch that a value outside the group overrides.
  const env = [
    { name: 'PREPAY_DEMO', value: 'on', type: 'str' },
    { name: 'PREPAY_DEMO_WEBHOOK_SECRET', value: 'demo-webhook-secret-replace-me', type: 'str' },
    { name: 'PREPAY_SITE_TIMEZONE', value: o.timeZone, type: 'str' },
    { name: 'PREPAY_DEMO_TENANTS', value: o.demoTenants.join(' '), type: 'str' },
    { name: 'PREPAY_WEBHOOK_URL', value: '', type: 'str' },
  ];

  const nodes = [
    {
      id: id(3),
      type: 'comment',
      g: GROUP,
      name: 'Tenant API, tenant page and payment webhook (read me)',
      info,
      x: 250,
      y: 60,
      wires: [],
    },

    // The page.
    httpIn(40, 'get', '/prepay/tenant', 170, 120, [[id(41)]]),
    {
      id: id(41),
      type: 'template',
      g: GROUP,
      name: 'tenant page',
      field: 'payload',
      fieldType: 'msg',
      format: 'html',
      syntax: 'plain',
      template: source('tenant-page.html'),
      output: 'str',
      x: 390,
      y: 120,
      wires: [[id(42)]],
    },
    {
      id: id(42),
      type: 'http response',
      g: GROUP,
      name: 'page',
      statusCode: '200',
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'referrer-policy': 'no-referrer',
        'x-content-type-options': 'nosniff',
        'content-security-policy':
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' blob: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      },
      x: 590,
      y: 120,
      wires: [],
    },

    // Tenant requests.
    httpIn(50, 'get', '/prepay/tenant/:account/balance', 220, 180, [[REQUEST]]),
    httpIn(51, 'get', '/prepay/tenant/:account/usage', 220, 220, [[REQUEST]]),
    httpIn(52, 'get', '/prepay/tenant/:account/statement', 230, 260, [[REQUEST]]),
    httpIn(53, 'post', '/prepay/tenant/:account/topup', 220, 300, [[REQUEST]]),
    fn(20, 'tenant request (token check)', 'tenant-request', 520, 240, [[LEDGER], [RESPONSE]]),

    // The webhook: the payment node serves its path itself, reading the body under a limit while it streams
    // (an http in node would read any body whole before anything could refuse it).
    {
      id: id(55),
      type: 'prepay-payment',
      g: GROUP,
      name: '',
      url: '/prepay/payments/webhook',
      maxBody: 65536,
      header: 'X-Prepay-Signature',
      secretFrom: 'env',
      secretEnv: 'PREPAY_WEBHOOK_SECRET PREPAY_DEMO_WEBHOOK_SECRET',
      tolerance: 300,
      referencePrefix: 'pay:',
      amountIn: 'auto',
      currency: o.currency,
      method: '',
      accountField: 'accountId',
      amountField: 'amount',
      currencyField: 'currency',
      referenceField: 'reference, paymentId',
      methodField: 'method',
      onlyIfField: 'type',
      onlyIfValues: 'payment.succeeded',
      x: 450,
      y: 420,
      wires: [[id(56)], [RESPONSE]],
    },
    {
      id: id(56),
      type: 'change',
      g: GROUP,
      name: 'webhook top-up',
      rules: [{ t: 'set', p: 'tenantApi', pt: 'msg', to: 'webhook', tot: 'str' }],
      x: 650,
      y: 400,
      wires: [[LEDGER]],
    },

    // The ledger and what comes out of it.
    {
      id: LEDGER,
      type: 'prepay-ledger',
      g: GROUP,
      name: o.ledgerName ?? 'ledger',
      store: STORE,
      ...o.ledger,
      x: 850,
      y: 300,
      wires: [[SWITCH], [id(36), ...(o.statesTo ?? [])]],
    },
    {
      id: SWITCH,
      type: 'switch',
      g: GROUP,
      name: 'which request',
      property: 'tenantApi',
      propertyType: 'msg',
      rules: ['balance', 'balance-statement', 'usage', 'statement', 'webhook', 'token', 'demo-link'].map(
        (v) => ({
          t: 'eq',
          v,
          vt: 'str',
        }),
      ),
      checkall: 'false',
      repair: false,
      outputs: 7,
      x: 1040,
      y: 300,
      wires: [[id(31)], [id(32)], [id(33)], [id(34)], [id(35)], [id(39)], [id(77)]],
    },
    fn(39, 'token accepted: the request', 'token-accepted', 1270, 150, [[LEDGER], [id(60)]]),
    fn(31, 'balance: then last top-up', 'balance-step', 1270, 200, [[LEDGER]]),
    fn(32, 'balance response', 'balance-response', 1250, 250, [[RESPONSE]]),
    fn(33, 'usage per day', 'usage-response', 1240, 300, [[RESPONSE]]),
    fn(34, 'statement response', 'statement-response', 1250, 350, [[RESPONSE]]),
    fn(35, 'webhook response', 'webhook-response', 1250, 400, [[RESPONSE]]),
    fn(36, 'remember states', 'remember-states', 1060, 480, []),
    {
      id: id(37),
      type: 'catch',
      g: GROUP,
      name: 'ledger refusals',
      scope: [LEDGER],
      uncaught: false,
      x: 1040,
      y: 540,
      wires: [[id(38)]],
    },
    fn(38, 'error response', 'ledger-error', 1240, 540, [[RESPONSE]]),
    {
      id: RESPONSE,
      type: 'http response',
      g: GROUP,
      name: 'answer',
      statusCode: '',
      headers: { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' },
      x: 1500,
      y: 360,
      wires: [],
    },

    // DEMO payment provider.
    fn(60, 'DEMO payment provider (signs)', 'demo-provider', 560, 540, [[id(61)], [RESPONSE]], CRYPTO),
    {
      id: id(61),
      type: 'http request',
      g: GROUP,
      name: 'notify the webhook',
      method: 'use',
      ret: 'obj',
      paytoqs: 'ignore',
      url: '',
      tls: '',
      persist: false,
      proxy: '',
      insecureHTTPParser: false,
      authType: '',
      senderr: false,
      headers: [],
      x: 810,
      y: 540,
      wires: [[id(62)]],
    },
    fn(62, 'provider response', 'provider-response', 1030, 600, [[RESPONSE]]),

    // DEMO set-up.
    ...(o.demoAccounts
      ? [
          inject(70, 'DEMO accounts', 0.5, 170, 660, [[id(71)]]),
          fn(71, 'DEMO open T0101, T0102', 'demo-accounts', 400, 660, [[LEDGER]]),
          inject(72, 'DEMO usage', 1.5, 160, 700, [[id(73)]]),
          fn(73, 'DEMO credit and 14 days of charges', 'demo-usage', 430, 700, [[LEDGER]]),
        ]
      : []),
    inject(74, 'DEMO links', 2.5, 160, 740, [[id(75)]]),
    fn(75, 'DEMO issue tenant tokens', 'tenant-links', 390, 740, [[LEDGER]]),
    fn(77, 'DEMO tenant page link', 'demo-link', 1250, 740, [[id(76)]]),
    {
      id: id(76),
      type: 'debug',
      g: GROUP,
      name: 'tenant page links',
      active: true,
      tosidebar: true,
      // The links carry tokens: the sidebar only, never the log.
      console: false,
      tostatus: false,
      complete: 'payload',
      targetType: 'msg',
      statusVal: '',
      statusType: 'auto',
      x: 1460,
      y: 740,
      wires: [],
    },
  ];

  const group = {
    id: GROUP,
    type: 'group',
    ...(o.z ? { z: o.z } : {}),
    name: 'tenant API',
    style: { label: true },
    nodes: nodes.map((n) => n.id),
    env,
    x: 74,
    y: 19,
    w: 1532,
    h: 762,
  };

  return {
    group,
    nodes: o.z ? nodes.map((n) => ({ z: o.z, ...n })) : nodes,
    ids: { group: GROUP, ledger: LEDGER, remember: id(36), response: RESPONSE },
  };
}

/** The example's own store: SQLite in the user directory, apart from any other ledger. */
export function exampleStore(storeId) {
  return {
    id: storeId,
    type: 'prepay-store',
    name: 'tenant ledger (SQLite)',
    backend: 'sqlite',
    file: 'prepay-tenant-ledger.db',
    synchronous: 'FULL',
    host: '',
    port: '5432',
    database: 'prepay',
    user: '',
    ssl: false,
  };
}
