/**
 * The day-reconciliation tests' site: a meter reader fed by messages -> a flat tariff -> a ledger on SQLite, in
 * Kuala Lumpur time, with one account (T1) funded before the flow starts and a register that rises 1.25 kWh a
 * quarter hour. The tests differ only in what sits on the wires, which they pass in.
 */
import { join } from 'node:path';
import type { ManualClock } from '../../dist/nodes/core/clock';
import { SystemClock } from '../../dist/nodes/core/clock';
import { Ledger } from '../../dist/nodes/core/ledger/ledger';
import { readRequest } from '../../dist/nodes/core/ledger/requests';
import { SqliteLedgerStore } from '../../dist/nodes/store/sqlite-ledger-store';
import { ledgerNodeConfig } from './ledger-node';
import { helper, sleep } from './node-red-helper';

export const ZONE = 'Asia/Kuala_Lumpur';
/** 1 June 2026, midnight in Kuala Lumpur. */
export const DAY1 = Date.parse('2026-06-01T00:00:00+08:00');
export const QUARTER = 900_000;
export const DAY = 86_400_000;

export interface ReaderLedgerWires {
  /** Where the reader's events (output 3) go; the ledger hears them when listed. */
  meterEvents: string[];
  /** Where the tariff's charges go (the ledger, or a node between). */
  tariff: string[];
  /** The ledger's three outputs. */
  ledger: string[][];
}

/** The reader, tariff, ledger and store nodes (ids meter, tariff, ledger, store), wired as given. */
export function readerLedgerNodes(wires: ReaderLedgerWires): Array<Record<string, unknown>> {
  return [
    {
      id: 'meter',
      type: 'prepay-meter',
      source: 'messages',
      timezone: ZONE,
      wires: [['tariff'], [], wires.meterEvents],
    },
    {
      id: 'tariff',
      type: 'prepay-tariff',
      tariffs: JSON.stringify({
        flat: {
          currency: 'MYR',
          utility: 'electricity',
          timezone: ZONE,
          energy: { type: 'flat', rate: '0.50' },
        },
      }),
      select: '',
      selectType: 'str',
      calendar: false,
      persist: true,
      wires: [wires.tariff],
    },
    ledgerNodeConfig({
      id: 'ledger',
      store: 'store',
      lowThreshold: '100',
      lowHysteresis: '50',
      timezone: ZONE,
      wires: wires.ledger,
    }),
    { id: 'store', type: 'prepay-store', backend: 'sqlite', file: 'ledger.db', synchronous: 'FULL' },
  ];
}

/** Opens T1 (MYR) with 1,000.00 of credit in the ledger database the flow will use. */
export async function fundAccount(userDir: string): Promise<void> {
  const store = new SqliteLedgerStore({ path: join(userDir, 'ledger.db') });
  await store.init();
  const ledger = new Ledger(store, { clock: new SystemClock() });
  await ledger.execute(
    readRequest(undefined, { command: 'open', accountId: 'T1', currency: 'MYR', reference: 'open-T1' }),
  );
  await ledger.execute(
    readRequest(undefined, { command: 'topup', accountId: 'T1', amount: 100_000, reference: 'pay-1' }),
  );
  ledger.close();
  await store.close();
}

/**
 * One reading of E-1 `quarters` quarter hours after the last (the register rises 1.25 kWh a quarter), the clock
 * moved on `advanceMs` first (a quarter hour each by default).
 */
export async function readQuarters(
  clock: ManualClock,
  register: { value: number },
  quarters = 1,
  advanceMs = quarters * QUARTER,
): Promise<void> {
  clock.advance(advanceMs);
  register.value = Math.round((register.value + 1.25 * quarters) * 100) / 100;
  helper.getNode('meter').receive({
    payload: {
      meterId: 'E-1',
      accountId: 'T1',
      utility: 'electricity',
      unit: 'kWh',
      value: register.value,
      ts: clock.now(),
    },
  });
  await sleep(5);
}
