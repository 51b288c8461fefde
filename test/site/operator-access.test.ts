/**
 * Nothing moves money or supply without an authenticated, recorded person: the reference site in a real
 * Node-RED with adminAuth (bcrypt-hashed passwords) and httpNodeAuth on.
 *
 * - The flow: no node a dashboard widget can reach, and no http in node, leads to the ledger, the cutoff
 *   relays, the meter readers or the tariffs (checked on the graph of wires and links).
 * - The dashboard's socket (/dashboard/socket.io), which httpNodeAuth alone does not guard: the site guide's
 *   socket guard refuses a client without the site password (it reads no widget), and a client with it sends
 *   what the old top-up and override forms took, and anything else to every widget: nothing is posted,
 *   nothing is overridden, and what it sends stays with it.
 * - The admin API's operator routes: 401 without a login, 403 for a user who may only read, applied for an
 *   operator (["read", "prepay.write"]), whose name is in the ledger entry and the supply audit entry; the
 *   same receipt twice credits once; overrides of an unknown meter and of a meter no cutoff node drives are
 *   refused with the reason; a rebaseline is recorded with the operator.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { sleep } from '../support/node-red-helper';
import {
  adminAuth,
  httpNodeAuth,
  login,
  OPERATOR,
  READER,
  startReferenceSite,
  type RunningSite,
} from '../support/reference-site';

/** A node id of the reference site, as scripts/reference-site/ids.mjs makes it from its key. */
const id = (key: string): string =>
  createHash('sha1').update(`prepay-reference:${key}`).digest('hex').slice(0, 16);

const root = join(__dirname, '..', '..', '..');

interface FlowNode {
  id: string;
  type: string;
  name?: string;
  mode?: string;
  links?: string[];
  wires?: string[][];
  format?: string;
}

/** Every node a message from `start` can reach: wires, and link out / link call to their link in nodes. */
function reachable(flow: FlowNode[], start: FlowNode): FlowNode[] {
  const byId = new Map(flow.map((n) => [n.id, n]));
  const seen = new Set<string>([start.id]);
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift()!;
    const next = [
      ...(node.wires ?? []).flat(),
      ...((node.type === 'link out' && node.mode !== 'return') || node.type === 'link call'
        ? (node.links ?? [])
        : []),
    ];
    for (const target of next) {
      if (seen.has(target) || !byId.has(target)) continue;
      seen.add(target);
      queue.push(byId.get(target)!);
    }
  }
  return [...seen].map((key) => byId.get(key)!).filter((n) => n !== start);
}

/** A Basic Authorization header, as a browser sends it after the page asked for the password. */
const basic = (user: string, pass: string): Record<string, string> => ({
  Authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
});

const ACTORS = new Set(['prepay-ledger', 'prepay-cutoff', 'prepay-meter', 'prepay-tariff']);

describe('operator access to the reference site', function () {
  this.timeout(180_000);

  it('has no path from a dashboard widget to a node that acts, nor from an http in node to the tariffs', function () {
    const files = [
      'flows/reference.json',
      ...readdirSync(join(root, 'examples'))
        .filter((f) => f.endsWith('.json'))
        .map((f) => `examples/${f}`),
    ];
    for (const file of files) {
      const flow = JSON.parse(readFileSync(join(root, file), 'utf8')) as FlowNode[];
      const widgets = flow.filter((n) => n.type.startsWith('ui-') && n.wires !== undefined);
      if (file === 'flows/reference.json') assert.ok(widgets.length >= 6);
      for (const widget of widgets) {
        const reached = reachable(flow, widget).filter(
          (n) => ACTORS.has(n.type) || n.type.startsWith('link'),
        );
        assert.deepEqual(
          reached.map((n) => `${n.type} ${n.name ?? n.id}`),
          [],
          `${file}: ${widget.type} "${widget.name}" reaches nodes that act`,
        );
      }
      for (const httpIn of flow.filter((n) => n.type === 'http in')) {
        const tariffs = reachable(flow, httpIn).filter((n) => n.type === 'prepay-tariff');
        assert.deepEqual(tariffs, [], `${file}: http in "${httpIn.name}" reaches a tariff node`);
      }
    }
  });

  describe('in a real Node-RED with adminAuth and httpNodeAuth', function () {
    let site: RunningSite;
    let operatorToken: string;
    let readerToken: string;

    const topups = (accountId: string): Array<{ reference: string; amount: number; meta: string }> =>
      site.db
        .prepare(
          "SELECT reference, amount, meta FROM entries WHERE account_id = ? AND kind = 'topup' ORDER BY seq",
        )
        .all(accountId) as Array<{ reference: string; amount: number; meta: string }>;
    const audit = (
      meterId: string,
    ): Array<{ kind: string; action: string; actor: string; reason: string; reference: string }> =>
      site.db
        .prepare(
          'SELECT kind, action, actor, reason, reference FROM supply_audit WHERE meter_id = ? ORDER BY at, reference',
        )
        .all(meterId) as Array<{
        kind: string;
        action: string;
        actor: string;
        reason: string;
        reference: string;
      }>;

    async function post(
      path: string,
      body: unknown,
      token?: string,
    ): Promise<{ status: number; body: Record<string, unknown> }> {
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (token) headers.Authorization = `Bearer ${token}`;
      const response = await site.red.request(path, { method: 'POST', headers, body: JSON.stringify(body) });
      const text = await response.text();
      // Passport answers a missing login with the text "Unauthorized"; the operator routes answer JSON.
      const parsed = ((): Record<string, unknown> => {
        try {
          return JSON.parse(text) as Record<string, unknown>;
        } catch {
          return { text };
        }
      })();
      return { status: response.status, body: parsed };
    }

    async function until(check: () => boolean, what: string, ms = 30_000): Promise<void> {
      const deadline = Date.now() + ms;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
        await sleep(200);
      }
    }

    before(async function () {
      site = await startReferenceSite({
        adminAuth: adminAuth([OPERATOR, READER]),
        httpNodeAuth: httpNodeAuth('site', 'site-page-2026'),
        logging: { console: { level: 'info', metrics: false, audit: true } },
      });
      // Accounts are opened with their opening credit on deploy; the first relay commands follow.
      await until(() => topups('T0008').length === 1, 'T0008 opened');
      await until(() => audit('E-T0008').some((r) => r.kind === 'command'), 'E-T0008 taken in hand');
      operatorToken = await login(site.red, OPERATOR);
      readerToken = await login(site.red, READER);
    });

    after(async function () {
      await site?.stop();
    });

    it("refuses the dashboard's socket to a client without the site password", async function () {
      assert.equal(
        (await site.red.request('/dashboard/site')).status,
        401,
        'the page is behind httpNodeAuth',
      );
      const refusals: string[] = [];
      for (const extraHeaders of [{}, basic('site', 'wrong-password'), basic('intruder', 'site-page-2026')]) {
        const outcome = await new Promise<string>((resolve) => {
          const socket = io(site.red.baseUrl, {
            path: '/dashboard/socket.io',
            reconnection: false,
            extraHeaders,
          });
          socket.on('ui-config', () => {
            socket.close();
            resolve('ui-config sent');
          });
          socket.on('connect_error', (error) => {
            socket.close();
            resolve(error.message);
          });
        });
        refusals.push(outcome);
      }
      assert.deepEqual(
        refusals,
        Array(3).fill('unauthorized: the dashboard needs the site user and password'),
      );
      // Nor straight to a websocket, which skips the handshake the guard reads.
      const direct = await new Promise<string>((resolve) => {
        const socket = io(site.red.baseUrl, {
          path: '/dashboard/socket.io',
          reconnection: false,
          transports: ['websocket'],
        });
        const settle = (outcome: string): void => {
          clearTimeout(timer);
          socket.close();
          resolve(outcome);
        };
        // Dashboard's own rule closes such a connection without a word: nothing arrives.
        const timer = setTimeout(() => settle('nothing within 5 s'), 5000);
        socket.on('ui-config', () => settle('ui-config sent'));
        socket.on('connect_error', (error) => settle(error.message));
        socket.on('disconnect', (reason) => settle(reason));
      });
      assert.notEqual(direct, 'ui-config sent');
    });

    it("feeds the Savings group: the chart of the month's days and the text of last month's savings", async function () {
      const socket = io(site.red.baseUrl, {
        path: '/dashboard/socket.io',
        reconnection: false,
        extraHeaders: basic('site', 'site-page-2026'),
      });
      try {
        await new Promise((resolve, reject) => {
          socket.on('ui-config', resolve);
          socket.on('connect_error', reject);
        });
        const load = (widget: string): Promise<unknown> =>
          new Promise((resolve) => {
            socket.once(`widget-load:${widget}`, (msg: unknown) => resolve(msg));
            socket.emit('widget-load', widget);
            setTimeout(() => resolve(undefined), 2000);
          });
        // The load-control tab asks the savings node for its reports 5 s after the deploy, then every minute.
        const deadline = Date.now() + 30_000;
        let chart: unknown;
        let text: unknown;
        while (Date.now() < deadline && (!chart || !text)) {
          chart = await load(id('savings-chart'));
          text = await load(id('savings-text'));
          if (!chart || !text) await sleep(500);
        }
        const stored = (Array.isArray(chart) ? chart : [chart]) as Array<{ payload?: unknown }>;
        assert.ok(stored.length > 0, 'the savings chart got no message');
        assert.ok(
          stored.every(
            (m) => m && (Array.isArray(m.payload) || typeof (m.payload as { y?: unknown })?.y === 'number'),
          ),
          JSON.stringify(chart).slice(0, 300),
        );
        // Days up to today, even before the meters' first consumption is counted (at 0 kWh).
        assert.match(JSON.stringify(chart), /"series":"in schedule"/);
        assert.match(
          String((text as { payload?: unknown }).payload),
          /^\d{4}-\d{2}: (no measured savings yet \(.+\)|[-\d.]+ kWh saved)/,
        );
      } finally {
        socket.close();
      }
    });

    it('serves the savings CSV to a user who may read, and to no one not logged in', async function () {
      const path = `/prepay-savings/${id('savings')}/report?format=csv`;
      assert.equal((await site.red.request(path)).status, 401);
      const response = await site.red.request(path, { headers: { Authorization: `Bearer ${readerToken}` } });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /text\/csv/);
      assert.match(await response.text(), /^unit,period,date,day_type,/);
    });

    it("takes nothing from the dashboard's socket, even with the site password", async function () {
      const connect = (): Promise<{
        socket: Socket;
        config: { widgets: Record<string, { props: FlowNode }> };
      }> =>
        new Promise((resolve, reject) => {
          // The credentials a browser that opened the page sends on the socket's requests.
          const socket = io(site.red.baseUrl, {
            path: '/dashboard/socket.io',
            reconnection: false,
            extraHeaders: basic('site', 'site-page-2026'),
          });
          socket.on('ui-config', (_base: string, config) => resolve({ socket, config }));
          socket.on('connect_error', reject);
        });
      const { socket, config } = await connect();
      const widgets = Object.keys(config.widgets);
      const before = { topups: topups('T0008'), audit: audit('E-T0008').length };
      // Exactly what the old forms sent (ui-form: widget-action with the form's values, _event "submit").
      socket.emit('widget-action', id('topup-form'), {
        payload: { account: 'T0008', amount: 5000, receipt: 'R-SOCKET-1' },
        _event: 'submit',
      });
      socket.emit('widget-action', id('override-form'), {
        payload: { meter: 'E-T0008', action: 'force off', reason: 'socket client', hours: 2 },
        _event: 'submit',
      });
      // And the same, and a ledger command, as every message a client can send to every widget there is.
      const forged = [
        { payload: { account: 'T0008', amount: 5000, receipt: 'R-SOCKET-2' }, _event: 'submit' },
        {
          payload: { meter: 'E-T0008', action: 'force off', reason: 'socket client', hours: 2 },
          _event: 'submit',
        },
        { payload: { command: 'topup', accountId: 'T0008', amount: 500000, reference: 'desk:R-SOCKET-3' } },
        {
          topic: 'override',
          payload: { meterId: 'E-T0008', action: 'disconnect', reason: 'socket', minutes: 60 },
        },
      ];
      for (const widget of widgets)
        for (const msg of forged) {
          socket.emit('widget-action', widget, msg);
          socket.emit('widget-send', widget, msg);
          socket.emit('widget-change', widget, msg);
        }
      // The panel's code, replaced for everyone (Dashboard stores a template's ui_update.format), and the
      // tenants table's rows, replaced for everyone (widget-change is stored and rebroadcast).
      socket.emit('widget-action', id('operator-panel'), {
        ui_update: { format: '<template><div>forged panel</div></template>' },
      });
      socket.emit('widget-change', id('tenants-table'), {
        payload: [{ account: 'T0008', balance: '99999.00' }],
      });
      await sleep(3000);
      socket.close();
      assert.deepEqual(topups('T0008'), before.topups, 'nothing was credited');
      assert.equal(audit('E-T0008').length, before.audit, 'no override, no relay command');
      assert.deepEqual(
        site.db.prepare("SELECT reference FROM entries WHERE reference LIKE 'desk:%'").all(),
        [],
      );
      // Another operator's page gets the panel and the table as the flow made them.
      assert.ok(widgets.includes(id('operator-panel')));
      const other = await connect();
      try {
        const panel = other.config.widgets[id('operator-panel')]!.props;
        assert.match(String(panel.format), /operator routes/);
        const table = await new Promise<unknown>((resolve) => {
          other.socket.once(`widget-load:${id('tenants-table')}`, (msg: unknown) => resolve(msg));
          other.socket.emit('widget-load', id('tenants-table'));
          setTimeout(() => resolve(undefined), 3000);
        });
        assert.doesNotMatch(JSON.stringify(table ?? null), /99999/);
      } finally {
        other.socket.close();
      }
    });

    it('refuses operator routes to someone not logged in (401) and to a user who may only read (403)', async function () {
      const routes: Array<[string, unknown]> = [
        [
          `/prepay-ledger/${id('ledger')}/topup`,
          { accountId: 'T0008', amount: 500000, reference: 'desk:R-NOAUTH' },
        ],
        [
          `/prepay-ledger/${id('ledger')}/open`,
          { accountId: 'T9001', currency: 'MYR', reference: 'open-T9001' },
        ],
        [
          '/prepay-cutoff/override',
          { meterId: 'E-T0008', action: 'disconnect', reason: 'no login', minutes: 60 },
        ],
        ['/prepay-meter/rebaseline', { meterId: 'W-T0008', value: 0, reason: 'no login' }],
      ];
      for (const [path, body] of routes) {
        assert.equal((await post(path, body)).status, 401, `${path} without a login`);
        // httpNodeAuth's Basic credentials are another lock: they open the dashboard's pages, not the admin API.
        const basic = await site.red.request(path, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            Authorization: `Basic ${Buffer.from('site:site-page-2026').toString('base64')}`,
          },
          body: JSON.stringify(body),
        });
        assert.equal(basic.status, 401, `${path} with the dashboard's Basic credentials`);
        const reader = await post(path, body, readerToken);
        assert.equal(reader.status, 403, `${path} as a reader`);
        assert.match(String(reader.body.error), /may not act as an operator: the prepay.write permission/);
      }
      assert.equal(topups('T0008').length, 1);
      assert.deepEqual(site.db.prepare("SELECT id FROM accounts WHERE id = 'T9001'").all(), []);
      assert.ok(!audit('E-T0008').some((r) => r.kind === 'override'));
    });

    it("posts an operator's desk top-up once per receipt, with the operator's name in the entry", async function () {
      const path = `/prepay-ledger/${id('ledger')}/topup`;
      const body = {
        accountId: 'T0008',
        amount: 10_000,
        reference: 'desk:R-2026-0042',
        method: 'cash desk',
        by: 'someone else',
      };
      const applied = await post(path, body, operatorToken);
      assert.equal(applied.status, 200);
      assert.deepEqual([applied.body.outcome, applied.body.by], ['applied', OPERATOR.username]);
      const again = await post(path, body, operatorToken);
      assert.deepEqual([again.status, again.body.outcome], [200, 'duplicate']);
      // Node-RED's audit log has both, with the user.
      const audited = site.red
        .log()
        .split('\n')
        .filter((line) => line.includes('[audit]') && line.includes('"event":"prepay-ledger.topup"'));
      assert.equal(audited.length, 2);
      assert.ok(
        audited.every((line) => line.includes(`"username":"${OPERATOR.username}"`)),
        audited.join('\n'),
      );
      const desk = topups('T0008').filter((t) => t.reference === 'desk:R-2026-0042');
      assert.deepEqual(
        desk.map((t) => [Number(t.amount), (JSON.parse(t.meta) as { by: string }).by]),
        [[10_000, OPERATOR.username]],
      );
      const refused = await post(path, { ...body, accountId: 'T9999', reference: 'desk:R-X' }, operatorToken);
      assert.deepEqual([refused.status, refused.body.outcome], [404, 'refused']);
      assert.match(String(refused.body.error), /account "T9999" does not exist/);
      // Opening and closing an account are operator postings too.
      const opened = await post(
        `/prepay-ledger/${id('ledger')}/open`,
        { accountId: 'T9001', currency: 'MYR', reference: 'open-T9001' },
        operatorToken,
      );
      assert.equal(opened.body.outcome, 'applied');
      const closed = await post(
        `/prepay-ledger/${id('ledger')}/close`,
        { accountId: 'T9001', reference: 'close-T9001' },
        operatorToken,
      );
      assert.equal(closed.body.outcome, 'applied');
      const meta = site.db
        .prepare("SELECT kind, meta FROM entries WHERE account_id = 'T9001' ORDER BY seq")
        .all() as Array<{ kind: string; meta: string }>;
      assert.deepEqual(
        meta.map((e) => [e.kind, (JSON.parse(e.meta) as { by: string }).by]),
        [
          ['open', OPERATOR.username],
          ['close', OPERATOR.username],
        ],
      );
    });

    it("overrides a supply for an operator, audited with the operator's name, and refuses what no node can do", async function () {
      const path = '/prepay-cutoff/override';
      const unknown = await post(
        path,
        { meterId: 'E-T9999', action: 'disconnect', reason: 'inspection', minutes: 60 },
        operatorToken,
      );
      assert.deepEqual([unknown.status, unknown.body.outcome], [404, 'refused']);
      assert.match(String(unknown.body.error), /^unknown meter "E-T9999"/);
      const water = await post(
        path,
        { meterId: 'W-T0008', action: 'disconnect', reason: 'leak', minutes: 60 },
        operatorToken,
      );
      assert.deepEqual([water.status, water.body.outcome], [409, 'refused']);
      assert.match(String(water.body.error), /no cutoff node owns meter "W-T0008"/);
      const applied = await post(
        path,
        { meterId: 'E-T0008', action: 'disconnect', reason: 'safety inspection', minutes: 60 },
        operatorToken,
      );
      assert.equal(applied.status, 200, JSON.stringify(applied.body));
      const relay = applied.body.relay as { action: string; confirmed: boolean; auditReference: string };
      assert.deepEqual(
        [applied.body.outcome, applied.body.by, relay.action, relay.confirmed],
        ['applied', OPERATOR.username, 'disconnect', true],
      );
      const rows = audit('E-T0008');
      const override = rows.find((r) => r.kind === 'override')!;
      assert.deepEqual(
        [override.action, override.actor, override.reason],
        ['disconnect', OPERATOR.username, 'safety inspection'],
      );
      const command = rows.find((r) => r.reference === relay.auditReference)!;
      assert.deepEqual(
        [command.kind, command.action, command.actor],
        ['command', 'disconnect', OPERATOR.username],
      );
      const cleared = await post(path, { meterId: 'E-T0008', action: 'clear' }, operatorToken);
      assert.deepEqual([cleared.status, cleared.body.outcome], [200, 'applied']);
    });

    it("rebaselines a meter for an operator, recorded with the operator's name", async function () {
      const answer = await post(
        '/prepay-meter/rebaseline',
        { meterId: 'G-T0008', value: 0, reason: 'meter exchanged' },
        operatorToken,
      );
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual([answer.body.outcome, answer.body.by], ['applied', OPERATOR.username]);
      const log = readFileSync(join(site.userDir, String(answer.body.log)), 'utf8')
        .trim()
        .split('\n');
      assert.deepEqual(
        log.map((line) => JSON.parse(line) as { meterId: string; by: string }).map((r) => [r.meterId, r.by]),
        [['G-T0008', OPERATOR.username]],
      );
    });
  });
});
