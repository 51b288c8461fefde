/**
 * IANA time zones from the platform's Intl data (nodes/core/tariff/zone.ts): offsets, transitions
 * (whole-hour and Lord Howe's half-hour DST), zones without DST, wall time to instant in the
 * spring-forward gap and the fall-back overlap, and local calendar parts. Expected instants are
 * written out from the published 2024 rules of each zone.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isoDate, TimeZone, wallPartsOf } from '../../dist/nodes/core/tariff/zone';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const iso = (t: number): string => new Date(t).toISOString();
const at = (text: string): number => Date.parse(text);

/** Transitions of `zone` from `from` on, as ISO instants with the new offset in minutes. */
function transitions(zone: TimeZone, from: number, count: number): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  let t = from;
  for (let i = 0; i < count; i++) {
    t = zone.nextTransitionAfter(t);
    if (!Number.isFinite(t)) break;
    out.push([iso(t), zone.offsetAt(t) / MINUTE]);
  }
  return out;
}

/** Offset of `zone` at `t` (minutes) computed independently through Intl's longOffset name. */
function intlOffsetMinutes(zone: string, t: number): number {
  const name = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' })
    .formatToParts(new Date(t))
    .find((p) => p.type === 'timeZoneName')?.value as string;
  if (name === 'GMT') return 0;
  const match = /^GMT([+-])(\d{2}):(\d{2})$/.exec(name);
  assert.ok(match, name);
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return match[1] === '-' ? -minutes : minutes;
}

describe('time zones', function () {
  const london = TimeZone.get('Europe/London');
  const newYork = TimeZone.get('America/New_York');
  const lordHowe = TimeZone.get('Australia/Lord_Howe');
  const kolkata = TimeZone.get('Asia/Kolkata');
  const start2024 = at('2024-01-01T00:00:00Z');

  it('is one instance per zone name, and knows which names are valid', function () {
    assert.equal(TimeZone.get('Europe/London'), london);
    assert.equal(TimeZone.isValid('Europe/London'), true);
    assert.equal(TimeZone.isValid('UTC'), true);
    assert.equal(TimeZone.isValid('Mars/Olympus'), false);
    assert.equal(TimeZone.isValid(''), false);
  });

  it('Europe/London: GMT and BST, changing at 01:00 UTC on the last Sundays of March and October', function () {
    assert.equal(london.offsetAt(at('2024-01-15T12:00:00Z')), 0);
    assert.equal(london.offsetAt(at('2024-07-15T12:00:00Z')), HOUR);
    assert.deepEqual(transitions(london, start2024, 4), [
      ['2024-03-31T01:00:00.000Z', 60],
      ['2024-10-27T01:00:00.000Z', 0],
      ['2025-03-30T01:00:00.000Z', 60],
      ['2025-10-26T01:00:00.000Z', 0],
    ]);
    assert.equal(london.offsetAt(at('2024-03-31T01:00:00Z') - 1), 0);
    assert.equal(london.offsetAt(at('2024-03-31T01:00:00Z')), HOUR);
    assert.equal(london.offsetAt(at('2024-10-27T01:00:00Z') - 1), HOUR);
    assert.equal(london.offsetAt(at('2024-10-27T01:00:00Z')), 0);
  });

  it('America/New_York: EST and EDT, changing at 02:00 local on the 2nd Sunday of March and 1st of November', function () {
    assert.equal(newYork.offsetAt(at('2024-01-15T12:00:00Z')), -5 * HOUR);
    assert.equal(newYork.offsetAt(at('2024-07-15T12:00:00Z')), -4 * HOUR);
    assert.deepEqual(transitions(newYork, start2024, 2), [
      ['2024-03-10T07:00:00.000Z', -240],
      ['2024-11-03T06:00:00.000Z', -300],
    ]);
  });

  it('Australia/Lord_Howe: a half-hour DST (+10:30 and +11:00)', function () {
    assert.equal(lordHowe.offsetAt(at('2024-01-15T00:00:00Z')), 11 * HOUR);
    assert.equal(lordHowe.offsetAt(at('2024-07-15T00:00:00Z')), 10.5 * HOUR);
    // DST ends 02:00 LHDT on 7 April 2024, starts 02:00 LHST on 6 October 2024.
    assert.deepEqual(transitions(lordHowe, start2024, 2), [
      ['2024-04-06T15:00:00.000Z', 630],
      ['2024-10-05T15:30:00.000Z', 660],
    ]);
  });

  it('Asia/Kolkata: +05:30 all year, no transitions', function () {
    for (const month of [1, 4, 7, 10]) {
      assert.equal(kolkata.offsetAt(Date.UTC(2024, month - 1, 15)), 5.5 * HOUR);
    }
    assert.equal(kolkata.nextTransitionAfter(start2024), Number.POSITIVE_INFINITY);
    const parts = kolkata.wallParts(at('2024-06-30T18:29:00Z'));
    assert.deepEqual(parts, { year: 2024, month: 6, day: 30, weekday: 0, minuteOfDay: 23 * 60 + 59 });
    assert.equal(kolkata.wallToInstant(2024, 7, 1), at('2024-06-30T18:30:00Z'));
  });

  it('wallToInstant: ordinary times, the spring-forward gap (the transition) and the overlap (first pass)', function () {
    assert.equal(london.wallToInstant(2024, 1, 15, 9 * 60), at('2024-01-15T09:00:00Z'));
    assert.equal(london.wallToInstant(2024, 7, 15, 9 * 60), at('2024-07-15T08:00:00Z'));
    assert.equal(london.wallToInstant(2024, 3, 31), at('2024-03-31T00:00:00Z')); // a 23-hour day
    assert.equal(london.wallToInstant(2024, 4, 1), at('2024-03-31T23:00:00Z'));
    // 01:00-02:00 does not exist on 31 March 2024 in London: the clocks jump at 01:00 UTC.
    for (const minute of [60, 61, 90, 119])
      assert.equal(iso(london.wallToInstant(2024, 3, 31, minute)), '2024-03-31T01:00:00.000Z');
    assert.equal(london.wallToInstant(2024, 3, 31, 120), at('2024-03-31T01:00:00Z'));
    assert.equal(london.wallToInstant(2024, 3, 31, 121), at('2024-03-31T01:01:00Z'));
    // 01:00-02:00 happens twice on 27 October 2024: the first pass (BST).
    assert.equal(iso(london.wallToInstant(2024, 10, 27, 90)), '2024-10-27T00:30:00.000Z');
    assert.equal(iso(london.wallToInstant(2024, 10, 27, 120)), '2024-10-27T02:00:00.000Z');

    assert.equal(iso(newYork.wallToInstant(2024, 3, 10, 150)), '2024-03-10T07:00:00.000Z'); // gap
    assert.equal(iso(newYork.wallToInstant(2024, 3, 10, 180)), '2024-03-10T07:00:00.000Z');
    assert.equal(iso(newYork.wallToInstant(2024, 11, 3, 90)), '2024-11-03T05:30:00.000Z'); // overlap
    assert.equal(iso(newYork.wallToInstant(2024, 11, 4)), '2024-11-04T05:00:00.000Z');

    // Lord Howe: 02:00-02:30 does not exist on 6 October; 01:30-02:00 happens twice on 7 April.
    assert.equal(iso(lordHowe.wallToInstant(2024, 10, 6, 135)), '2024-10-05T15:30:00.000Z');
    assert.equal(iso(lordHowe.wallToInstant(2024, 10, 6, 150)), '2024-10-05T15:30:00.000Z');
    assert.equal(iso(lordHowe.wallToInstant(2024, 4, 7, 105)), '2024-04-06T14:45:00.000Z');
    assert.equal(iso(lordHowe.wallToInstant(2024, 4, 7, 120)), '2024-04-06T15:30:00.000Z');
  });

  it('wallParts: local date, weekday and minute of day, across the change of offset', function () {
    assert.deepEqual(london.wallParts(at('2024-03-31T00:59:00Z')), {
      year: 2024,
      month: 3,
      day: 31,
      weekday: 0,
      minuteOfDay: 59,
    });
    assert.equal(london.wallParts(at('2024-03-31T01:00:00Z')).minuteOfDay, 120);
    assert.equal(london.wallParts(at('2024-10-27T00:30:00Z')).minuteOfDay, 90);
    assert.equal(london.wallParts(at('2024-10-27T01:30:00Z')).minuteOfDay, 90);
    assert.deepEqual(newYork.wallParts(at('2025-01-01T04:59:00Z')), {
      year: 2024,
      month: 12,
      day: 31,
      weekday: 2,
      minuteOfDay: 23 * 60 + 59,
    });
    assert.deepEqual(wallPartsOf(-1), { year: 1969, month: 12, day: 31, weekday: 3, minuteOfDay: 1439 });
    assert.equal(isoDate(987, 3, 4), '0987-03-04');
  });

  const ZONES = [
    'Europe/London',
    'America/New_York',
    'Australia/Lord_Howe',
    'Asia/Kolkata',
    'Pacific/Auckland',
    'America/Santiago',
    'Asia/Kathmandu',
  ];

  it('property: offsets agree with Intl at any instant of 2000-2035', function () {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.integer({ min: Date.UTC(2000, 0, 1) / MINUTE, max: Date.UTC(2035, 0, 1) / MINUTE }),
        (name, minute) => {
          const t = minute * MINUTE;
          assert.equal(
            TimeZone.get(name).offsetAt(t) / MINUTE,
            intlOffsetMinutes(name, t),
            `${name} ${iso(t)}`,
          );
        },
      ),
      { numRuns: 400 },
    );
  });

  it('property: wallToInstant inverts wallParts (the first pass in an overlap)', function () {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.integer({ min: Date.UTC(2020, 0, 1) / MINUTE, max: Date.UTC(2030, 0, 1) / MINUTE }),
        (name, minute) => {
          const zone = TimeZone.get(name);
          const t = minute * MINUTE;
          const p = zone.wallParts(t);
          const back = zone.wallToInstant(p.year, p.month, p.day, p.minuteOfDay);
          assert.deepEqual(zone.wallParts(back), p);
          assert.ok(back <= t && t - back <= 3 * HOUR, `${name} ${iso(t)} -> ${iso(back)}`);
          if (back !== t) assert.notEqual(zone.offsetAt(back), zone.offsetAt(t)); // only in an overlap
        },
      ),
      { numRuns: 400 },
    );
  });

  it('property: around every transition of 2024, the offset is constant up to it and changes at it', function () {
    for (const name of ZONES) {
      const zone = TimeZone.get(name);
      let t = start2024;
      for (;;) {
        const next = zone.nextTransitionAfter(t);
        if (next >= Date.UTC(2025, 0, 1)) break;
        assert.equal(zone.offsetAt(next - MINUTE), intlOffsetMinutes(name, next - MINUTE) * MINUTE);
        assert.equal(zone.offsetAt(next), intlOffsetMinutes(name, next) * MINUTE);
        assert.notEqual(zone.offsetAt(next - 1), zone.offsetAt(next), `${name} ${iso(next)}`);
        t = next;
      }
    }
  });
});
