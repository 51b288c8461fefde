/**
 * The tariff node inside a real Node-RED runtime (node-red-node-test-helper): pricing, errors
 * reaching Catch nodes, replays, calendar charges on an injected clock, state across restarts,
 * and the editor's admin endpoints.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../dist/nodes/core/clock';
import { TNB_C2 } from '../support/tariff-fixtures';
import {
  catchNode,
  collect,
  helper,
  loadBuiltNode,
  nextMessage,
  sleep,
  startServer,
  stopServer,
  tempUserDir,
} from '../support/node-red-helper';

const tariffNode = loadBuiltNode('tariff/prepay-tariff.js');

const TARIFFS = {
  'uk-electricity': {
    currency: 'GBP',
    priceUnit: 'minor',
    utility: 'electricity',
    timezone: 'Europe/London',
    energy: { type: 'flat', rate: '24.50' },
    standingCharge: { perDay: '60.99' },
  },
  'c2-tou': TNB_C2,
  water: {
    currency: 'GBP',
    utility: 'water',
    energy: {
      type: 'block',
      reset: 'month',
      blocks: [{ upTo: '10', rate: '1.00' }, { rate: '2.00' }],
    },
  },
};

function flow(extra: Record<string, unknown> = {}): Array<Record<string, unknown>> {
  return [
    {
      id: 't1',
      type: 'prepay-tariff',
      name: '',
      tariffs: JSON.stringify(TARIFFS),
      defaultTariff: '',
      mapping: JSON.stringify([
        { account: 'T04*', utility: 'electricity', tariff: 'c2-tou' },
        { utility: 'electricity', tariff: 'uk-electricity' },
        { utility: 'water', tariff: 'water' },
      ]),
      select: 'tariff',
      selectType: 'msg',
      calendar: true,
      persist: true,
      wires: [['out']],
      ...extra,
    },
    { id: 'out', type: 'helper' },
    { id: 'c1', type: 'catch', scope: ['t1'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  ];
}

function consumption(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    meterId: 'E-0101',
    accountId: 'T0101',
    utility: 'electricity',
    value: 1234.5,
    unit: 'kWh',
    delta: 2.5,
    from: '2024-10-01T10:00:00Z',
    to: '2024-10-01T10:15:00Z',
    readingId: 'E-0101:1727777700000',
    quality: 'good',
    ...overrides,
  };
}

describe('prepay-tariff node', function () {
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

  it('prices a consumption exactly and keeps the message properties', async function () {
    await helper.load([tariffNode, catchNode], flow());
    const out = helper.getNode('out');
    const received = nextMessage(out);
    helper.getNode('t1').receive({ payload: consumption(), correlation: 'abc' });
    const msg = await received;
    const charge = msg.payload as Record<string, unknown>;
    assert.equal(msg.topic, 'charge');
    assert.equal(msg.correlation, 'abc');
    assert.equal(charge.tariff, 'uk-electricity');
    // 2.5 kWh x 24.50 p = 61.25 p = 612,500 sub-minor units
    assert.equal(charge.amount, 612_500);
    assert.equal(charge.currency, 'GBP');
    assert.equal(charge.quantity, '2.5');
    assert.deepEqual(
      (charge.breakdown as Array<Record<string, unknown>>).map((l) => [l.component, l.amount]),
      [['energy', 612_500]],
    );
  });

  it('chooses tariffs by msg.tariff, mapping and utility, and splits a TOU interval at 22:00', async function () {
    await helper.load([tariffNode, catchNode], flow());
    const messages = collect(helper.getNode('out'));
    const t1 = helper.getNode('t1');
    t1.receive({
      payload: consumption({
        accountId: 'T0412',
        meterId: 'E-0412',
        readingId: 'E-0412:1',
        delta: 20,
        from: '2024-06-03T21:50:00+08:00',
        to: '2024-06-03T22:10:00+08:00',
      }),
    });
    t1.receive({ payload: consumption({ readingId: 'E-0101:2' }), tariff: 'c2-tou' });
    t1.receive({
      payload: consumption({
        meterId: 'W-1',
        accountId: 'T0101',
        utility: 'water',
        unit: 'L',
        delta: 12000,
        readingId: 'W-1:1',
      }),
    });
    await sleep(100);
    assert.equal(messages.length, 3);
    const [tou, forced, water] = messages.map((m) => m.payload as Record<string, unknown>);
    assert.deepEqual(
      (tou.breakdown as Array<Record<string, unknown>>).map((l) => [l.component, l.quantity, l.amount]),
      [
        ['energy.peak', '10', 3_650_000],
        ['energy.offpeak', '10', 2_240_000],
      ],
    );
    assert.equal(forced.tariff, 'c2-tou');
    // 12,000 L = 12 m3: 10 at 1.00 + 2 at 2.00 = GBP 14.00 = 1400 p = 14,000,000 sub-minor
    assert.equal(water.quantity, '12');
    assert.equal(water.amount, 14_000_000);
  });

  it('sends bad input to Catch nodes with an error naming the field, and keeps working', async function () {
    await helper.load([tariffNode, catchNode], flow());
    const caught = collect(helper.getNode('caught'));
    const out = collect(helper.getNode('out'));
    const t1 = helper.getNode('t1');
    t1.receive({ payload: consumption({ delta: 'lots' }) });
    t1.receive({ payload: consumption({ readingId: undefined }) });
    t1.receive({ payload: consumption({ delta: -1, readingId: 'neg' }) });
    t1.receive({ payload: consumption({ unit: 'furlongs', readingId: 'unit' }) });
    t1.receive({ payload: 'not an object' });
    t1.receive({ payload: consumption({ readingId: 'x' }), tariff: 'nope' });
    t1.receive({ payload: consumption({ readingId: 'ok-after-errors' }) });
    await sleep(150);
    const errors = caught.map((m) => (m.error as { message: string }).message);
    assert.equal(errors.length, 6, errors.join('\n'));
    assert.match(errors[0], /delta: "lots" is not a decimal number/);
    assert.match(errors[1], /readingId: is required/);
    assert.match(errors[2], /delta: must not be negative/);
    assert.match(errors[3], /unit: "furlongs"/);
    assert.match(errors[4], /payload: must be a consumption object/);
    assert.match(errors[5], /tariff "nope" is not defined/);
    assert.equal(out.length, 1);
    assert.equal((out[0].payload as { readingId: string }).readingId, 'ok-after-errors');
  });

  it('re-sends the original charge for a replayed reading and charges nothing new', async function () {
    await helper.load([tariffNode, catchNode], flow());
    const out = collect(helper.getNode('out'));
    const t1 = helper.getNode('t1');
    t1.receive({ payload: consumption() });
    t1.receive({ payload: consumption() });
    await sleep(100);
    assert.equal(out.length, 2);
    assert.deepEqual(out[1].payload, out[0].payload);
    assert.equal(out[1].replay, true);
  });

  it('goes red and rejects messages when the tariffs are invalid, naming the field', async function () {
    const bad = {
      broken: { currency: 'GBP', energy: { type: 'block', reset: 'month', blocks: [{ rate: 'x' }] } },
    };
    await helper.load([tariffNode, catchNode], flow({ tariffs: JSON.stringify(bad) }));
    const caught = nextMessage(helper.getNode('caught'));
    helper.getNode('t1').receive({ payload: consumption() });
    const msg = await caught;
    assert.match((msg.error as { message: string }).message, /energy\.blocks\[0\]\.rate/);
  });

  it('keeps pricing with the valid tariffs when one is invalid, and marks the invalid one', async function () {
    const withBroken = Object.assign({}, TARIFFS, {
      'gas-broken': {
        currency: 'GBP',
        utility: 'gas',
        timezone: 'Europe/London',
        energy: { type: 'block', reset: 'month', blocks: [{ upTo: '100', rate: '0.1' }, { rate: '-0.2' }] },
      },
    });
    await helper.load([tariffNode, catchNode], flow({ tariffs: JSON.stringify(withBroken) }));
    const t1 = helper.getNode('t1');
    const calls = (method: string): unknown[][] =>
      (t1 as unknown as Record<string, { getCalls(): Array<{ thisValue: unknown; args: unknown[] }> }>)[
        method
      ]
        .getCalls()
        .filter((c) => c.thisValue === t1)
        .map((c) => c.args);
    // Marked: a yellow status naming it, and an error in the log naming the field.
    const statuses = calls('status').map((a) => a[0] as { fill: string; text: string });
    assert.deepEqual(statuses[statuses.length - 1], {
      fill: 'yellow',
      shape: 'ring',
      text: '1 tariff(s) invalid: gas-broken',
    });
    assert.ok(
      calls('error').some((a) =>
        String(a[0]).includes(
          'tariff "gas-broken" is invalid and prices nothing (the others do): energy.blocks[1].rate: must not be negative',
        ),
      ),
    );
    const out = collect(helper.getNode('out'));
    const caught = collect(helper.getNode('caught'));
    // The valid tariffs price as before.
    t1.receive({ payload: consumption() });
    // What the invalid one would price fails to Catch with the message, naming the field.
    t1.receive({ payload: consumption({ meterId: 'G-1', utility: 'gas', unit: 'kWh', readingId: 'G-1:1' }) });
    t1.receive({ tariff: 'gas-broken', payload: consumption({ readingId: 'E-0101:2' }) });
    await sleep(100);
    assert.equal(out.length, 1);
    assert.equal((out[0].payload as { amount: number }).amount, 612_500);
    assert.equal(caught.length, 2);
    for (const msg of caught) {
      assert.match(
        (msg.error as { message: string }).message,
        /tariff "gas-broken" is invalid: energy\.blocks\[1\]\.rate: must not be negative/,
      );
    }
    // The preview prices with the valid ones, and says why the invalid one cannot.
    const preview = await helper
      .request()
      .post('/prepay-tariff/preview')
      .send({
        tariffs: JSON.stringify(withBroken),
        tariff: 'uk-electricity',
        quantity: '1',
        at: '2024-06-03T18:30',
      })
      .expect(200);
    assert.match((preview.body as { text: string }).text, /costs 0\.245000 GBP/);
    const refused = await helper
      .request()
      .post('/prepay-tariff/preview')
      .send({
        tariffs: JSON.stringify(withBroken),
        tariff: 'gas-broken',
        quantity: '1',
        at: '2024-06-03T18:30',
      })
      .expect(400);
    assert.match(
      (refused.body as { error: string }).error,
      /energy\.blocks\[1\]\.rate: must not be negative/,
    );
  });

  it('takes negative dynamic prices, and refuses a price signal a charge could not carry', async function () {
    const dynamic = {
      spot: {
        currency: 'EUR',
        utility: 'electricity',
        timezone: 'Europe/Berlin',
        energy: { type: 'dynamic', fallbackRate: '0.30', maxAgeMinutes: 1440 },
      },
    };
    await helper.load([tariffNode, catchNode], flow({ tariffs: JSON.stringify(dynamic), mapping: '' }));
    const t1 = helper.getNode('t1');
    const out = collect(helper.getNode('out'));
    const caught = collect(helper.getNode('caught'));
    const interval = { from: '2024-10-01T10:00:00Z', to: '2024-10-01T10:15:00Z' };
    t1.receive({ topic: 'price', payload: { prices: [Object.assign({ rate: 1e308 }, interval)] } });
    t1.receive({ topic: 'price', payload: { prices: [Object.assign({ rate: '-10000' }, interval)] } });
    t1.receive({ topic: 'price', payload: { prices: [Object.assign({ rate: '-0.05' }, interval)] } });
    t1.receive({ payload: consumption() });
    await sleep(100);
    assert.deepEqual(
      caught.map((m) => (m.error as { message: string }).message),
      [
        'ConsumptionError: prices[0].rate: is out of range: a rate is below 1000000 minor units per unit, either sign',
        'ConsumptionError: prices[0].rate: is out of range: a rate is below 1000000 minor units per unit, either sign',
      ],
    );
    // 2.5 kWh at -5 cents: -12.5 cents.
    assert.deepEqual(
      (out[0].payload as { breakdown: Array<{ component: string; amount: number }> }).breakdown.map((l) => [
        l.component,
        l.amount,
      ]),
      [['energy.dynamic', -125_000]],
    );
  });

  it('takes declared quantities from the consumption or the message, and refuses a consumption without them', async function () {
    const perFitting = {
      office: {
        currency: 'GBP',
        utility: 'electricity',
        timezone: 'Europe/London',
        energy: { type: 'flat', rate: '0.20' },
        fixedMonthly: [{ name: 'fittings', per: 'fittings', rate: '1.25' }],
      },
    };
    await helper.load([tariffNode, catchNode], flow({ tariffs: JSON.stringify(perFitting), mapping: '' }));
    const t1 = helper.getNode('t1');
    const out = collect(helper.getNode('out'));
    const caught = collect(helper.getNode('caught'));
    t1.receive({ payload: consumption() });
    t1.receive({ declared: { fittings: '6' }, payload: consumption({ readingId: 'E-0101:2' }) });
    t1.receive({
      payload: consumption({
        meterId: 'E-0102',
        readingId: 'E-0102:1',
        accountId: 'T0102',
        declared: { fittings: 2 },
      }),
    });
    await sleep(100);
    t1.receive({ topic: 'calendar', payload: { date: '2024-11-01' } });
    await sleep(150);
    assert.deepEqual(
      caught.map((m) => (m.error as { message: string }).message),
      [
        'ConsumptionError: declared.fittings: is required: tariff "office" prices items per fittings of each account',
      ],
    );
    const monthly = out
      .map((m) => m.payload as { kind: string; accountId: string; breakdown: Array<Record<string, unknown>> })
      .filter((c) => c.kind === 'monthly')
      .map((c) => [c.accountId, c.breakdown.map((l) => [l.component, l.quantity, l.unit, l.amount])]);
    // Both moved in on 1 October (their first readings): October's items as well as November's.
    assert.deepEqual(monthly, [
      ['T0101', [['fixed.fittings', '6', 'fittings', 7_500_000]]],
      ['T0101', [['fixed.fittings', '6', 'fittings', 7_500_000]]],
      ['T0102', [['fixed.fittings', '2', 'fittings', 2_500_000]]],
      ['T0102', [['fixed.fittings', '2', 'fittings', 2_500_000]]],
    ]);
  });

  it('warns of a tariff without a time zone, in the log and in the check', async function () {
    const noZone = { flat: { currency: 'GBP', energy: { type: 'flat', rate: '0.2' } } };
    await helper.load([tariffNode, catchNode], flow({ tariffs: JSON.stringify(noZone), mapping: '' }));
    const t1 = helper.getNode('t1');
    const warnings = (
      t1 as unknown as { warn: { getCalls(): Array<{ thisValue: unknown; args: unknown[] }> } }
    ).warn
      .getCalls()
      .filter((c) => c.thisValue === t1)
      .map((c) => String(c.args[0]));
    assert.ok(
      warnings.includes(
        'prepay-tariff: tariff "flat" timezone: none given: the tariff runs on UTC (its days, midnight and periods); name the site\'s zone',
      ),
      warnings.join('\n'),
    );
    const check = await helper
      .request()
      .post('/prepay-tariff/check')
      .send({ tariffs: JSON.stringify(noZone) })
      .expect(200);
    assert.deepEqual(check.body, {
      ok: true,
      problems: [],
      warnings: [
        {
          tariff: 'flat',
          path: 'timezone',
          message:
            "none given: the tariff runs on UTC (its days, midnight and periods); name the site's zone",
        },
      ],
    });
  });

  it('answers a document over the editor request limit with a message, not an HTML error page', async function () {
    await helper.load([tariffNode, catchNode], flow());
    // The test runtime's limit is Node-RED's default, 5 MB.
    const huge = JSON.stringify({
      a: { currency: 'GBP', energy: { type: 'flat', rate: '1' }, description: 'x'.repeat(6_000_000) },
    });
    for (const route of ['/prepay-tariff/check', '/prepay-tariff/preview']) {
      const response = await helper.request().post(route).send({ tariffs: huge }).expect(413);
      assert.deepEqual(response.body, {
        ok: false,
        error:
          "the tariffs are too large for the editor's request limit (5242880 bytes, Node-RED's apiMaxLength setting): raise apiMaxLength in settings.js, or split the tariffs over nodes",
      });
      assert.doesNotMatch(response.text, /<html|at .*\.js:\d+/i);
    }
  });

  it('raises standing charges at local midnight on an injected clock, once per day', async function () {
    // 2024-10-01 23:00 in London (BST) is 22:00 UTC.
    const clock = new ManualClock(Date.parse('2024-10-01T22:00:00Z'));
    helper.settings({ userDir, prepay: { clock } });
    await helper.load([tariffNode, catchNode], flow());
    const out = collect(helper.getNode('out'));
    helper.getNode('t1').receive({ payload: consumption() });
    await sleep(50);
    helper.getNode('t1').receive({ topic: 'calendar', payload: {} });
    await sleep(50);
    const standingToday = out.filter((m) => (m.payload as { kind: string }).kind === 'standing');
    assert.equal(standingToday.length, 1);
    assert.equal(
      (standingToday[0].payload as { readingId: string }).readingId,
      'standing:T0101:electricity:2024-10-01',
    );
    clock.advance(2 * 3_600_000); // past local midnight
    await sleep(50);
    const standing = out.filter((m) => (m.payload as { kind: string }).kind === 'standing');
    assert.equal(standing.length, 2);
    const second = standing[1].payload as { readingId: string; amount: number };
    assert.equal(second.readingId, 'standing:T0101:electricity:2024-10-02');
    assert.equal(second.amount, 609_900);
    helper.getNode('t1').receive({ topic: 'calendar', payload: { date: '2024-10-02' } });
    await sleep(50);
    assert.equal(out.filter((m) => (m.payload as { kind: string }).kind === 'standing').length, 2);
  });

  it('keeps block positions across a restart (state file in the user directory)', async function () {
    await helper.load([tariffNode, catchNode], flow());
    let out = collect(helper.getNode('out'));
    const water = (id: string, litres: number, hour: number): Record<string, unknown> =>
      consumption({
        meterId: 'W-1',
        utility: 'water',
        unit: 'L',
        delta: litres,
        readingId: id,
        accountId: 'T0101',
        from: Date.UTC(2024, 9, 1, hour),
        to: Date.UTC(2024, 9, 1, hour + 1),
      });
    helper.getNode('t1').receive({ payload: water('w1', 8000, 1) });
    await sleep(50);
    await helper.unload(); // close flushes the state
    const files = readdirSync(join(userDir, 'prepay'));
    assert.ok(
      files.some((f) => f.startsWith('tariff-t1')),
      files.join(','),
    );
    await helper.load([tariffNode, catchNode], flow());
    out = collect(helper.getNode('out'));
    helper.getNode('t1').receive({ payload: water('w2', 4000, 2) });
    await sleep(50);
    // No ledger confirmed w1 before the stop: it is sent again, unchanged, once the flows have started.
    const again = out.filter((m) => m.replay === true);
    assert.deepEqual(
      again.map((m) => [
        (m.payload as { readingId: string }).readingId,
        (m.payload as { amount: number }).amount,
      ]),
      [['w1', 8_000_000]],
    );
    // 2 m3 left in block 1 at 1.00, then 2 m3 at 2.00 = GBP 6.00
    const fresh = out.filter((m) => m.replay !== true);
    assert.equal((fresh[0].payload as { amount: number }).amount, 6_000_000);
    assert.ok(existsSync(join(userDir, 'prepay')));
  });

  it('serves the check and preview endpoints for the editor', async function () {
    await helper.load([tariffNode, catchNode], flow());
    const check = await helper
      .request()
      .post('/prepay-tariff/check')
      .send({ tariffs: JSON.stringify({ a: { currency: 'XXX', energy: { type: 'flat', rate: '1' } } }) })
      .expect(200);
    const body = check.body as { ok: boolean; problems: Array<{ tariff: string; path: string }> };
    assert.equal(body.ok, false);
    assert.deepEqual(
      body.problems.map((p) => [p.tariff, p.path]),
      [['a', 'currency']],
    );
    const preview = await helper
      .request()
      .post('/prepay-tariff/preview')
      .send({
        tariffs: JSON.stringify(TARIFFS),
        tariff: 'c2-tou',
        quantity: '10',
        at: '2024-06-03T18:30',
        minutes: 60,
      })
      .expect(200);
    const text = (preview.body as { text: string }).text;
    assert.match(text, /costs 3\.650000 MYR/);
    assert.match(text, /Monday/);
    const schema = await helper.request().get('/prepay-tariff/schema').expect(200);
    assert.match(schema.text, /"title": "Prepayment tariff"/);
  });
});
