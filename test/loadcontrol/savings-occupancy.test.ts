/**
 * Occupancy schedules and where a consumption's energy goes (nodes/core/loadcontrol/occupancy.ts, savings.ts):
 * the text form and its errors, schedules across both DST changes of Europe/London (2026: clocks forward on
 * 29 March at 01:00 UTC, back on 25 October at 01:00 UTC), a consumption straddling the schedule's end split
 * exactly, holidays, and hours past midnight. Every expected figure is worked out by hand in the test.
 */
import assert from 'node:assert/strict';
import {
  dayTypeOf,
  isOccupied,
  localDay,
  localDayNumber,
  occupiedIntervals,
  parseOccupancy,
  ScheduleError,
} from '../../dist/nodes/core/loadcontrol/occupancy';
import {
  apportion,
  consumptionInput,
  energyUnits,
  kwh,
  splitConsumption,
} from '../../dist/nodes/core/loadcontrol/savings';
import { TimeZone } from '../../dist/nodes/core/tariff/zone';

const at = (text: string): number => Date.parse(text);
const HOUR = 3_600_000;
const london = TimeZone.get('Europe/London');
const utc = TimeZone.get('UTC');
const iso = (pairs: Array<[number, number]>): string[][] =>
  pairs.map(([s, e]) => [new Date(s).toISOString(), new Date(e).toISOString()]);

describe('savings: occupancy schedules', () => {
  it('reads the text form: days, ranges, holidays, past midnight, holiday hours', () => {
    const s = parseOccupancy(
      'Mon-Fri 08:00-18:00; Sat 09:00-13:00, 14:00-17:00\nHol 10:00-14:00; holidays 2026-12-25, 2026-12-26',
    );
    assert.deepEqual(s.days[1], [{ start: 480, end: 1080 }]);
    assert.deepEqual(s.days[5], [{ start: 480, end: 1080 }]);
    assert.deepEqual(s.days[6], [
      { start: 540, end: 780 },
      { start: 840, end: 1020 },
    ]);
    assert.deepEqual(s.days[0], []);
    assert.deepEqual(s.days[7], [{ start: 600, end: 840 }]);
    assert.deepEqual([...s.holidays], ['2026-12-25', '2026-12-26']);
    assert.deepEqual(parseOccupancy('thu 22:00-06:00').days[4], [{ start: 1320, end: 1800 }]);
    assert.deepEqual(
      parseOccupancy('Fri-Mon 00:00-24:00').days.map((d) => d.length),
      [1, 1, 0, 0, 0, 1, 1, 0],
    );
    assert.deepEqual(parseOccupancy('daily 07:00-09:00, 08:00-10:00').days[3], [{ start: 420, end: 600 }]);
    assert.deepEqual(parseOccupancy('closed').days.flat(), []);
  });

  it('refuses a wrong schedule, naming the entry and what is wrong', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /empty: write "closed"/],
      ['Mon-Fri 08:00-18:00; Mon-Fry 08:00-18:00', /entry 2 \("Mon-Fry 08:00-18:00"\): "fry" is not a day/],
      ['Mo 08:00-18:00', /"mo" is not a day/],
      ['Mon 18:00-18:00', /is empty \(for a whole day write 00:00-24:00\)/],
      ['Mon 08:00-25:00', /outside 00:00-24:00/],
      ['Mon 08:60-09:00', /outside 00:00-24:00/],
      ['Mon 8-18', /not a time range/],
      ['Mon', /give the hours/],
      ['holidays 2026-02-30', /"2026-02-30" is not a date/],
      ['Hol-Fri 08:00-09:00', /Hol cannot be part of a range/],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => parseOccupancy(text),
        (e: Error) => e instanceof ScheduleError && message.test(e.message),
        text,
      );
    }
  });

  it('tells weekdays, weekends and holidays apart', () => {
    const s = parseOccupancy('Mon-Fri 08:00-18:00; holidays 2026-12-25');
    assert.equal(dayTypeOf(s, '2026-12-24'), 'weekday');
    assert.equal(dayTypeOf(s, '2026-12-25'), 'holiday');
    assert.equal(dayTypeOf(s, '2026-12-26'), 'weekend');
    assert.equal(dayTypeOf(s, '2026-12-27'), 'weekend');
  });

  it('counts real hours on the 25-hour day when the clocks go back', () => {
    // Sunday 25 October 2026: 00:00 BST is 24 Oct 23:00 UTC, 03:00 GMT is 03:00 UTC: four real hours.
    const s = parseOccupancy('Sun 00:00-03:00');
    assert.deepEqual(iso(occupiedIntervals(s, london, at('2026-10-24T20:00Z'), at('2026-10-25T12:00Z'))), [
      ['2026-10-24T23:00:00.000Z', '2026-10-25T03:00:00.000Z'],
    ]);
    const day = localDay(london, localDayNumber(london, at('2026-10-25T12:00Z')));
    assert.equal(day.date, '2026-10-25');
    assert.equal(day.end - day.start, 25 * HOUR);
    // 6 kWh over six hours (22:00-04:00 UTC): Saturday 23:00-24:00 BST out, four hours in, 03:00-04:00 GMT out.
    const shares = splitConsumption(
      s,
      london,
      at('2026-10-24T22:00Z'),
      at('2026-10-25T04:00Z'),
      energyUnits('6', 'kWh') as bigint,
    );
    assert.deepEqual(shares, [
      { date: '2026-10-24', inside: 0n, outside: 1_000_000n, coveredMs: HOUR },
      { date: '2026-10-25', inside: 4_000_000n, outside: 1_000_000n, coveredMs: 5 * HOUR },
    ]);
  });

  it('counts real hours on the 23-hour day when the clocks go forward', () => {
    // Sunday 29 March 2026: 00:00 GMT is 00:00 UTC, 03:00 BST is 02:00 UTC: two real hours.
    const s = parseOccupancy('Sun 00:00-03:00');
    assert.deepEqual(iso(occupiedIntervals(s, london, at('2026-03-28T20:00Z'), at('2026-03-29T12:00Z'))), [
      ['2026-03-29T00:00:00.000Z', '2026-03-29T02:00:00.000Z'],
    ]);
    const day = localDay(london, localDayNumber(london, at('2026-03-29T12:00Z')));
    assert.equal(day.end - day.start, 23 * HOUR);
    // A whole local day of 23 kWh at a steady rate: 2 kWh inside, 21 outside.
    const shares = splitConsumption(s, london, day.start, day.end, energyUnits(23, 'kWh') as bigint);
    assert.deepEqual(shares, [
      { date: '2026-03-29', inside: 2_000_000n, outside: 21_000_000n, coveredMs: 23 * HOUR },
    ]);
    // Weekday hours keep their wall-clock times in summer time: 08:00 BST is 07:00 UTC.
    const weekday = parseOccupancy('Mon-Fri 08:00-18:00');
    assert.equal(isOccupied(weekday, london, at('2026-03-30T07:00Z')), true);
    assert.equal(isOccupied(weekday, london, at('2026-03-30T06:59Z')), false);
    assert.equal(isOccupied(weekday, london, at('2026-03-27T08:00Z')), true);
    assert.equal(isOccupied(weekday, london, at('2026-03-27T07:59Z')), false);
  });

  it('splits a consumption straddling the end of the hours in proportion, exactly', () => {
    const s = parseOccupancy('Mon-Fri 08:00-18:00');
    // Monday 5 January 2026, 17:50-18:05 UTC: ten minutes in, five out. 1 kWh is 1,000,000 millionths:
    // 666,666.67 and 333,333.33; the one millionth left over goes to the larger remainder (inside).
    const shares = splitConsumption(s, utc, at('2026-01-05T17:50Z'), at('2026-01-05T18:05Z'), 1_000_000n);
    assert.deepEqual(shares, [
      { date: '2026-01-05', inside: 666_667n, outside: 333_333n, coveredMs: 15 * 60_000 },
    ]);
    // One millionth cannot be split: it goes whole to the larger share.
    const tiny = splitConsumption(s, utc, at('2026-01-05T17:50Z'), at('2026-01-05T18:05Z'), 1n);
    assert.deepEqual(
      tiny.map((d) => [d.inside, d.outside]),
      [[1n, 0n]],
    );
    // Across midnight and both ends of the hours, the parts still add up to the whole.
    const long = splitConsumption(s, utc, at('2026-01-05T07:00Z'), at('2026-01-07T09:30Z'), 123_456_789n);
    assert.equal(
      long.reduce((a, d) => a + d.inside + d.outside, 0n),
      123_456_789n,
    );
    assert.deepEqual(
      long.map((d) => d.date),
      ['2026-01-05', '2026-01-06', '2026-01-07'],
    );
    assert.deepEqual(apportion(10n, [1n, 1n, 1n]), [4n, 3n, 3n]);
    assert.deepEqual(apportion(-10n, [1n, 1n, 1n]), [-4n, -3n, -3n]);
  });

  it('puts a holiday outside the hours, or in its own hours', () => {
    // Friday 25 December 2026, a holiday: a whole day of 24 kWh.
    const day: [number, number] = [at('2026-12-25T00:00Z'), at('2026-12-26T00:00Z')];
    const closed = parseOccupancy('Mon-Fri 08:00-18:00; holidays 2026-12-25');
    assert.deepEqual(splitConsumption(closed, utc, ...day, 24_000_000n), [
      { date: '2026-12-25', inside: 0n, outside: 24_000_000n, coveredMs: 24 * HOUR },
    ]);
    const open = parseOccupancy('Mon-Fri 08:00-18:00; Hol 10:00-14:00; holidays 2026-12-25');
    assert.deepEqual(splitConsumption(open, utc, ...day, 24_000_000n), [
      { date: '2026-12-25', inside: 4_000_000n, outside: 20_000_000n, coveredMs: 24 * HOUR },
    ]);
  });

  it('keeps hours past midnight with the day they start on', () => {
    // Night shifts Mon-Fri 22:00-06:00; Friday 25 December is a holiday, so Friday night's shift is not worked,
    // while Thursday night's runs into the holiday morning.
    const s = parseOccupancy('Mon-Fri 22:00-06:00; holidays 2026-12-25');
    assert.deepEqual(iso(occupiedIntervals(s, utc, at('2026-12-24T00:00Z'), at('2026-12-27T00:00Z'))), [
      ['2026-12-24T00:00:00.000Z', '2026-12-24T06:00:00.000Z'],
      ['2026-12-24T22:00:00.000Z', '2026-12-25T06:00:00.000Z'],
    ]);
  });

  it('reads a consumption message: energy units, rounding past the millionth, its id', () => {
    assert.equal(energyUnits(1500, 'Wh'), 1_500_000n);
    assert.equal(energyUnits('0.002', 'MWh'), 2_000_000n);
    assert.equal(energyUnits('0.1234565', 'kWh'), 123_456n);
    assert.equal(energyUnits('0.1234575', 'kWh'), 123_458n);
    assert.equal(energyUnits(2, 'm³'), null);
    assert.equal(kwh(1_234_500n), 1.234);
    assert.equal(kwh(1_235_500n), 1.236);
    const ok = consumptionInput({
      meterId: 'm1',
      from: 0,
      to: 900_000,
      delta: 0.25,
      unit: 'kWh',
      readingId: 'm1:900000',
      estimated: true,
    });
    assert.deepEqual(ok, {
      ok: true,
      id: 'm1:900000',
      from: 0,
      to: 900_000,
      energy: 250_000n,
      estimated: true,
    });
    assert.deepEqual(consumptionInput({ meterId: 'w1', from: 0, to: 1, delta: 1, unit: 'm³' }), {
      ok: false,
      reason: 'unit "m³" is not energy (Wh, kWh, MWh)',
    });
    assert.equal(consumptionInput({ meterId: 'm1', from: 2, to: 1, delta: 1, unit: 'kWh' }).ok, false);
    assert.deepEqual(consumptionInput({ meterId: 'm1', from: 1, to: 2, delta: -1, unit: 'kWh' }), {
      ok: false,
      reason: 'negative delta -1',
    });
  });
});
