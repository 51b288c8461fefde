/**
 * The ledger node inside a real Node-RED runtime with a SQLite store on disk: commands and charges
 * in, results only after commit, account states on the second output, errors to Catch nodes, and
 * the accounting export endpoints.
 */
import assert from 'node:assert/strict';
import {
  catchNode,
  collect,
  helper,
  loadBuiltNode,
  sleep,
  startServer,
  stopServer,
  tempUserDir,
} from '../support/node-red-helper';

const storeNode = loadBuiltNode('store/prepay-store.js');
const ledgerNode = loadBuiltNode('ledger/prepay-ledger.js');
const tariffNode = loadBuiltNode('tariff/prepay-tariff.js');

function flow(extra: Record<string, unknown> = {}): Array<Record<string, unknown>> {
  return [
    { id: 's1', type: 'prepay-store', backend: 'sqlite', file: 'ledger.db', synchronous: 'FULL' },
    {
      id: 'l1',
      type: 'prepay-ledger',
      store: 's1',
      lowThreshold: '1000',
      lowHysteresis: '500',
      emergencyCredit: '500',
      emergencyMode: 'auto',
      reconnectAbove: '100',
      debtRecoveryShare: '25',
      debtRecoveryCap: '0',
      debtRecoveryPerDay: '0',
      maxBalance: '100000',
      maxTopup: '50000',
      standingWhileOff: 'accrue-debt',
      rounding: 'half-even',
      stateOutput: 'change',
      snapshotMinutes: 0,
      maxQueue: 1000,
      timezone: 'Europe/London',
      wires: [['results'], ['states']],
      ...extra,
    },
    { id: 'results', type: 'helper' },
    { id: 'states', type: 'helper' },
    { id: 'c1', type: 'catch', scope: ['l1'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  ];
}

/** Messages a helper node has received, counted from the first time it is asked of it. */
const received = new WeakMap<object, { n: number }>();
function answers(): number {
  let total = 0;
  for (const id of ['results', 'caught']) {
    const node = helper.getNode(id);
    let counter = received.get(node);
    if (!counter) {
      const fresh = { n: 0 };
      node.on('input', () => fresh.n++);
      received.set(node, fresh);
      counter = fresh;
    }
    total += counter.n;
  }
  return total;
}

/**
 * Sends one message and waits for the ledger's answer to it: a result or an error to Catch (every
 * command and charge gets one), however slow the machine is; then a moment for the state output.
 */
async function send(payload: Record<string, unknown>, topic?: string): Promise<void> {
  const before = answers();
  helper.getNode('l1').receive({ payload, topic });
  for (let waited = 0; answers() === before && waited < 10_000; waited += 5) await sleep(5);
  await sleep(20);
}

describe('prepay-ledger node (SQLite store)', function () {
  let userDir: string;

  beforeEach(async function () {
    userDir = tempUserDir();
    helper.settings({ userDir });
    await startServer();
  });

  afterEach(async function () {
    await helper.unload();
    await stopServer();
    helper.settings({});
  });

  it('sends every account state once the store is open after a start (with snapshots on), not only after the first snapshot', async function () {
    await helper.load([storeNode, ledgerNode, catchNode], flow({ snapshotMinutes: 15 }));
    let states = collect(helper.getNode('states'));
    await sleep(200);
    assert.equal(states.length, 0, 'no accounts yet: nothing to send');
    for (const accountId of ['T0001', 'T0002']) {
      await send({ command: 'open', accountId, currency: 'GBP', reference: `open-${accountId}` });
      await send({ command: 'topup', accountId, amount: 2000, reference: `pay-${accountId}` });
    }
    await helper.unload();
    // Node-RED starts again: the states come at once, not 15 minutes later.
    await helper.load([storeNode, ledgerNode, catchNode], flow({ snapshotMinutes: 15 }));
    states = collect(helper.getNode('states'));
    await sleep(300);
    assert.deepEqual(
      states.map((m) => [
        m.topic,
        (m.payload as { balance: number }).balance,
        (m.payload as { state: string }).state,
      ]),
      [
        ['T0001', 2000, 'ok'],
        ['T0002', 2000, 'ok'],
      ],
    );
    await helper.unload();
    // Snapshots off: nothing at start either.
    await helper.load([storeNode, ledgerNode, catchNode], flow());
    states = collect(helper.getNode('states'));
    await sleep(300);
    assert.equal(states.length, 0);
  });

  it('opens, tops up, charges by meter binding and reports states on change', async function () {
    await helper.load([storeNode, ledgerNode, catchNode], flow());
    const results = collect(helper.getNode('results'));
    const states = collect(helper.getNode('states'));
    const caught = collect(helper.getNode('caught'));
    await send({
      command: 'open',
      accountId: 'T0412',
      currency: 'GBP',
      tenant: 'Noodle Bar',
      reference: 'open-T0412',
    });
    await send({ command: 'bind', accountId: 'T0412', meterId: 'E-0412', from: 0, reference: 'bind-E-0412' });
    await send({ command: 'topup', accountId: 'T0412', amount: 2000, reference: 'pay-001' });
    await send({ command: 'topup', accountId: 'T0412', amount: 2000, reference: 'pay-001' }); // gateway retry
    // A charge of 61.25p from the tariff node, and the same reading replayed.
    const charge = {
      meterId: 'E-0412',
      readingId: 'E-0412:1',
      amount: 612_500,
      currency: 'GBP',
      breakdown: [],
      to: 1000,
      kind: 'consumption',
    };
    await send(charge, 'charge');
    await send(charge, 'charge');
    assert.deepEqual(caught, []);
    assert.equal(results.length, 6);
    assert.equal(results[3].duplicate, true);
    assert.deepEqual(results[3].payload, results[2].payload);
    assert.equal(results[5].duplicate, true);
    const last = results[4].payload as { balance: number; state: string };
    assert.equal(last.balance, 2000 - 61); // 61.25p rounds half-even to 61p; the 0.25p is carried
    assert.deepEqual(
      states.map((m) => (m.payload as { state: string }).state),
      ['exhausted', 'ok'],
    );
    await send({ command: 'verify' });
    const verify = results[results.length - 1].payload as { ok: boolean };
    assert.equal(verify.ok, true);
    await send({ command: 'close', accountId: 'T0412', reference: 'close-T0412' });
    const closed = results[results.length - 1].payload as {
      state: string;
      statement: { closing: { balance: number }; entries: unknown[] };
    };
    assert.equal(closed.state, 'closed');
    assert.equal(closed.statement.closing.balance, 2000 - 61);
    assert.equal(closed.statement.entries.length, 4); // open, top-up, charge, close
    assert.equal((states[states.length - 1].payload as { state: string }).state, 'closed');
  });

  it('feeds charges straight from the tariff node', async function () {
    const tariffs = { uk: { currency: 'GBP', priceUnit: 'minor', energy: { type: 'flat', rate: '24.50' } } };
    await helper.load(
      [storeNode, ledgerNode, tariffNode, catchNode],
      [
        ...flow(),
        {
          id: 't1',
          type: 'prepay-tariff',
          tariffs: JSON.stringify(tariffs),
          select: '',
          selectType: 'str',
          calendar: false,
          persist: false,
          wires: [['l1']],
        },
      ],
    );
    const results = collect(helper.getNode('results'));
    await send({ command: 'open', accountId: 'T1', currency: 'GBP', reference: 'open-T1' });
    await send({ command: 'topup', accountId: 'T1', amount: 10_000, reference: 'pay-1' });
    for (let i = 0; i < 4; i++) {
      helper.getNode('t1').receive({
        payload: {
          meterId: 'E1',
          accountId: 'T1',
          utility: 'electricity',
          delta: 0.01,
          unit: 'kWh',
          from: i * 900_000,
          to: (i + 1) * 900_000,
          readingId: `E1:${i}`,
          quality: 'good',
        },
      });
    }
    // The open, the top-up and the four charges answered (a fixed pause was too short on a busy machine).
    for (let waited = 0; results.length < 6 && waited < 10_000; waited += 10) await sleep(10);
    // 4 x 10 Wh at 24.50 p/kWh = 0.98p: posted through the running total as 1p in all, never 0p or 4p.
    const balances = results.map((m) => (m.payload as { balance: number }).balance);
    assert.equal(balances[balances.length - 1], 10_000 - 1);
  });

  it('refuses bad commands with an error naming the field and posts nothing', async function () {
    await helper.load([storeNode, ledgerNode, catchNode], flow());
    const caught = collect(helper.getNode('caught'));
    const results = collect(helper.getNode('results'));
    await send({ command: 'open', accountId: 'T1', currency: 'GBP', reference: 'open-T1' });
    await send({ command: 'topup', accountId: 'NOPE', amount: 100, reference: 'a' });
    await send({ command: 'topup', accountId: 'T1', amount: 0, reference: 'b' });
    await send({ command: 'topup', accountId: 'T1', amount: -5, reference: 'c' });
    await send({ command: 'topup', accountId: 'T1', amount: 100, currency: 'EUR', reference: 'd' });
    await send({ command: 'topup', accountId: 'T1', amount: 100 });
    await send({ command: 'topup', accountId: 'T1', amount: 12.5, reference: 'e' });
    await send({ command: 'topup', accountId: 'T1', amount: 60_000, reference: 'f' });
    await send({ command: 'fly', accountId: 'T1' });
    helper.getNode('l1').receive({ payload: 'garbage' });
    await sleep(60);
    const messages = caught.map((m) => (m.error as { message: string }).message);
    assert.equal(messages.length, 9, messages.join('\n'));
    [
      /accountId: account "NOPE" does not exist/,
      /amount: must be greater than zero/,
      /amount: must be greater than zero/,
      /currency: is EUR/,
      /reference: is required/,
      /amount: must be a whole number of minor units/,
      /amount: exceeds the largest top-up/,
      /command: "fly" is not a ledger command/,
      /payload: must be a command/,
    ].forEach((pattern, i) => assert.match(messages[i], pattern));
    await send({ command: 'balance', accountId: 'T1' });
    assert.equal((results[results.length - 1].payload as { balance: number }).balance, 0);
  });

  it('refuses a negative charge (amount, breakdown line, quantity) to Catch and credits nothing', async function () {
    await helper.load([storeNode, ledgerNode, catchNode], flow());
    const caught = collect(helper.getNode('caught'));
    const results = collect(helper.getNode('results'));
    await send({ command: 'open', accountId: 'T1', currency: 'GBP', reference: 'open-T1' });
    await send({ command: 'topup', accountId: 'T1', amount: 1000, reference: 'pay-1' });
    const charge = {
      accountId: 'T1',
      meterId: 'E1',
      readingId: 'E1:1',
      quantity: '3',
      amount: 612_500,
      currency: 'GBP',
      breakdown: [{ component: 'energy', quantity: '3', unit: 'kWh', rate: '0.204166', amount: 612_500 }],
      to: 1000,
      kind: 'consumption',
    };
    // -5000p: what a broken or hostile upstream node sent; the balance went up by 50.00 before.
    await send(
      { ...charge, amount: -50_000_000, breakdown: [{ component: 'energy', amount: -50_000_000 }] },
      'charge',
    );
    await send(
      {
        ...charge,
        breakdown: [
          { component: 'energy', amount: 700_000 },
          { component: 'rebate', amount: -87_500 },
        ],
      },
      'charge',
    );
    await send({ ...charge, quantity: '-3' }, 'charge');
    const messages = caught.map((m) => (m.error as { message: string }).message);
    assert.equal(messages.length, 3, messages.join('\n'));
    assert.match(messages[0], /amount: must not be negative/);
    assert.match(messages[1], /breakdown\[1\]\.amount: must not be negative/);
    assert.match(messages[2], /quantity: must not be negative/);
    await send({ command: 'balance', accountId: 'T1' });
    assert.equal((results[results.length - 1].payload as { balance: number }).balance, 1000);
    // The reading id was not used up: the genuine charge for it posts.
    await send(charge, 'charge');
    assert.equal(caught.length, 3);
    const posted = results[results.length - 1];
    assert.equal(posted.duplicate, false);
    assert.equal((posted.payload as { balance: number }).balance, 1000 - 61);
  });

  it('serves statements and period summaries as CSV on the admin API', async function () {
    await helper.load([storeNode, ledgerNode, catchNode], flow());
    await send({
      command: 'open',
      accountId: 'T1',
      currency: 'GBP',
      name: 'Shop, "Corner"',
      reference: 'open-T1',
    });
    await send({ command: 'topup', accountId: 'T1', amount: 1234, reference: 'pay-1' });
    const statement = await helper
      .request()
      .get('/prepay-ledger/l1/statement?account=T1&format=csv')
      .expect(200);
    const lines = statement.text.trim().split('\r\n');
    assert.match(lines[0], /^account,seq,posted_at/);
    assert.ok(
      lines.some((l) => /,topup,pay-1,12\.34,0\.00,12\.34,/.test(l)),
      statement.text,
    );
    const summary = await helper
      .request()
      .get('/prepay-ledger/l1/summary?from=2000-01-01&to=2100-01-01&format=csv')
      .expect(200);
    assert.match(summary.text, /T1,,"Shop, ""Corner""",GBP,/);
    assert.match(summary.text, /,0\.00,12\.34,0\.00,0\.00,0\.00,0\.00,12\.34,0\.00\r\n$/);
    await helper.request().get('/prepay-ledger/l1/statement?account=NOPE').expect(404);
    await helper.request().get('/prepay-ledger/nonode/summary?from=1&to=2').expect(404);
  });

  it("posts an operator's commands from the admin API: applied, duplicate or refused, and the state sent", async function () {
    await helper.load([storeNode, ledgerNode, catchNode], flow());
    const states = collect(helper.getNode('states'));
    const post = (command: string, body: unknown, status: number) =>
      helper.request().post(`/prepay-ledger/l1/${command}`).send(body).expect(status);
    type Answer = { outcome: string; by?: string; error?: string; field?: string; result?: never };
    const opened = (await post('open', { accountId: 'T1', currency: 'GBP', reference: 'open-T1' }, 200))
      .body as Answer;
    assert.equal(opened.outcome, 'applied');
    // Open and idle (no login configured here): recorded as such, whatever the body claims.
    const topup = {
      accountId: 'T1',
      amount: 5000,
      reference: 'desk:R-1',
      method: 'cash desk',
      by: 'mallory',
    };
    const applied = (await post('topup', topup, 200)).body as {
      outcome: string;
      by: string;
      result: { balance: number; by: string; entries: Array<{ meta: { by: string } }> };
    };
    assert.equal(applied.outcome, 'applied');
    assert.equal(applied.by, 'unauthenticated (adminAuth off)');
    assert.equal(applied.result.balance, 5000);
    assert.equal(applied.result.entries[0]!.meta.by, 'unauthenticated (adminAuth off)');
    // The same receipt again: the original answered, nothing added.
    const again = (await post('topup', topup, 200)).body as { outcome: string; result: { balance: number } };
    assert.equal(again.outcome, 'duplicate');
    assert.equal(again.result.balance, 5000);
    // An operator's top-up sends the account's state even when the credit state did not change.
    await sleep(100);
    const last = states[states.length - 1]!.payload as { accountId: string; balance: number; state: string };
    assert.deepEqual([last.accountId, last.balance, last.state], ['T1', 5000, 'ok']);
    const refused = async (command: string, body: unknown, status: number, pattern: RegExp) => {
      const answer = (await post(command, body, status)).body as Answer;
      assert.equal(answer.outcome, 'refused');
      assert.match(String(answer.error), pattern);
    };
    await refused('topup', { accountId: 'T1', amount: 12.5, reference: 'desk:R-2' }, 400, /^amount: /);
    await refused('topup', { accountId: 'T9', amount: 100, reference: 'desk:R-3' }, 404, /does not exist/);
    await refused('topup', { accountId: 'T1', amount: 60_000, reference: 'desk:R-4' }, 409, /largest top-up/);
    await refused('charge', { accountId: 'T1', amount: 1 }, 404, /not an operator command/);
    await refused(
      'bind',
      { meterId: 'E1', accountId: 'T1', reference: 'b1' },
      404,
      /not an operator command/,
    );
    await refused('topup', [1], 400, /^body: /);
    await helper.request().post('/prepay-ledger/nonode/topup').send(topup).expect(404);
    const closed = (await post('close', { accountId: 'T1', reference: 'close-T1' }, 200)).body as {
      result: { entries: Array<{ kind: string; meta: { by: string } }> };
    };
    assert.deepEqual(
      closed.result.entries.map((e) => [e.kind, e.meta.by]),
      [['close', 'unauthenticated (adminAuth off)']],
    );
    const balance = await helper.request().get('/prepay-ledger/l1/statement?account=T1').expect(200);
    assert.equal((balance.body as { entries: unknown[] }).entries.length, 3); // open, one top-up, close
  });
});
