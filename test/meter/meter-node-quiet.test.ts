/**
 * What the meter reader and its link say, and when: readings leave at once while consumption waits for its
 * state write, a status that has not changed is not sent again, and a link that cannot connect warns once
 * (then every 10 minutes), not at every reconnect attempt.
 */
import assert from 'node:assert/strict';
import { DownNotice } from '../../dist/nodes/modbus/down-notice';
import { freePort } from '../support/node-red-process';
import {
  collect,
  helper,
  loadBuiltNode,
  sleep,
  startServer,
  stopServer,
  tempUserDir,
} from '../support/node-red-helper';

const modbusNode = loadBuiltNode('modbus/prepay-modbus.js');
const meterNode = loadBuiltNode('meter/prepay-meter.js');

const OUTPUTS = [
  { id: 'consumption', type: 'helper' },
  { id: 'readings', type: 'helper' },
  { id: 'events', type: 'helper' },
];

/** A meter reader fed by messages (no Modbus link), its three outputs to helper nodes. */
async function loadMessageReader(): Promise<void> {
  await helper.load(
    [meterNode],
    [
      {
        id: 'meter',
        type: 'prepay-meter',
        source: 'messages',
        commLossMinutes: '10',
        table: [],
        wires: [['consumption'], ['readings'], ['events']],
      },
      ...OUTPUTS,
    ],
  );
}

describe('prepay-meter: what it sends and says, and when', function () {
  this.timeout(30_000);

  beforeEach(async () => {
    helper.settings({ userDir: tempUserDir() });
    await startServer();
  });
  afterEach(async () => {
    await helper.unload();
    await stopServer();
    helper.settings({});
  });

  it('does not send an unchanged status again', async () => {
    await loadMessageReader();
    const meter = helper.getNode('meter');
    const statuses: unknown[] = [];
    meter.on('call:status', (call) => statuses.push(call.args[0]));
    await sleep(100);
    assert.equal(statuses.length, 1, 'the status at start');
    statuses.length = 0;
    await sleep(4500); // two status checks with nothing changed
    assert.deepEqual(statuses, []);
    meter.receive({ payload: { meterId: 'W-1', utility: 'water', unit: 'm3', value: 1 } });
    await sleep(2200);
    assert.equal(statuses.length, 1, JSON.stringify(statuses));
    assert.match((statuses[0] as { text: string }).text, /^1 meters/);
  });

  it('sends a reading at once, and the consumption from it after its state write', async () => {
    await loadMessageReader();
    const meter = helper.getNode('meter');
    const arrivals: Array<[string, number]> = [];
    const readings = helper.getNode('readings');
    const consumption = helper.getNode('consumption');
    readings.on('input', () => arrivals.push(['reading', performance.now()]));
    consumption.on('input', () => arrivals.push(['consumption', performance.now()]));
    const t = Date.now() - 60_000;
    meter.receive({ payload: { meterId: 'W-1', utility: 'water', unit: 'm3', value: 1, ts: t } });
    await sleep(200);
    arrivals.length = 0;
    const sent = performance.now();
    meter.receive({ payload: { meterId: 'W-1', utility: 'water', unit: 'm3', value: 2, ts: t + 30_000 } });
    await sleep(300);
    const reading = arrivals.find(([what]) => what === 'reading');
    const billed = arrivals.find(([what]) => what === 'consumption');
    assert.ok(reading && billed, JSON.stringify(arrivals));
    assert.ok(reading[1] - sent < 20, `reading after ${(reading[1] - sent).toFixed(1)} ms`);
    assert.ok(billed[1] >= reading[1], 'consumption goes after its state write');
    const stats = collect(consumption);
    meter.receive({ topic: 'stats' });
    await sleep(50);
    const wait = (stats[0]!.payload as { consumptionWait: { lastMs: number; maxMs: number } })
      .consumptionWait;
    assert.ok(wait.lastMs >= 0 && wait.maxMs <= 1000, JSON.stringify(wait));
  });

  it('warns once that a link is down, not at every reconnect attempt', async () => {
    const port = await freePort(); // nothing listens there
    await helper.load(
      [modbusNode, meterNode],
      [
        {
          id: 'link',
          type: 'prepay-modbus',
          kind: 'tcp',
          host: '127.0.0.1',
          port: String(port),
          timeout: '200',
        },
        {
          id: 'meter',
          type: 'prepay-meter',
          source: 'modbus',
          link: 'link',
          interval: '60',
          table: [{ meterId: 'E-1', unitId: 1, profile: 'eastron-sdm630', utility: 'electricity' }],
          wires: [['consumption'], ['readings'], ['events']],
        },
        ...OUTPUTS,
      ],
    );
    const link = helper.getNode('link');
    const warnings: string[] = [];
    link.on('call:warn', (call) => warnings.push(String(call.args[0])));
    await sleep(4000); // attempts at about 0, 0.5, 1.5 and 3.5 s
    const down = warnings.filter((w) => w.includes('down'));
    assert.equal(down.length, 1, JSON.stringify(warnings));
    assert.match(down[0]!, /every 10 min/);
  });

  it('reminds every 10 minutes with the attempts counted, and tells how long the outage lasted', () => {
    let now = 0;
    const notice = new DownNotice(600_000, () => now);
    assert.match(notice.down('gw', 'ECONNREFUSED') ?? '', /^link gw down: ECONNREFUSED/);
    for (let attempt = 0; attempt < 20; attempt += 1) {
      now += 30_000;
      if (now < 600_000) assert.equal(notice.down('gw', 'ECONNREFUSED'), undefined);
    }
    now = 600_000;
    assert.match(
      notice.down('gw', 'ECONNREFUSED') ?? '',
      /still down after 10 min: ECONNREFUSED \(\d+ more failed attempts/,
    );
    now = 700_000;
    assert.match(notice.up('gw'), /connected again after 12 min \(\d+ failed attempts\)/);
    assert.equal(notice.up('gw'), 'link gw connected');
  });
});
