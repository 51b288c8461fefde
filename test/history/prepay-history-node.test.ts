/**
 * The history node against a real influxd (Debian's, started on loopback by the test): points written and
 * queried back; influxd killed mid-stream and Node-RED restarted while it is down, then influxd back: the
 * count of points equals what was sent; a full buffer fails messages to Catch; trend queries per hour, day and
 * month; bad input named.
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
import { haveInfluxd, Influxd } from '../support/influxd';
import { requireTool } from '../support/modbus-peers';

const influxNode = loadBuiltNode('history/prepay-influx.js');
const historyNode = loadBuiltNode('history/prepay-history.js');
const T0 = Date.UTC(2026, 10, 2, 0, 0);

type Msg = Record<string, unknown> & { payload: unknown };

function flow(port: number, extra: Record<string, unknown> = {}): Array<Record<string, unknown>> {
  return [
    {
      id: 'influx1',
      type: 'prepay-influx',
      host: '127.0.0.1',
      port: String(port),
      database: 'prepay_test',
      timeZone: 'Europe/London',
      ...extra,
    },
    { id: 'history', type: 'prepay-history', server: 'influx1', wires: [['out']] },
    { id: 'out', type: 'helper' },
    { id: 'c1', type: 'catch', scope: ['history'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  ];
}

/** A consumption message: a different time for every point, so InfluxDB keeps each one. */
function consumption(i: number, accountId = 'T1'): Msg {
  return {
    payload: {
      meterId: `E-${accountId}`,
      accountId,
      utility: 'electricity',
      unit: 'kWh',
      value: 1000 + i,
      delta: 0.25,
      from: T0 + (i - 1) * 900_000,
      to: T0 + i * 900_000,
      ts: T0 + i * 900_000,
      quality: 'good',
      readingId: `E-${accountId}:${T0 + i * 900_000}`,
    },
  };
}

async function count(server: Influxd, accountId: string): Promise<number> {
  const rows = await server.query(
    'prepay_test',
    `SELECT count("delta") FROM "consumption" WHERE "accountId" = '${accountId}'`,
  );
  return rows.length ? Number(rows[0]![1]) : 0;
}

describe('prepay-history node with a real influxd', function () {
  this.timeout(120_000);
  let influxd: Influxd;
  let userDir: string;

  before(async function () {
    requireTool(this, haveInfluxd(), 'influxd (Debian package influxdb)');
    influxd = await Influxd.create();
  });
  after(async () => {
    await influxd?.destroy();
  });
  beforeEach(async () => {
    userDir = tempUserDir();
    helper.settings({ userDir });
    await startServer();
    await influxd.start();
  });
  afterEach(async () => {
    await helper.unload();
    await stopServer();
    helper.settings({});
  });

  it('writes consumption, charges, balances and events, and answers trend queries per hour, day and month', async () => {
    await helper.load([influxNode, historyNode, catchNode], flow(influxd.port));
    const history = helper.getNode('history');
    const out = collect(helper.getNode('out')) as Msg[];
    const caught = collect(helper.getNode('caught'));
    for (let i = 1; i <= 96; i += 1) history.receive(consumption(i)); // one day of quarter hours, 24 kWh
    history.receive({
      payload: {
        accountId: 'T1',
        meterId: 'E-T1',
        readingId: 'r',
        amount: 61_250,
        currency: 'GBP',
        breakdown: [],
        quantity: '0.25',
        unit: 'kWh',
        carbonKg: 0.05,
        to: T0 + 900_000,
        kind: 'consumption',
        tariff: 'flat',
      },
    });
    history.receive({
      payload: {
        accountId: 'T1',
        balance: 1939,
        available: 1939,
        currency: 'GBP',
        state: 'ok',
        changedAt: T0,
        daysLeft: 12.5,
      },
    });
    history.receive({
      payload: {
        meterId: 'E-T1',
        utility: 'electricity',
        type: 'comm-loss',
        alarm: true,
        ts: T0 + 5,
        text: 'lost',
      },
    });
    history.receive({ payload: { nonsense: true } });
    await sleep(1500);
    assert.equal(await count(influxd, 'T1'), 96);
    const charges = await influxd.query('prepay_test', 'SELECT "amount", "carbonKg" FROM "charge"');
    assert.deepEqual(charges[0]!.slice(1), [6.125, 0.05], 'money in minor units (61,250 sub-minor = 6.125p)');
    const balance = await influxd.query('prepay_test', 'SELECT "daysLeft" FROM "balance"');
    assert.equal(balance[0]![1], 12.5);
    assert.equal(caught.length, 1);
    assert.match((caught[0]!.error as { message: string }).message, /not a reading, consumption, charge/);

    history.receive({
      topic: 'query',
      payload: {
        measurement: 'consumption',
        accountId: 'T1',
        every: 'hour',
        from: T0,
        to: T0 + 86_400_000,
        timeZone: 'UTC',
      },
    });
    await sleep(300);
    history.receive({
      topic: 'query',
      payload: {
        measurement: 'consumption',
        accountId: 'T1',
        every: 'day',
        from: T0 - 86_400_000,
        to: T0 + 2 * 86_400_000,
        timeZone: 'UTC',
      },
    });
    await sleep(300);
    history.receive({
      topic: 'query',
      payload: {
        measurement: 'consumption',
        every: 'month',
        from: Date.UTC(2026, 9, 1),
        to: Date.UTC(2026, 11, 1),
        timeZone: 'UTC',
      },
    });
    await sleep(300);
    history.receive({
      topic: 'query',
      payload: {
        measurement: 'consumption',
        accountId: "T1' OR 1=1",
        every: 'day',
        from: T0,
        to: T0 + 86_400_000,
        timeZone: 'UTC',
      },
    });
    await sleep(500);
    const [hourly, daily, monthly, injected] = out.map(
      (m) => m.payload as Array<{ time: number; value: number }>,
    );
    assert.equal(hourly!.length, 24);
    // Timestamps are interval ends: the quarter hour ending 01:00 falls in hour 01, so hour 00 has three.
    assert.deepEqual(
      hourly!.slice(0, 3).map((h) => h.value),
      [0.75, 1, 1],
    );
    assert.deepEqual(
      daily!.map((d) => d.value),
      [0, 23.75, 0.25],
    );
    assert.deepEqual(
      monthly!.map((m) => [new Date(m.time).toISOString().slice(0, 7), m.value]),
      [
        ['2026-10', 0],
        ['2026-11', 24],
      ],
    );
    assert.deepEqual(injected, [], 'a quoted filter matches nothing');
  });

  it('loses nothing when influxd dies mid-stream and Node-RED restarts while it is down', async () => {
    await helper.load([influxNode, historyNode, catchNode], flow(influxd.port));
    let history = helper.getNode('history');
    for (let i = 1; i <= 300; i += 1) history.receive(consumption(i, 'T2'));
    await sleep(300);
    await influxd.stop();
    for (let i = 301; i <= 700; i += 1) {
      history.receive(consumption(i, 'T2'));
      if (i % 50 === 0) await sleep(20);
    }
    await sleep(500);
    // Node-RED restarts while the database is still down: the backlog is on disk.
    await helper.unload();
    await helper.load([influxNode, historyNode, catchNode], flow(influxd.port));
    history = helper.getNode('history');
    const caught = collect(helper.getNode('caught'));
    for (let i = 701; i <= 800; i += 1) history.receive(consumption(i, 'T2'));
    await sleep(300);
    await influxd.start();
    const deadline = Date.now() + 40_000;
    while ((await count(influxd, 'T2')) < 800 && Date.now() < deadline) await sleep(250);
    assert.equal(await count(influxd, 'T2'), 800);
    assert.deepEqual(caught, []);
  });

  it('fails messages to Catch when the disk buffer is full, and writes what it accepted', async () => {
    await influxd.stop();
    await helper.load([influxNode, historyNode, catchNode], flow(influxd.port, { bufferPoints: '100' }));
    const history = helper.getNode('history');
    const caught = collect(helper.getNode('caught'));
    for (let i = 1; i <= 130; i += 1) history.receive(consumption(i, 'T3'));
    await sleep(300);
    assert.equal(caught.length, 30);
    assert.match(
      (caught[0]!.error as { message: string }).message,
      /history buffer full \(100 of 100 points waiting\)/,
    );
    await influxd.start();
    const deadline = Date.now() + 30_000;
    while ((await count(influxd, 'T3')) < 100 && Date.now() < deadline) await sleep(250);
    assert.equal(await count(influxd, 'T3'), 100);
  });
});
