/**
 * Keeps the savings evidence's tallies on disk and makes its reports. The load-control node owns one, gives it
 * the meter reader's consumption messages and the outdoor temperature, and asks it for day and month reports.
 *
 * Layout under the directory (the node puts it under the Node-RED user directory): one JSON document per unit
 * and local month, `units/u-<unit>/<YYYY-MM>.json`, and one per month of outdoor temperature,
 * `outdoor/<YYYY-MM>.json`; each written atomically with its previous copy kept (StateFile), debounced
 * (`debounceMs`, default 1 s: `flush()` writes at once, and the node calls it on close).
 *
 * Counting once: a unit's month document keeps, per meter, the stretches of time already counted (merged, so a
 * month of quarter-hours is one stretch). A consumption whose stretch is already counted (resent, or replayed
 * after a restart) is a duplicate and counts nothing; one that overlaps a counted stretch only in part contradicts
 * it and is refused (a conflict, for the node to report); a consumption across months is checked in every month
 * before any is changed, so it counts in all or none (a crash between two months' writes leaves the later month
 * uncounted, and the consumption counts there when it is sent again).
 *
 * Load control's actions (prepay-loadcontrol's setbacks and demand steps) are kept per unit and local month of
 * the action, `units/u-<unit>/<YYYY-MM>-actions.json`, keyed by what, whose and when: an action sent again is
 * the same key and counts once. Reports attribute them per day beside the energy (savings-actions.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fitBaseline, type BaselineOptions } from '../core/loadcontrol/baseline';
import {
  localDay,
  localDayNumber,
  parseOccupancy,
  ScheduleError,
  type OccupancySchedule,
} from '../core/loadcontrol/occupancy';
import { celsius, dailyMeanTemperature, SLOT_MS } from '../core/loadcontrol/outdoor';
import { consumptionInput, splitConsumption } from '../core/loadcontrol/savings';
import { actionKey, attributeActions, type LoadControlAction } from '../core/loadcontrol/savings-actions';
import {
  baselineDays,
  buildSavingsReport,
  savingsReportCsv,
  type DayTally,
  type SavingsReport,
} from '../core/loadcontrol/savings-report';
import type { Consumption } from '../core/messages';
import { TimeZone } from '../core/tariff/zone';
import { StateFile } from '../shared/state-file';

export interface SavingsUnitConfig {
  /** The unit's id as reports name it (a shop number, a suite). */
  unit: string;
  /** Meters whose consumption is the unit's. */
  meters: string[];
  /** Occupancy schedule, text form (nodes/core/loadcontrol/occupancy.ts). */
  schedule: string;
  /** Baseline period, local dates inclusive (overrides the recorder's). */
  baseline?: { from: string; to: string };
  /** The ledger accounts whose load-control actions are the unit's (default: the unit's id). */
  accounts?: string[];
}

export interface SavingsRecorderOptions {
  directory: string;
  /** The site's IANA time zone. */
  timeZone: string;
  units: SavingsUnitConfig[];
  baseline?: { from: string; to: string };
  baselineOptions?: BaselineOptions;
  /** Two-sided confidence of the savings uncertainty (default 0.9). */
  confidence?: number;
  /** Fewest hours of a day with a temperature for the day to have a mean (default 18). */
  minTemperatureHours?: number;
  debounceMs?: number;
}

export type RecordOutcome =
  | { counted: true; unit: string; dates: string[] }
  | { counted: false; reason: string; duplicate?: true; conflict?: true; unit?: string };

interface SavedDay {
  inside: string;
  outside: string;
  estimated: string;
  coveredMs: number;
}

interface UnitMonth {
  version: 1;
  days: Record<string, SavedDay>;
  /** Per meter, the [from, to) stretches already counted in this month, merged and in order. */
  counted: Record<string, Array<[number, number]>>;
  /** Per meter, the instants of consumptions without duration already counted. */
  instants: Record<string, number[]>;
}

interface ActionsMonth {
  version: 1;
  /** Actions by key (a resent action is the same key). */
  actions: Record<string, LoadControlAction>;
}

/** How far back a report looks for a setback or step still open at its first day. */
const ACTIONS_LOOKBACK_MONTHS = 12;

interface OutdoorMonth {
  version: 1;
  /** Per local date, the five-minute slot index → °C. */
  days: Record<string, Record<string, number>>;
}

interface Unit {
  config: SavingsUnitConfig;
  schedule: OccupancySchedule;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export class SavingsRecorder {
  private readonly zone: TimeZone;
  private readonly units = new Map<string, Unit>();
  private readonly unitOfMeter = new Map<string, Unit>();
  private readonly unitOfAccount = new Map<string, Unit>();
  private readonly files = new Map<
    string,
    { file: StateFile<unknown>; value: UnitMonth | OutdoorMonth | ActionsMonth }
  >();
  /** Problems met loading documents (a damaged file restored from its copy): for the node to warn about. */
  readonly problems: string[] = [];

  constructor(private readonly options: SavingsRecorderOptions) {
    if (!TimeZone.isValid(options.timeZone)) throw new RangeError(`unknown time zone "${options.timeZone}"`);
    this.zone = TimeZone.get(options.timeZone);
    checkPeriod(options.baseline, 'the baseline period');
    for (const config of options.units) {
      if (typeof config.unit !== 'string' || config.unit === '')
        throw new RangeError('every unit needs an id');
      if (this.units.has(config.unit)) throw new RangeError(`unit "${config.unit}" is listed twice`);
      let schedule: OccupancySchedule;
      try {
        schedule = parseOccupancy(config.schedule);
      } catch (error) {
        if (error instanceof ScheduleError)
          throw new ScheduleError(`unit "${config.unit}": ${error.message}`);
        throw error;
      }
      checkPeriod(config.baseline, `unit "${config.unit}"'s baseline period`);
      const unit = { config, schedule };
      this.units.set(config.unit, unit);
      for (const meter of config.meters) {
        const other = this.unitOfMeter.get(meter);
        if (other)
          throw new RangeError(`meter "${meter}" is in units "${other.config.unit}" and "${config.unit}"`);
        this.unitOfMeter.set(meter, unit);
      }
      for (const account of config.accounts ?? [config.unit]) {
        const other = this.unitOfAccount.get(account);
        if (other)
          throw new RangeError(
            `account "${account}" is in units "${other.config.unit}" and "${config.unit}"`,
          );
        this.unitOfAccount.set(account, unit);
      }
    }
  }

  /**
   * Keeps one of load control's actions on its unit (by account, or by the meter a limit names). An action
   * already kept (sent again, replayed) counts nothing.
   */
  recordAction(action: LoadControlAction): RecordOutcome {
    const unit =
      this.unitOfAccount.get(action.account) ??
      (action.kind === 'step' && action.meter !== undefined ? this.unitOfMeter.get(action.meter) : undefined);
    if (!unit) return { counted: false, reason: `account "${action.account}" is in no unit` };
    const date = localDay(this.zone, localDayNumber(this.zone, action.at)).date;
    const key = this.actionsKey(unit.config.unit, date.slice(0, 7));
    const doc = this.actionsMonth(key);
    const id = actionKey(action);
    if (doc.actions[id])
      return {
        counted: false,
        duplicate: true,
        unit: unit.config.unit,
        reason: `action ${id} is already counted`,
      };
    doc.actions[id] = action;
    this.save(key);
    return { counted: true, unit: unit.config.unit, dates: [date] };
  }

  /** Counts a consumption message (README "Message contracts") in its unit's days. */
  recordConsumption(msg: Partial<Consumption>): RecordOutcome {
    const meterId = msg.meterId;
    const unit = typeof meterId === 'string' ? this.unitOfMeter.get(meterId) : undefined;
    if (!unit) return { counted: false, reason: `meter "${String(meterId)}" is in no unit` };
    const input = consumptionInput(msg);
    if (!input.ok) return { counted: false, reason: input.reason, unit: unit.config.unit };
    const meter = meterId as string;
    const shares = splitConsumption(unit.schedule, this.zone, input.from, input.to, input.energy);
    const months = [...new Set(shares.map((s) => s.date.slice(0, 7)))];
    const plans: Array<{ doc: UnitMonth; key: string; month: string; piece: [number, number] }> = [];
    for (const month of months) {
      const key = this.unitKey(unit.config.unit, month);
      const doc = this.unitMonth(key);
      const piece = this.clipToMonth(month, input.from, input.to);
      const state = countedState(doc, meter, piece);
      if (state === 'conflict') {
        return {
          counted: false,
          conflict: true,
          unit: unit.config.unit,
          reason: `consumption ${input.id} overlaps time already counted for meter ${meter} in part`,
        };
      }
      if (state === 'new') plans.push({ doc, key, month, piece });
    }
    if (plans.length === 0) {
      return {
        counted: false,
        duplicate: true,
        unit: unit.config.unit,
        reason: `consumption ${input.id} is already counted`,
      };
    }
    const dates: string[] = [];
    for (const { doc, key, month, piece } of plans) {
      markCounted(doc, meter, piece);
      for (const share of shares) {
        if (!share.date.startsWith(month)) continue;
        const day = doc.days[share.date] ?? { inside: '0', outside: '0', estimated: '0', coveredMs: 0 };
        day.inside = (BigInt(day.inside) + share.inside).toString();
        day.outside = (BigInt(day.outside) + share.outside).toString();
        if (input.estimated)
          day.estimated = (BigInt(day.estimated) + share.inside + share.outside).toString();
        day.coveredMs += share.coveredMs;
        doc.days[share.date] = day;
        dates.push(share.date);
      }
      this.save(key);
    }
    return { counted: true, unit: unit.config.unit, dates };
  }

  /** Keeps an outdoor temperature reading `{ ts, value, unit? }` (°C unless the unit says °F). */
  recordTemperature(reading: {
    ts?: unknown;
    value?: unknown;
    unit?: unknown;
  }): { ok: true } | { ok: false; reason: string } {
    const ts = typeof reading.ts === 'string' ? Date.parse(reading.ts) : reading.ts;
    if (typeof ts !== 'number' || !Number.isFinite(ts))
      return { ok: false, reason: 'a temperature needs ts (epoch ms or ISO 8601)' };
    const value = celsius(reading.value, reading.unit ?? '°C');
    if (!value.ok) return value;
    const day = localDay(this.zone, localDayNumber(this.zone, ts));
    const key = join('outdoor', `${day.date.slice(0, 7)}.json`);
    const doc = this.outdoorMonth(key);
    const slots = (doc.days[day.date] ??= {});
    slots[String(Math.floor((ts - day.start) / SLOT_MS))] = value.value;
    this.save(key);
    return { ok: true };
  }

  /** The unit's report over local dates `from` to `to` inclusive (see savings-report.ts). */
  report(unitId: string, from: string, to: string, now = Date.now()): SavingsReport {
    const unit = this.units.get(unitId);
    if (!unit) throw new RangeError(`no unit "${unitId}"`);
    checkPeriod({ from, to }, 'the report period');
    const dates = datesBetween(from, to);
    const period = unit.config.baseline ?? this.options.baseline ?? null;
    const baselineDates = period ? datesBetween(period.from, period.to) : [];
    const all = [...new Set([...baselineDates, ...dates])];
    const tallies = this.tallies(unit.config.unit, all);
    const temperatures = this.temperatures(all);
    const choice = fitBaseline(
      baselineDays(unit.schedule, baselineDates, tallies, temperatures),
      this.options.baselineOptions,
    );
    if (!period) choice.note = `no baseline period configured; ${choice.note}`;
    const actions = this.actionsFor(unit.config.unit, dates);
    return buildSavingsReport({
      ...(actions.length > 0 ? { actions: attributeActions(actions, this.zone, dates, now) } : {}),
      unit: unit.config.unit,
      timeZone: this.zone.name,
      scheduleText: unit.config.schedule,
      schedule: unit.schedule,
      dates,
      tallies,
      temperatures,
      baselinePeriod: period,
      baseline: period ? choice : { model: null, candidates: [], note: choice.note },
      confidence: this.options.confidence ?? 0.9,
    });
  }

  /** The report of one local day. */
  dayReport(unit: string, date: string): SavingsReport {
    return this.report(unit, date, date);
  }

  /** The report of one local month ("YYYY-MM"), its days and the month. */
  monthReport(unit: string, month: string): SavingsReport {
    if (!/^\d{4}-\d{2}$/.test(month)) throw new RangeError(`"${month}" is not a month (YYYY-MM)`);
    const [y, m] = month.split('-').map(Number) as [number, number];
    const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
    return this.report(unit, `${month}-01`, `${month}-${String(last).padStart(2, '0')}`);
  }

  csv(report: SavingsReport): string {
    return savingsReportCsv(report);
  }

  /** Writes every pending document now. */
  flush(): void {
    for (const { file } of this.files.values()) file.flush();
  }

  /** Flushes and forgets the documents (the node's close). */
  close(): void {
    this.flush();
    this.files.clear();
  }

  /** The unit's actions from the look-back before `dates` to their last month. */
  private actionsFor(unit: string, dates: string[]): LoadControlAction[] {
    const first = dates[0];
    const last = dates[dates.length - 1];
    if (first === undefined || last === undefined) return [];
    const out: LoadControlAction[] = [];
    let [y, m] = first.split('-').map(Number) as [number, number];
    m -= ACTIONS_LOOKBACK_MONTHS;
    while (m < 1) {
      m += 12;
      y -= 1;
    }
    for (let month = `${y}-${String(m).padStart(2, '0')}`; month <= last.slice(0, 7);) {
      const key = this.actionsKey(unit, month);
      if (this.files.has(key) || existsSync(join(this.options.directory, key)))
        out.push(...Object.values(this.actionsMonth(key).actions));
      m += 1;
      if (m > 12) {
        m = 1;
        y += 1;
      }
      month = `${y}-${String(m).padStart(2, '0')}`;
    }
    return out;
  }

  private actionsKey(unit: string, month: string): string {
    return join('units', `u-${encodeURIComponent(unit)}`, `${month}-actions.json`);
  }

  private actionsMonth(key: string): ActionsMonth {
    return this.document<ActionsMonth>(key, () => ({ version: 1, actions: {} }), checkActionsMonth);
  }

  private unitKey(unit: string, month: string): string {
    // The prefix keeps ids such as "." or ".." from naming a directory; encoding keeps "/" out of them.
    return join('units', `u-${encodeURIComponent(unit)}`, `${month}.json`);
  }

  private clipToMonth(month: string, from: number, to: number): [number, number] {
    const [y, m] = month.split('-').map(Number) as [number, number];
    const start = this.zone.wallToInstant(y, m, 1);
    const end = m === 12 ? this.zone.wallToInstant(y + 1, 1, 1) : this.zone.wallToInstant(y, m + 1, 1);
    return [Math.max(from, start), Math.min(to, end)];
  }

  private document<T extends UnitMonth | OutdoorMonth | ActionsMonth>(
    key: string,
    empty: () => T,
    check: (v: unknown) => T,
  ): T {
    const cached = this.files.get(key);
    if (cached) return cached.value as T;
    const file = new StateFile<unknown>(
      join(this.options.directory, key),
      check,
      this.options.debounceMs ?? 1000,
    );
    file.onWriteError = (error) => this.problems.push(`writing ${key}: ${error.message}`);
    const loaded = file.load();
    if (loaded.problem) this.problems.push(loaded.problem);
    const value = (loaded.value as T | undefined) ?? empty();
    this.files.set(key, { file, value });
    return value;
  }

  private unitMonth(key: string): UnitMonth {
    return this.document<UnitMonth>(
      key,
      () => ({ version: 1, days: {}, counted: {}, instants: {} }),
      checkUnitMonth,
    );
  }

  private outdoorMonth(key: string): OutdoorMonth {
    return this.document<OutdoorMonth>(key, () => ({ version: 1, days: {} }), checkOutdoorMonth);
  }

  private save(key: string): void {
    const entry = this.files.get(key);
    if (entry) entry.file.save(() => entry.value);
  }

  private tallies(unit: string, dates: string[]): Map<string, DayTally> {
    const out = new Map<string, DayTally>();
    for (const date of dates) {
      const saved = this.unitMonth(this.unitKey(unit, date.slice(0, 7))).days[date];
      if (!saved) continue;
      const [y, m, d] = date.split('-').map(Number) as [number, number, number];
      const day = localDay(this.zone, Math.floor(Date.UTC(y, m - 1, d) / 86_400_000));
      out.set(date, {
        date,
        inside: BigInt(saved.inside),
        outside: BigInt(saved.outside),
        estimated: BigInt(saved.estimated),
        coveredMs: saved.coveredMs,
        dayMs: day.end - day.start,
      });
    }
    return out;
  }

  private temperatures(dates: string[]): Map<string, number> {
    const out = new Map<string, number>();
    const minHours = this.options.minTemperatureHours ?? 18;
    for (const date of dates) {
      const slots = this.outdoorMonth(join('outdoor', `${date.slice(0, 7)}.json`)).days[date];
      const mean = slots ? dailyMeanTemperature(slots, minHours) : null;
      if (mean !== null) out.set(date, mean);
    }
    return out;
  }
}

/** Whether `piece` of `meter`'s time is not counted yet, counted already, or counted in part. */
function countedState(
  doc: UnitMonth,
  meter: string,
  [from, to]: [number, number],
): 'new' | 'counted' | 'conflict' {
  if (from === to) return (doc.instants[meter] ?? []).includes(from) ? 'counted' : 'new';
  for (const [s, e] of doc.counted[meter] ?? []) {
    if (s <= from && to <= e) return 'counted';
    if (from < e && s < to) return 'conflict';
  }
  return 'new';
}

function markCounted(doc: UnitMonth, meter: string, [from, to]: [number, number]): void {
  if (from === to) {
    (doc.instants[meter] ??= []).push(from);
    return;
  }
  const ranges = [...(doc.counted[meter] ?? []), [from, to] as [number, number]].sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  doc.counted[meter] = merged;
}

function checkPeriod(period: { from: string; to: string } | undefined, what: string): void {
  if (period === undefined) return;
  if (!DATE.test(period.from) || !DATE.test(period.to) || period.from > period.to) {
    throw new RangeError(`${what} must be two dates YYYY-MM-DD, the first not after the second`);
  }
}

function datesBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000) {
    out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function checkUnitMonth(value: unknown): UnitMonth {
  if (!isRecord(value) || value['version'] !== 1 || !isRecord(value['days']) || !isRecord(value['counted'])) {
    throw new TypeError('not a savings tally document (version 1)');
  }
  for (const day of Object.values(value['days'])) {
    if (!isRecord(day) || typeof day['coveredMs'] !== 'number')
      throw new TypeError('a day without coveredMs');
    for (const k of ['inside', 'outside', 'estimated']) {
      if (typeof day[k] !== 'string' || !/^-?\d+$/.test(day[k] as string))
        throw new TypeError(`a day's ${k} is not an integer`);
    }
  }
  return {
    ...(value as unknown as UnitMonth),
    instants: isRecord(value['instants']) ? (value['instants'] as UnitMonth['instants']) : {},
  };
}

function checkActionsMonth(value: unknown): ActionsMonth {
  if (!isRecord(value) || value['version'] !== 1 || !isRecord(value['actions']))
    throw new TypeError('not a load-control actions document (version 1)');
  return value as unknown as ActionsMonth;
}

function checkOutdoorMonth(value: unknown): OutdoorMonth {
  if (!isRecord(value) || value['version'] !== 1 || !isRecord(value['days'])) {
    throw new TypeError('not an outdoor temperature document (version 1)');
  }
  return value as unknown as OutdoorMonth;
}
