/**
 * A meter reader's day summary survives a crash of the ledger's state write. Through the real nodes (a meter
 * reader fed by messages -> tariff -> ledger, the reader's events wired to the ledger): a meter falls silent at
 * 23:00, its day is summarised at midnight, and when it answers at 00:15 the gap billed ends partly in that day,
 * so a late summary (two consumptions more) goes out. The process "dies" a moment after the ledger took the late
 * summary in and before its state reached the disk: the ledger's reconciliation file is put back as it was on
 * disk at that moment. After the restart the late summary reaches the ledger again, once, and the day reconciles
 * with nothing unexplained. A ledger that confirmed a summary is not sent it again.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../dist/nodes/core/clock';
import type { ReconciliationReport } from '../../dist/nodes/core/ledger/reconcile';
import { collect, helper, loadBuiltNode, sleep, tempUserDir } from '../support/node-red-helper';
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

/** The nodes in an order where the ledger comes last: the reader's start-up sends wait for the flows. */
function flow(): Array<Record<string, unknown>> {
  const [meter, tariff, ledger, store] = readerLedgerNodes({
    meterEvents: ['ledger', 'events'],
    tariff: ['ledger'],
    ledger: [[], [], ['reports']],
  });
  return [
    meter!,
    tariff!,
    { id: 'events', type: 'helper' },
    { id: 'reports', type: 'helper' },
    ledger!,
    store!,
  ];
}

interface Summary {
  type: string;
  date: string;
  billed: string;
  consumptions: number;
  receipt?: string;
}

describe('ledger: day summaries confirmed once on disk, sent again until then', function () {
  this.timeout(60_000);
  let userDir: string;
  let clock: ManualClock;
  const register = { value: 1000 };

  beforeEach(async function () {
    userDir = tempUserDir();
    register.value = 1000;
    await fundAccount(userDir);
    clock = new ManualClock(DAY1 - QUARTER);
    helper.settings({ userDir, prepay: { clock } });
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
  });

  const load = (): Promise<void> => helper.load([storeNode, ledgerNode, tariffNode, meterNode], flow());

  const read = (quarters = 1, advanceMs = quarters * QUARTER): Promise<void> =>
    readQuarters(clock, register, quarters, advanceMs);

  const summaries = (events: Array<Record<string, unknown>>): Array<Summary & { replay?: boolean }> =>
    events
      .filter((m) => (m.payload as Summary).type === 'day-summary')
      .map((m) => Object.assign({}, m.payload as Summary, m.replay ? { replay: true } : {}));

  const reconciliationFile = (): string => join(userDir, 'prepay', 'ledger-ledger-reconciliation.json');
  const savedDays = (): Array<Summary & { meterId: string; from: number }> =>
    (JSON.parse(readFileSync(reconciliationFile(), 'utf8')) as { meterDays: [] }).meterDays;

  /** 1 June read every quarter until 23:00, then silence over midnight (its summary goes out and is saved). */
  async function silentOverMidnight(): Promise<Array<Record<string, unknown>>> {
    await load();
    const events = collect(helper.getNode('events'));
    while (clock.now() < DAY1 + DAY - 60 * 60_000) await read();
    clock.advance(65 * 60_000); // 00:05: the reader's midnight summary of 1 June
    await sleep(1500); // it is in the ledger's file by now, on the old code too
    // (31 May has its summary too: the first reading, at midnight, ends that day.)
    assert.deepEqual(
      summaries(events).map((s) => [s.date, s.billed, s.consumptions]),
      [
        ['2026-05-31', '0', 0],
        ['2026-06-01', '115', 92],
      ],
    );
    return events;
  }

  it('sends a late summary lost in a crash of the ledger again after the restart, once', async function () {
    let events = await silentOverMidnight();
    // 00:15: the meter answers; the 75 minutes' gap is billed in slices, two ending in 1 June: a late summary.
    await read(5, 10 * 60_000);
    await sleep(150);
    const late = summaries(events).at(-1)!;
    assert.deepEqual([late.date, late.consumptions], ['2026-06-01', 94]);
    assert.ok(Number(late.billed) > 115, late.billed);
    // The crash: the ledger has the late summary in memory, its file still holds the first one.
    const onDisk = readFileSync(reconciliationFile());
    const backup = existsSync(`${reconciliationFile()}.bak`)
      ? readFileSync(`${reconciliationFile()}.bak`)
      : undefined;
    assert.equal(
      savedDays().find((d) => d.from === DAY1)?.billed,
      '115',
      'the late summary is not on disk yet',
    );
    await helper.unload();
    // What the stop wrote is undone: the file is as the crash left it.
    rmSync(`${reconciliationFile()}.bak`, { force: true });
    writeFileSync(reconciliationFile(), onDisk);
    if (backup) writeFileSync(`${reconciliationFile()}.bak`, backup);

    await load();
    events = collect(helper.getNode('events'));
    const reports = collect(helper.getNode('reports'));
    await sleep(500);
    // Sent again once the flows started, as it was (same receipt), and only the late one (the first is obsolete).
    assert.deepEqual(
      summaries(events).map((s) => [s.date, s.billed, s.consumptions, s.receipt, s.replay]),
      [['2026-06-01', late.billed, 94, late.receipt, true]],
    );
    // On to 00:45: the ledger reconciles 1 June at 00:30.
    while (clock.now() < DAY1 + DAY + 45 * 60_000) await read();
    await sleep(500);
    const report = reports
      .map((m) => m.payload as ReconciliationReport)
      .find((r) => r.period?.label === '2026-06-01');
    assert.ok(report, 'the daily reconciliation of 1 June');
    assert.deepEqual(
      report.findings.filter((f) => f.kind === 'billed-differs' || !f.explained),
      [],
    );
    const meter = report.meters.find((m) => m.meterId === 'E-1')!;
    assert.equal(meter.billedByMeter, late.billed);
    assert.equal(meter.billedByLedger, late.billed);
    assert.equal(meter.charges, 94);
    // One summary of that day in the ledger, the late one.
    const days = savedDays().filter((d) => d.meterId === 'E-1' && d.from === DAY1);
    assert.deepEqual(
      days.map((d) => [d.billed, d.receipt]),
      [[late.billed, late.receipt]],
    );
    // Nothing more goes out for it: the ledger confirmed it.
    assert.equal(summaries(events).filter((s) => s.date === '2026-06-01').length, 1);
  });

  it('with no ledger in the runtime sends each summary once, as before, and keeps none waiting', async function () {
    const alone = flow().filter((n) => n.type === 'prepay-meter' || n.id === 'events');
    alone[0]!.wires = [[], [], ['events']];
    await helper.load([meterNode], alone);
    let events = collect(helper.getNode('events'));
    while (clock.now() < DAY1 + DAY + QUARTER) await read();
    await sleep(300);
    assert.deepEqual(
      summaries(events).map((s) => s.date),
      ['2026-05-31', '2026-06-01'],
    );
    await helper.unload();
    await helper.load([meterNode], alone);
    events = collect(helper.getNode('events'));
    await sleep(500);
    assert.deepEqual(summaries(events), [], 'nothing sent again');
    await helper.unload();
    const state = JSON.parse(readFileSync(join(userDir, 'prepay', 'meter-meter.json'), 'utf8')) as {
      meters: Record<string, { days?: Record<string, { receipt?: string }> }>;
    };
    const waiting = Object.values(state.meters['E-1']?.days ?? {}).filter((d) => d.receipt !== undefined);
    assert.deepEqual(waiting, [], 'no summary waits for a receipt');
  });

  it('does not send a summary again that the ledger confirmed before a stop', async function () {
    await silentOverMidnight();
    await helper.unload(); // a clean stop: the ledger's file has the summary
    await load();
    const events = collect(helper.getNode('events'));
    await sleep(500);
    assert.deepEqual(summaries(events), []);
  });
});
