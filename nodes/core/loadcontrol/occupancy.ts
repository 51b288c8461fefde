/**
 * A unit's occupancy schedule: the weekly hours it is meant to be in use, in the site's time zone, plus public
 * holidays. Energy used outside these hours is the savings evidence's first figure (lights and HVAC left on).
 *
 * Text form, one entry per line or separated by ";" (case-insensitive):
 *
 *   Mon-Fri 08:00-18:00          days, then one or more ranges separated by ","
 *   Sat 09:00-13:00, 14:00-17:00
 *   Thu 22:00-06:00              a range that ends before it starts runs past midnight: it belongs to the day it
 *                                starts on (Thursday night into Friday morning)
 *   Hol 10:00-14:00              hours on a holiday (instead of that weekday's); without a Hol entry a holiday is closed
 *   holidays 2026-12-25, 2026-12-26
 *   closed                       a unit never occupied (an empty text is refused, as probably a mistake)
 *
 * Days: Mon Tue Wed Thu Fri Sat Sun Hol, lists ("Mon,Wed"), ranges ("Mon-Fri", "Fri-Mon" wraps) and "daily".
 * Times are local wall clock HH:MM, "24:00" allowed as an end. On a day the clocks change, a range is the real
 * time between the instants the clock first shows its start and its end (zone.ts's wallToInstant): 00:00-03:00
 * on a fall-back day is four hours; a time inside a spring-forward gap is the moment the clocks jump.
 */
import { isoDate, wallPartsOf, type TimeZone } from '../tariff/zone';

const DAY = 86_400_000;
const MINUTE = 60_000;
/** Index of the holiday hours in `OccupancySchedule.days` (0-6 are Sunday to Saturday, as Date and WallParts). */
export const HOLIDAY = 7;

export type DayType = 'weekday' | 'weekend' | 'holiday';

/** Minutes of the local day; `end` above 1440 runs into the next day (at most to its same time). */
export interface OccupiedRange {
  start: number;
  end: number;
}

export interface OccupancySchedule {
  /** Ranges starting on each day: 0 Sunday ... 6 Saturday, 7 holidays. Sorted, overlaps merged. */
  readonly days: ReadonlyArray<ReadonlyArray<OccupiedRange>>;
  readonly holidays: ReadonlySet<string>;
}

export class ScheduleError extends Error {
  override name = 'ScheduleError';
}

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const DAY_LIST = 'Mon, Tue, Wed, Thu, Fri, Sat, Sun, Hol, daily';

/** Parses the text form (see the file comment); throws a ScheduleError naming the entry at fault. */
export function parseOccupancy(text: string): OccupancySchedule {
  if (typeof text !== 'string')
    throw new ScheduleError('the schedule must be text, e.g. "Mon-Fri 08:00-18:00"');
  const entries = text
    .split(/[;\n]/)
    .map((e) => e.replace(/#.*$/, '').trim())
    .filter((e) => e !== '');
  if (entries.length === 0) {
    throw new ScheduleError('the schedule is empty: write "closed" for a unit that is never occupied');
  }
  const days: OccupiedRange[][] = Array.from({ length: 8 }, () => []);
  const holidays = new Set<string>();
  entries.forEach((entry, index) => {
    const where = `entry ${index + 1} ("${entry}")`;
    const match = /^(\S+)\s*(.*)$/.exec(entry) as RegExpExecArray;
    const head = (match[1] as string).toLowerCase();
    const rest = (match[2] as string).trim();
    if (head === 'closed') {
      if (rest !== '') throw new ScheduleError(`${where}: "closed" takes nothing after it`);
      return;
    }
    if (head === 'holidays' || head === 'holiday') {
      const dates = rest.split(/[\s,]+/).filter((d) => d !== '');
      if (dates.length === 0) throw new ScheduleError(`${where}: list dates as YYYY-MM-DD`);
      for (const date of dates) holidays.add(validDate(date, where));
      return;
    }
    const dayIndexes = parseDays(match[1] as string, where);
    if (rest === '') throw new ScheduleError(`${where}: give the hours, e.g. 08:00-18:00 (or "closed")`);
    if (rest.toLowerCase() === 'closed') return;
    const ranges = rest.split(/\s*,\s*/).map((r) => parseRange(r, where));
    for (const d of dayIndexes) days[d]?.push(...ranges);
  });
  return { days: days.map(merge), holidays };
}

function parseDays(text: string, where: string): number[] {
  const out = new Set<number>();
  for (const part of text.toLowerCase().split(',')) {
    if (part === 'daily') {
      for (let d = 0; d < 7; d++) out.add(d);
      continue;
    }
    const [first, last, extra] = part.split('-');
    if (extra !== undefined) throw new ScheduleError(`${where}: "${part}" is not a day or a range of days`);
    const a = dayIndex(first as string, where);
    if (last === undefined) {
      out.add(a);
      continue;
    }
    const b = dayIndex(last, where);
    if (a === HOLIDAY || b === HOLIDAY)
      throw new ScheduleError(`${where}: Hol cannot be part of a range of days`);
    for (let d = a; ; d = (d + 1) % 7) {
      out.add(d);
      if (d === b) break;
    }
  }
  return [...out];
}

function dayIndex(name: string, where: string): number {
  if (name === 'hol') return HOLIDAY;
  const index = DAY_NAMES.indexOf(name.slice(0, 3));
  // "Monday", "Tues" and "Mon" all name Monday; "Mo" or "Fry" name nothing.
  if (index < 0 || name.length < 3 || !fullDayNames[index]?.startsWith(name)) {
    throw new ScheduleError(`${where}: "${name}" is not a day (${DAY_LIST})`);
  }
  return index;
}

const fullDayNames = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

function parseRange(text: string, where: string): OccupiedRange {
  const match = /^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$/.exec(text);
  if (!match) throw new ScheduleError(`${where}: "${text}" is not a time range such as 08:00-18:00`);
  const start = minutes(match[1] as string, match[2] as string, false, text, where);
  let end = minutes(match[3] as string, match[4] as string, true, text, where);
  if (end === start) {
    throw new ScheduleError(`${where}: "${text}" is empty (for a whole day write 00:00-24:00)`);
  }
  if (end < start) end += 1440;
  return { start, end };
}

function minutes(h: string, m: string, isEnd: boolean, text: string, where: string): number {
  const value = Number(h) * 60 + Number(m);
  if (Number(m) > 59 || value > 1440 || (value === 1440 && !isEnd)) {
    throw new ScheduleError(`${where}: "${text}" has a time outside 00:00-24:00`);
  }
  return value;
}

function validDate(text: string, where: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  const t = match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) : NaN;
  if (!match || Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== text) {
    throw new ScheduleError(`${where}: "${text}" is not a date (YYYY-MM-DD)`);
  }
  return text;
}

function merge(ranges: OccupiedRange[]): OccupiedRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const out: OccupiedRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else out.push({ start: r.start, end: r.end });
  }
  return out;
}

/** Weekday, weekend (Saturday, Sunday) or holiday (listed in the schedule) for a local date. */
export function dayTypeOf(schedule: OccupancySchedule, date: string): DayType {
  if (schedule.holidays.has(date)) return 'holiday';
  const weekday = new Date(`${date}T00:00:00Z`).getUTCDay();
  return weekday === 0 || weekday === 6 ? 'weekend' : 'weekday';
}

/** The local day number (days since 1970-01-01 in wall time) of instant `t`. */
export function localDayNumber(zone: TimeZone, t: number): number {
  return Math.floor((t + zone.offsetAt(t)) / DAY);
}

/** The local date of a day number, and the instants it starts and ends (23, 24 or 25 hours apart). */
export function localDay(zone: TimeZone, dayNumber: number): { date: string; start: number; end: number } {
  const p = wallPartsOf(dayNumber * DAY);
  const next = wallPartsOf((dayNumber + 1) * DAY);
  return {
    date: isoDate(p.year, p.month, p.day),
    start: zone.wallToInstant(p.year, p.month, p.day),
    end: zone.wallToInstant(next.year, next.month, next.day),
  };
}

/**
 * The occupied intervals [start, end) that meet [from, to), clipped to it, in order and merged. Ranges of the
 * day before `from` are included, as an overnight range may reach into it.
 */
export function occupiedIntervals(
  schedule: OccupancySchedule,
  zone: TimeZone,
  from: number,
  to: number,
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const first = localDayNumber(zone, from) - 1;
  const last = localDayNumber(zone, to);
  for (let d = first; d <= last; d++) {
    const p = wallPartsOf(d * DAY);
    const date = isoDate(p.year, p.month, p.day);
    const ranges = schedule.days[schedule.holidays.has(date) ? HOLIDAY : p.weekday] ?? [];
    for (const r of ranges) {
      const start = Math.max(from, zone.wallToInstant(p.year, p.month, p.day, r.start));
      const end = Math.min(to, zone.wallToInstant(p.year, p.month, p.day, r.end));
      if (end <= start) continue;
      const previous = out[out.length - 1];
      if (previous && start <= previous[1]) previous[1] = Math.max(previous[1], end);
      else out.push([start, end]);
    }
  }
  return out;
}

/** Whether instant `t` falls in an occupied interval. */
export function isOccupied(schedule: OccupancySchedule, zone: TimeZone, t: number): boolean {
  return occupiedIntervals(schedule, zone, t, t + MINUTE).some(([s]) => s === t);
}
