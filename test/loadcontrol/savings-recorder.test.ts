/**
 * The savings recorder (nodes/loadcontrol/savings-recorder.ts) on a real directory: tallies that survive a
 * restart, a resent consumption counted once (also across a month boundary, and after a crash between the two
 * months' writes), outdoor temperature kept per five-minute slot, a baseline month and a reporting month whose
 * month figures are exactly the sums of their days, and CSV safe to open in a spreadsheet.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SavingsRecorder, type SavingsRecorderOptions } from '../../dist/nodes/loadcontrol/savings-recorder';

const HOUR = 3_600_000;
const at = (text: string): number => Date.parse(text);

/** A consumption as the meter reader sends it (README "Message contracts"). */
function consumption(meterId: string, from: number, to: number, delta: number, extra: object = {}): object {
  return {
    meterId,
    utility: 'electricity',
    unit: 'kWh',
    value: 0,
    ts: to,
    quality: 'good',
    delta,
    from,
    to,
    readingId: `${meterId}:${to}`,
    ...extra,
  };
}

/** mulberry32 and Box-Muller: seeded noise. */
function gaussian(seed: number): () => number {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

const wh = (kwh: number | null): number => Math.round((kwh as number) * 1000);

describe('savings: the recorder', () => {
  let directory: string;
  const recorders: SavingsRecorder[] = [];
  const make = (extra: Partial<SavingsRecorderOptions> = {}): SavingsRecorder => {
    const recorder = new SavingsRecorder({
      directory,
      timeZone: 'Europe/London',
      units: [{ unit: 'shop-1', meters: ['m1'], schedule: 'Mon-Fri 08:00-18:00; holidays 2026-01-01' }],
      ...extra,
    });
    recorders.push(recorder);
    return recorder;
  };

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'prepay-savings-'));
  });
  afterEach(() => {
    for (const r of recorders.splice(0)) r.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it('keeps day tallies across a restart and counts a resent consumption once', () => {
    const first = make();
    // Monday 5 January 2026 (London is on UTC in winter): 24 hourly consumptions of 1 kWh.
    const day = at('2026-01-05T00:00Z');
    for (let h = 0; h < 24; h++) {
      const outcome = first.recordConsumption(consumption('m1', day + h * HOUR, day + (h + 1) * HOUR, 1));
      assert.deepEqual(outcome, { counted: true, unit: 'shop-1', dates: ['2026-01-05'] });
    }
    const before = first.dayReport('shop-1', '2026-01-05');
    assert.deepEqual(
      [
        before.days[0]?.energyKWh,
        before.days[0]?.insideKWh,
        before.days[0]?.outsideKWh,
        before.days[0]?.complete,
      ],
      [24, 10, 14, true],
    );
    assert.match(before.baseline.note, /no baseline period configured/);
    assert.equal(before.days[0]?.savingsKWh, null);
    // The same consumption again: a duplicate, nothing counted.
    const again = first.recordConsumption(consumption('m1', day + 10 * HOUR, day + 11 * HOUR, 1));
    assert.equal(again.counted, false);
    assert.equal((again as { duplicate?: boolean }).duplicate, true);
    // One that overlaps counted time in part contradicts it: refused.
    const overlapping = first.recordConsumption(consumption('m1', day + 10.5 * HOUR, day + 25 * HOUR, 3));
    assert.equal((overlapping as { conflict?: boolean }).conflict, true);
    first.flush();
    assert.ok(existsSync(join(directory, 'units', 'u-shop-1', '2026-01.json')));
    first.close();

    // Restarted: the same tallies, and the replayed consumptions count nothing.
    const second = make();
    for (let h = 20; h < 24; h++) {
      const outcome = second.recordConsumption(consumption('m1', day + h * HOUR, day + (h + 1) * HOUR, 1));
      assert.equal((outcome as { duplicate?: boolean }).duplicate, true);
    }
    assert.deepEqual(second.dayReport('shop-1', '2026-01-05').days, before.days);
    // A new one counts, with its estimated part.
    second.recordConsumption(consumption('m1', day + 24 * HOUR, day + 25 * HOUR, 0.5, { estimated: true }));
    const next = second.dayReport('shop-1', '2026-01-06').days[0];
    assert.deepEqual([next?.energyKWh, next?.estimatedKWh, next?.complete], [0.5, 0.5, false]);
    assert.deepEqual(second.recordConsumption(consumption('other', day, day + HOUR, 1)), {
      counted: false,
      reason: 'meter "other" is in no unit',
    });
  });

  it('counts a consumption across a month boundary in both months, once, also after a crash between them', () => {
    const first = make();
    // Saturday 31 January 23:00 to Sunday 1 February 01:00: one hour in each month, both outside the hours.
    const msg = consumption('m1', at('2026-01-31T23:00Z'), at('2026-02-01T01:00Z'), 2);
    assert.deepEqual(first.recordConsumption(msg), {
      counted: true,
      unit: 'shop-1',
      dates: ['2026-01-31', '2026-02-01'],
    });
    first.flush();
    first.close();
    // A crash after January's write but before February's: February's document is missing.
    rmSync(join(directory, 'units', 'u-shop-1', '2026-02.json'));
    const second = make();
    // Sent again (the reader replays what it cannot confirm): February counts it, January does not again.
    assert.deepEqual(second.recordConsumption(msg), { counted: true, unit: 'shop-1', dates: ['2026-02-01'] });
    assert.equal((second.recordConsumption(msg) as { duplicate?: boolean }).duplicate, true);
    const report = second.report('shop-1', '2026-01-31', '2026-02-01');
    assert.deepEqual(
      report.days.map((d) => [d.date, d.outsideKWh, d.insideKWh]),
      [
        ['2026-01-31', 1, 0],
        ['2026-02-01', 1, 0],
      ],
    );
  });

  it('keeps outdoor temperature per slot: a resent reading once, °F converted, hours weighted equally', () => {
    const recorder = make({ minTemperatureHours: 2 });
    const noon = at('2026-01-05T12:00Z');
    // Hour 0: one reading at 0 °C (32 °F); hour 12: twelve readings at 24 °C, one of them sent twice.
    assert.deepEqual(recorder.recordTemperature({ ts: '2026-01-05T00:00:00Z', value: 32, unit: '°F' }), {
      ok: true,
    });
    for (let i = 0; i < 12; i++) recorder.recordTemperature({ ts: noon + i * 300_000, value: 24 });
    recorder.recordTemperature({ ts: noon, value: 24 });
    // The mean of hourly means is (0 + 24) / 2 = 12 °C; a plain mean of the readings would be 22.2.
    assert.equal(recorder.dayReport('shop-1', '2026-01-05').days[0]?.temperatureC, 12);
    assert.equal(recorder.recordTemperature({ ts: noon, value: 300, unit: 'K' }).ok, false);
    assert.equal(recorder.recordTemperature({ ts: noon, value: -100 }).ok, false);
    assert.equal(recorder.recordTemperature({ value: 3 }).ok, false);
  });

  it('measures a month of savings against a degree-day baseline; months are the sums of their days', () => {
    const recorder = make({ baseline: { from: '2026-01-01', to: '2026-01-31' } });
    const noise = gaussian(17);
    const truth = new Map<string, number>();
    for (let d = 0; d < 59; d++) {
      const start = at('2026-01-01T00:00Z') + d * 24 * HOUR;
      const date = new Date(start).toISOString().slice(0, 10);
      const weekday = new Date(start).getUTCDay();
      const working = weekday !== 0 && weekday !== 6 && date !== '2026-01-01';
      const temperature = 6 + 5 * Math.sin(d / 4) + noise();
      for (let h = 0; h < 24; h++)
        recorder.recordTemperature({ ts: start + h * HOUR + 1_800_000, value: temperature });
      // Daily energy: 100 kWh a working day, 40 otherwise, 4 kWh per heating degree-day; 15 % less from February.
      const energy =
        ((working ? 100 : 40) + 4 * Math.max(0, 15.5 - temperature) + 2 * noise()) * (d >= 31 ? 0.85 : 1);
      const hourly = Math.round((energy / 24) * 1000) / 1000;
      truth.set(date, hourly * 24);
      for (let h = 0; h < 24; h++) {
        recorder.recordConsumption(consumption('m1', start + h * HOUR, start + (h + 1) * HOUR, hourly));
      }
    }
    const report = recorder.monthReport('shop-1', '2026-02');
    const model = report.baseline.model;
    assert.equal(model?.kind, 'degree-days', report.baseline.note);
    assert.equal(model?.passes, true);
    assert.ok((model?.metrics.cvRmse as number) < 5);
    assert.equal(report.days.length, 28);
    for (const day of report.days) {
      assert.equal(day.complete, true);
      assert.equal(wh(day.energyKWh), Math.round((truth.get(day.date) as number) * 1000));
      assert.equal(wh(day.insideKWh) + wh(day.outsideKWh), wh(day.energyKWh));
      assert.equal(wh(day.savingsKWh), wh(day.baselineKWh) - wh(day.energyKWh));
    }
    const [month] = report.months;
    const sum = (pick: (d: (typeof report.days)[number]) => number | null): number =>
      report.days.reduce((a, d) => a + wh(pick(d)), 0);
    assert.equal(month?.savingsDays, 28);
    assert.equal(
      wh(month?.energyKWh ?? null),
      sum((d) => d.energyKWh),
    );
    assert.equal(
      wh(month?.insideKWh ?? null),
      sum((d) => d.insideKWh),
    );
    assert.equal(
      wh(month?.outsideKWh ?? null),
      sum((d) => d.outsideKWh),
    );
    assert.equal(
      wh(month?.baselineKWh ?? null),
      sum((d) => d.baselineKWh),
    );
    assert.equal(
      wh(month?.savingsKWh ?? null),
      sum((d) => d.savingsKWh),
    );
    // The 15 % cut is measured, within its uncertainty.
    const percent = month?.savingsPercent as number;
    assert.ok(percent > 12 && percent < 18, `${percent} %`);
    const uncertainty = month?.uncertaintyKWh as number;
    assert.ok(uncertainty > 0 && uncertainty < (month?.savingsKWh as number) / 4, `±${uncertainty}`);
    // The JSON goes out as it is; the CSV has a row per day and one for the month.
    JSON.parse(JSON.stringify(report));
    const lines = recorder.csv(report).trim().split('\n');
    assert.equal(lines.length, 1 + 28 + 1);
    assert.match(lines[29] as string, /^shop-1,month,2026-02,,28,,\d+\.\d{3},/);
  });

  it('writes CSV a spreadsheet shows, not runs, with negative savings as numbers', () => {
    const unit = '=HYPERLINK("http://x")';
    const recorder = make({
      units: [
        {
          unit,
          meters: ['m1'],
          schedule: 'daily 00:00-24:00',
          baseline: { from: '2026-01-01', to: '2026-01-30' },
        },
      ],
    });
    for (let d = 0; d < 31; d++) {
      const start = at('2026-01-01T00:00Z') + d * 24 * HOUR;
      // 24 kWh every baseline day (a day-type baseline with no error), 30 kWh on 31 January.
      recorder.recordConsumption(consumption('m1', start, start + 24 * HOUR, d === 30 ? 30 : 24));
    }
    const report = recorder.dayReport(unit, '2026-01-31');
    assert.equal(report.baseline.model?.kind, 'day-type');
    assert.deepEqual([report.days[0]?.baselineKWh, report.days[0]?.savingsKWh], [24, -6]);
    const row = recorder.csv(report).split('\n')[1] as string;
    assert.equal(row.split(',2026-01-31,')[0], `"'=HYPERLINK(""http://x"")",day`);
    assert.match(row, /,30\.000,30\.000,0\.000,0\.000,24\.000,-6\.000,0\.000,,/);
  });

  it('refuses a wrong configuration at once', () => {
    assert.throws(() => make({ timeZone: 'Mars/Olympus' }), /unknown time zone/);
    assert.throws(
      () => make({ units: [{ unit: 'a', meters: ['m1'], schedule: 'Mon-Fry 08:00-18:00' }] }),
      /unit "a": entry 1 .* "fry" is not a day/,
    );
    assert.throws(
      () =>
        make({
          units: [
            { unit: 'a', meters: ['m1'], schedule: 'closed' },
            { unit: 'b', meters: ['m1'], schedule: 'closed' },
          ],
        }),
      /meter "m1" is in units "a" and "b"/,
    );
    assert.throws(() => make({ baseline: { from: '2026-02-01', to: '2026-01-01' } }), /baseline period/);
  });
});
