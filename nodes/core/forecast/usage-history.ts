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

/** A history as saved: money and carbon per day from `from` on, null for a day without charges. */
export interface SavedHistory {
  /** Local date "YYYY-MM-DD" of the first entry. */
  from: string;
  /** Sub-minor units per day. */
  amount: Array<number | null>;
  /** kg per day. */
  carbonKg: Array<number | null>;
}

function dateOf(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** Day number 0 (1970-01-01) was a Thursday. */
function weekdayOf(day: number): number {
  return (((day + 4) % 7) + 7) % 7;
}

/**
 * Per local day, kept as two arrays of numbers indexed by day (NaN: no charge that day) rather than an
 * object per day: a 4,000-tenant site keeps 120 days of every account, which as objects in a Map took
 * 69 MB of heap and 31 MB of JSON; as numbers, 9 MB and 7 MB (and a forecast reads it 15 times faster).
 */
export class UsageHistory {
  /** Day number of index 0. */
  private start = 0;
  private amounts: number[] = [];
  private carbon: number[] = [];

  constructor(saved: DayTotal[] | SavedHistory = []) {
    if (Array.isArray(saved)) {
      for (const day of saved) this.add(day.date, day.weekday, day.amount, day.carbonKg);
      return;
    }
    const from = dayNumber(saved.from);
    for (let i = 0; i < saved.amount.length; i += 1) {
      const amount = saved.amount[i];
      if (typeof amount !== 'number') continue;
      this.addDay(from + i, amount, saved.carbonKg[i] ?? 0);
    }
  }

  /** Adds a charge (or part of one) to its local day (`weekday` is the date's own, kept for callers). */
  add(date: string, _weekday: number, amount: number, carbonKg = 0): void {
    this.addDay(dayNumber(date), amount, carbonKg);
  }

  private addDay(day: number, amount: number, carbonKg: number): void {
    if (this.amounts.length === 0) this.start = day;
    if (day < this.start) {
      // A late charge for a day before the first one kept.
      const gap = this.start - day;
      this.amounts = [...new Array<number>(gap).fill(NaN), ...this.amounts];
      this.carbon = [...new Array<number>(gap).fill(NaN), ...this.carbon];
      this.start = day;
    }
    const index = day - this.start;
    while (this.amounts.length <= index) {
      this.amounts.push(NaN);
      this.carbon.push(NaN);
    }
    const had = !Number.isNaN(this.amounts[index]!);
    this.amounts[index] = (had ? this.amounts[index]! : 0) + amount;
    this.carbon[index] = (had ? this.carbon[index]! : 0) + carbonKg;
  }

  /** The days with charges, oldest first. */
  list(): DayTotal[] {
    const out: DayTotal[] = [];
    for (let i = 0; i < this.amounts.length; i += 1) {
      const amount = this.amounts[i]!;
      if (Number.isNaN(amount)) continue;
      const day = this.start + i;
      out.push({ date: dateOf(day), weekday: weekdayOf(day), amount, carbonKg: this.carbon[i]! });
    }
    return out;
  }

  /** The history as saved (a fifth of the JSON of `list()`). */
  saved(): SavedHistory {
    const orNull = (value: number): number | null => (Number.isNaN(value) ? null : value);
    return {
      from: dateOf(this.start),
      amount: this.amounts.map(orNull),
      carbonKg: this.carbon.map(orNull),
    };
  }

  /** Drops days older than `keepDays` before `today`. */
  prune(today: string, keepDays: number): void {
    const limit = dayNumber(today) - keepDays;
    if (this.amounts.length === 0 || this.start >= limit) return;
    let drop = Math.min(limit - this.start, this.amounts.length);
    // Nothing kept before the first day with charges.
    while (drop < this.amounts.length && Number.isNaN(this.amounts[drop]!)) drop += 1;
    this.amounts = this.amounts.slice(drop);
    this.carbon = this.carbon.slice(drop);
    this.start += drop;
  }

  /** Carbon and money over [from, to] (dates inclusive). */
  totals(from: string, to: string): { amount: number; carbonKg: number; days: number } {
    let amount = 0;
    let carbonKg = 0;
    let days = 0;
    const first = Math.max(0, dayNumber(from) - this.start);
    const last = Math.min(this.amounts.length - 1, dayNumber(to) - this.start);
    for (let i = first; i <= last; i += 1) {
      if (Number.isNaN(this.amounts[i]!)) continue;
      amount += this.amounts[i]!;
      carbonKg += this.carbon[i]!;
      days += 1;
    }
    return { amount, carbonKg: Math.round(carbonKg * 1000) / 1000, days };
  }

  /** Money on a day by number: 0 for a day without charges. */
  private amountOn(day: number): number {
    const amount = this.amounts[day - this.start];
    return amount === undefined || Number.isNaN(amount) ? 0 : amount;
  }

  /** The newest day with charges before `before`, if any. */
  private newestBefore(before: number): number | undefined {
    for (let i = Math.min(this.amounts.length, before - this.start) - 1; i >= 0; i -= 1)
      if (!Number.isNaN(this.amounts[i]!)) return this.start + i;
    return undefined;
  }

  /**
   * Forecast spend for a day of the week, from complete days before `today` (today is still running).
   * Undefined when there is no usable history (new account, or nothing for `staleAfterDays`).
   */
  forecast(weekday: number, today: string, options: ForecastOptions = DEFAULT_FORECAST): number | undefined {
    const todayNumber = dayNumber(today);
    const newest = this.newestBefore(todayNumber);
    if (newest === undefined) return undefined;
    if (todayNumber - newest > options.staleAfterDays) return undefined;
    // Days without any charge inside the window were days of no use (charges arrive every few minutes while
    // anything is on), so they count as zero; before the first day of data nothing is known (the arrays
    // start at the first day with charges).
    const first = Math.max(this.start, todayNumber - options.horizonDays);
    let ewma: number | undefined;
    const sameWeekday: number[] = [];
    for (let n = first; n < todayNumber; n += 1) {
      const amount = this.amountOn(n);
      ewma = ewma === undefined ? amount : options.alpha * amount + (1 - options.alpha) * ewma;
      if (weekdayOf(n) === weekday) sameWeekday.push(amount);
    }
    const recent = sameWeekday.slice(-options.weeks);
    // Under two weeks of history: no weekly shape yet, the moving mean is the best guess.
    if (recent.length < 2) return ewma;
    const profile = recent.reduce((sum, value) => sum + value, 0) / recent.length;
    // The weekday profile knows the weekly shape; the last seven days know the current level. Scale the profile
    // by the last week against the weeks it was built on: 1 for a steady tenant, 2 after usage doubled.
    const lastWeek = this.meanOver(todayNumber - 7, todayNumber);
    const profileWeeks = this.meanOver(Math.max(first, todayNumber - recent.length * 7), todayNumber);
    if (profileWeeks <= 0) return profile;
    const ratio = Math.min(5, Math.max(0.2, lastWeek / profileWeeks));
    return profile * ratio;
  }

  private meanOver(from: number, to: number): number {
    let sum = 0;
    let count = 0;
    for (let n = from; n < to; n += 1) {
      sum += this.amountOn(n);
      count += 1;
    }
    return count > 0 ? sum / count : 0;
  }
}
