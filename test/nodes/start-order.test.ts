/**
 * Nothing is sent before the runtime's flows have started. Node-RED builds a deploy tab by tab; a node that
 * sends while it is being built (a tariff catching up on the days a stopped Node-RED missed, a meter reader
 * re-sending its last consumption) reaches no node of a later tab, and Node-RED drops the message without a
 * word. Here the receivers sit on later tabs, as in the reference site: every message must arrive.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock, SystemClock } from '../../dist/nodes/core/clock';
import { Ledger } from '../../dist/nodes/core/ledger/ledger';
import { readRequest } from '../../dist/nodes/core/ledger/requests';
import { SqliteLedgerStore } from '../../dist/nodes/store/sqlite-ledger-store';
import { helper, loadBuiltNode, sleep, tempUserDir } from '../support/node-red-helper';
import { ledgerNodeConfig } from '../support/ledger-node';

const storeNode = loadBuiltNode('store/prepay-store.js');
const ledgerNode = loadBuiltNode('ledger/prepay-ledger.js');
const tariffNode = loadBuiltNode('tariff/prepay-tariff.js');
const meterNode = loadBuiltNode('meter/prepay-meter.js');

const TARIFFS = {
  flat: {
    currency: 'GBP',
    utility: 'electricity',
    timezone: 'Europe/London',
    energy: { type: 'flat', rate: '0.25' },
    standingCharge: { perDay: '0.50' },
  },
};

/** 00:30 on 3 October 2024 in London: the stopped runtime missed the midnights of the 2nd and the 3rd. */
const NOW = Date.parse('2024-10-03T00:30:00+01:00');

function ledgerConfig(id: string, z: string): Record<string, unknown> {
  return ledgerNodeConfig({
    id,
    z,
    store: 'store',
    lowThreshold: '100',
    lowHysteresis: '50',
    timezone: 'Europe/London',
  });
}

async function prepareLedger(userDir: string): Promise<void> {
  const store = new SqliteLedgerStore({ path: join(userDir, 'ledger.db') });
  await store.init();
  const ledger = new Ledger(store, { clock: new SystemClock() });
  for (const payload of [
    { command: 'open', accountId: 'T0101', currency: 'GBP', reference: 'open-T0101' },
    { command: 'topup', accountId: 'T0101', amount: 10_000, reference: 'pay-1' },
  ])
    await ledger.execute(readRequest(undefined, payload));
  ledger.close();
  await store.close();
}

async function entries(userDir: string): Promise<Array<{ reference: string; kind: string; amount: bigint }>> {
  const store = new SqliteLedgerStore({ path: join(userDir, 'ledger.db') });
  await store.init();
  try {
    return (await store.entriesOf('T0101')).map((e) => ({
      reference: e.reference,
      kind: e.kind,
      amount: e.amount,
    }));
  } finally {
    await store.close();
  }
}

describe('start order: nothing is sent before the flows have started', function () {
  let userDir: string;
  beforeEach(function () {
    userDir = tempUserDir();
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });

  it('delivers the calendar charges a tariff raises at start to a ledger on a later tab', async function () {
    await prepareLedger(userDir);
    // The tariff priced T0101 before the stop and raised its standing charges up to 1 October.
    mkdirSync(join(userDir, 'prepay'), { recursive: true });
    writeFileSync(
      join(userDir, 'prepay', 'tariff-tariff1.json'),
      JSON.stringify({
        version: 2,
        accounts: {
          'T0101\u001felectricity': {
            cum: {},
            tariff: 'flat',
            account: 'T0101',
            utility: 'electricity',
            lastDay: '2024-10-01',
            lastMonth: '2024-10',
          },
        },
        meters: {},
        recent: [],
      }),
    );
    helper.settings({ userDir, prepay: { clock: new ManualClock(NOW) } });
    await helper.load(
      [storeNode, ledgerNode, tariffNode],
      [
        { id: 'tab1', type: 'tab', label: 'tariffs' },
        { id: 'tab2', type: 'tab', label: 'ledger' },
        {
          id: 'tariff1',
          type: 'prepay-tariff',
          z: 'tab1',
          tariffs: JSON.stringify(TARIFFS),
          select: '',
          selectType: 'str',
          calendar: true,
          persist: true,
          wires: [['ledger1']],
        },
        ledgerConfig('ledger1', 'tab2'),
        { id: 'store', type: 'prepay-store', backend: 'sqlite', file: 'ledger.db', synchronous: 'FULL' },
      ],
    );
    await sleep(500);
    const standing = (await entries(userDir)).filter((e) => e.kind === 'standing');
    assert.deepEqual(
      standing.map((e) => [e.reference, e.amount]),
      [
        ['charge:standing:T0101:electricity:2024-10-02', -50n],
        ['charge:standing:T0101:electricity:2024-10-03', -50n],
      ],
    );
  });

  it("delivers a meter reader's re-sent consumption through a tariff and a ledger on later tabs", async function () {
    await prepareLedger(userDir);
    const consumption = {
      meterId: 'E-0101',
      accountId: 'T0101',
      utility: 'electricity',
      value: 1010,
      unit: 'kWh',
      ts: NOW - 60_000,
      quality: 'good',
      delta: 10,
      from: NOW - 960_000,
      to: NOW - 60_000,
      readingId: `E-0101:${NOW - 60_000}`,
    };
    mkdirSync(join(userDir, 'prepay'), { recursive: true });
    writeFileSync(
      join(userDir, 'prepay', 'meter-meter1.json'),
      JSON.stringify({
        version: 1,
        meters: {
          'E-0101': { baseline: { value: 1010, ts: NOW - 60_000 }, status: 'ok', lastOut: [consumption] },
        },
      }),
    );
    helper.settings({ userDir, prepay: { clock: new ManualClock(NOW) } });
    await helper.load(
      [storeNode, ledgerNode, tariffNode, meterNode],
      [
        { id: 'tab1', type: 'tab', label: 'meters' },
        { id: 'tab2', type: 'tab', label: 'tariffs' },
        { id: 'tab3', type: 'tab', label: 'ledger' },
        {
          id: 'meter1',
          type: 'prepay-meter',
          z: 'tab1',
          source: 'messages',
          meters: '',
          wires: [['tariff1'], [], []],
        },
        {
          id: 'tariff1',
          type: 'prepay-tariff',
          z: 'tab2',
          tariffs: JSON.stringify(TARIFFS),
          select: '',
          selectType: 'str',
          calendar: false,
          persist: true,
          wires: [['ledger1']],
        },
        ledgerConfig('ledger1', 'tab3'),
        { id: 'store', type: 'prepay-store', backend: 'sqlite', file: 'ledger.db', synchronous: 'FULL' },
      ],
    );
    await sleep(500);
    const charged = (await entries(userDir)).filter((e) => e.kind === 'charge');
    // 10 kWh at 25p.
    assert.deepEqual(
      charged.map((e) => [e.reference, e.amount]),
      [[`charge:${consumption.readingId}`, -250n]],
    );
  });
});
