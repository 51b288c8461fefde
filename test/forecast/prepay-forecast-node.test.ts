/**
 * The forecast node in Node-RED: learns daily spend from charges, adds daysLeft to account states, reminds once
 * with a suggested top-up, answers carbon totals, keeps what it learnt across a restart, and names bad input.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../dist/nodes/core/clock';
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

const forecastNode = loadBuiltNode('forecast/prepay-forecast.js');
const DAY = 86_400_000;
const MONDAY = Date.UTC(2026, 11, 7); // Monday 7 December 2026, 00:00 UTC

type Msg = Record<string, unknown> & { payload: Record<string, unknown> };

const FLOW = [
  {
    id: 'forecast',
    type: 'prepay-forecast',
    timeZone: 'UTC',
    nightsFrom: '',
    nightsTo: '',
    weekends: false,
    thresholdDays: '3',
    coverDays: '14',
    roundTo: '1000',
    wires: [['states'], ['reminders']],
  },
  { id: 'states', type: 'helper' },
  { id: 'reminders', type: 'helper' },
  { id: 'c1', type: 'catch', scope: ['forecast'], uncaught: false, wires: [['caught']] },
  { id: 'caught', type: 'helper' },
];

function charge(t: number, amountMinor: number): { payload: Record<string, unknown> } {
  return {
    payload: {
      accountId: 'T7',
      meterId: 'E-7',
      readingId: `E-7:${t}`,
      amount: amountMinor * 10_000,
      currency: 'GBP',
      breakdown: [],
      carbonKg: 1.5,
      to: t,
      kind: 'consumption',
      tariff: 'flat',
    },
  };
}

const state = (available: number) => ({
  payload: {
    accountId: 'T7',
    balance: available,
    available,
    currency: 'GBP',
    state: 'ok',
    changedAt: MONDAY,
  },
});

describe('prepay-forecast node', function () {
  this.timeout(30_000);
  let userDir: string;

  beforeEach(async () => {
    userDir = tempUserDir();
    helper.settings({ userDir, prepay: { clock: new ManualClock(MONDAY) } });
    await startServer();
  });
  afterEach(async () => {
    await helper.unload();
    await stopServer();
    helper.settings({});
  });

  it('adds days left to account states, reminds once, answers carbon totals and remembers across a restart', async () => {
    await helper.load([forecastNode, catchNode], FLOW);
    let forecast = helper.getNode('forecast');
    // Four weeks at 10.00 a day, in four charges a day.
    for (let day = 28; day >= 1; day -= 1)
      for (let q = 0; q < 4; q += 1)
        forecast.receive(charge(MONDAY - day * DAY + q * 6 * 3_600_000 + 1000, 250));
    await sleep(200);
    const states = collect(helper.getNode('states')) as Msg[];
    const reminders = collect(helper.getNode('reminders')) as Msg[];
    forecast.receive(state(10_000));
    forecast.receive(state(2500));
    forecast.receive(state(2400));
    forecast.receive({ topic: 'carbon', payload: { from: '2026-11-01', to: '2026-11-30' } });
    await sleep(200);
    assert.deepEqual(
      states.slice(0, 3).map((m) => m.payload.daysLeft),
      [10, 2.5, 2.4],
    );
    assert.equal(reminders.length, 1, 'once');
    assert.deepEqual(reminders[0]!.payload, {
      accountId: 'T7',
      currency: 'GBP',
      available: 2500,
      daysLeft: 2.5,
      suggestedTopup: 12_000,
      burnPerDay: 1000,
    });
    const carbon = states[3]!.payload as unknown as Array<Record<string, number>>;
    // 9-30 November: 22 days of 10.00 (in minor units) and 6 kg.
    assert.deepEqual(carbon, [
      { accountId: 'T7', from: '2026-11-01', to: '2026-11-30', amount: 22_000, carbonKg: 132, days: 22 },
    ]);
    await helper.unload();
    await helper.load([forecastNode, catchNode], FLOW);
    forecast = helper.getNode('forecast');
    const after = collect(helper.getNode('states')) as Msg[];
    forecast.receive(state(5000));
    await sleep(100);
    assert.equal(after[0]!.payload.daysLeft, 5, 'history kept across a restart');
  });

  it('reads the older state file (a list of day objects per account) and writes the compact one', async () => {
    mkdirSync(join(userDir, 'prepay'), { recursive: true });
    const days = Array.from({ length: 28 }, (_, i) => {
      const t = MONDAY - (28 - i) * DAY;
      return {
        date: new Date(t).toISOString().slice(0, 10),
        weekday: new Date(t).getUTCDay(),
        amount: 1000 * 10_000,
        carbonKg: 6,
      };
    });
    writeFileSync(
      join(userDir, 'prepay', 'forecast-forecast.json'),
      JSON.stringify({ version: 1, accounts: { T7: { days, armed: true } } }),
    );
    await helper.load([forecastNode, catchNode], FLOW);
    const states = collect(helper.getNode('states')) as Msg[];
    helper.getNode('forecast').receive(state(5000));
    await sleep(100);
    assert.equal(states[0]!.payload.daysLeft, 5, 'four weeks of 10.00 a day, read from version 1');
    helper.getNode('forecast').receive(charge(MONDAY + 3_600_000, 250));
    await sleep(50);
    await helper.unload();
    const saved = JSON.parse(readFileSync(join(userDir, 'prepay', 'forecast-forecast.json'), 'utf8'));
    assert.equal(saved.version, 2);
    assert.equal(saved.accounts.T7.history.from, days[0]!.date);
    assert.equal(saved.accounts.T7.history.amount.length, 29, 'the 28 days and today');
  });

  it('gives no days left for an account it knows nothing about, and names bad input', async () => {
    await helper.load([forecastNode, catchNode], FLOW);
    const forecast = helper.getNode('forecast');
    const states = collect(helper.getNode('states')) as Msg[];
    const caught = collect(helper.getNode('caught'));
    forecast.receive({
      payload: { accountId: 'NEW', balance: 100, available: 100, currency: 'GBP', state: 'ok', changedAt: 0 },
    });
    forecast.receive({ payload: { hello: 'world' } });
    forecast.receive({ topic: 'carbon', payload: { from: 'last month' } });
    // A move-out's credit from the tariff passes without an error.
    forecast.receive({
      topic: 'adjust',
      payload: {
        command: 'adjust',
        kind: 'credit',
        reference: 'move-out:T1:2024-06-20',
        accountId: 'T1',
        amount: 1200,
      },
    });
    await sleep(100);
    assert.equal(states[0]!.payload.daysLeft, undefined);
    assert.deepEqual(
      caught.map((m) => (m.error as { message: string }).message.replace(/^Error: /, '')),
      [
        'payload: must be a charge (from the tariff), an account state (from the ledger) or a carbon request',
        'from, to: must be local dates YYYY-MM-DD',
      ],
    );
  });
});
