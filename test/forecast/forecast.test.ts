/**
 * Days of credit left and top-up reminders (nodes/core/forecast) on synthetic load curves with known answers:
 * steady use, weekday/weekend use, a step change, a new account, a long absence, debt recovery, friendly
 * windows, and the reminder that fires once.
 */
import assert from 'node:assert/strict';
import { daysLeft, reminderFor } from '../../dist/nodes/core/forecast/days-left';
import { UsageHistory } from '../../dist/nodes/core/forecast/usage-history';

const SUB = 10_000; // sub-minor units per minor unit
const DAY = 86_400_000;
/** Monday 2026-11-02 00:00 UTC. */
const MONDAY = Date.UTC(2026, 10, 2);

function isoDate(t: number): string {
  return new Date(t).toISOString().slice(0, 10);
}

/** A history of `days` days before `end`, spending spend(weekday) minor units a day. */
function history(
  days: number,
  end: number,
  spend: (weekday: number, daysAgo: number) => number,
): UsageHistory {
  const h = new UsageHistory();
  for (let i = days; i >= 1; i -= 1) {
    const t = end - i * DAY;
    const weekday = new Date(t).getUTCDay();
    h.add(isoDate(t), weekday, spend(weekday, i) * SUB, 0.2 * spend(weekday, i));
  }
  return h;
}

const base = { cutoffThreshold: 0, debtPerDay: 0, timeZone: 'UTC' };

describe('days of credit left', () => {
  it('steady use: 100.00 at 10.00 a day lasts 10 days', () => {
    const h = history(35, MONDAY, () => 1000);
    const left = daysLeft(h, { ...base, available: 10_000, now: MONDAY });
    assert.equal(left.daysLeft, 10);
    assert.equal(left.burnPerDay, 1000);
  });

  it('weekday/weekend: 20.00 on weekdays, 5.00 at weekends; 100.00 on a Monday morning lasts exactly the working week', () => {
    const h = history(56, MONDAY, (weekday) => (weekday === 0 || weekday === 6 ? 500 : 2000));
    assert.equal(daysLeft(h, { ...base, available: 10_000, now: MONDAY }).daysLeft, 5);
    // From Friday 00:00 with 30.00: Friday 20, Saturday 5, Sunday 5 -> exactly 3 days.
    const friday = MONDAY + 4 * DAY;
    const h2 = history(56, friday, (weekday) => (weekday === 0 || weekday === 6 ? 500 : 2000));
    assert.equal(daysLeft(h2, { ...base, available: 3000, now: friday }).daysLeft, 3);
  });

  it('step change: use triples for a week and the forecast follows it', () => {
    const h = history(35, MONDAY, (_weekday, daysAgo) => (daysAgo <= 7 ? 3000 : 1000));
    const left = daysLeft(h, { ...base, available: 30_000, now: MONDAY });
    assert.equal(left.burnPerDay, 3000);
    assert.equal(left.daysLeft, 10);
  });

  it('counts the part of today that is left, debt recovery, and the threshold', () => {
    const h = history(35, MONDAY, () => 1000);
    const noon = MONDAY + DAY / 2;
    // Half of today (5.00) then 10.00 a day: 25.00 lasts 0.5 + 2 = 2.5 days.
    assert.equal(daysLeft(h, { ...base, available: 2500, now: noon }).daysLeft, 2.5);
    // 2.50 a day of debt recovery on top: 12.50 a day, so 100.00 lasts 8 days.
    assert.equal(daysLeft(h, { ...base, available: 10_000, debtPerDay: 250, now: MONDAY }).daysLeft, 8);
    // Cut at -20.00 (emergency credit below zero counted in available already, threshold below it).
    assert.equal(daysLeft(h, { ...base, available: 0, cutoffThreshold: -2000, now: MONDAY }).daysLeft, 2);
    assert.equal(daysLeft(h, { ...base, available: -100, now: MONDAY }).daysLeft, 0);
  });

  it('moves the cut-off past a friendly window: credit running out on Friday evening lasts until Monday 10:00', () => {
    const friday = MONDAY + 4 * DAY;
    const h = history(35, friday, () => 2400); // 1.00 an hour
    const friendly = {
      timeZone: 'UTC',
      nights: { from: 16 * 60, to: 10 * 60 },
      weekends: true,
      holidays: [],
    };
    // 18.00 at Friday 00:00 runs out at 18:00 on Friday, inside the window that ends Monday 10:00.
    const left = daysLeft(h, { ...base, available: 1800, now: friday, friendly });
    assert.equal(left.cutoffAt, MONDAY + 7 * DAY + 10 * 3_600_000);
    assert.equal(left.daysLeft, 3.4);
  });

  it('a new account has no forecast, a young one uses its days so far, a silent one goes back to no forecast', () => {
    assert.equal(daysLeft(new UsageHistory(), { ...base, available: 5000, now: MONDAY }).daysLeft, undefined);
    const young = history(4, MONDAY, () => 800);
    assert.equal(daysLeft(young, { ...base, available: 8000, now: MONDAY }).daysLeft, 10);
    const silent = history(20, MONDAY - 40 * DAY, () => 800);
    assert.equal(daysLeft(silent, { ...base, available: 8000, now: MONDAY }).daysLeft, undefined);
  });

  it('sums carbon and money per account and period', () => {
    const h = history(30, MONDAY, () => 1000);
    const october = h.totals('2026-10-01', '2026-10-31');
    assert.equal(october.days, 29);
    assert.equal(october.amount, 29 * 1000 * SUB);
    assert.equal(october.carbonKg, 29 * 200);
  });
});

describe('top-up reminders', () => {
  it('fires once when days left drop under the threshold, with a suggested top-up, and again only after a top-up', () => {
    const state = { armed: true };
    const left = (d: number) => ({ daysLeft: d, burnPerDay: 1000 });
    assert.equal(reminderFor(state, left(5), 5000), undefined);
    const reminder = reminderFor(state, left(2.5), 2500);
    assert.deepEqual(reminder, { daysLeft: 2.5, suggestedTopup: 12_000, burnPerDay: 1000 }); // 14 days = 140.00 - 25.00, rounded up to 10.00
    assert.equal(reminderFor(state, left(2), 2000), undefined, 'once');
    assert.equal(
      reminderFor(state, left(3.5), 3500),
      undefined,
      'inside the hysteresis band: still disarmed',
    );
    assert.equal(reminderFor(state, left(12), 12_000), undefined, 'topped up: re-armed');
    assert.ok(reminderFor(state, left(1), 1000));
  });
});
