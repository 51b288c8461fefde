/**
 * The savings evidence of one unit over a reporting period, per day and per month: energy used inside and
 * outside the occupancy schedule, and measured savings (adjusted baseline - actual) with their uncertainty.
 *
 * Rounding, so that the figures add up as a reader checks them: every energy is reported in kWh to three
 * decimals (watt-hours). Metered energy comes from exact tallies (millionths of a kWh), rounded half-even; the
 * baseline comes from floating-point statistics, rounded half away from zero; a day's savings is its rounded
 * baseline less its rounded energy, exactly; a month's figures are the sums of its days as shown. Only the
 * uncertainty and percentages are computed for the month as a whole.
 */
import { csvNumber, csvRow } from '../csv';
import { divRound, formatScaled } from '../decimal';
import { predict, savingsUncertainty, type BaselineChoice, type BaselineDay } from './baseline';
import { dayTypeOf, type DayType, type OccupancySchedule } from './occupancy';
import { ENERGY_SCALE } from './savings';
import { hoursOf, reliefKwhOf, type DayActions } from './savings-actions';

/** What load control did on a unit in a day or month (prepay-loadcontrol's actions), beside the energy. */
export interface LoadControlFigures {
  /** Hours the unit's HVAC was set back (vacancy), 3 decimals. */
  setbackHours: number;
  /** Demand steps shed on the unit. */
  shedSteps: number;
  /** Steps the cutoff held or refused (they relieved nothing). */
  notApplied: number;
  /** Hours its demand steps were in force, 3 decimals. */
  stepHours: number;
  /** The relief the steps were expected to give while applied, kWh, 3 decimals (an estimate, not measured). */
  estimatedReliefKWh: number;
}

/** A unit's exact tally for one local day. */
export interface DayTally {
  date: string;
  /** Millionths of a kWh. */
  inside: bigint;
  outside: bigint;
  /** Part of inside + outside that the meter estimated (a gap after communication loss). */
  estimated: bigint;
  /** Milliseconds of the day that consumption covers, and the day's length (23, 24 or 25 hours). */
  coveredMs: number;
  dayMs: number;
}

/** A day counts (in the baseline, or for savings) only when consumption covers at least this share of it. */
export const COMPLETE_COVERAGE = 0.99;

export interface DayRow {
  date: string;
  dayType: DayType;
  complete: boolean;
  /** Share of the day covered by consumption, 0-1, four decimals. */
  coverage: number;
  inBaselinePeriod: boolean;
  /** Daily mean outdoor temperature, °C (one decimal), null when not measured. */
  temperatureC: number | null;
  energyKWh: number;
  insideKWh: number;
  outsideKWh: number;
  estimatedKWh: number;
  /** Null on an incomplete day, without a passing model, or without the temperature the model needs. */
  baselineKWh: number | null;
  savingsKWh: number | null;
  uncertaintyKWh: number | null;
  /** Present when the recorder is fed prepay-loadcontrol's actions. */
  loadControl?: LoadControlFigures;
}

export interface MonthRow {
  month: string;
  days: number;
  completeDays: number;
  /** Days with a baseline (and so savings). */
  savingsDays: number;
  energyKWh: number;
  insideKWh: number;
  outsideKWh: number;
  estimatedKWh: number;
  /** Sums over the savings days only. */
  baselineKWh: number | null;
  actualKWh: number | null;
  savingsKWh: number | null;
  uncertaintyKWh: number | null;
  /** Savings as a percentage of the adjusted baseline (two decimals). */
  savingsPercent: number | null;
  /** The sums of the days' figures as shown. */
  loadControl?: LoadControlFigures;
}

export interface SavingsReport {
  unit: string;
  timeZone: string;
  from: string;
  to: string;
  schedule: string;
  baselinePeriod: { from: string; to: string } | null;
  baseline: BaselineChoice;
  /** Two-sided confidence of the uncertainties. */
  confidence: number;
  rounding: string;
  days: DayRow[];
  months: MonthRow[];
}

export const ROUNDING_NOTE =
  'kWh to 3 decimals; metered energy from exact tallies rounded half-even, baseline from floating-point ' +
  'statistics rounded half away from zero; day savings = rounded baseline - rounded energy; months sum their days';

export interface ReportInput {
  unit: string;
  timeZone: string;
  scheduleText: string;
  schedule: OccupancySchedule;
  /** Reporting dates, inclusive, in order. */
  dates: string[];
  tallies: Map<string, DayTally>;
  temperatures: Map<string, number>;
  baselinePeriod: { from: string; to: string } | null;
  baseline: BaselineChoice;
  confidence: number;
  /** Load control's actions per date, when known. */
  actions?: Map<string, DayActions>;
}

function figuresOf(day: DayActions | undefined): LoadControlFigures {
  return {
    setbackHours: hoursOf(day?.setbackMs ?? 0),
    shedSteps: day?.shed ?? 0,
    notApplied: day?.notApplied ?? 0,
    stepHours: hoursOf(day?.stepMs ?? 0),
    estimatedReliefKWh: reliefKwhOf(day?.reliefWms ?? 0n),
  };
}

/** Sums figures shown to 3 decimals exactly (in thousandths). */
function sumFigures(rows: readonly LoadControlFigures[]): LoadControlFigures {
  const milli = (pick: (f: LoadControlFigures) => number): number =>
    rows.reduce((a, f) => a + Math.round(pick(f) * 1000), 0) / 1000;
  return {
    setbackHours: milli((f) => f.setbackHours),
    shedSteps: rows.reduce((a, f) => a + f.shedSteps, 0),
    notApplied: rows.reduce((a, f) => a + f.notApplied, 0),
    stepHours: milli((f) => f.stepHours),
    estimatedReliefKWh: milli((f) => f.estimatedReliefKWh),
  };
}

/** Millionths of a kWh → watt-hours, half-even. */
function wattHours(energy: bigint): number {
  return Number(divRound(energy, 10n ** BigInt(ENERGY_SCALE - 3), 'half-even'));
}

const kwhOf = (wh: number): number => Number(formatScaled(BigInt(wh), 3));
const roundAway = (x: number): number => Math.sign(x) * Math.round(Math.abs(x));

export const isComplete = (t: DayTally | undefined): boolean =>
  t !== undefined && t.dayMs > 0 && t.coveredMs >= COMPLETE_COVERAGE * t.dayMs;

/** The complete days of the baseline period, as the models take them (kWh as floating point). */
export function baselineDays(
  schedule: OccupancySchedule,
  dates: string[],
  tallies: Map<string, DayTally>,
  temperatures: Map<string, number>,
): BaselineDay[] {
  const out: BaselineDay[] = [];
  for (const date of dates) {
    const t = tallies.get(date);
    if (!t || !isComplete(t)) continue;
    const temperature = temperatures.get(date);
    out.push({
      date,
      dayType: dayTypeOf(schedule, date),
      energy: Number(t.inside + t.outside) / 10 ** ENERGY_SCALE,
      ...(temperature === undefined ? {} : { temperature }),
    });
  }
  return out;
}

export function buildSavingsReport(input: ReportInput): SavingsReport {
  const model = input.baseline.model;
  const inBaseline = (date: string): boolean =>
    input.baselinePeriod !== null && date >= input.baselinePeriod.from && date <= input.baselinePeriod.to;
  const days: Array<DayRow & { wh: { e: number; i: number; o: number; s: number; b: number | null } }> = [];
  for (const date of input.dates) {
    const t = input.tallies.get(date);
    const dayType = dayTypeOf(input.schedule, date);
    const temperature = input.temperatures.get(date);
    const i = wattHours(t?.inside ?? 0n);
    const o = wattHours(t?.outside ?? 0n);
    const e = wattHours((t?.inside ?? 0n) + (t?.outside ?? 0n));
    const s = wattHours(t?.estimated ?? 0n);
    const complete = isComplete(t);
    let b: number | null = null;
    if (model && complete) {
      const predicted = predict(model, { dayType, ...(temperature === undefined ? {} : { temperature }) });
      if (predicted !== null) b = roundAway(predicted * 1000);
    }
    days.push({
      date,
      dayType,
      complete,
      coverage: t && t.dayMs > 0 ? Math.round((t.coveredMs / t.dayMs) * 10_000) / 10_000 : 0,
      inBaselinePeriod: inBaseline(date),
      temperatureC: temperature === undefined ? null : Math.round(temperature * 10) / 10,
      energyKWh: kwhOf(e),
      insideKWh: kwhOf(i),
      outsideKWh: kwhOf(o),
      estimatedKWh: kwhOf(s),
      baselineKWh: b === null ? null : kwhOf(b),
      savingsKWh: b === null ? null : kwhOf(b - e),
      uncertaintyKWh:
        b === null || !model ? null : kwhOf(roundAway(savingsUncertainty(model, 1, input.confidence) * 1000)),
      ...(input.actions ? { loadControl: figuresOf(input.actions.get(date)) } : {}),
      wh: { e, i, o, s, b },
    });
  }
  const months: MonthRow[] = [];
  for (const month of [...new Set(input.dates.map((d) => d.slice(0, 7)))]) {
    const rows = days.filter((d) => d.date.startsWith(month));
    const sum = (pick: (d: (typeof rows)[number]) => number): number => rows.reduce((a, d) => a + pick(d), 0);
    const withBaseline = rows.filter((d) => d.wh.b !== null);
    const baselineWh = withBaseline.reduce((a, d) => a + (d.wh.b as number), 0);
    const actualWh = withBaseline.reduce((a, d) => a + d.wh.e, 0);
    const m = withBaseline.length;
    months.push({
      month,
      days: rows.length,
      completeDays: rows.filter((d) => d.complete).length,
      savingsDays: m,
      energyKWh: kwhOf(sum((d) => d.wh.e)),
      insideKWh: kwhOf(sum((d) => d.wh.i)),
      outsideKWh: kwhOf(sum((d) => d.wh.o)),
      estimatedKWh: kwhOf(sum((d) => d.wh.s)),
      baselineKWh: m === 0 ? null : kwhOf(baselineWh),
      actualKWh: m === 0 ? null : kwhOf(actualWh),
      savingsKWh: m === 0 ? null : kwhOf(baselineWh - actualWh),
      uncertaintyKWh:
        m === 0 || !model ? null : kwhOf(roundAway(savingsUncertainty(model, m, input.confidence) * 1000)),
      savingsPercent:
        m === 0 || baselineWh === 0
          ? null
          : Math.round(((baselineWh - actualWh) / baselineWh) * 10_000) / 100,
      ...(input.actions ? { loadControl: sumFigures(rows.map((d) => d.loadControl!)) } : {}),
    });
  }
  return {
    unit: input.unit,
    timeZone: input.timeZone,
    from: input.dates[0] ?? '',
    to: input.dates[input.dates.length - 1] ?? '',
    schedule: input.scheduleText,
    baselinePeriod: input.baselinePeriod,
    baseline: input.baseline,
    confidence: input.confidence,
    rounding: ROUNDING_NOTE,
    days: days.map(({ wh: _wh, ...row }) => row),
    months,
  };
}

const CSV_HEADER = [
  'unit',
  'period',
  'date',
  'day_type',
  'complete', // yes/no for a day, the number of complete days for a month
  'temperature_c',
  'energy_kwh',
  'inside_schedule_kwh',
  'outside_schedule_kwh',
  'estimated_kwh',
  'baseline_kwh',
  'savings_kwh',
  'uncertainty_kwh',
  'savings_percent',
  'baseline_model',
];

/** Columns added when the report carries load control's actions. */
const CSV_LOAD_CONTROL = [
  'setback_hours',
  'shed_steps',
  'not_applied_steps',
  'step_hours',
  'estimated_relief_kwh',
];

/**
 * The report as CSV: one row per day, then one per month (period "day" or "month"), the unit's id neutralised
 * against formula injection and every figure a number. The model's details stay in the JSON report.
 */
export function savingsReportCsv(report: SavingsReport): string {
  const num = (v: number | null): unknown => (v === null ? '' : csvNumber(v));
  const kwh = (v: number | null): unknown => (v === null ? '' : csvNumber(v.toFixed(3)));
  const model = report.baseline.model
    ? `${report.baseline.model.kind} (passes Guideline 14)`
    : `none: ${report.baseline.note}`;
  const withActions = report.days.some((d) => d.loadControl !== undefined);
  const actions = (f: LoadControlFigures | undefined): unknown[] =>
    !withActions
      ? []
      : [
          csvNumber((f?.setbackHours ?? 0).toFixed(3)),
          csvNumber(f?.shedSteps ?? 0),
          csvNumber(f?.notApplied ?? 0),
          csvNumber((f?.stepHours ?? 0).toFixed(3)),
          csvNumber((f?.estimatedReliefKWh ?? 0).toFixed(3)),
        ];
  const lines = [csvRow(withActions ? [...CSV_HEADER, ...CSV_LOAD_CONTROL] : CSV_HEADER)];
  for (const d of report.days) {
    lines.push(
      csvRow([
        report.unit,
        'day',
        d.date,
        d.dayType,
        d.complete ? 'yes' : 'no',
        num(d.temperatureC),
        kwh(d.energyKWh),
        kwh(d.insideKWh),
        kwh(d.outsideKWh),
        kwh(d.estimatedKWh),
        kwh(d.baselineKWh),
        kwh(d.savingsKWh),
        kwh(d.uncertaintyKWh),
        '',
        model,
        ...actions(d.loadControl),
      ]),
    );
  }
  for (const m of report.months) {
    lines.push(
      csvRow([
        report.unit,
        'month',
        m.month,
        '',
        csvNumber(m.completeDays),
        '',
        kwh(m.energyKWh),
        kwh(m.insideKWh),
        kwh(m.outsideKWh),
        kwh(m.estimatedKWh),
        kwh(m.baselineKWh),
        kwh(m.savingsKWh),
        kwh(m.uncertaintyKWh),
        num(m.savingsPercent),
        model,
        ...actions(m.loadControl),
      ]),
    );
  }
  return `${lines.join('\n')}\n`;
}
