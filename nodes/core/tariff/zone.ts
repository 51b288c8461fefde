/**
 * IANA time zones without a dependency: offsets come from the platform's Intl data, read once per
 * zone and year into a table of transitions, so the hot path (pricing a reading) is a binary
 * search rather than a date formatting call.
 */

const MINUTE = 60_000;
const DAY = 86_400_000;

interface YearTable {
  /** Offset (ms, local minus UTC) in force at the start of the year. */
  readonly initial: number;
  /** Instants where the offset changes, with the offset from then on. */
  readonly changes: ReadonlyArray<{ at: number; offset: number }>;
}

export interface WallParts {
  year: number;
  month: number;
  day: number;
  /** 0 = Sunday ... 6 = Saturday. */
  weekday: number;
  minuteOfDay: number;
}

const zones = new Map<string, TimeZone>();

export class TimeZone {
  private readonly formatter: Intl.DateTimeFormat;
  private readonly years = new Map<number, YearTable>();

  private constructor(readonly name: string) {
    this.formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  /** The zone by IANA name ("Europe/London"); throws a RangeError for a name the platform lacks. */
  static get(name: string): TimeZone {
    let zone = zones.get(name);
    if (!zone) {
      zone = new TimeZone(name);
      zones.set(name, zone);
    }
    return zone;
  }

  static isValid(name: string): boolean {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: name });
      return true;
    } catch {
      return false;
    }
  }

  /** Local time minus UTC, in ms, at instant `t`. */
  offsetAt(t: number): number {
    const table = this.table(new Date(t).getUTCFullYear());
    let offset = table.initial;
    for (const change of table.changes) {
      if (change.at > t) break;
      offset = change.offset;
    }
    return offset;
  }

  /** The first offset change strictly after `t`, or Infinity within the next two years. */
  nextTransitionAfter(t: number): number {
    const year = new Date(t).getUTCFullYear();
    for (let y = year; y <= year + 1; y++) {
      for (const change of this.table(y).changes) if (change.at > t) return change.at;
    }
    return Number.POSITIVE_INFINITY;
  }

  /** Local calendar parts of instant `t`. */
  wallParts(t: number): WallParts {
    return wallPartsOf(t + this.offsetAt(t));
  }

  /**
   * The earliest instant at which the local clock shows at least the given wall time. Inside a
   * spring-forward gap that is the moment the clocks jump; in a fall-back overlap, the first pass.
   */
  wallToInstant(year: number, month: number, day: number, minuteOfDay = 0): number {
    const wall = Date.UTC(year, month - 1, day) + minuteOfDay * MINUTE;
    const candidates = [wall - this.offsetAt(wall - DAY), wall - this.offsetAt(wall + DAY)];
    let best = Number.POSITIVE_INFINITY;
    for (const t of candidates) if (t + this.offsetAt(t) === wall) best = Math.min(best, t);
    if (best !== Number.POSITIVE_INFINITY) return best;
    // A gap: the wall time never shows; the first instant after it is the transition itself.
    return this.nextTransitionAfter(Math.min(...candidates) - 1);
  }

  private table(year: number): YearTable {
    let table = this.years.get(year);
    if (!table) {
      table = this.buildYear(year);
      this.years.set(year, table);
    }
    return table;
  }

  private probe(t: number): number {
    const parts = this.formatter.formatToParts(new Date(t));
    const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
    const local = Date.UTC(
      get('year'),
      get('month') - 1,
      get('day'),
      get('hour'),
      get('minute'),
      get('second'),
    );
    return local - Math.floor(t / 1000) * 1000;
  }

  private buildYear(year: number): YearTable {
    const start = Date.UTC(year, 0, 1);
    const end = Date.UTC(year + 1, 0, 1);
    const initial = this.probe(start);
    const changes: Array<{ at: number; offset: number }> = [];
    let previousT = start;
    let previous = initial;
    // Zones change offset at most a few times a year, never twice within six hours.
    for (let t = start + 6 * 3_600_000; t <= end; t += 6 * 3_600_000) {
      const offset = this.probe(t);
      if (offset !== previous) {
        let lo = previousT;
        let hi = t;
        while (hi - lo > MINUTE) {
          const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE || lo + MINUTE;
          if (this.probe(mid) === previous) lo = mid;
          else hi = mid;
        }
        if (hi < end) changes.push({ at: hi, offset });
        previous = offset;
      }
      previousT = t;
    }
    return { initial, changes };
  }
}

/** Calendar parts of a "wall" millisecond count (local time written as if it were UTC). */
export function wallPartsOf(wall: number): WallParts {
  const dayNumber = Math.floor(wall / DAY);
  const date = new Date(dayNumber * DAY);
  return {
    year: date.getUTCFullYear(),
    month: date.getUTCMonth() + 1,
    day: date.getUTCDate(),
    weekday: (((dayNumber + 4) % 7) + 7) % 7,
    minuteOfDay: Math.floor((wall - dayNumber * DAY) / MINUTE),
  };
}

export function isoDate(year: number, month: number, day: number): string {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}
