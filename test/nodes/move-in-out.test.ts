/**
 * Move-in and move-out through the real tariff and ledger nodes (SQLite on disk), with Node-RED restarted
 * between them: a tenant whose first reading is on 11 July owes 21/31 of July's fixed rental, standing from that
 * day, and on moving out on the 20th gets the 11 unused days of the rental back as an adjustment, with the
 * minimum charge for the 10 days occupied; the balance is exact, and nothing is posted twice after a restart.
 */
import assert from 'node:assert/strict';
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

const OFFICE = {
  currency: 'MYR',
  utility: 'electricity',
  timezone: 'Asia/Kuala_Lumpur',
  energy: { type: 'flat', rate: '0.20' },
  standingCharge: { perDay: '1.00' },
  fixedMonthly: [{ name: 'rental', amount: '31.00' }],
  minimumMonthly: '93.00',
  partialMonth: { moveIn: 'pro-rata', moveOut: 'pro-rata' },
};

/** 11 July 2024, 00:30 in Kuala Lumpur. */
const START = Date.parse('2024-07-11T00:30:00+08:00');
const DAY = 86_400_000;

const FLOW = [
  {
    id: 'tariffs',
    type: 'prepay-tariff',
    tariffs: JSON.stringify({ office: OFFICE }),
    select: '',
    selectType: 'str',
    calendar: true,
    persist: true,
    wires: [['ledger1']],
  },
  ledgerNodeConfig({
    id: 'ledger1',
    store: 'store',
    lowThreshold: '100',
    lowHysteresis: '50',
    timezone: 'Asia/Kuala_Lumpur',
    wires: [[], [], []],
  }),
  { id: 'store', type: 'prepay-store', backend: 'sqlite', file: 'ledger.db', synchronous: 'FULL' },
];

async function withLedger<T>(
  userDir: string,
  fn: (ledger: Ledger, store: SqliteLedgerStore) => Promise<T>,
): Promise<T> {
  const store = new SqliteLedgerStore({ path: join(userDir, 'ledger.db') });
  await store.init();
  const ledger = new Ledger(store, { clock: new SystemClock() });
  try {
    return await fn(ledger, store);
  } finally {
    ledger.close();
    await store.close();
  }
}

describe('move-in and move-out (tariff and ledger nodes, restarts)', function () {
  let userDir: string;
  let clock: ManualClock;
  beforeEach(async function () {
    userDir = tempUserDir();
    clock = new ManualClock(START);
    helper.settings({ userDir, prepay: { clock } });
    await withLedger(userDir, async (ledger) => {
      await ledger.execute(
        readRequest(undefined, { command: 'open', accountId: 'R01', currency: 'MYR', reference: 'open-R01' }),
      );
      await ledger.execute(
        readRequest(undefined, { command: 'topup', accountId: 'R01', amount: 100_000, reference: 'pay-R01' }),
      );
    });
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });

  async function toDate(date: string): Promise<void> {
    const until = Date.parse(`${date}T00:30:00+08:00`);
    while (clock.now() < until) {
      clock.advance(DAY);
      await sleep(150);
    }
  }

  const load = (): Promise<void> => helper.load([storeNode, ledgerNode, tariffNode], FLOW);

  it('bills 11-20 July exactly: 21/31 of the rental, 11/31 back at the move-out, the minimum for 10 days', async function () {
    await load();
    // The first reading, 00:15-00:30 on 11 July: 10 kWh at 0.20 = 2.00, and the move-in.
    helper.getNode('tariffs').receive({
      payload: {
        meterId: 'E-R01',
        accountId: 'R01',
        utility: 'electricity',
        unit: 'kWh',
        delta: 10,
        from: START - 900_000,
        to: START,
        readingId: `E-R01:${START}`,
      },
    });
    await sleep(200);
    helper.getNode('tariffs').receive({ topic: 'calendar', payload: {} });
    await sleep(300);
    // Node-RED stops and starts again between the move-in and the move-out.
    await helper.unload();
    await load();
    await toDate('2024-07-20');
    helper
      .getNode('tariffs')
      .receive({ topic: 'move-out', payload: { accountId: 'R01', date: '2024-07-20' } });
    await sleep(500);
    // And again after it: the credit and the final charge are not posted twice, and no day after the 20th is billed.
    await helper.unload();
    await load();
    await toDate('2024-07-23');
    await sleep(500);
    await helper.unload();

    await withLedger(userDir, async (ledger, store) => {
      const entries = await store.entriesOf('R01');
      const posted = entries
        .filter((e) => e.kind !== 'open' && e.kind !== 'topup')
        .map((e) => [e.reference, Number(e.amount)] as [string, number])
        .sort();
      assert.deepEqual(posted, [
        ['charge:E-R01:' + START, -200],
        // 31.00 x 10/31 = 10.00 owed; minimum 93.00 x 10/31 = 30.00 against 10.00 + 10 x 1.00 + 2.00: 8.00 short.
        ['charge:monthly:R01:electricity:2024-07-11', -2_100],
        ['charge:move-out:R01:electricity:2024-07-20', -800],
        ...Array.from({ length: 10 }, (_, i): [string, number] => [
          `charge:standing:R01:electricity:2024-07-${String(11 + i)}`,
          -100,
        ]),
        // 31.00 x 11/31 = 11.00 back.
        ['move-out:R01:electricity:2024-07-20', 1_100],
      ]);
      const { result } = await ledger.execute({ command: 'balance', accountId: 'R01' });
      // 1,000.00 - 2.00 - 21.00 - 10.00 + 11.00 - 8.00 = 970.00
      assert.equal((result as { balance: number }).balance, 97_000);
    });
  });
});
