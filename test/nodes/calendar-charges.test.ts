/**
 * Calendar charges per account AND utility, through the real tariff and ledger nodes: a restaurant with gas
 * (1.50 a day) and cooling (8.00 a day) owes both every day, whether one tariff node prices both or each has
 * its own; and a state file of the older layout (one entry per account) carries on without raising any day
 * twice, keeping the block position of the utility that was priced last.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

const GAS = {
  currency: 'MYR',
  utility: 'gas',
  timezone: 'Asia/Kuala_Lumpur',
  energy: { type: 'flat', rate: '0.20' },
  standingCharge: { perDay: '1.50' },
};
const COOLING = {
  currency: 'MYR',
  utility: 'cooling',
  timezone: 'Asia/Kuala_Lumpur',
  energy: { type: 'flat', rate: '0.30' },
  standingCharge: { perDay: '8.00' },
};
const WATER = {
  currency: 'MYR',
  utility: 'water',
  timezone: 'Asia/Kuala_Lumpur',
  energy: { type: 'block', reset: 'month', blocks: [{ upTo: '10', rate: '1.00' }, { rate: '2.00' }] },
  standingCharge: { perDay: '0.40' },
};

/** Day 1: 5 June 2024, 00:30 in Kuala Lumpur. */
const DAY1 = Date.parse('2024-06-05T00:30:00+08:00');
const DAY = 86_400_000;

function ledger(z?: string): Record<string, unknown> {
  return ledgerNodeConfig({
    id: 'ledger1',
    ...(z ? { z } : {}),
    store: 'store',
    lowThreshold: '100',
    lowHysteresis: '50',
    timezone: 'Asia/Kuala_Lumpur',
    wires: [[], [], []],
  });
}

function tariff(id: string, tariffs: Record<string, unknown>): Record<string, unknown> {
  return {
    id,
    type: 'prepay-tariff',
    tariffs: JSON.stringify(tariffs),
    select: '',
    selectType: 'str',
    calendar: true,
    persist: true,
    wires: [['ledger1']],
  };
}

const STORE = {
  id: 'store',
  type: 'prepay-store',
  backend: 'sqlite',
  file: 'ledger.db',
  synchronous: 'FULL',
};

async function openAccount(userDir: string, accountId: string): Promise<void> {
  const store = new SqliteLedgerStore({ path: join(userDir, 'ledger.db') });
  await store.init();
  const ledger = new Ledger(store, { clock: new SystemClock() });
  await ledger.execute(
    readRequest(undefined, { command: 'open', accountId, currency: 'MYR', reference: `open-${accountId}` }),
  );
  await ledger.execute(
    readRequest(undefined, { command: 'topup', accountId, amount: 100_000, reference: `pay-${accountId}` }),
  );
  ledger.close();
  await store.close();
}

async function standingEntries(userDir: string, accountId: string): Promise<Array<[string, number]>> {
  const store = new SqliteLedgerStore({ path: join(userDir, 'ledger.db') });
  await store.init();
  try {
    return (await store.entriesOf(accountId))
      .filter((e) => e.kind === 'standing')
      .map((e) => [e.reference.replace(/^charge:/, ''), Number(e.amount)] as [string, number])
      .sort();
  } finally {
    await store.close();
  }
}

function consumption(meterId: string, utility: string, unit: string, at: number): Record<string, unknown> {
  return {
    meterId,
    accountId: 'R01',
    utility,
    unit,
    delta: 1,
    from: at - 900_000,
    to: at,
    readingId: `${meterId}:${at}`,
    quality: 'good',
  };
}

describe('calendar charges per account and utility (tariff and ledger nodes)', function () {
  let userDir: string;
  let clock: ManualClock;
  beforeEach(async function () {
    userDir = tempUserDir();
    clock = new ManualClock(DAY1);
    helper.settings({ userDir, prepay: { clock } });
    await openAccount(userDir, 'R01');
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });

  /** Runs the building clock forward to 00:30 of day `n`, a local midnight at a time. */
  async function toDay(n: number): Promise<void> {
    while (clock.now() < DAY1 + (n - 1) * DAY) {
      clock.advance(DAY);
      await sleep(150);
    }
  }

  it('charges gas and cooling standing every day when one tariff node prices both: 3 days are 28.50', async function () {
    await helper.load(
      [storeNode, ledgerNode, tariffNode],
      [tariff('tariffs', { gas: GAS, cooling: COOLING }), ledger(), STORE],
    );
    const node = helper.getNode('tariffs');
    node.receive({ payload: consumption('G-R01', 'gas', 'kWh', DAY1 - 60_000), tariff: 'gas' });
    node.receive({ payload: consumption('C-R01', 'cooling', 'kWh', DAY1 - 60_000), tariff: 'cooling' });
    await sleep(200);
    node.receive({ topic: 'calendar', payload: {} });
    await toDay(3);
    await sleep(300);
    const standing = await standingEntries(userDir, 'R01');
    assert.deepEqual(standing, [
      ['standing:R01:cooling:2024-06-05', -800],
      ['standing:R01:cooling:2024-06-06', -800],
      ['standing:R01:cooling:2024-06-07', -800],
      ['standing:R01:gas:2024-06-05', -150],
      ['standing:R01:gas:2024-06-06', -150],
      ['standing:R01:gas:2024-06-07', -150],
    ]);
    assert.equal(
      standing.reduce((sum, [, amount]) => sum + amount, 0),
      -2_850,
    );
  });

  it('charges both when each utility has a tariff node of its own (no collision of ids)', async function () {
    await helper.load(
      [storeNode, ledgerNode, tariffNode],
      [tariff('gasTariff', { gas: GAS }), tariff('coolingTariff', { cooling: COOLING }), ledger(), STORE],
    );
    helper.getNode('gasTariff').receive({ payload: consumption('G-R01', 'gas', 'kWh', DAY1 - 60_000) });
    helper
      .getNode('coolingTariff')
      .receive({ payload: consumption('C-R01', 'cooling', 'kWh', DAY1 - 60_000) });
    await sleep(200);
    await toDay(2);
    await sleep(300);
    // From the move-in day (the first reading's, 5 June) on.
    assert.deepEqual(await standingEntries(userDir, 'R01'), [
      ['standing:R01:cooling:2024-06-05', -800],
      ['standing:R01:cooling:2024-06-06', -800],
      ['standing:R01:gas:2024-06-05', -150],
      ['standing:R01:gas:2024-06-06', -150],
    ]);
    // The ledger confirmed every charge it holds: nothing is left to send again after a restart.
    await sleep(4_500);
    await helper.unload();
    for (const id of ['gasTariff', 'coolingTariff']) {
      const saved = JSON.parse(readFileSync(join(userDir, 'prepay', `tariff-${id}.json`), 'utf8')) as {
        outbox: unknown[];
      };
      assert.deepEqual(saved.outbox, [], id);
    }
  });

  it('carries an older state file over: no day raised twice, the block position kept', async function () {
    // Saved by the earlier layout: one entry for R01, last priced by the water tariff (8 m3 of the 10 in
    // block 1 used this month), standing charges raised up to 5 June.
    mkdirSync(join(userDir, 'prepay'), { recursive: true });
    const file = join(userDir, 'prepay', 'tariff-tariffs.json');
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        accounts: {
          R01: {
            cum: {},
            quantityCum: '8000000',
            block: { period: '2024-06', used: '8000000' },
            lastDay: '2024-06-05',
            tariff: 'water',
          },
        },
        meters: {},
        recent: [],
      }),
    );
    await helper.load(
      [storeNode, ledgerNode, tariffNode],
      [tariff('tariffs', { water: WATER, gas: GAS }), ledger(), STORE],
    );
    const node = helper.getNode('tariffs');
    // 4 m3 of water: 2 left in block 1 at 1.00, 2 in block 2 at 2.00 = 6.00.
    node.receive({
      payload: { ...consumption('W-R01', 'water', 'm3', DAY1 + 60_000), delta: 4 },
      tariff: 'water',
    });
    node.receive({ payload: consumption('G-R01', 'gas', 'kWh', DAY1 + 60_000), tariff: 'gas' });
    await sleep(300);
    const store = new SqliteLedgerStore({ path: join(userDir, 'ledger.db') });
    await store.init();
    const water = (await store.entriesOf('R01')).find((e) => e.meta.meterId === 'W-R01');
    await store.close();
    assert.equal(water?.amount, -600n);
    await toDay(2);
    await sleep(300);
    // 5 June was raised before the upgrade; 6 June is raised once for each utility.
    assert.deepEqual(await standingEntries(userDir, 'R01'), [
      ['standing:R01:gas:2024-06-06', -150],
      ['standing:R01:water:2024-06-06', -40],
    ]);
    await helper.unload();
    const saved = JSON.parse(readFileSync(file, 'utf8')) as {
      version: number;
      accounts: Record<string, unknown>;
    };
    assert.equal(saved.version, 2);
    assert.deepEqual(Object.keys(saved.accounts).sort(), ['R01\u001fgas', 'R01\u001fwater']);
  });
});
