/**
 * The daily reconciliation through the real nodes: a meter reader (readings from messages) -> tariff -> ledger,
 * with the reader's events wired to the ledger. A day billed as measured reconciles with nothing unexplained;
 * a day where one charge is lost between the tariff and the ledger (as messages were at a restart before) shows
 * the hole in that meter's chain and the difference with what its reader billed, as an alarm on output 3.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../dist/nodes/core/clock';
import type { ReconciliationReport } from '../../dist/nodes/core/ledger/reconcile';
import {
  collect,
  helper,
  loadBuiltNode,
  sleep,
  tempUserDir,
  type NodeModule,
} from '../support/node-red-helper';
import {
  DAY,
  DAY1,
  QUARTER,
  fundAccount,
  readQuarters,
  readerLedgerNodes,
} from '../support/reader-ledger-flow';

const storeNode = loadBuiltNode('store/prepay-store.js');
const ledgerNode = loadBuiltNode('ledger/prepay-ledger.js');
const tariffNode = loadBuiltNode('tariff/prepay-tariff.js');
const meterNode = loadBuiltNode('meter/prepay-meter.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const functionNode = require('@node-red/nodes/core/function/10-function.js') as NodeModule;

function flow(): Array<Record<string, unknown>> {
  const [meter, tariff, ledger, store] = readerLedgerNodes({
    meterEvents: ['ledger'],
    tariff: ['lossy'],
    ledger: [['results'], [], ['reports']],
  });
  return [
    meter!,
    tariff!,
    {
      // The wire between the tariff and the ledger, losing the one charge the test names.
      id: 'lossy',
      type: 'function',
      func: "return msg.payload.readingId === global.get('lose') ? null : msg;",
      outputs: 1,
      wires: [['ledger']],
    },
    ledger!,
    { id: 'results', type: 'helper' },
    { id: 'reports', type: 'helper' },
    store!,
  ];
}

describe('ledger: the daily reconciliation through the real nodes', function () {
  this.timeout(60_000);
  let userDir: string;
  let clock: ManualClock;

  beforeEach(async function () {
    userDir = tempUserDir();
    await fundAccount(userDir);
    clock = new ManualClock(DAY1 - QUARTER);
    helper.settings({ userDir, prepay: { clock } });
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });

  /** Readings every quarter hour up to `until` (the register rises 1.25 kWh a quarter), the clock with them. */
  async function readUntil(register: { value: number }, until: number): Promise<void> {
    while (clock.now() < until) {
      await readQuarters(clock, register);
      // At 00:15 the pipeline is given wall time to settle: the reader's day summary (at midnight) and the day's
      // last charge must reach the ledger before its reconciliation at 00:30 (on this clock, the next reading).
      if ((clock.now() - DAY1) % DAY === QUARTER) await sleep(1000);
    }
    await sleep(300);
  }

  it('finds nothing unexplained in a day billed as measured, and the lost charge of the next', async function () {
    await helper.load([storeNode, ledgerNode, tariffNode, meterNode, functionNode], flow());
    const reports = collect(helper.getNode('reports'));
    const register = { value: 1000 };
    // 1 June, every quarter hour, and on to 00:45 on 2 June: the reader's day summary goes out at midnight,
    // the ledger reconciles 1 June at 00:30.
    await readUntil(register, DAY1 + DAY + 45 * 60_000);
    const daily = reports
      .map((m) => m.payload as ReconciliationReport)
      .filter((r) => r.period?.label === '2026-06-01');
    assert.equal(daily.length, 1, 'the daily run, once');
    const report = daily[0]!;
    assert.deepEqual(
      report.findings.filter((f) => !f.explained),
      [],
    );
    assert.equal(report.ok, true);
    assert.deepEqual(report.meters, [
      {
        meterId: 'E-1',
        accountId: 'T1',
        unit: 'kWh',
        billedByLedger: '120', // 96 quarter hours x 1.25 (the first reading sets the baseline at 23:45)
        charges: 96,
        billedByMeter: '120',
        registerMovement: '120',
      },
    ]);
    // What the intake took in that day (by the building time it arrived) was all committed.
    const intake = report.intake!;
    assert.ok(intake.accepted > 50, `accepted ${intake.accepted}`);
    assert.equal(intake.committed, intake.accepted);

    // 2 June: the charge of 10:00-10:15 is lost on its way to the ledger.
    const lost = `E-1:${Date.parse('2026-06-02T10:15:00+08:00')}`;
    const lossy = helper.getNode('lossy') as unknown as {
      context(): { global: { set(k: string, v: unknown): void } };
    };
    lossy.context().global.set('lose', lost);
    await readUntil(register, DAY1 + 2 * DAY + 45 * 60_000);
    const second = reports
      .filter((m) => (m.payload as ReconciliationReport).period?.label === '2026-06-02')
      .map((m) => m as { payload: ReconciliationReport; alarm?: boolean });
    assert.equal(second.length, 1);
    assert.equal(second[0]?.alarm, true);
    const { findings } = second[0]!.payload;
    assert.deepEqual(
      findings.filter((f) => !f.explained).map((f) => [f.kind, f.subject, f.amount]),
      [
        ['billed-differs', 'E-1', '1.25'],
        ['hole', 'E-1', '1.25'],
      ],
    );
    // On demand, as CSV.
    const results = collect(helper.getNode('results'));
    helper.getNode('ledger').receive({ topic: 'reconcile', payload: { date: '2026-06-02', format: 'csv' } });
    await sleep(300);
    const csv = (results[0]?.payload as { csv: string }).csv;
    assert.match(csv, /2026-06-02,meter,E-1,hole,NO,/);
  });
});
