/**
 * Splits a consumption interval into pieces that are each inside one local day and one tariff
 * period, so a reading spanning 21:50-22:10 is priced as ten minutes of peak and ten of off-peak,
 * and one crossing midnight lands in both days' blocks. Works in the tariff's IANA zone and is
 * correct on the 23- and 25-hour days of DST changes (splits are on real elapsed time).
 */
import { dayBit } from './compile';
import { CompiledTariff } from './types';
import { isoDate, wallPartsOf } from './zone';

const DAY = 86_400_000;
const MINUTE = 60_000;

export interface DayInfo {
  dayNumber: number;
  /** Local date "YYYY-MM-DD". */
  date: string;
  /** Local month "YYYY-MM". */
  month: string;
  year: number;
  monthNumber: number;
  dayOfMonth: number;
  weekday: number;
  holiday: boolean;
  seasonIndex: number;
}

export interface Segment {
  start: number;
  end: number;
  day: DayInfo;
  /** Time-of-use period name (TOU tariffs only). */
  period?: string;
}

const dayCache = new WeakMap<CompiledTariff, Map<number, DayInfo>>();

/** Facts about local day number `dayNumber` (days since 1970-01-01 in local wall time). */
export function dayInfo(tariff: CompiledTariff, dayNumber: number): DayInfo {
  let cache = dayCache.get(tariff);
  if (!cache) {
    cache = new Map();
    dayCache.set(tariff, cache);
  }
  let info = cache.get(dayNumber);
  if (!info) {
    const parts = wallPartsOf(dayNumber * DAY);
    const date = isoDate(parts.year, parts.month, parts.day);
    const monthDay = parts.month * 100 + parts.day;
    const seasonIndex = tariff.seasons.findIndex((s) =>
      s.from <= s.to ? monthDay >= s.from && monthDay <= s.to : monthDay >= s.from || monthDay <= s.to,
    );
    info = {
      dayNumber,
      date,
      month: date.slice(0, 7),
      year: parts.year,
      monthNumber: parts.month,
      dayOfMonth: parts.day,
      weekday: parts.weekday,
      holiday: tariff.holidays.has(date),
      seasonIndex,
    };
    if (cache.size > 4096) cache.clear();
    cache.set(dayNumber, info);
  }
  return info;
}

/** The local day number of a "YYYY-MM-DD" date. */
export function dayNumberOf(date: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return Math.floor(Date.UTC(y, m - 1, d) / DAY);
}

/** Time-of-use period at a local minute of a day, by the first matching rule. */
export function periodAt(tariff: CompiledTariff, day: DayInfo, minuteOfDay: number): string | undefined {
  const energy = tariff.energy;
  if (energy.type !== 'tou') return undefined;
  const bit = dayBit(day.weekday, day.holiday);
  const seasonBit = day.seasonIndex >= 0 ? 1 << day.seasonIndex : 0;
  for (const rule of energy.rules) {
    if ((rule.dayMask & bit) === 0) continue;
    if (rule.seasonMask !== ~0 && (rule.seasonMask & seasonBit) === 0) continue;
    for (const [from, to] of rule.ranges) {
      if (minuteOfDay >= from && minuteOfDay < to) return rule.period;
    }
  }
  return energy.defaultPeriod;
}

/**
 * Pieces of [from, to) with constant local day and period. `nextExtraBoundary` adds splits of the
 * caller's own (price-signal intervals, demand intervals). A zero-length interval yields one piece
 * at `to`.
 */
export function segmentInterval(
  tariff: CompiledTariff,
  from: number,
  to: number,
  nextExtraBoundary?: (t: number) => number,
): Segment[] {
  const zone = tariff.zone;
  const boundaries = tariff.energy.type === 'tou' ? tariff.energy.boundaries : [0];
  const segments: Segment[] = [];
  if (to <= from) {
    const wall = to + zone.offsetAt(to);
    const dayNumber = Math.floor(wall / DAY);
    const day = dayInfo(tariff, dayNumber);
    segments.push({
      start: to,
      end: to,
      day,
      period: periodAt(tariff, day, Math.floor((wall - dayNumber * DAY) / MINUTE)),
    });
    return segments;
  }
  let t = from;
  while (t < to) {
    const offset = zone.offsetAt(t);
    const wall = t + offset;
    const dayNumber = Math.floor(wall / DAY);
    const msInDay = wall - dayNumber * DAY;
    let nextWall = (dayNumber + 1) * DAY;
    for (const minute of boundaries) {
      const candidate = dayNumber * DAY + minute * MINUTE;
      if (candidate > wall) {
        nextWall = candidate;
        break;
      }
    }
    let end = Math.min(to, nextWall - offset, zone.nextTransitionAfter(t));
    if (nextExtraBoundary) end = Math.min(end, nextExtraBoundary(t));
    if (end <= t) end = Math.min(to, t + MINUTE); // defensive: never loop without progress
    const day = dayInfo(tariff, dayNumber);
    const period = periodAt(tariff, day, Math.floor(msInDay / MINUTE));
    const last = segments[segments.length - 1];
    if (last && last.end === t && last.day === day && last.period === period && !nextExtraBoundary)
      last.end = end;
    else segments.push({ start: t, end, day, period });
    t = end;
  }
  return segments;
}

/** Number of days in a local month. */
export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Start day (local date) of the block-reset period containing `day`. */
export function blockPeriodKey(
  reset: 'day' | 'month' | 'billing-cycle',
  billingDay: number,
  day: DayInfo,
): string {
  if (reset === 'day') return day.date;
  if (reset === 'month') return day.month;
  let year = day.year;
  let month = day.monthNumber;
  if (day.dayOfMonth < billingDay) {
    month -= 1;
    if (month === 0) {
      month = 12;
      year -= 1;
    }
  }
  return isoDate(year, month, billingDay);
}
