/**
 * Days of credit left: available credit (emergency credit included) above the cut-off threshold, spent day by
 * day at the forecast burn (forecast charges of that weekday, standing charges included as they are charges, plus
 * daily debt recovery). The cut-off moment is moved past friendly-credit windows, because that is when the
 * supply would really go off. Also the reminder that fires once when days left drop under a threshold.
 */
import { friendlyWindowEnd, inFriendlyWindow, type FriendlyWindows } from '../cutoff/policy';
import { TimeZone } from '../tariff/zone';
import { UsageHistory, type ForecastOptions, DEFAULT_FORECAST } from './usage-history';

const DAY_MS = 86_400_000;
const MAX_DAYS = 365;

export interface DaysLeftInput {
  /** Minor units, emergency credit included. */
  available: number;
  /** Supply is cut at or below this (minor units). */
  cutoffThreshold: number;
  /** Taken for debt each day (minor units). */
  debtPerDay: number;
  now: number;
  timeZone: string;
  friendly?: FriendlyWindows;
}

export interface DaysLeft {
  /** Days until the supply would be cut, one decimal; undefined when the burn cannot be forecast. */
  daysLeft: number | undefined;
  /** Forecast spend per day for the next 7 days (minor units), for the suggested top-up. */
  burnPerDay: number | undefined;
  /** When the supply would be cut. */
  cutoffAt?: number;
}

function localDate(zone: TimeZone, t: number): { date: string; weekday: number; dayFraction: number } {
  const parts = zone.wallParts(t);
  const date = `${parts.year}-${String(parts.month).padStart(2, '0')}-${String(parts.day).padStart(2, '0')}`;
  return { date, weekday: parts.weekday, dayFraction: parts.minuteOfDay / 1440 };
}

export function daysLeft(
  history: UsageHistory,
  input: DaysLeftInput,
  options: ForecastOptions = DEFAULT_FORECAST,
): DaysLeft {
  const zone = TimeZone.get(input.timeZone);
  const today = localDate(zone, input.now);
  const burns: number[] = [];
  for (let i = 0; i < 7; i += 1) {
    const weekday = (today.weekday + i) % 7;
    const forecast = history.forecast(weekday, today.date, options);
    if (forecast === undefined) return { daysLeft: undefined, burnPerDay: undefined };
    // Sub-minor units per day to minor units, plus debt recovery.
    burns.push(forecast / 10_000 + input.debtPerDay);
  }
  const burnPerDay = burns.reduce((sum, value) => sum + value, 0) / burns.length;
  let credit = input.available - input.cutoffThreshold;
  if (credit <= 0) return { daysLeft: 0, burnPerDay: round(burnPerDay, 0), cutoffAt: input.now };
  if (burnPerDay <= 0) return { daysLeft: MAX_DAYS, burnPerDay: 0 };
  // Today counts for what is left of it; then whole days.
  let days = 0;
  for (let i = 0; days < MAX_DAYS; i += 1) {
    const share = i === 0 ? 1 - today.dayFraction : 1;
    const burn = burns[i % 7]! * share;
    if (burn >= credit) {
      days += burn > 0 ? (credit / burn) * share : share;
      break;
    }
    credit -= burn;
    days += share;
  }
  let cutoffAt = input.now + days * DAY_MS;
  if (input.friendly && inFriendlyWindow(input.friendly, cutoffAt))
    cutoffAt = friendlyWindowEnd(input.friendly, cutoffAt);
  const total = Math.min(MAX_DAYS, (cutoffAt - input.now) / DAY_MS);
  return { daysLeft: round(total, 1), burnPerDay: round(burnPerDay, 0), cutoffAt };
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export interface ReminderOptions {
  /** Remind when days left drop under this. */
  thresholdDays: number;
  /** Re-arm once days left are back above threshold + this. */
  hysteresisDays: number;
  /** The suggested top-up covers this many days of forecast burn. */
  coverDays: number;
  /** ...rounded up to a multiple of this (minor units). */
  roundTo: number;
}

export const DEFAULT_REMINDER: ReminderOptions = {
  thresholdDays: 3,
  hysteresisDays: 1,
  coverDays: 14,
  roundTo: 1000,
};

export interface Reminder {
  daysLeft: number;
  suggestedTopup: number;
  burnPerDay: number;
}

/**
 * Fires once per fall under the threshold: `armed` is kept by the caller per account (true at start) and
 * updated here.
 */
export function reminderFor(
  state: { armed: boolean },
  left: DaysLeft,
  available: number,
  options: ReminderOptions = DEFAULT_REMINDER,
): Reminder | undefined {
  if (left.daysLeft === undefined || left.burnPerDay === undefined) return undefined;
  if (left.daysLeft >= options.thresholdDays + options.hysteresisDays) {
    state.armed = true;
    return undefined;
  }
  if (left.daysLeft >= options.thresholdDays || !state.armed) return undefined;
  state.armed = false;
  const needed = Math.max(0, options.coverDays * left.burnPerDay - Math.max(0, available));
  const suggestedTopup = Math.max(options.roundTo, Math.ceil(needed / options.roundTo) * options.roundTo);
  return { daysLeft: left.daysLeft, suggestedTopup, burnPerDay: left.burnPerDay };
}
