/**
 * The usage history's compact storage (nodes/core/forecast/usage-history): against a plain reference (a Map of
 * day objects, as the history was first written) on random charges, prunes and late days, it lists the same
 * days, answers the same totals and forecasts, and comes back the same from what it saves, in both the saved
 * form and the older list of days.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DEFAULT_FORECAST,
  UsageHistory,
  dayNumber,
  type DayTotal,
} from '../../dist/nodes/core/forecast/usage-history';

const DAY = 86_400_000;
const BASE = dayNumber('2026-01-05');
const dateOf = (n: number): string => new Date(n * DAY).toISOString().slice(0, 10);

/** The reference: one object per day in a Map, the forecast as first written. */
class Reference {
  readonly days = new Map<string, DayTotal>();
  add(date: string, weekday: number, amount: number, carbonKg: number): void {
    const day = this.days.get(date) ?? { date, weekday, amount: 0, carbonKg: 0 };
    day.amount += amount;
    day.carbonKg += carbonKg;
    this.days.set(date, day);
  }
  list(): DayTotal[] {
    return [...this.days.values()].sort((a, b) => a.date.localeCompare(b.date));
  }
  prune(today: string, keep: number): void {
    const limit = dayNumber(today) - keep;
    for (const date of [...this.days.keys()]) if (dayNumber(date) < limit) this.days.delete(date);
  }
  totals(from: string, to: string): { amount: number; carbonKg: number; days: number } {
    let amount = 0;
    let carbonKg = 0;
    let days = 0;
    for (const day of this.list()) {
      if (day.date < from || day.date > to) continue;
      amount += day.amount;
      carbonKg += day.carbonKg;
      days += 1;
    }
    return { amount, carbonKg: Math.round(carbonKg * 1000) / 1000, days };
  }
  forecast(weekday: number, today: string): number | undefined {
    const o = DEFAULT_FORECAST;
    const todayNumber = dayNumber(today);
    const complete = this.list().filter((day) => dayNumber(day.date) < todayNumber);
    if (complete.length === 0) return undefined;
    const newest = dayNumber(complete[complete.length - 1]!.date);
    if (todayNumber - newest > o.staleAfterDays) return undefined;
    const first = Math.max(dayNumber(complete[0]!.date), todayNumber - o.horizonDays);
    const byNumber = new Map(complete.map((day) => [dayNumber(day.date), day.amount]));
    const mean = (from: number, to: number): number => {
      let sum = 0;
      for (let n = from; n < to; n += 1) sum += byNumber.get(n) ?? 0;
      return to > from ? sum / (to - from) : 0;
    };
    let ewma: number | undefined;
    const same: number[] = [];
    for (let n = first; n < todayNumber; n += 1) {
      const amount = byNumber.get(n) ?? 0;
      ewma = ewma === undefined ? amount : o.alpha * amount + (1 - o.alpha) * ewma;
      if ((((n + 4) % 7) + 7) % 7 === weekday) same.push(amount);
    }
    const recent = same.slice(-o.weeks);
    if (recent.length < 2) return ewma;
    const profile = recent.reduce((s, v) => s + v, 0) / recent.length;
    const profileWeeks = mean(Math.max(first, todayNumber - recent.length * 7), todayNumber);
    if (profileWeeks <= 0) return profile;
    return profile * Math.min(5, Math.max(0.2, mean(todayNumber - 7, todayNumber) / profileWeeks));
  }
}

type Op =
  { op: 'add'; day: number; amount: number; carbon: number } | { op: 'prune'; day: number; keep: number };

const ops = fc.array(
  fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        op: fc.constant('add' as const),
        day: fc.integer({ min: 0, max: 200 }),
        amount: fc.integer({ min: 0, max: 5_000_000 }),
        carbon: fc.integer({ min: 0, max: 50 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('prune' as const),
        day: fc.integer({ min: 0, max: 220 }),
        keep: fc.integer({ min: 0, max: 130 }),
      }),
    },
  ),
  { maxLength: 120 },
);

function run(list: Op[]): { history: UsageHistory; reference: Reference } {
  const history = new UsageHistory();
  const reference = new Reference();
  for (const o of list) {
    const date = dateOf(BASE + o.day);
    if (o.op === 'add') {
      const weekday = new Date((BASE + o.day) * DAY).getUTCDay();
      history.add(date, weekday, o.amount, o.carbon / 10);
      reference.add(date, weekday, o.amount, o.carbon / 10);
    } else {
      history.prune(date, o.keep);
      reference.prune(date, o.keep);
    }
  }
  return { history, reference };
}

describe('usage history storage', () => {
  it('lists, totals and forecasts as the reference does, and comes back the same from what it saves', () => {
    fc.assert(
      fc.property(ops, fc.integer({ min: 0, max: 230 }), fc.integer({ min: 0, max: 230 }), (list, a, b) => {
        const { history, reference } = run(list);
        assert.deepEqual(history.list(), reference.list());
        const [from, to] = [dateOf(BASE + Math.min(a, b)), dateOf(BASE + Math.max(a, b))];
        assert.deepEqual(history.totals(from, to), reference.totals(from, to));
        for (let weekday = 0; weekday < 7; weekday += 1)
          assert.equal(
            history.forecast(weekday, dateOf(BASE + a)),
            reference.forecast(weekday, dateOf(BASE + a)),
          );
        const fromSaved = new UsageHistory(JSON.parse(JSON.stringify(history.saved())));
        assert.deepEqual(fromSaved.list(), reference.list());
        assert.deepEqual(new UsageHistory(history.list()).list(), reference.list(), 'the older saved form');
      }),
      { numRuns: 300 },
    );
  });

  it('saves 120 days of 4,000 accounts in under a third of the JSON that day objects took', function () {
    // Three charges a day per account; the day objects' JSON is what version 1 of the state file held.
    const histories: UsageHistory[] = [];
    for (let a = 0; a < 4000; a += 1) {
      const h = new UsageHistory();
      for (let d = 0; d < 120; d += 1)
        for (let k = 0; k < 3; k += 1) h.add(dateOf(BASE + d), 0, 12_345 + a + k, 0.123);
      histories.push(h);
    }
    const saved = JSON.stringify(histories.map((h) => h.saved())).length;
    const asDays = JSON.stringify(histories.map((h) => h.list())).length;
    assert.ok(saved * 3 < asDays, `saved ${saved} bytes against ${asDays} as day objects`);
  });
});
