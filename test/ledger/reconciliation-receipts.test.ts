/**
 * The ledger's keeping of meter readers' day summaries: one per meter and day (a later one replaces it), a
 * receipt confirmed only once the summary is in the reconciliation file on disk, the same summary again a
 * duplicate, and what was never written gone after a crash (so its reader, never told, sends it again).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MeterDay } from '../../dist/nodes/core/ledger/reconcile';
import type { Ledger } from '../../dist/nodes/core/ledger/ledger';
import { TimeZone } from '../../dist/nodes/core/tariff/zone';
import { LedgerReconciliation } from '../../dist/nodes/ledger/ledger-reconciliation';
import type { IntakeJournal } from '../../dist/nodes/ledger/intake-journal';
import { sleep, tempUserDir } from '../support/node-red-helper';

const ZONE = TimeZone.get('Asia/Kuala_Lumpur');
const DAY1 = Date.parse('2026-06-01T00:00:00+08:00');
const DAY = 86_400_000;

/** A ledger and journal with nothing in them: enough for a reconciliation of summaries alone. */
const ledger = {
  listAccounts: () => Promise.resolve([]),
  chargesEffective: () => Promise.resolve([]),
  entryTotals: () => Promise.resolve([]),
} as unknown as Ledger;
const journal = {
  dayCounts: () => ({ accepted: 0, committed: 0, duplicates: 0, refused: 0, pending: 0 }),
} as unknown as IntakeJournal;

function day(meterId: string, date: number, billed: string, consumptions: number): MeterDay {
  return {
    meterId,
    unit: 'kWh',
    from: date,
    to: date + DAY,
    billed,
    consumptions,
    held: [],
    rebaselines: [],
    replacements: [],
    rollovers: 0,
  };
}

describe('ledger reconciliation: day summaries and their receipts', function () {
  let path: string;
  const open = (): LedgerReconciliation =>
    new LedgerReconciliation(ledger, journal, ZONE, path, (text) => assert.fail(text));
  const onDisk = (): Array<MeterDay & { receipt?: string }> =>
    (JSON.parse(readFileSync(path, 'utf8')) as { meterDays: [] }).meterDays;

  beforeEach(function () {
    path = join(tempUserDir(), 'prepay', 'ledger-x-reconciliation.json');
  });

  it('confirms a summary only once it is on disk, and writes it when its reader asks', function () {
    const reconciliation = open();
    assert.equal(reconciliation.addMeterDay(day('E-1', DAY1, '115', 92), 'r-115'), true);
    // In memory only: not confirmed until it is written, and asking for it writes it now.
    assert.throws(() => readFileSync(path));
    assert.deepEqual([...reconciliation.holds(['r-115', 'r-other'])], ['r-115']);
    assert.deepEqual(
      onDisk().map((d) => [d.meterId, d.billed, d.receipt]),
      [['E-1', '115', 'r-115']],
    );
  });

  it('writes a received summary within a quarter second without being asked', async function () {
    const reconciliation = open();
    reconciliation.addMeterDay(day('E-1', DAY1, '115', 92), 'r-115');
    await sleep(400);
    assert.deepEqual(
      onDisk().map((d) => d.receipt),
      ['r-115'],
    );
    assert.deepEqual([...reconciliation.holds(['r-115'])], ['r-115']);
  });

  it('loses a summary never written in a crash, and holds it once it comes again', function () {
    const first = open();
    first.addMeterDay(day('E-1', DAY1, '115', 92), 'r-115');
    first.holds(['r-115']); // on disk
    first.addMeterDay(day('E-1', DAY1, '120', 94), 'r-120'); // the late summary, not written: the crash
    assert.deepEqual([...first.holds(['r-115'])], [], 'the first summary is replaced');
    const after = open(); // no flush: as after a SIGKILL
    assert.deepEqual([...after.holds(['r-115', 'r-120'])], ['r-115']);
    assert.equal(after.addMeterDay(day('E-1', DAY1, '120', 94), 'r-120'), true);
    assert.deepEqual([...after.holds(['r-115', 'r-120'])], ['r-120']);
    // The same summary again is a duplicate: nothing changes.
    assert.equal(after.addMeterDay(day('E-1', DAY1, '120', 94), 'r-120'), false);
    assert.deepEqual(
      onDisk().map((d) => [d.billed, d.receipt]),
      [['120', 'r-120']],
    );
  });

  it('keeps one summary per meter and day, reconciles with the latest, and forgets them after two months', async function () {
    const reconciliation = open();
    // Two months of 300 meters: each summary is one map entry, not a pass over all the others.
    const started = performance.now();
    for (let d = 0; d < 62; d++)
      for (let m = 0; m < 300; m++) reconciliation.addMeterDay(day(`M-${m}`, DAY1 + d * DAY, '1', 1));
    const ms = performance.now() - started;
    assert.ok(ms < 2000, `18,600 summaries took ${Math.round(ms)} ms`);
    reconciliation.addMeterDay(day('M-7', DAY1 + 61 * DAY, '2', 2), 'late');
    const date = new Date(DAY1 + 61 * DAY + 8 * 3_600_000).toISOString().slice(0, 10);
    const report = await reconciliation.runDay(date, DAY1 + 62 * DAY);
    assert.equal(report.meters.length, 300);
    assert.equal(report.meters.find((m) => m.meterId === 'M-7')?.billedByMeter, '2');
    // A summary two months later: the first days are forgotten.
    reconciliation.addMeterDay(day('M-0', DAY1 + 63 * DAY, '1', 1));
    reconciliation.flush();
    const kept = onDisk();
    assert.ok(!kept.some((d) => d.from === DAY1), 'the first day is forgotten');
    assert.ok(kept.some((d) => d.from === DAY1 + 2 * DAY));
    console.log(`      ${Math.round(ms)} ms for 18,600 summaries (62 days x 300 meters)`);
  });
});
