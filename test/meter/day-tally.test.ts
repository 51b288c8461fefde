/**
 * The meter reader's day tallies: what each meter billed per local day (a consumption counts in the day it
 * ends in, its end included), the register from the day's first start to its last end, values held, operator
 * moves, rollovers; summaries once per day, sent again when a late consumption changes a day.
 */
import assert from 'node:assert/strict';
import { DeltaEngine, type MeterInfo } from '../../dist/nodes/core/meter/delta-engine';
import { DayTallies } from '../../dist/nodes/core/meter/day-tally';
import { TimeZone } from '../../dist/nodes/core/tariff/zone';

const ZONE = TimeZone.get('Asia/Kuala_Lumpur');
const MIDNIGHT = Date.parse('2026-06-02T00:00:00+08:00');
const MIN = 60_000;
const info: MeterInfo = {
  meterId: 'E-1',
  utility: 'electricity',
  unit: 'kWh',
  accountId: 'T1',
  maxRatePerHour: 100,
};

/** Noon of the first day of the tests below. */
const NOON = MIDNIGHT - 12 * 60 * MIN;

/**
 * A meter that bills 10 kWh up to noon of 1 June, then is silent for five days, each of them summarised at
 * its midnight (five minutes after it) with nothing billed; the clock is left at 6 June 00:05.
 */
function silentFiveDays() {
  let now = NOON - 60 * MIN;
  const clock = { set: (t: number): number => (now = t) };
  const engine = new DeltaEngine({ now: () => now });
  const tallies = new DayTallies(ZONE);
  const feed = (out: ReturnType<DeltaEngine['reading']>): string[] =>
    tallies.record(engine.state('E-1')!, out);
  feed(engine.reading(info, 1000, now));
  now = NOON;
  feed(engine.reading(info, 1010, now));
  const state = engine.state('E-1')!;
  for (let day = 0; day < 5; day++) {
    const midnight = MIDNIGHT + day * 24 * 60 * MIN;
    now = midnight + 5 * MIN;
    tallies.ensureDay(state, midnight);
    for (const due of tallies.due(state, now)) tallies.summarise(info, state, due.date, now);
  }
  return { engine, tallies, feed, state, clock };
}

describe('meter day tallies', () => {
  it('counts each consumption in the day it ends in and summarises each day once', () => {
    let now = MIDNIGHT - 60 * MIN;
    const engine = new DeltaEngine({ now: () => now });
    const tallies = new DayTallies(ZONE);
    const feed = (out: ReturnType<DeltaEngine['reading']>): string[] =>
      tallies.record(engine.state('E-1')!, out);
    feed(engine.reading(info, 1000, now));
    now = MIDNIGHT - 30 * MIN;
    feed(engine.reading(info, 1001.5, now));
    now = MIDNIGHT; // 23:30-24:00: the first day's last
    feed(engine.reading(info, 1002.25, now));
    now = MIDNIGHT + 30 * MIN;
    feed(engine.reading(info, 1003, now));
    const state = engine.state('E-1')!;
    assert.deepEqual(
      tallies.due(state, now).map((t) => [t.date, t.start, t.end, t.billed, t.consumptions]),
      [['2026-06-01', '1000', '1002.25', '2.25', 2]],
    );
    const summary = tallies.summarise(info, state, '2026-06-01', now)!;
    assert.equal(summary.type, 'day-summary');
    assert.equal(summary.billed, '2.25');
    assert.equal(summary.from, Date.parse('2026-06-01T00:00:00+08:00'));
    assert.equal(summary.to, MIDNIGHT);
    assert.equal(summary.late, undefined);
    assert.deepEqual(tallies.due(state, now), []);
  });

  it('updates a day already summarised when a late consumption ends in it, and says so', () => {
    let now = MIDNIGHT - 60 * MIN;
    const engine = new DeltaEngine({ now: () => now });
    const tallies = new DayTallies(ZONE);
    const feed = (out: ReturnType<DeltaEngine['reading']>): string[] =>
      tallies.record(engine.state('E-1')!, out);
    feed(engine.reading(info, 1000, now));
    now = MIDNIGHT - 45 * MIN;
    feed(engine.commLoss(info, now, 'silent')); // the meter falls silent before midnight
    now = MIDNIGHT + 5 * MIN;
    const state = engine.state('E-1')!;
    tallies.ensureDay(state, MIDNIGHT);
    const first = tallies.summarise(info, state, '2026-06-01', now)!;
    assert.equal(first.billed, '0');
    assert.equal(first.pending?.status, 'comm-loss');
    // It answers again after midnight: the gap is billed in slices, the first half hour in the first day.
    now = MIDNIGHT + 60 * MIN;
    assert.deepEqual(feed(engine.reading(info, 1004, now)), ['2026-06-01']);
    const again = tallies.summarise(info, state, '2026-06-01', now)!;
    assert.equal(again.late, true);
    assert.equal(again.billed, '2'); // 23:00-24:00 of the two hours' 4 kWh
    assert.equal(again.pending, undefined);
    // No ledger confirmed it: sent again, it is still the late summary (same receipt, still says late).
    const [resent] = tallies.resendDue('E-1', state, now, Date.now() + 3_600_000);
    assert.equal(resent?.receipt, again.receipt);
    assert.equal(resent?.late, true);
    assert.equal(first.late, undefined);
  });

  it('keeps a summarised day while a late consumption can still end in it: a late summary is the whole day', () => {
    // The meter bills until noon of its first day, then falls silent for five days (or Node-RED is down):
    // the gap billed when it answers again ends partly in that first day, summarised five days before.
    const { engine, tallies, feed, state, clock } = silentFiveDays();
    assert.equal(state.days?.['2026-06-01']?.billed, '10', 'the first day is kept, summarised');
    // It answers five days later at noon: 120 hours of gap at 1 kWh/h, 12 of them in the first day.
    let now = clock.set(NOON + 5 * 24 * 60 * MIN);
    const late = feed(engine.reading(info, 1130, now));
    assert.ok(late.includes('2026-06-01'));
    const first = tallies.summarise(info, state, '2026-06-01', now)!;
    assert.equal(first.late, true);
    assert.equal(first.billed, '22', 'the morning it billed then and the afternoon billed now');
    assert.equal(first.start, '1000');
    assert.equal(first.end, '1022');
    // Once the baseline has moved past a day nothing can end in it any more: it is forgotten.
    for (const due of tallies.due(state, now)) tallies.summarise(info, state, due.date, now);
    now = clock.set(now + 24 * 60 * MIN);
    feed(engine.reading(info, 1154, now));
    tallies.ensureDay(state, MIDNIGHT + 6 * 24 * 60 * MIN);
    for (const due of tallies.due(state, now)) tallies.summarise(info, state, due.date, now);
    // With no ledger in the runtime to confirm the summaries, none waits for a receipt.
    tallies.release(state, now);
    assert.ok(Object.keys(state.days ?? {}).length <= 4, Object.keys(state.days ?? {}).join(', '));
  });

  it('sends a late summary for every day a long gap ends in, not only the first and the last few', () => {
    // Silent from noon of its first day for five days, each summarised at its midnight with nothing billed;
    // the gap billed when it answers changes all six days, and the meter reader summarises them in turn.
    const { engine, tallies, feed, state, clock } = silentFiveDays();
    const now = clock.set(NOON + 5 * 24 * 60 * MIN);
    const late = feed(engine.reading(info, 1130, now));
    assert.deepEqual(late, ['2026-06-01', '2026-06-02', '2026-06-03', '2026-06-04', '2026-06-05']);
    const summaries = late.map((date) => tallies.summarise(info, state, date, now));
    assert.deepEqual(
      summaries.map((s) => [s?.date, s?.billed, s?.late]),
      [
        ['2026-06-01', '22', true],
        ['2026-06-02', '24', true],
        ['2026-06-03', '24', true],
        ['2026-06-04', '24', true],
        ['2026-06-05', '24', true],
      ],
    );
    // Summarised again (and confirmed by a ledger), the days before the baseline are forgotten but for the last few.
    tallies.confirm(state, new Set(summaries.map((s) => s!.receipt)), now);
    assert.ok(Object.keys(state.days ?? {}).length <= 4, Object.keys(state.days ?? {}).join(', '));
  });

  it('lists held values, rebaselines and rollovers, and reports what is pending', () => {
    let now = MIDNIGHT + 60 * MIN;
    const engine = new DeltaEngine({ now: () => now });
    const tallies = new DayTallies(ZONE);
    const meter = { ...info, rolloverAt: 10_000 };
    const step = (out: ReturnType<DeltaEngine['reading']>): void =>
      void tallies.record(engine.state('E-1')!, out);
    step(engine.reading(meter, 9_990, MIDNIGHT + 60 * MIN));
    now += 15 * MIN;
    step(engine.reading(meter, 5, now)); // rolled over: 15 kWh
    now += 15 * MIN;
    step(engine.reading(meter, 9_000, now)); // a spike: held
    now += 15 * MIN;
    step(engine.rebaseline(meter, 100, now, 'display read by hand'));
    now += 15 * MIN;
    step(engine.reading(meter, 104, now));
    now += 15 * MIN;
    step(engine.commLoss(meter, now, 'silent'));
    const state = engine.state('E-1')!;
    tallies.ensureDay(state, MIDNIGHT + 24 * 60 * MIN);
    const [day] = tallies.due(state, MIDNIGHT + 24 * 60 * MIN);
    assert.equal(day?.billed, '19');
    assert.equal(day?.rollovers, 1);
    assert.equal(day?.held.length, 1);
    assert.deepEqual(
      day?.rebaselines.map((r) => [r.previous, r.value, r.reason]),
      [[5, 100, 'baseline set to 100 kWh without billing: display read by hand']],
    );
    const summary = tallies.summarise(meter, state, day!.date, MIDNIGHT + 24 * 60 * MIN)!;
    assert.equal(summary.pending?.status, 'comm-loss');
  });
});

describe('meter day summaries waiting for a ledger receipt', () => {
  const WALL = 1_000_000_000;

  /** A meter billing 1 kWh an hour, summarised at each of `days` midnights; the clock is left at the last one. */
  function days(count: number) {
    let now = NOON - 60 * MIN;
    const engine = new DeltaEngine({ now: () => now });
    const tallies = new DayTallies(ZONE);
    let value = 1000;
    const first = engine.reading(info, value, now); // the baseline
    const state = (): NonNullable<ReturnType<DeltaEngine['state']>> => engine.state('E-1')!;
    tallies.record(state(), first);
    const sent: string[] = [];
    for (let day = 0; day < count; day++) {
      const midnight = MIDNIGHT + day * 24 * 60 * MIN;
      for (let t = now + 60 * MIN; t <= midnight + 5 * MIN; t += 60 * MIN) {
        now = t;
        value += 1;
        tallies.record(state(), engine.reading(info, value, now));
      }
      for (const due of tallies.due(state(), now))
        sent.push(tallies.summarise(info, state(), due.date, now, WALL)!.receipt);
    }
    return { tallies, state: state(), sent, now: () => now };
  }

  it('names each summary by meter, date and figures: the same figures the same receipt, a change a new one', () => {
    const { tallies, state, sent, now } = days(1);
    const [receipt] = sent;
    assert.match(receipt!, /^day-summary:E-1:2026-06-01:[0-9a-f]{16}$/);
    // Sent again (no ledger confirmed it), it is the same summary.
    const [again] = tallies.resendDue('E-1', state, now(), WALL + 60_000);
    assert.equal(again?.receipt, receipt);
    assert.equal(again?.billed, state.days?.['2026-06-01']?.billed);
    // A late consumption in that day makes a new summary with a new receipt.
    const late = structuredClone(state);
    late.days!['2026-06-01']!.consumptions += 1;
    late.days!['2026-06-01']!.billed = '99';
    assert.notEqual(tallies.summarise(info, late, '2026-06-01', now(), WALL)!.receipt, receipt);
  });

  it('keeps a summary until a ledger confirms it, sending it again after 1, 2, 4... minutes', () => {
    const { tallies, state, sent, now } = days(1);
    assert.deepEqual(tallies.awaiting(state), sent);
    const resentAt = (wall: number): number => tallies.resendDue('E-1', state, now(), wall).length;
    assert.equal(resentAt(WALL + 59_000), 0);
    assert.equal(resentAt(WALL + 60_000), 1);
    assert.equal(resentAt(WALL + 60_000 + 119_000), 0);
    assert.equal(resentAt(WALL + 60_000 + 120_000), 1);
    // After a restart every waiting summary sent before the start goes at once.
    assert.equal(tallies.resendDue('E-1', state, now(), WALL + 200_000, WALL + 200_000).length, 1);
    // Confirmed: no longer waiting, never sent again.
    assert.equal(tallies.confirm(state, new Set(sent), now()), 1);
    assert.deepEqual(tallies.awaiting(state), []);
    assert.equal(resentAt(WALL + 10 * 3_600_000), 0);
  });

  it('keeps unconfirmed summaries past the usual few days, until 7 days after their day', () => {
    const many = days(14);
    // Each midnight sent a summary; none confirmed. At 15 June 00:00 the days that ended in the last 7 days
    // wait (7 June ended exactly 7 days ago); the older ones were given up and forgotten as before.
    assert.equal(many.sent.length, 14);
    assert.deepEqual(many.tallies.awaiting(many.state), many.sent.slice(-8));
    const kept = Object.keys(many.state.days ?? {});
    assert.ok(kept.length <= 8 + 3 + 1, kept.join(', '));
    assert.ok(!kept.includes('2026-06-01'));
  });

  it('keeps at most 10 summaries of a meter waiting (the oldest give up first)', () => {
    const { tallies, state, now } = days(1);
    const day = state.days!['2026-06-01']!;
    for (let k = 1; k <= 12; k++)
      state.days![`late-${k}`] = Object.assign(structuredClone(day), {
        date: `late-${k}`,
        from: day.from - k * MIN,
        to: day.to - k * MIN,
        receipt: `r${k}`,
      });
    tallies.summarise(info, state, '2026-06-01', now(), WALL);
    const waiting = tallies.awaiting(state);
    assert.equal(waiting.length, 10);
    assert.ok(!waiting.includes('r12') && !waiting.includes('r11') && !waiting.includes('r10'));
  });

  it('with no ledger to confirm, nothing waits and the days are forgotten as before', () => {
    const { tallies, state, sent, now } = days(6);
    assert.equal(tallies.release(state, now()), sent.length);
    assert.deepEqual(tallies.awaiting(state), []);
    assert.ok(Object.keys(state.days ?? {}).length <= 4, Object.keys(state.days ?? {}).join(', '));
  });
});
