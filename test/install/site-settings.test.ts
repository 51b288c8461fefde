/**
 * The guide's settings in a real Node-RED (docs/INSTALL.md): docs/examples/settings.js copied unchanged,
 * beside a site.json made from docs/examples/site.json with only the site's values put in (127.0.0.1, a free
 * port, a certificate made here with the guide's openssl command, hashes made with `node-red admin hash-pw`).
 * HTTPS only, bound to 127.0.0.1 only; logins with hashed passwords; the administrator, operator and viewer
 * each allowed what the guide says and refused the rest; every http in endpoint behind httpNodeAuth, and the
 * dashboard's socket behind the same password (the guide's socket guard); and the
 * settings refusing to start without a hash, an administrator or the credential secret.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { io } from 'socket.io-client';
import { tempUserDir } from '../support/node-red-helper';
import { freePort, NodeRedProcess } from '../support/node-red-process';
import { OPENSSL_SELF_SIGNED } from './guide';

const root = join(__dirname, '..', '..', '..');
const examples = join(root, 'docs', 'examples');
const RED_JS = require.resolve('node-red/red.js');

interface SiteJson {
  host: string;
  port: number;
  tls: { key: string; cert: string };
  users: Array<{ username: string; password: string; permissions: string | string[] }>;
  httpNodeAuth: { user: string; pass: string };
}

/** `node-red admin hash-pw`, as the guide runs it (the password typed at its prompt). */
function hashPw(password: string): string {
  const out = execFileSync(process.execPath, [RED_JS, 'admin', 'hash-pw'], {
    input: `${password}\n`,
    encoding: 'utf8',
  });
  const hash = /\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}/.exec(out)?.[0];
  assert.ok(hash, `hash-pw printed a bcrypt hash: ${out}`);
  return hash;
}

const STORE = 'sitesetstore0001';
const LEDGER = 'sitesetledger001';

function flow(): Array<Record<string, unknown>> {
  const z = 'sitesettab000001';
  return [
    { id: z, type: 'tab', label: 'site' },
    {
      id: 'sitesethello0001',
      type: 'http in',
      z,
      url: '/hello',
      method: 'get',
      wires: [['sitesetchange001']],
    },
    {
      id: 'sitesetchange001',
      type: 'change',
      z,
      rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'hello', tot: 'str' }],
      wires: [['sitesetresp00001']],
    },
    { id: 'sitesetresp00001', type: 'http response', z, statusCode: '', headers: {}, wires: [] },
    { id: LEDGER, type: 'prepay-ledger', z, store: STORE, timezone: 'UTC', wires: [[], []] },
    { id: STORE, type: 'prepay-store', backend: 'sqlite', file: 'ledger.db', synchronous: 'FULL' },
    // A dashboard whose one widget shows what a site's would: a tenant's balance.
    {
      id: 'sitesetinject001',
      type: 'inject',
      z,
      once: true,
      onceDelay: 0.1,
      payload: 'T0008 balance RM 123.45',
      payloadType: 'str',
      wires: [['sitesettext00001']],
    },
    {
      id: 'sitesettext00001',
      type: 'ui-text',
      z,
      group: 'sitesetgroup0001',
      order: 1,
      width: 0,
      height: 0,
      name: 'balance',
      label: 'Balance',
      format: '{{msg.payload}}',
      layout: 'row-left',
      style: false,
      wires: [],
    },
    { id: 'sitesetgroup0001', type: 'ui-group', name: 'Site', page: 'sitesetpage00001', width: 12, order: 1 },
    {
      id: 'sitesetpage00001',
      type: 'ui-page',
      name: 'Site',
      ui: 'sitesetbase00001',
      path: '/site',
      layout: 'grid',
      theme: 'sitesettheme0001',
      order: 1,
    },
    { id: 'sitesettheme0001', type: 'ui-theme', name: 'Site', colors: {}, sizes: {} },
    {
      id: 'sitesetbase00001',
      type: 'ui-base',
      name: 'Site',
      path: '/dashboard',
      includeClientData: true,
      acceptsClientConfig: ['ui-text'],
    },
  ];
}

describe('site install: the guide settings in a real Node-RED (HTTPS, logins, permissions)', function () {
  this.timeout(120_000);
  const passwords = {
    admin: randomBytes(12).toString('hex'),
    operator: randomBytes(12).toString('hex'),
    viewer: randomBytes(12).toString('hex'),
    site: randomBytes(12).toString('hex'),
  };
  const secret = randomBytes(32).toString('hex');
  let configDir: string;
  let userDir: string;
  let site: SiteJson;
  let ca: Buffer;
  let red: NodeRedProcess | undefined;

  /** The example site.json with this test's values put in; the example's users and permissions are kept. */
  function siteJson(port: number): SiteJson {
    const example = JSON.parse(readFileSync(join(examples, 'site.json'), 'utf8')) as SiteJson;
    assert.deepEqual(
      example.users.map((u) => [u.username, u.permissions]),
      [
        ['admin', '*'],
        ['operator', ['read', 'prepay.write']],
        ['viewer', 'read'],
      ],
      'the guide gives an administrator, an operator and a viewer',
    );
    return {
      ...example,
      host: '127.0.0.1',
      port,
      tls: { key: join(configDir, 'tls', 'key.pem'), cert: join(configDir, 'tls', 'cert.pem') },
      users: example.users.map((u) => ({
        ...u,
        password: hashPw(passwords[u.username as keyof typeof passwords]),
      })),
      httpNodeAuth: { user: example.httpNodeAuth.user, pass: hashPw(passwords.site) },
    };
  }

  async function startWith(siteValues: unknown, env: Record<string, string>): Promise<NodeRedProcess> {
    writeFileSync(join(configDir, 'site.json'), JSON.stringify(siteValues, null, 2));
    return NodeRedProcess.start({
      userDir,
      flows: flow(),
      settingsFile: join(configDir, 'settings.js'),
      port: (siteValues as SiteJson).port,
      tlsCa: ca,
      env,
    });
  }

  before(async function () {
    configDir = tempUserDir();
    userDir = tempUserDir();
    mkdirSync(join(userDir, 'node_modules'));
    symlinkSync(root, join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
    mkdirSync(join(userDir, 'node_modules', '@flowfuse'));
    symlinkSync(
      dirname(require.resolve('@flowfuse/node-red-dashboard/package.json')),
      join(userDir, 'node_modules', '@flowfuse', 'node-red-dashboard'),
      'dir',
    );
    mkdirSync(join(configDir, 'tls'));
    execFileSync(
      'openssl',
      [...OPENSSL_SELF_SIGNED, '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
      { cwd: join(configDir, 'tls'), stdio: 'ignore' },
    );
    ca = readFileSync(join(configDir, 'tls', 'cert.pem'));
    copyFileSync(join(examples, 'settings.js'), join(configDir, 'settings.js'));
    copyFileSync(join(examples, 'dashboard-socket-guard.js'), join(configDir, 'dashboard-socket-guard.js'));
    site = siteJson(await freePort());
    red = await startWith(site, { NODE_RED_CREDENTIAL_SECRET: secret });
  });

  after(async function () {
    await red?.stop();
  });

  /** A login as the guide's curl sends it (form fields, the admin client, the user's own permissions). */
  async function login(username: string, password: string): Promise<Response> {
    const form = new URLSearchParams({
      client_id: 'node-red-admin',
      grant_type: 'password',
      scope: '',
      username,
      password,
    });
    return red!.request('/auth/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    });
  }

  async function token(username: keyof typeof passwords): Promise<string> {
    const response = await login(username, passwords[username]);
    assert.equal(response.status, 200, `${username} logs in`);
    return ((await response.json()) as { access_token: string }).access_token;
  }

  async function status(
    path: string,
    bearer: string | undefined,
    method = 'GET',
    body?: unknown,
  ): Promise<number> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    const response = await red!.request(path, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    await response.arrayBuffer();
    return response.status;
  }

  it('serves HTTPS only, on 127.0.0.1 only', async function () {
    const editor = await red!.request('/');
    assert.equal(editor.status, 200);
    assert.match(await editor.text(), /Node-RED/);
    // Plain HTTP to the same port gets no HTTP answer.
    const plain = await new Promise<string>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: site.port, path: '/', timeout: 5000 }, (res) =>
        resolve(`HTTP ${res.statusCode}`),
      );
      req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.end();
    });
    assert.doesNotMatch(plain, /^HTTP /, `plain HTTP was answered: ${plain}`);
    // Another loopback address of this machine is refused: the socket is bound to 127.0.0.1 alone.
    const other = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.2', port: site.port }, () => {
        socket.destroy();
        resolve('connected');
      });
      socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    assert.equal(other, 'ECONNREFUSED');
    // A client that does not trust the certificate is refused by TLS, not served.
    await assert.rejects(fetch(`${red!.baseUrl}/`), /fetch failed/);
  });

  it('logs in with the hashed passwords, refuses a wrong one and keeps the admin API closed without a token', async function () {
    assert.equal(await status('/flows', undefined), 401);
    const wrong = await login('admin', `${passwords.admin}x`);
    assert.notEqual(wrong.status, 200);
    assert.equal(((await wrong.json()) as { access_token?: string }).access_token, undefined);
    assert.equal(await status('/flows', 'not-a-token'), 401);
    const admin = await token('admin');
    assert.equal(await status('/flows', admin), 200);
    assert.match(red!.log(), /auth\.login.*admin|admin.*auth\.login/, 'logins are in the audit log');
  });

  it('asks every http in endpoint for the site user and password', async function () {
    const basic = (user: string, password: string): Record<string, string> => ({
      Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
    });
    const none = await red!.request('/hello');
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Basic/);
    assert.equal(
      (await red!.request('/hello', { headers: basic('site', `${passwords.site}x`) })).status,
      401,
    );
    const ok = await red!.request('/hello', { headers: basic(site.httpNodeAuth.user, passwords.site) });
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), 'hello');
  });

  it("asks the dashboard's socket for the site user and password too: no widget data without them", async function () {
    const basic = (user: string, password: string): Record<string, string> => ({
      Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
    });
    assert.equal((await red!.request('/dashboard/site')).status, 401, 'the page asks');
    /** What a socket client gets: the text widget's message, or why it was refused. */
    const read = (extraHeaders: Record<string, string>): Promise<string> =>
      new Promise((resolve) => {
        const socket = io(red!.baseUrl, {
          path: '/dashboard/socket.io',
          reconnection: false,
          ca: ca.toString(),
          extraHeaders,
        });
        const settle = (outcome: string): void => {
          socket.close();
          resolve(outcome);
        };
        socket.on('connect_error', (error) => settle(`refused: ${error.message}`));
        socket.on('ui-config', () => {
          socket.once('widget-load:sitesettext00001', (msg: { payload?: unknown }) =>
            settle(String(msg?.payload)),
          );
          socket.emit('widget-load', 'sitesettext00001');
        });
      });
    const refused = 'refused: unauthorized: the dashboard needs the site user and password';
    assert.equal(await read({}), refused);
    assert.equal(await read(basic(site.httpNodeAuth.user, `${passwords.site}x`)), refused);
    assert.equal(await read(basic(site.httpNodeAuth.user, passwords.site)), 'T0008 balance RM 123.45');
  });

  it('allows the administrator everything, the operator reading and prepay.write, the viewer reading only', async function () {
    const tokens = {
      admin: await token('admin'),
      operator: await token('operator'),
      viewer: await token('viewer'),
    };
    const summary = `/prepay-ledger/${LEDGER}/summary?from=0&to=1`;
    const backup = `/prepay-store/${STORE}/backup`;
    const flows = (await (
      await red!.request('/flows', { headers: { Authorization: `Bearer ${tokens.admin}` } })
    ).json()) as unknown;
    const table: Array<[keyof typeof tokens, string, string, unknown, number]> = [
      ['viewer', 'GET', '/flows', undefined, 200],
      ['viewer', 'GET', summary, undefined, 200],
      ['viewer', 'POST', backup, {}, 401],
      // "read" covers every read permission of the package (404: allowed, and no such device deployed).
      ['viewer', 'GET', '/prepay-tariff/schema', undefined, 200],
      ['viewer', 'POST', '/prepay-meter/profiles', {}, 200],
      ['viewer', 'GET', '/prepay-bacnet-device/none/status', undefined, 404],
      ['viewer', 'POST', '/flows', flows, 401],
      ['operator', 'GET', '/flows', undefined, 200],
      ['operator', 'GET', summary, undefined, 200],
      ['operator', 'POST', backup, { name: 'by-operator.db' }, 200],
      ['operator', 'POST', '/flows', flows, 401],
      ['admin', 'POST', backup, { name: 'by-admin.db' }, 200],
      ['admin', 'POST', '/flows', flows, 204],
    ];
    const seen = [];
    for (const [user, method, path, body, _expected] of table)
      seen.push([user, method, path, body, await status(path, tokens[user], method, body)]);
    assert.deepEqual(seen, table);
    assert.match(red!.log(), /prepay-store\.backup.*operator/, 'the backup is audited with who asked');
  });

  it('refuses to start without hashes, an administrator or the credential secret', async function () {
    await red?.stop();
    red = undefined;
    const port = await freePort();
    const cases: Array<[string, unknown, Record<string, string>, RegExp]> = [
      [
        'a password instead of a hash',
        { ...site, port, users: [{ ...site.users[0], password: passwords.admin }] },
        { NODE_RED_CREDENTIAL_SECRET: secret },
        /users\[0\]\.password must be a bcrypt hash/,
      ],
      [
        'no administrator',
        { ...site, port, users: site.users.slice(1) },
        { NODE_RED_CREDENTIAL_SECRET: secret },
        /users needs an administrator/,
      ],
      [
        'the example secret',
        { ...site, port },
        { NODE_RED_CREDENTIAL_SECRET: 'replace-with-the-output-of-openssl-rand-hex-32' },
        /NODE_RED_CREDENTIAL_SECRET must be set/,
      ],
    ];
    for (const [what, values, env, message] of cases) {
      const started = startWith(values, {
        ...env,
        NODE_RED_CREDENTIAL_SECRET: env.NODE_RED_CREDENTIAL_SECRET ?? '',
      });
      await assert.rejects(started, (error: Error) => {
        assert.match(error.message, /exited before/, what);
        assert.match(error.message, message, what);
        return true;
      });
    }
  });
});
