/**
 * The history node against a real influxd (Debian's, started on loopback by the test): points written and
 * queried back; influxd killed mid-stream and Node-RED restarted while it is down, then influxd back: the
 * count of points equals what was sent; a full buffer fails messages to Catch; trend queries per hour, day and
 * month; bad input named; a point InfluxDB refuses (beyond the retention policy, a time it cannot store) goes to
 * the dead-letter file with an error to Catch while the rest is written; times out of range refused at input;
 * a 5xx is an outage, not a refusal.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pointOf } from '../../dist/nodes/core/history/points';
import { PointQueue } from '../../dist/nodes/history/point-queue';
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
import { haveInfluxd, Influxd } from '../support/influxd';
import { requireTool, skipNotice } from '../support/modbus-peers';

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

async function count(server: Influxd, accountId: string, policy = 'autogen'): Promise<number> {
  const rows = await server.query(
    'prepay_test',
    `SELECT count("delta") FROM "prepay_test"."${policy}"."consumption" WHERE "accountId" = '${accountId}'`,
  );
  return rows.length ? Number(rows[0]![1]) : 0;
}

/** A consumption message at a given time. */
function consumptionAt(to: number, accountId: string, i: number): Msg {
  const message = consumption(i, accountId);
  Object.assign(message.payload as Record<string, unknown>, {
    from: to - 1000,
    to,
    ts: to,
    readingId: `E-${accountId}:${to}`,
  });
  return message;
}

/** The dead letters of the server node `influx1` in the user directory, one JSON object a line. */
function deadLetters(userDir: string): Array<Record<string, unknown>> {
  const path = join(userDir, 'prepay', 'history-influx1-dead-letters.jsonl');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function until(what: string, test: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

describe('prepay-history suite without influxd', function () {
  it('says which package to install: influxdb, not the Modbus tools', function () {
    const notice = skipNotice('influxd', 'influxdb');
    assert.match(notice, /influxd is not installed \(apt-get install influxdb\)/);
    assert.doesNotMatch(notice, /pymodbus|mbpoll/);
  });
});

describe('prepay-history node with a real influxd', function () {
  this.timeout(120_000);
  let influxd: Influxd;
  let userDir: string;

  before(async function () {
    requireTool(this, haveInfluxd(), 'influxd', 'influxdb');
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

  it('moves a point InfluxDB refuses to the dead-letter file with an error to Catch, and writes the rest', async () => {
    // A late backlog: InfluxDB is down while 410 readings queue; one of them is 3 hours old, beyond the 1-hour
    // retention policy the site writes to. Before, the whole batch was retried for ever ("InfluxDB down" while
    // it was up) and only the points of the partial write before it were stored.
    await influxd.exec('CREATE DATABASE prepay_test');
    await influxd.exec('CREATE RETENTION POLICY short ON prepay_test DURATION 1h REPLICATION 1');
    await influxd.stop();
    await helper.load([influxNode, historyNode, catchNode], flow(influxd.port, { retentionPolicy: 'short' }));
    const history = helper.getNode('history');
    const caught = collect(helper.getNode('caught'));
    const statuses: Array<{ fill?: string; text?: string }> = [];
    (history as unknown as TestNode).on('call:status', (call) =>
      statuses.push(call.args[0] as { fill?: string; text?: string }),
    );
    const now = Date.now();
    const late = now - 3 * 3_600_000;
    for (let i = 0; i < 410; i += 1)
      history.receive(consumptionAt(i === 150 ? late : now - (410 - i) * 1000, 'T4', i));
    await sleep(300);
    await influxd.start();
    await until('409 points', async () => (await count(influxd, 'T4', 'short')) >= 409);
    await until('the error', () => caught.length >= 1);
    await sleep(1200);
    assert.equal(await count(influxd, 'T4', 'short'), 409);
    const letters = deadLetters(userDir);
    assert.equal(letters.length, 1);
    assert.equal(letters[0]!.status, 400);
    assert.match(String(letters[0]!.error), /points beyond retention policy/);
    assert.equal((letters[0]!.point as { timestamp: number }).timestamp, late);
    assert.equal(letters[0]!.source, 'history');
    assert.equal(caught.length, 1);
    const error = caught[0]!.error as { message: string; source: { id: string } };
    assert.equal(error.source.id, 'history');
    assert.match(
      error.message,
      new RegExp(
        `InfluxDB refused a point \\(400: partial write: points beyond retention policy dropped=1\\): consumption meterId=E-T4 accountId=T4 .* at ${new Date(late).toISOString()}`,
      ),
    );
    assert.match(error.message, /history-influx1-dead-letters\.jsonl/);
    assert.equal((caught[0]!.payload as { timestamp: number }).timestamp, late, 'the point is the message');
    assert.deepEqual(statuses.at(-1), {
      fill: 'green',
      shape: 'dot',
      text: '409 written · 0 waiting · 1 dead letter(s)',
    });
  });

  it('isolates a point an earlier version queued with a time InfluxDB cannot store', async () => {
    // A disk buffer left by a version without the input check: year 2300 between two good points.
    const now = Date.now();
    const queue = new PointQueue(join(userDir, 'prepay', 'history-influx1.db'), 1000);
    const good = (i: number): ReturnType<typeof pointOf> =>
      pointOf(consumptionAt(now - 10_000 + i, 'T5', i).payload, now);
    queue.push([good(1)]);
    queue.push([good(2), { ...good(3), timestamp: Date.UTC(2300, 0, 1) }, good(4)]);
    queue.push([good(5)]);
    queue.close();
    await helper.load([influxNode, historyNode, catchNode], flow(influxd.port));
    const caught = collect(helper.getNode('caught'));
    await until(
      '4 points and the error',
      async () => (await count(influxd, 'T5')) >= 4 && caught.length >= 1,
    );
    await sleep(500);
    assert.equal(await count(influxd, 'T5'), 4);
    assert.equal(caught.length, 1, 'reported through the history node, though it did not queue it');
    assert.match(
      (caught[0]!.error as { message: string }).message,
      /\(400: unable to parse '.*': time outside range .*\): consumption .* at 2300-01-01T00:00:00.000Z/,
    );
    const letters = deadLetters(userDir);
    assert.equal(letters.length, 1);
    assert.equal((letters[0]!.point as { timestamp: number }).timestamp, Date.UTC(2300, 0, 1));
    assert.equal(letters[0]!.source, undefined);
  });

  it('refuses at the input a time InfluxDB cannot store or one ahead of the clock, queueing nothing of the message', async () => {
    await helper.load([influxNode, historyNode, catchNode], flow(influxd.port));
    const history = helper.getNode('history');
    const caught = collect(helper.getNode('caught'));
    const now = Date.now();
    const DAY = 86_400_000;
    const charge = (to: number, readingId: string): Msg => ({
      payload: {
        accountId: 'T6',
        readingId,
        amount: 250_000,
        currency: 'GBP',
        breakdown: [],
        quantity: '1',
        to,
        kind: 'standing',
      },
    });
    history.receive(consumptionAt(Date.UTC(2300, 0, 1), 'T6', 1)); // milliseconds taken for seconds, say
    history.receive({ payload: { meterId: 'E-T6', value: 5, quality: 'good', ts: 1e17 } }); // nanoseconds as ms
    history.receive(consumptionAt(Date.UTC(1600, 0, 1), 'T6', 2));
    history.receive(consumptionAt(now + 3 * DAY, 'T6', 3)); // a meter's clock years... days ahead
    history.receive({
      payload: [consumptionAt(now - 1000, 'T6', 4).payload, charge(now + 5 * DAY, 's:1').payload],
    });
    // Today's standing charge is stamped with the end of the day: accepted, as is everything in the past.
    history.receive(charge(now + DAY, 's:2'));
    history.receive(consumptionAt(now - 2000, 'T6', 5));
    await until('five errors', () => caught.length >= 5);
    await sleep(1500);
    const range = '(1677-09-21T00:12:43.146Z to 2262-04-11T23:47:16.854Z)';
    const messages = caught.map((m) => (m.error as { message: string }).message.replace(/^Error: /, ''));
    assert.equal(messages.length, 5, messages.join('\n'));
    assert.equal(
      messages[0],
      `to: 2300-01-01T00:00:00.000Z is outside the times InfluxDB 1.x can store ${range}`,
    );
    assert.equal(messages[1], `ts: 100000000000000000 is outside the times InfluxDB 1.x can store ${range}`);
    assert.equal(
      messages[2],
      `to: 1600-01-01T00:00:00.000Z is outside the times InfluxDB 1.x can store ${range}`,
    );
    assert.ok(
      messages[3]!.startsWith(
        `to: ${new Date(now + 3 * DAY).toISOString()} is more than 2 days ahead of this node's clock (`,
      ),
      messages[3],
    );
    assert.ok(
      messages[4]!.startsWith(
        `payload[1].to: ${new Date(now + 5 * DAY).toISOString()} is more than 2 days ahead`,
      ),
      messages[4],
    );
    // Nothing of a refused message was queued (not even the good consumption beside the bad charge).
    assert.equal(await count(influxd, 'T6'), 1);
    const charges = await influxd.query(
      'prepay_test',
      `SELECT "amount" FROM "charge" WHERE "accountId" = 'T6'`,
    );
    assert.deepEqual(
      charges.map((row) => row[0]),
      [now + DAY],
    );
    assert.deepEqual(deadLetters(userDir), []);
  });

  it('takes a 5xx for an outage, not a refusal: the points wait, none is dead-lettered', async () => {
    // InfluxDB 1.x answers 500 "retention policy not found" until the policy exists.
    await influxd.exec('CREATE DATABASE prepay_test');
    await helper.load([influxNode, historyNode, catchNode], flow(influxd.port, { retentionPolicy: 'later' }));
    const history = helper.getNode('history');
    const caught = collect(helper.getNode('caught'));
    const statuses: Array<{ fill?: string; text?: string }> = [];
    (history as unknown as TestNode).on('call:status', (call) =>
      statuses.push(call.args[0] as { fill?: string; text?: string }),
    );
    const now = Date.now();
    for (let i = 0; i < 20; i += 1) history.receive(consumptionAt(now - 30_000 + i * 1000, 'T7', i));
    await until('the outage shown', () =>
      statuses.some((s) => s.text === 'InfluxDB down · 20 waiting on disk'),
    );
    await influxd.exec('CREATE RETENTION POLICY later ON prepay_test DURATION 1h REPLICATION 1');
    await until('20 points', async () => (await count(influxd, 'T7', 'later')) >= 20);
    assert.equal(await count(influxd, 'T7', 'later'), 20);
    assert.deepEqual(caught, []);
    assert.deepEqual(deadLetters(userDir), []);
  });
});

describe('history points of a move-out credit', function () {
  it('writes a credit as what it is, in minor units', function () {
    const point = pointOf(
      {
        command: 'adjust',
        kind: 'credit',
        reference: 'move-out:T1:electricity:2024-06-20',
        accountId: 'T1',
        utility: 'electricity',
        tariff: 'office',
        amount: 1200,
        currency: 'GBP',
        breakdown: [],
      },
      1_000,
    );
    assert.deepEqual(
      [point.measurement, point.fields, point.tags.accountId, point.timestamp],
      ['credit', { amount: 1200 }, 'T1', 1_000],
    );
  });
});
