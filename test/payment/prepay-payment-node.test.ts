/**
 * prepay-payment inside a Node-RED runtime (node-red-node-test-helper), wired to a real prepay-ledger on a
 * SQLite file, on a manual clock: signed deliveries credit once; unsigned, wrongly signed, replayed, stale
 * and duplicate ones are refused or absorbed and the balance is exactly the sum of distinct top-ups;
 * req/res survive to the ledger's output; configuration faults reach Catch nodes.
 *
 * Messages are given to the node as an `http in` node with "Do not parse request body" sends them (the
 * helper's own HTTP app parses every body first, so the real HTTP path is tested in tenant-api.test.ts
 * against a real Node-RED process).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ManualClock } from '../../dist/nodes/core/clock';
import { signatureHeader } from '../../dist/nodes/core/payments/signature';
import { SqliteLedgerStore } from '../../dist/nodes/store/sqlite-ledger-store';
import {
  catchNode,
  collect,
  helper,
  loadBuiltNode,
  sleep,
  startServer,
  stopServer,
  tempUserDir,
  TestNode,
} from '../support/node-red-helper';

const storeNode = loadBuiltNode('store/prepay-store.js');
const ledgerNode = loadBuiltNode('ledger/prepay-ledger.js');
const paymentNode = loadBuiltNode('payment/prepay-payment.js');

const SECRET = 'whsec_node_test';
const START = Date.UTC(2026, 2, 2, 10, 0, 0);

function flow(payment: Record<string, unknown> = {}): Array<Record<string, unknown>> {
  return [
    { id: 's1', type: 'prepay-store', backend: 'sqlite', file: 'ledger.db', synchronous: 'FULL' },
    {
      id: 'pay',
      type: 'prepay-payment',
      header: 'X-Prepay-Signature',
      secretFrom: 'credentials',
      tolerance: 300,
      referencePrefix: 'pay:',
      amountIn: 'auto',
      currency: 'GBP',
      wires: [['topups', 'l1'], ['refused']],
      ...payment,
    },
    {
      id: 'l1',
      type: 'prepay-ledger',
      store: 's1',
      emergencyCredit: '0',
      emergencyMode: 'off',
      stateOutput: 'change',
      snapshotMinutes: 0,
      timezone: 'UTC',
      wires: [['results'], []],
    },
    { id: 'topups', type: 'helper' },
    { id: 'results', type: 'helper' },
    { id: 'refused', type: 'helper' },
    { id: 'c1', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  ];
}

interface Sent {
  req: { headers: Record<string, string> };
  res: { marker: string };
}

/** What an http in node sends: the raw body Buffer, the request, a response wrapper. */
function delivery(
  body: string,
  header: string | undefined,
  name = 'x-prepay-signature',
): Record<string, unknown> & Sent {
  return {
    payload: Buffer.from(body),
    req: { headers: header === undefined ? {} : { [name]: header } },
    res: { marker: `res-${Math.random()}` },
  };
}

function body(fields: Record<string, unknown>): string {
  return JSON.stringify({ accountId: 'T0101', currency: 'GBP', method: 'card', ...fields });
}

function signed(text: string, clock: ManualClock, secret = SECRET, offsetS = 0): string {
  return signatureHeader(secret, Math.floor(clock.now() / 1000) + offsetS, text);
}

async function waitFor(what: string, test: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function balanceOf(userDir: string, accountId: string): Promise<bigint | undefined> {
  const store = new SqliteLedgerStore({ path: join(userDir, 'ledger.db') });
  await store.init();
  try {
    return (await store.getAccount(accountId))?.balance;
  } finally {
    await store.close();
  }
}

describe('prepay-payment node (ledger on SQLite, manual clock)', function () {
  let userDir: string;
  let clock: ManualClock;

  beforeEach(async function () {
    userDir = tempUserDir();
    clock = new ManualClock(START);
    helper.settings({ userDir, prepay: { clock } });
    await startServer();
  });

  afterEach(async function () {
    await helper.unload();
    await stopServer();
    helper.settings({});
    delete process.env.PREPAY_TEST_WEBHOOK_SECRET;
    delete process.env.PREPAY_TEST_DEMO_SECRET;
  });

  async function loadWithAccount(
    payment: Record<string, unknown> = {},
    credentials = { pay: { secret: SECRET } },
  ) {
    await helper.load([storeNode, ledgerNode, paymentNode, catchNode], flow(payment), credentials);
    const results = collect(helper.getNode('results'));
    helper.getNode('l1').receive({
      payload: { command: 'open', accountId: 'T0101', currency: 'GBP', reference: 'open-T0101' },
    });
    await waitFor('the account to open', () => results.length === 1);
    results.length = 0;
    return {
      pay: helper.getNode('pay'),
      topups: collect(helper.getNode('topups')),
      results,
      refused: collect(helper.getNode('refused')),
      caught: collect(helper.getNode('caught')),
    };
  }

  it('turns a signed delivery into a topup command, keeping req and res for the http response', async function () {
    const { pay, topups, results } = await loadWithAccount();
    const text = body({ amount: '12.50', reference: 'pi_1001' });
    const msg = delivery(text, signed(text, clock));
    pay.receive(msg);
    await waitFor('the ledger result', () => results.length === 1);
    assert.deepEqual(topups[0]?.payload, {
      command: 'topup',
      accountId: 'T0101',
      amount: 1250,
      currency: 'GBP',
      reference: 'pay:pi_1001',
      method: 'card',
    });
    assert.deepEqual(topups[0]?.payment, { providerReference: 'pi_1001', timestamp: START / 1000 });
    const result = results[0] as Record<string, unknown> & Sent;
    assert.equal(result.res.marker, msg.res.marker, 'msg.res reaches the ledger output');
    assert.deepEqual(result.req.headers, msg.req.headers);
    assert.equal(result.duplicate, false);
    assert.equal((result.payload as { balance: number }).balance, 1250);
    assert.equal(await balanceOf(userDir, 'T0101'), 1250n);
  });

  it('refuses unsigned, wrongly signed, replayed, stale and future deliveries; credits only distinct payments', async function () {
    const { pay, results, refused, caught } = await loadWithAccount();
    const warnings: unknown[] = [];
    (pay as unknown as TestNode).on('call:warn', (call) => warnings.push(call.args[0]));
    const first = body({ amount: 2000, reference: 'pi_2001' });
    const firstHeader = signed(first, clock);
    pay.receive(delivery(first, firstHeader));
    await waitFor('the first top-up', () => results.length === 1);

    const attempts: Array<[string, string | undefined, number, string]> = [
      [first, undefined, 401, 'missing-signature'],
      [first, 'v1=deadbeef', 401, 'malformed-signature'],
      [first, signed(first, clock, 'whsec_guess'), 401, 'bad-signature'],
      [body({ amount: 200000, reference: 'pi_2001' }), firstHeader, 401, 'bad-signature'],
      [first, firstHeader, 409, 'replayed'],
      [first, signed(first, clock, SECRET, -301), 401, 'stale-timestamp'],
      [first, signed(first, clock, SECRET, 301), 401, 'future-timestamp'],
    ];
    for (const [text, header] of attempts) pay.receive(delivery(text, header));
    await waitFor('every refusal', () => refused.length === attempts.length);
    assert.deepEqual(
      refused.map((m) => [m.statusCode, (m.payload as { error: string }).error]),
      attempts.map(([, , statusCode, code]) => [statusCode, code]),
    );
    assert.equal((refused[1]?.payload as { ok: boolean }).ok, false);
    assert.ok(
      refused.every((m) => (m.res as { marker?: string }).marker),
      'each refusal can be answered',
    );

    // A provider retry of the same payment, signed anew 4 minutes later: absorbed by the ledger.
    clock.advance(240_000);
    pay.receive(delivery(first, signed(first, clock)));
    await waitFor('the retry result', () => results.length === 2);
    assert.equal(results[1]?.duplicate, true);
    // The replay window has passed for the first signature: now it is stale, still nothing credited.
    clock.advance(120_000);
    pay.receive(delivery(first, firstHeader));
    await waitFor('the late replay', () => refused.length === attempts.length + 1);
    assert.equal((refused.at(-1)?.payload as { error: string }).error, 'stale-timestamp');

    const second = body({ amount: '7.25', reference: 'pi_2002' });
    pay.receive(delivery(second, signed(second, clock)));
    await waitFor('the second top-up', () => results.length === 3);
    await sleep(50);
    assert.equal(await balanceOf(userDir, 'T0101'), 2000n + 725n, 'exactly the distinct payments');
    assert.equal(caught.length, 0, 'hostile traffic is not an error');
    // Seven refusals in the first minute warned once; the late replay, six minutes on, warns with the count.
    assert.equal(warnings.length, 2, 'refusals warn at most once a minute');
    assert.match(String(warnings[1]), /stale-timestamp.*\(and 6 more refused since the last warning\)/);
  });

  it('credits once when 20 deliveries of one payment arrive at once, each signed anew', async function () {
    const { pay, results } = await loadWithAccount();
    const text = body({ amount: 1500, reference: 'pi_3001' });
    for (let i = 0; i < 20; i += 1) pay.receive(delivery(text, signed(text, clock, SECRET, -i)));
    await waitFor('20 results', () => results.length === 20);
    assert.equal(results.filter((m) => m.duplicate === false).length, 1);
    assert.equal(results.filter((m) => m.duplicate === true).length, 19);
    assert.equal(await balanceOf(userDir, 'T0101'), 1500n);
  });

  it('refuses a payment id reused with another amount or account: an error to Catch naming both, nothing credited', async function () {
    const { pay, results, caught } = await loadWithAccount();
    helper.getNode('l1').receive({
      payload: { command: 'open', accountId: 'T0102', currency: 'GBP', reference: 'open-T0102' },
    });
    await waitFor('the second account', () => results.length === 1);
    const alarms: unknown[] = [];
    (helper.getNode('l1') as unknown as TestNode).on('call:warn', (call) => alarms.push(call.args[0]));
    const original = body({ amount: 1250, reference: 'pi_9001' });
    pay.receive(delivery(original, signed(original, clock)));
    await waitFor('the payment', () => results.length === 2);

    // Signed correctly, the same payment id: another amount, then another account. Before, both were
    // answered as duplicates of the first (200 to the provider, which stopped retrying) and nothing was posted.
    clock.advance(1000);
    const dearer = body({ amount: 9999, reference: 'pi_9001' });
    const elsewhere = JSON.stringify({
      accountId: 'T0102',
      amount: 1250,
      currency: 'GBP',
      reference: 'pi_9001',
    });
    const sent = [delivery(dearer, signed(dearer, clock)), delivery(elsewhere, signed(elsewhere, clock))];
    pay.receive(sent[0]!);
    await waitFor('the first error', () => caught.length === 1, 10_000);
    pay.receive(sent[1]!);
    await waitFor('the second error', () => caught.length === 2, 10_000);
    assert.equal(results.length, 2, 'neither is answered as a duplicate');
    const errors = caught.map((m) => m.error as { message: string; code: string; source: { id: string } });
    assert.deepEqual(
      errors.map((e) => [e.code, e.source.id]),
      [
        ['reference-conflict', 'l1'],
        ['reference-conflict', 'l1'],
      ],
    );
    assert.match(
      errors[0]?.message ?? '',
      /"pay:pi_9001" was posted before as topup \(accountId T0101, amount 1250, currency GBP\); this one is topup \(accountId T0101, amount 9999, currency GBP\): amount differs/,
    );
    assert.match(
      errors[1]?.message ?? '',
      /this one is topup \(accountId T0102, amount 1250, currency GBP\): accountId differs/,
    );
    assert.deepEqual(caught[0]?.conflict, {
      reference: 'pay:pi_9001',
      original: { command: 'topup', accountId: 'T0101', amount: 1250, currency: 'GBP' },
      attempted: { command: 'topup', accountId: 'T0101', amount: 9999, currency: 'GBP' },
      differs: ['amount'],
    });
    assert.deepEqual((caught[1]?.conflict as { differs: string[] }).differs, ['accountId']);
    // And a warning for the log, which a Catch node does not silence: the alarm names both postings.
    assert.equal(alarms.length, 2);
    assert.match(
      String(alarms[0]),
      /^prepay-ledger: reference: "pay:pi_9001" was posted before as topup \(accountId T0101, amount 1250/,
    );
    // Each can still be answered (409 in the tenant API example): the http response's res is kept.
    assert.deepEqual(
      caught.map((m) => (m.res as { marker: string }).marker),
      sent.map((m) => m.res.marker),
    );
    assert.equal(await balanceOf(userDir, 'T0101'), 1250n, 'the original stands');
    assert.equal(await balanceOf(userDir, 'T0102'), 0n);

    // The provider's retry of the original, signed anew: still a duplicate.
    clock.advance(1000);
    pay.receive(delivery(original, signed(original, clock)));
    await waitFor('the retry', () => results.length === 3);
    assert.equal(results[2]?.duplicate, true);
    assert.equal(caught.length, 2);
    assert.equal(await balanceOf(userDir, 'T0101'), 1250n);
  });

  it('refuses bodies that cannot be a top-up with 400 and the field named', async function () {
    const { pay, refused, results } = await loadWithAccount();
    const cases: Array<[string, string]> = [
      [body({ amount: 0, reference: 'pi_4001' }), 'amount'],
      [body({ amount: 12.5, reference: 'pi_4002' }), 'amount'],
      [body({ amount: '1.005', reference: 'pi_4003' }), 'amount'],
      [body({ amount: 100, currency: 'XXX', reference: 'pi_4004' }), 'currency'],
      [JSON.stringify({ amount: 100, reference: 'pi_4005' }), 'accountId'],
      [body({ amount: 100 }), 'reference or paymentId'],
    ];
    for (const [text] of cases) pay.receive(delivery(text, signed(text, clock)));
    pay.receive(delivery('not json', signed('not json', clock)));
    await waitFor('every refusal', () => refused.length === cases.length + 1);
    assert.deepEqual(
      refused.slice(0, cases.length).map((m) => [m.statusCode, (m.payload as { field?: string }).field]),
      cases.map(([, field]) => [400, field]),
    );
    assert.deepEqual(
      [refused.at(-1)?.statusCode, (refused.at(-1)?.payload as { error: string }).error],
      [400, 'malformed-body'],
    );
    assert.equal(results.length, 0);
    assert.equal(await balanceOf(userDir, 'T0101'), 0n);
  });

  it('reads the secret from an environment variable, several secrets while rotating, a custom header', async function () {
    process.env.PREPAY_TEST_WEBHOOK_SECRET = 'whsec_new whsec_old';
    const { pay, results, refused } = await loadWithAccount(
      { secretFrom: 'env', secretEnv: 'PREPAY_TEST_WEBHOOK_SECRET', header: 'X-Provider-Signature' },
      { pay: { secret: '' } } as never,
    );
    const a = body({ amount: 100, reference: 'pi_5001' });
    const b = body({ amount: 200, reference: 'pi_5002' });
    pay.receive(delivery(a, signed(a, clock, 'whsec_old'), 'x-provider-signature'));
    pay.receive(delivery(b, signed(b, clock, 'whsec_new'), 'x-provider-signature'));
    pay.receive(delivery(a, signed(a, clock, 'whsec_new'), 'x-prepay-signature'));
    await waitFor('two results and a refusal', () => results.length === 2 && refused.length === 1);
    assert.equal(refused[0]?.statusCode, 401);
    assert.equal(await balanceOf(userDir, 'T0101'), 300n);
  });

  it('reads the first of several variables that is set: a real secret before the demo default', async function () {
    process.env.PREPAY_TEST_DEMO_SECRET = 'whsec_demo_default';
    process.env.PREPAY_TEST_WEBHOOK_SECRET = 'whsec_site';
    const { pay, results, refused } = await loadWithAccount(
      { secretFrom: 'env', secretEnv: 'PREPAY_TEST_WEBHOOK_SECRET, PREPAY_TEST_DEMO_SECRET' },
      { pay: { secret: '' } } as never,
    );
    const a = body({ amount: 100, reference: 'pi_5101' });
    pay.receive(delivery(a, signed(a, clock, 'whsec_demo_default')));
    pay.receive(delivery(a, signed(a, clock, 'whsec_site')));
    await waitFor('a result and a refusal', () => results.length === 1 && refused.length === 1);
    assert.equal(refused[0]?.statusCode, 401);
    assert.equal(await balanceOf(userDir, 'T0101'), 100n);
  });

  it('serves nothing with the published demo secret outside demo mode, from credentials or env', async function () {
    const demoSecret = 'demo-webhook-secret-replace-me';
    const text = body({ amount: 100, reference: 'pi_5201' });
    for (const [payment, credentials] of [
      [{}, { pay: { secret: demoSecret } }],
      [{ secretFrom: 'env', secretEnv: 'PREPAY_TEST_WEBHOOK_SECRET' }, { pay: {} }],
    ] as const) {
      process.env.PREPAY_TEST_WEBHOOK_SECRET = demoSecret;
      const run = await loadWithAccount(payment, credentials as never);
      const statuses: Array<{ fill: string; text: string }> = [];
      (run.pay as unknown as TestNode).on('call:status', (call) =>
        statuses.push(call.args[0] as { fill: string; text: string }),
      );
      run.pay.receive(delivery(text, signed(text, clock, demoSecret)));
      await waitFor('the refusal', () => run.refused.length === 1 && run.caught.length >= 1);
      assert.equal(run.refused[0]?.statusCode, 500);
      assert.equal((run.refused[0]?.payload as { error: string }).error, 'demo-secret');
      assert.match(
        String((run.caught[0]?.error as { message: string }).message),
        /is the published demo secret and PREPAY_DEMO is not "on"/,
      );
      await waitFor('the status', () => statuses.length > 0);
      assert.deepEqual(
        [statuses.at(-1)?.fill, statuses.at(-1)?.text],
        ['red', 'demo secret refused: demo mode is off'],
      );
      assert.equal(run.results.length, 0);
      await helper.unload();
    }
    // In demo mode it verifies as any secret does.
    process.env.PREPAY_DEMO = 'on';
    try {
      const run = await loadWithAccount({}, { pay: { secret: demoSecret } } as never);
      run.pay.receive(delivery(text, signed(text, clock, demoSecret)));
      await waitFor('the result', () => run.results.length === 1);
      assert.equal(await balanceOf(userDir, 'T0101'), 100n);
    } finally {
      delete process.env.PREPAY_DEMO;
    }
  });

  it('takes the raw body from msg.req.rawBody when a settings middleware keeps it there', async function () {
    const { pay, results } = await loadWithAccount();
    const text = body({ amount: 999, reference: 'pi_6001' });
    const msg = delivery(text, signed(text, clock));
    (msg as Record<string, unknown>).payload = JSON.parse(text);
    (msg.req as Record<string, unknown>).rawBody = Buffer.from(text);
    pay.receive(msg);
    await waitFor('the result', () => results.length === 1);
    assert.equal(await balanceOf(userDir, 'T0101'), 999n);
  });

  it('sends configuration faults to Catch nodes: no raw body, no secret', async function () {
    const { pay, refused, caught } = await loadWithAccount();
    const text = body({ amount: 100, reference: 'pi_7001' });
    const parsed = delivery(text, signed(text, clock));
    (parsed as Record<string, unknown>).payload = JSON.parse(text);
    pay.receive(parsed);
    await waitFor('the refusal', () => refused.length === 1 && caught.length === 1);
    assert.equal(refused[0]?.statusCode, 500);
    assert.equal((refused[0]?.payload as { error: string }).error, 'raw-body-unavailable');
    assert.match(String((caught[0]?.error as { message: string }).message), /Do not parse request body/);
    await helper.unload();

    const second = await loadWithAccount({}, { pay: {} } as never);
    second.pay.receive(delivery(text, signed(text, clock)));
    await waitFor('the refusal', () => second.refused.length === 1 && second.caught.length >= 1);
    assert.equal((second.refused[0]?.payload as { error: string }).error, 'no-secret');
    assert.equal(await balanceOf(userDir, 'T0101'), 0n);
  });

  it('shows accepted and refused counts in its status', async function () {
    const { pay, results, refused } = await loadWithAccount();
    const statuses: Array<{ fill: string; text: string }> = [];
    (pay as unknown as TestNode).on('call:status', (call) =>
      statuses.push(call.args[0] as { fill: string; text: string }),
    );
    const text = body({ amount: 100, reference: 'pi_8001' });
    pay.receive(delivery(text, signed(text, clock)));
    pay.receive(delivery(text, undefined));
    await waitFor('both', () => results.length === 1 && refused.length === 1);
    // Counts are repainted at most twice a second: the last paint comes within half a second.
    await waitFor('the status', () => statuses.at(-1)?.text === '1 accepted · 1 refused', 1500);
    assert.deepEqual(statuses.at(-1), { fill: 'green', shape: 'dot', text: '1 accepted · 1 refused' });
    assert.ok(statuses.length <= 3, `${statuses.length} repaints for two deliveries`);
  });

  it('refuses to start with invalid settings, and says which', async function () {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ tolerance: 0 }, /settings.tolerance/],
      [{ url: '/prepay/:account/webhook' }, /settings.url/],
      [{ url: '/prepay/payments/webhook', maxBody: 100 }, /settings.maxBody/],
    ];
    for (const [settings, expected] of cases) {
      await helper.load([storeNode, ledgerNode, paymentNode, catchNode], flow(settings), {
        pay: { secret: SECRET },
      });
      const caught = collect(helper.getNode('caught'));
      helper.getNode('pay').receive(delivery('{}', undefined));
      await waitFor('the error', () => caught.length === 1);
      assert.match(String((caught[0]?.error as { message: string }).message), expected);
      await helper.unload();
    }
  });
});
