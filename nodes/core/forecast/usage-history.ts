/**
 * What an account spends per local day, and a robust forecast of what it will spend on a given day: a
 * day-of-week profile (the mean of the last four same weekdays) scaled by how the last seven days compare with
 * the weeks it was built on, so a shop closed on Sundays and an office quiet at weekends are forecast as such,
 * and a step change (a new tenant, a new chiller) is followed within a week. Under two weeks of history an
 * exponentially weighted mean of the days so far is used; with no usable history the forecast says so.
 */

export interface DayTotal {
  /** Local date "YYYY-MM-DD". */
  date: string;
  /** 0 = Sunday ... 6 = Saturday. */
  weekday: number;
  /** Money charged that day, in sub-minor units (1/10,000 of the minor unit). */
  amount: number;
  /** Carbon, kg. */
  carbonKg: number;
}

export interface ForecastOptions {
  /** Weight of the newest day in the moving mean. */
  alpha: number;
  /** Same-weekday samples used for the weekday profile. */
  weeks: number;
  /** History older than this many days (counted from the newest day with data) is not used. */
  horizonDays: number;
  /** With no day of data newer than this many days, the history is too old to forecast from. */
  staleAfterDays: number;
}

export const DEFAULT_FORECAST: ForecastOptions = {
  alpha: 0.3,
  weeks: 4,
  horizonDays: 56,
  staleAfterDays: 28,
};

const DAY_MS = 86_400_000;

export function dayNumber(date: string): number {
  return Math.floor(Date.parse(`${date}T00:00:00Z`) / DAY_MS);
}

export class UsageHistory {
  /** By date, oldest first when listed. */
  private readonly days = new Map<string, DayTotal>();

  constructor(saved: DayTotal[] = []) {
    for (const day of saved) this.days.set(day.date, { ...day });
  }

  /** Adds a charge (or part of one) to its local day. */
  add(date: string, weekday: number, amount: number, carbonKg = 0): void {
    const day = this.days.get(date) ?? { date, weekday, amount: 0, carbonKg: 0 };
    day.amount += amount;
    day.carbonKg += carbonKg;
    this.days.set(date, day);
  }

  list(): DayTotal[] {
    return [...this.days.values()].sort((a, b) => a.date.localeCompare(b.date));
  }

  /** Drops days older than `keepDays` before `today`. */
  prune(today: string, keepDays: number): void {
    const limit = dayNumber(today) - keepDays;
    for (const date of [...this.days.keys()]) if (dayNumber(date) < limit) this.days.delete(date);
  }

  /** Carbon and money over [from, to] (dates inclusive). */
  totals(from: string, to: string): { amount: number; carbonKg: number; days: number } {
    let amount = 0;
    let carbonKg = 0;
    let days = 0;
    for (const day of this.days.values()) {
      if (day.date < from || day.date > to) continue;
      amount += day.amount;
      carbonKg += day.carbonKg;
      days += 1;
    }
    return { amount, carbonKg: Math.round(carbonKg * 1000) / 1000, days };
  }

  /**
   * Forecast spend for a day of the week, from complete days before `today` (today is still running).
   * Undefined when there is no usable history (new account, or nothing for `staleAfterDays`).
   */
  forecast(weekday: number, today: string, options: ForecastOptions = DEFAULT_FORECAST): number | undefined {
    const todayNumber = dayNumber(today);
    const complete = this.list().filter((day) => dayNumber(day.date) < todayNumber);
    if (complete.length === 0) return undefined;
    const newest = dayNumber(complete[complete.length - 1]!.date);
    if (todayNumber - newest > options.staleAfterDays) return undefined;
    // Days without any charge inside the window were days of no use (charges arrive every few minutes while
    // anything is on), so they count as zero; before the first day of data nothing is known.
    const first = Math.max(dayNumber(complete[0]!.date), todayNumber - options.horizonDays);
    const byNumber = new Map(complete.map((day) => [dayNumber(day.date), day.amount]));
    let ewma: number | undefined;
    const sameWeekday: number[] = [];
    for (let n = first; n < todayNumber; n += 1) {
      const amount = byNumber.get(n) ?? 0;
      ewma = ewma === undefined ? amount : options.alpha * amount + (1 - options.alpha) * ewma;
      // Day number 0 (1970-01-01) was a Thursday.
      if ((((n + 4) % 7) + 7) % 7 === weekday) sameWeekday.push(amount);
    }
    const recent = sameWeekday.slice(-options.weeks);
    // Under two weeks of history: no weekly shape yet, the moving mean is the best guess.
    if (recent.length < 2) return ewma;
    const profile = recent.reduce((sum, value) => sum + value, 0) / recent.length;
    // The weekday profile knows the weekly shape; the last seven days know the current level. Scale the profile
    // by the last week against the weeks it was built on: 1 for a steady tenant, 2 after usage doubled.
    const lastWeek = this.meanOver(byNumber, todayNumber - 7, todayNumber);
    const profileWeeks = this.meanOver(
      byNumber,
      Math.max(first, todayNumber - recent.length * 7),
      todayNumber,
    );
    if (profileWeeks <= 0) return profile;
    const ratio = Math.min(5, Math.max(0.2, lastWeek / profileWeeks));
    return profile * ratio;
  }

  private meanOver(byNumber: Map<number, number>, from: number, to: number): number {
    let sum = 0;
    let count = 0;
    for (let n = from; n < to; n += 1) {
      sum += byNumber.get(n) ?? 0;
      count += 1;
    }
    return count > 0 ? sum / count : 0;
  }
}
