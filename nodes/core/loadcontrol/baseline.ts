/**
 * Baseline models of a unit's daily energy, fitted on a baseline period, in the spirit of IPMVP option C (whole
 * facility, here the unit's meters): the baseline predicts what the unit would have used on a reporting day
 * under that day's conditions, and savings are that prediction less what it used.
 *
 * With a daily mean outdoor temperature two regressions are tried, each with a non-working-day term (weekend or
 * holiday) when the baseline has both kinds of day, as most commercial units use far less on those:
 *   degree-days:           E = b0 + bN·N + bH·HDD + bC·CDD, HDD = max(0, heatingBase - T), CDD = max(0, T - coolingBase)
 *   change-point-cooling:  E = b0 + bN·N + bC·max(0, T - τ), the change point τ searched in 0.5 °C steps (3-parameter
 *                          cooling model of ASHRAE RP-1050; a fitted τ counts as a parameter)
 * A temperature term stays only when it is significantly positive (t statistic at least 2; the weakest is dropped
 * and the model refitted), so a regression does not chase noise: energy that temperature does not explain gets the
 * day-type baseline.
 * Without temperature (or for too few days of it), or when no temperature model passes, the day-type baseline:
 * the mean energy of the baseline's weekdays, weekend days and holidays (holidays take the weekend mean when the
 * baseline has none).
 *
 * Each model is judged by ASHRAE Guideline 14's CV(RMSE), NMBE and R² (R² only for the regressions, where it
 * says whether temperature explains anything; a flat unit's day-type means have R² near 0 and still predict
 * well). A model that fails is reported with its failures and no savings are computed from it.
 */
import type { DayType } from './occupancy';
import {
  fitMetrics,
  lag1Autocorrelation,
  leastSquares,
  studentTQuantile,
  type FitMetrics,
} from './statistics';

export interface BaselineDay {
  date: string;
  dayType: DayType;
  /** Energy used that day, kWh. */
  energy: number;
  /** Daily mean outdoor temperature, °C. */
  temperature?: number;
}

/** Limits a baseline must meet (Guideline 14 as most whole-building M&V applies it to daily data). */
export interface Guideline14Limits {
  /** Largest CV(RMSE), %. */
  cvRmse: number;
  /** Largest |NMBE|, %. */
  nmbe: number;
  /** Smallest R² of a temperature regression. */
  r2: number;
  /** Fewest complete baseline days. */
  minDays: number;
}

export const GUIDELINE_14: Guideline14Limits = { cvRmse: 25, nmbe: 0.5, r2: 0.7, minDays: 30 };

export interface BaselineOptions {
  /** Degree-day base temperatures, °C (default 15.5 heating, 18 cooling). */
  heatingBase?: number;
  coolingBase?: number;
  limits?: Partial<Guideline14Limits>;
  /** Share of baseline days that need a temperature for the regressions to be tried (default 0.9). */
  temperatureCoverage?: number;
}

export type ModelKind = 'degree-days' | 'change-point-cooling' | 'day-type';

export interface BaselineModel {
  kind: ModelKind;
  /** The fitted formula in words, e.g. "E = 120.5 - 40.2·N + 3.1·HDD(15.5 °C)". */
  formula: string;
  coefficients: Record<string, number>;
  heatingBase?: number;
  coolingBase?: number;
  /** Change point τ, °C (change-point-cooling). */
  changePoint?: number;
  /** Whether the non-working-day term is in the model. */
  nonWorkingTerm?: boolean;
  metrics: FitMetrics;
  /** Lag-1 autocorrelation of the residuals of consecutive days (for the uncertainty's effective n). */
  autocorrelation: number;
  passes: boolean;
  /** What fails Guideline 14 (empty when it passes). */
  failures: string[];
}

export interface BaselineChoice {
  /** The model savings are computed from: null when none passes. */
  model: BaselineModel | null;
  /** Every model fitted, the chosen one among them. */
  candidates: BaselineModel[];
  /** Why this model (or none). */
  note: string;
}

const isNonWorking = (d: { dayType: DayType }): number => (d.dayType === 'weekday' ? 0 : 1);

/** Fits the models on the baseline days and picks one (see the file comment). */
export function fitBaseline(days: BaselineDay[], options: BaselineOptions = {}): BaselineChoice {
  const limits: Guideline14Limits = Object.assign({}, GUIDELINE_14, options.limits);
  const heatingBase = options.heatingBase ?? 15.5;
  const coolingBase = options.coolingBase ?? 18;
  const candidates: BaselineModel[] = [];
  const withTemperature = days.filter(
    (d) => typeof d.temperature === 'number' && Number.isFinite(d.temperature),
  );
  const coverage = days.length > 0 ? withTemperature.length / days.length : 0;
  const temperatureUsable = withTemperature.length > 0 && coverage >= (options.temperatureCoverage ?? 0.9);
  if (temperatureUsable) {
    const dd = degreeDayModel(withTemperature, heatingBase, coolingBase, limits);
    if (dd) candidates.push(dd);
    const cp = changePointCoolingModel(withTemperature, limits);
    if (cp) candidates.push(cp);
  }
  const dayType = dayTypeModel(days, limits);
  if (dayType) candidates.push(dayType);
  const best = (models: BaselineModel[]): BaselineModel | undefined =>
    [...models].sort((a, b) => a.metrics.cvRmse - b.metrics.cvRmse)[0];
  const temperatureModels = candidates.filter((m) => m.kind !== 'day-type');
  const passingTemperature = best(temperatureModels.filter((m) => m.passes));
  if (passingTemperature) {
    return {
      model: passingTemperature,
      candidates,
      note: `${passingTemperature.kind} regression on outdoor temperature`,
    };
  }
  const reasons = temperatureUsable
    ? temperatureModels.length > 0
      ? `no temperature regression passes Guideline 14 (${temperatureModels
          .map((m) => `${m.kind}: ${m.failures.join(', ')}`)
          .join('; ')})`
      : 'outdoor temperature explains none of the energy (no degree-day or change-point term is significant)'
    : withTemperature.length === 0
      ? 'no outdoor temperature in the baseline period'
      : `outdoor temperature for ${withTemperature.length} of ${days.length} baseline days only`;
  if (dayType?.passes) return { model: dayType, candidates, note: `day-type baseline: ${reasons}` };
  return {
    model: null,
    candidates,
    note:
      days.length === 0
        ? 'no complete baseline days'
        : `no baseline model passes Guideline 14: ${reasons}; day-type: ${dayType?.failures.join(', ') ?? 'not fitted'}`,
  };
}

/** The model's prediction for a day, kWh; null when the model needs a temperature the day lacks. */
export function predict(
  model: BaselineModel,
  day: { dayType: DayType; temperature?: number },
): number | null {
  const c = model.coefficients;
  if (model.kind === 'day-type') {
    const mean = c[day.dayType] ?? (day.dayType === 'holiday' ? c['weekend'] : undefined);
    return mean ?? null;
  }
  const t = day.temperature;
  if (typeof t !== 'number' || !Number.isFinite(t)) return null;
  let e = (c['intercept'] ?? 0) + (c['nonWorking'] ?? 0) * isNonWorking(day);
  if (model.kind === 'degree-days') {
    e += (c['hdd'] ?? 0) * Math.max(0, (model.heatingBase as number) - t);
    e += (c['cdd'] ?? 0) * Math.max(0, t - (model.coolingBase as number));
  } else {
    e += (c['cooling'] ?? 0) * Math.max(0, t - (model.changePoint as number));
  }
  return e;
}

/**
 * The uncertainty of savings summed over `m` reporting days at `confidence` (two-sided), kWh: Guideline 14's
 * fractional savings uncertainty (Annex B) written in absolute terms,
 *   U = t × 1.26 × RMSE × sqrt(m × (n / n') × (1 + 2 / n)),  n' = n (1 - ρ) / (1 + ρ),
 * t with n - p degrees of freedom, ρ the residuals' lag-1 autocorrelation (taken as 0 when negative). The 1.26
 * is the guideline's empirical correction; the formula is an approximation that assumes the reporting days are
 * like the baseline's.
 */
export function savingsUncertainty(model: BaselineModel, m: number, confidence = 0.9): number {
  if (m <= 0) return 0;
  const { n, p, rmse } = model.metrics;
  const rho = Math.min(Math.max(model.autocorrelation, 0), 0.99);
  const effective = (n * (1 - rho)) / (1 + rho);
  const t = studentTQuantile((1 + confidence) / 2, Math.max(1, n - p));
  return t * 1.26 * rmse * Math.sqrt(m * (n / effective) * (1 + 2 / n));
}

function judge(
  kind: ModelKind,
  metrics: FitMetrics,
  limits: Guideline14Limits,
): { passes: boolean; failures: string[] } {
  const failures: string[] = [];
  if (metrics.n < limits.minDays) failures.push(`${metrics.n} baseline days, fewer than ${limits.minDays}`);
  if (!(metrics.cvRmse <= limits.cvRmse))
    failures.push(`CV(RMSE) ${fixed(metrics.cvRmse)} % above ${limits.cvRmse} %`);
  if (!(Math.abs(metrics.nmbe) <= limits.nmbe))
    failures.push(`NMBE ${fixed(metrics.nmbe)} % beyond ±${limits.nmbe} %`);
  if (kind !== 'day-type' && !(metrics.r2 >= limits.r2))
    failures.push(`R² ${fixed(metrics.r2)} below ${limits.r2}`);
  return { passes: failures.length === 0, failures };
}

const fixed = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : String(x));

/** Pairs of residuals of consecutive dates, for the autocorrelation. */
function residualPairs(days: BaselineDay[], residuals: number[]): Array<[number, number]> {
  const pairs: Array<[number, number]> = [];
  for (let i = 1; i < days.length; i++) {
    const a = Date.parse(`${(days[i - 1] as BaselineDay).date}T00:00:00Z`);
    const b = Date.parse(`${(days[i] as BaselineDay).date}T00:00:00Z`);
    if (b - a === 86_400_000) pairs.push([residuals[i - 1] as number, residuals[i] as number]);
  }
  return pairs;
}

interface Regression {
  coefficients: number[];
  predicted: number[];
  sse: number;
  /** Each coefficient's t statistic (coefficient / standard error). */
  t: number[];
}

/** A temperature term is kept only when its t statistic is at least this (about 95 % one-sided): no chasing noise. */
const MIN_TERM_T = 2;

function regress(rows: number[][], y: number[]): Regression | null {
  const fit = leastSquares(rows, y);
  if (!fit) return null;
  const { coefficients } = fit;
  const predicted = rows.map((row) => row.reduce((acc, v, j) => acc + v * (coefficients[j] as number), 0));
  const sse = y.reduce((acc, v, i) => acc + (v - (predicted[i] as number)) ** 2, 0);
  const variance = rows.length > coefficients.length ? sse / (rows.length - coefficients.length) : Number.NaN;
  const t = coefficients.map((b, j) => b / Math.sqrt(variance * (fit.unscaledVariance[j] as number)));
  return { coefficients, predicted, sse, t };
}

function finish(
  kind: ModelKind,
  days: BaselineDay[],
  fit: Regression,
  names: string[],
  extraParameters: number,
  limits: Guideline14Limits,
  extra: Partial<BaselineModel>,
  formula: string,
): BaselineModel {
  const sorted = days.map((d, i) => ({ d, i })).sort((a, b) => a.d.date.localeCompare(b.d.date));
  const y = days.map((d) => d.energy);
  const metrics = fitMetrics(y, fit.predicted, names.length + extraParameters);
  const residuals = sorted.map(({ i }) => (y[i] as number) - (fit.predicted[i] as number));
  const autocorrelation = lag1Autocorrelation(
    residualPairs(
      sorted.map(({ d }) => d),
      residuals,
    ),
    residuals,
  );
  return {
    kind,
    formula,
    coefficients: Object.fromEntries(names.map((name, j) => [name, fit.coefficients[j] as number])),
    ...extra,
    metrics,
    autocorrelation,
    ...judge(kind, metrics, limits),
  };
}

const hasBothDayKinds = (days: BaselineDay[]): boolean =>
  days.some((d) => isNonWorking(d) === 1) && days.some((d) => isNonWorking(d) === 0);

const term = (value: number, name: string): string =>
  `${value < 0 ? '-' : '+'} ${Math.abs(value).toFixed(3)}·${name}`;

function degreeDayModel(
  days: BaselineDay[],
  heatingBase: number,
  coolingBase: number,
  limits: Guideline14Limits,
): BaselineModel | null {
  const temps = days.map((d) => d.temperature as number);
  const hdd = temps.map((t) => Math.max(0, heatingBase - t));
  const cdd = temps.map((t) => Math.max(0, t - coolingBase));
  const names = ['intercept'];
  const columns: number[][] = [days.map(() => 1)];
  if (hasBothDayKinds(days)) {
    names.push('nonWorking');
    columns.push(days.map(isNonWorking));
  }
  if (hdd.some((v) => v > 0)) {
    names.push('hdd');
    columns.push(hdd);
  }
  if (cdd.some((v) => v > 0)) {
    names.push('cdd');
    columns.push(cdd);
  }
  const y = days.map((d) => d.energy);
  let fit: Regression | null = null;
  // Drop the weakest degree-day term while one is not significantly positive (energy rises with heating and
  // cooling degree-days; a term that does not is noise), then refit.
  for (;;) {
    if (!names.includes('hdd') && !names.includes('cdd')) return null;
    fit = regress(
      days.map((_, i) => columns.map((c) => c[i] as number)),
      y,
    );
    if (!fit) return null;
    const current = fit;
    const weak = names
      .map((name, j) => ({ name, j, t: current.t[j] as number }))
      .filter((term) => (term.name === 'hdd' || term.name === 'cdd') && !(term.t >= MIN_TERM_T))
      .sort((a, b) => a.t - b.t)[0];
    if (!weak) break;
    names.splice(weak.j, 1);
    columns.splice(weak.j, 1);
  }
  const c = fit.coefficients;
  const labels: Record<string, string> = {
    nonWorking: 'N',
    hdd: `HDD(${heatingBase} °C)`,
    cdd: `CDD(${coolingBase} °C)`,
  };
  const formula = `E = ${(c[0] as number).toFixed(3)} ${names
    .slice(1)
    .map((name, j) => term(c[j + 1] as number, labels[name] as string))
    .join(' ')}`;
  return finish(
    'degree-days',
    days,
    fit,
    names,
    0,
    limits,
    { heatingBase, coolingBase, nonWorkingTerm: names.includes('nonWorking') },
    formula,
  );
}

function changePointCoolingModel(days: BaselineDay[], limits: Guideline14Limits): BaselineModel | null {
  const temps = days.map((d) => d.temperature as number).sort((a, b) => a - b);
  const at = (q: number): number => temps[Math.min(temps.length - 1, Math.floor(q * temps.length))] as number;
  const low = Math.ceil(at(0.1) * 2) / 2;
  const high = Math.floor(at(0.9) * 2) / 2;
  const nonWorking = hasBothDayKinds(days);
  const y = days.map((d) => d.energy);
  let best: { tau: number; fit: Regression } | undefined;
  for (let tau = low; tau <= high; tau += 0.5) {
    const rows = days.map((d) => [
      1,
      ...(nonWorking ? [isNonWorking(d)] : []),
      Math.max(0, (d.temperature as number) - tau),
    ]);
    const fit = regress(rows, y);
    // A cooling model's slope is positive; a negative one describes heating and belongs to the degree-day model.
    if (!fit || !((fit.coefficients[fit.coefficients.length - 1] as number) > 0)) continue;
    if (!best || fit.sse < best.fit.sse) best = { tau, fit };
  }
  if (!best || !((best.fit.t[best.fit.t.length - 1] as number) >= MIN_TERM_T)) return null;
  const names = ['intercept', ...(nonWorking ? ['nonWorking'] : []), 'cooling'];
  const c = best.fit.coefficients;
  const formula = `E = ${(c[0] as number).toFixed(3)} ${nonWorking ? `${term(c[1] as number, 'N')} ` : ''}${term(
    c[c.length - 1] as number,
    `max(0, T - ${best.tau} °C)`,
  )}`;
  return finish(
    'change-point-cooling',
    days,
    best.fit,
    names,
    1,
    limits,
    { changePoint: best.tau, nonWorkingTerm: nonWorking },
    formula,
  );
}

function dayTypeModel(days: BaselineDay[], limits: Guideline14Limits): BaselineModel | null {
  if (days.length === 0) return null;
  const sums = new Map<DayType, { sum: number; n: number }>();
  for (const d of days) {
    const s = sums.get(d.dayType) ?? { sum: 0, n: 0 };
    s.sum += d.energy;
    s.n += 1;
    sums.set(d.dayType, s);
  }
  const types = [...sums.keys()].sort();
  const means = Object.fromEntries(
    types.map((t) => [t, (sums.get(t) as { sum: number; n: number }).sum / (sums.get(t) as { n: number }).n]),
  );
  const predicted = days.map((d) => means[d.dayType] as number);
  const fit: Regression = {
    coefficients: types.map((t) => means[t] as number),
    t: [],
    predicted,
    sse: days.reduce((acc, d, i) => acc + (d.energy - (predicted[i] as number)) ** 2, 0),
  };
  const formula = `E = ${types.map((t) => `${(means[t] as number).toFixed(3)} on a ${t}`).join(', ')}`;
  return finish('day-type', days, fit, types, 0, limits, {}, formula);
}
