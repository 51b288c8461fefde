/**
 * Validates a tariff document and compiles it for the engine. Every problem is reported with the
 * path of the field at fault ("energy.blocks[1].rate: ...") so the editor and runtime errors tell
 * the integrator exactly what to fix; all problems are collected, not just the first.
 */
import { formatScaled, parseDecimal, ParsedDecimal, ROUNDING_MODES, RoundingMode } from '../decimal';
import { isKnownCurrency, priceToSubMinor } from '../money';
import { UTILITIES, Utility } from '../messages';
import {
  CompiledEnergy,
  CompiledRule,
  CompiledTariff,
  DAY_COUNTS,
  DAY_TYPES,
  DayCount,
  DayType,
  Decimal,
  Ratio,
  TariffDocument,
} from './types';
import { TimeZone } from './zone';
import { canonicalUnit, defaultUnitFor } from './units';
import {
  figureFormat,
  FigureFormat,
  figurePattern,
  figureRuleAt,
  MAX_BLOCKS,
  moneyFormat,
  moneyRuleAt,
  DEFAULT_PARTIAL_MONTH,
  PARTIAL_MONTH_POLICIES,
  PartialMonthPolicy,
  PLAIN_DECIMAL,
} from './rules';

export interface TariffProblem {
  path: string;
  message: string;
}

export class TariffValidationError extends Error {
  constructor(
    readonly tariffName: string,
    readonly problems: TariffProblem[],
  ) {
    super(
      `tariff "${tariffName}" is invalid: ` +
        problems.map((p) => `${p.path || '(document)'}: ${p.message}`).join('; '),
    );
    this.name = 'TariffValidationError';
  }
}

const DAY_BITS: Record<DayType, number> = {
  sunday: 1 << 0,
  mon: 1 << 1,
  tue: 1 << 2,
  wed: 1 << 3,
  thu: 1 << 4,
  fri: 1 << 5,
  saturday: 1 << 6,
  weekday: 0b0111110,
  holiday: 1 << 7,
};

/** Bit of a calendar day for rule matching: weekday 0-6, or the holiday bit. */
export function dayBit(weekday: number, isHoliday: boolean): number {
  return isHoliday ? DAY_BITS.holiday : 1 << weekday;
}

const TIME_PATTERN = /^([01]\d|2[0-3]):([0-5]\d)$|^24:00$/;
const MONTH_DAY_PATTERN = /^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const DATE_PATTERN = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

/** Why a figure is outside its format, or undefined when it is inside. */
function outOfFormat(parsed: ParsedDecimal, format: FigureFormat, money: boolean): string | undefined {
  let { units, scale } = parsed;
  while (scale > 0 && units % 10n === 0n) {
    units /= 10n;
    scale -= 1;
  }
  if (units < 0n && !format.signed) return 'must not be negative';
  if (format.positive && units <= 0n) return 'must be greater than zero';
  const magnitude = units < 0n ? -units : units;
  if (format.atMost100 && magnitude > 100n * 10n ** BigInt(scale)) return 'must be at most 100 (percent)';
  if (magnitude >= 10n ** BigInt(format.intDigits + scale)) {
    return money
      ? `is too large: at most ${format.intDigits} digits before the point (a charge must carry it exactly)`
      : `must be less than 1${'0'.repeat(format.intDigits)}`;
  }
  if (scale > format.decimals) {
    return money
      ? `has more than ${format.decimals} decimal places: the finest price step is 1/10,000 of a minor unit`
      : `has more than ${format.decimals} decimal places`;
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class Checker {
  readonly problems: TariffProblem[] = [];

  fail(path: string, message: string): undefined {
    this.problems.push({ path, message });
    return undefined;
  }

  /**
   * A figure of the document by the rules of its field (rules.ts): money fields by the tariff's currency and
   * price unit, other figures by their own bounds. Strings must match the same pattern the schema publishes.
   */
  figure(value: unknown, path: string, format: FigureFormat, money: boolean): ParsedDecimal | undefined {
    if (typeof value === 'string') {
      if (!PLAIN_DECIMAL.test(value)) {
        return this.fail(
          path,
          'must be a plain decimal such as "0.2450" (digits and an optional point: no exponent, "+", spaces or separators)',
        );
      }
      const parsed = parseDecimal(value);
      if (new RegExp(figurePattern(format)).test(value)) return parsed;
      return this.fail(
        path,
        outOfFormat(parsed, format, money) ??
          `must have at most ${format.intDigits} digits before the point and ${format.decimals} after`,
      );
    }
    if (typeof value !== 'number')
      return this.fail(path, 'must be a decimal number or a string such as "0.2450"');
    if (!Number.isFinite(value)) return this.fail(path, 'must be a finite number');
    const parsed = parseDecimal(value);
    const problem = outOfFormat(parsed, format, money);
    return problem === undefined ? parsed : this.fail(path, problem);
  }

  /** A money figure (its rule found by path in MONEY_FIELDS) as sub-minor units. */
  price(doc: TariffDocument, value: unknown, path: string): bigint | undefined {
    const rule = moneyRuleAt(path);
    if (!rule) throw new Error(`no money rule for ${path}`);
    if (!isKnownCurrency(doc.currency)) {
      // The currency is reported on its own; the figure is checked for its grammar and sign only.
      this.figure(
        value,
        path,
        { signed: rule.signed, positive: false, intDigits: 1000, decimals: 1000 },
        true,
      );
      return undefined;
    }
    const priceUnit = doc.priceUnit === 'minor' ? 'minor' : 'major';
    const checked = this.figure(value, path, moneyFormat(rule, doc.currency, priceUnit), true);
    if (checked === undefined) return undefined;
    return priceToSubMinor(value as Decimal, doc.currency, priceUnit);
  }

  /** A figure that is not money (its rule found by path in FIGURE_FIELDS) as an exact ratio. */
  ratio(value: unknown, path: string): Ratio | undefined {
    const rule = figureRuleAt(path);
    if (!rule) throw new Error(`no figure rule for ${path}`);
    const checked = this.figure(value, path, figureFormat(rule), false);
    if (checked === undefined) return undefined;
    return { num: checked.units, den: 10n ** BigInt(checked.scale) };
  }

  name(value: unknown, path: string): string | undefined {
    if (typeof value !== 'string' || !/^[A-Za-z0-9_-][A-Za-z0-9 _.-]{0,39}$/.test(value)) {
      return this.fail(path, 'must be a name of letters, digits, space, "_", "-" or "." (at most 40)');
    }
    return value;
  }

  minutes(value: unknown, path: string): number | undefined {
    if (typeof value !== 'string' || !TIME_PATTERN.test(value))
      return this.fail(path, 'must be a time "HH:MM"');
    const [hours, minutes] = value.split(':').map(Number) as [number, number];
    return hours * 60 + minutes;
  }

  monthDay(value: unknown, path: string): number | undefined {
    if (typeof value !== 'string' || !MONTH_DAY_PATTERN.test(value))
      return this.fail(path, 'must be "MM-DD"');
    const [month, day] = value.split('-').map(Number) as [number, number];
    return month * 100 + day;
  }

  array(value: unknown, path: string): unknown[] | undefined {
    if (!Array.isArray(value)) return this.fail(path, 'must be an array');
    return value;
  }

  object(value: unknown, path: string): Record<string, unknown> | undefined {
    if (!isObject(value)) return this.fail(path, 'must be an object');
    return value;
  }

  unknownKeys(value: Record<string, unknown>, allowed: string[], path: string): void {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) this.fail(path ? `${path}.${key}` : key, 'is not a known tariff field');
    }
  }
}

const TOP_LEVEL_KEYS = [
  '$schema', 'name', 'description', 'currency', 'priceUnit', 'utility', 'unit', 'timezone', 'rounding',
  'holidays', 'seasons', 'conversion', 'energy', 'surcharges', 'standingCharge', 'fixedMonthly',
  'minimumMonthly', 'partialMonth', 'demand', 'capacity', 'taxes', 'carbon',
]; // prettier-ignore

/**
 * What is allowed but probably not meant: a tariff without a time zone runs on UTC (its midnight, its
 * days and its time-of-use periods), which is right only for a site on UTC.
 */
export function tariffWarnings(document: unknown): TariffProblem[] {
  if (!isObject(document) || document.timezone !== undefined) return [];
  return [
    {
      path: 'timezone',
      message: "none given: the tariff runs on UTC (its days, midnight and periods); name the site's zone",
    },
  ];
}

/** Validates a document; returns every problem found (empty when the tariff is usable). */
export function validateTariff(document: unknown, name = 'tariff'): TariffProblem[] {
  try {
    compileTariff(document, name);
    return [];
  } catch (error) {
    if (error instanceof TariffValidationError) return error.problems;
    throw error;
  }
}

/** Compiles a document, or throws a TariffValidationError listing every problem. */
export function compileTariff(document: unknown, name: string): CompiledTariff {
  const c = new Checker();
  if (!isObject(document))
    throw new TariffValidationError(name, [{ path: '', message: 'must be a JSON object' }]);
  const doc = document as unknown as TariffDocument;
  c.unknownKeys(document, TOP_LEVEL_KEYS, '');

  if (!isKnownCurrency(doc.currency)) c.fail('currency', 'must be an ISO 4217 code such as "GBP" or "MYR"');
  if (doc.priceUnit !== undefined && doc.priceUnit !== 'major' && doc.priceUnit !== 'minor') {
    c.fail('priceUnit', 'must be "major" or "minor"');
  }
  if (doc.utility !== undefined && !UTILITIES.includes(doc.utility)) {
    c.fail('utility', `must be one of ${UTILITIES.join(', ')}`);
  }
  const zoneName = doc.timezone ?? 'UTC';
  if (typeof zoneName !== 'string' || !TimeZone.isValid(zoneName)) {
    c.fail('timezone', 'must be an IANA time zone such as "Europe/London"');
  }
  const rounding: RoundingMode = doc.rounding ?? 'half-even';
  if (!ROUNDING_MODES.includes(rounding)) c.fail('rounding', `must be one of ${ROUNDING_MODES.join(', ')}`);

  const unit = doc.unit !== undefined ? canonicalUnit(doc.unit) : defaultUnitFor(doc.utility);
  if (!unit) c.fail('unit', 'must be a unit such as "kWh", "m3" or "RTh"');

  const holidays = new Set<string>();
  if (doc.holidays !== undefined) {
    c.array(doc.holidays, 'holidays')?.forEach((day, i) => {
      if (typeof day === 'string' && DATE_PATTERN.test(day)) holidays.add(day);
      else c.fail(`holidays[${i}]`, 'must be a date "YYYY-MM-DD"');
    });
  }

  const seasons: CompiledTariff['seasons'] = [];
  if (doc.seasons !== undefined) {
    c.array(doc.seasons, 'seasons')?.forEach((season, i) => {
      const s = c.object(season, `seasons[${i}]`);
      if (!s) return;
      c.unknownKeys(s, ['name', 'from', 'to'], `seasons[${i}]`);
      const seasonName = c.name(s.name, `seasons[${i}].name`);
      const from = c.monthDay(s.from, `seasons[${i}].from`);
      const to = c.monthDay(s.to, `seasons[${i}].to`);
      if (seasonName && from !== undefined && to !== undefined) seasons.push({ name: seasonName, from, to });
    });
    if (seasons.length > 30) c.fail('seasons', 'at most 30 seasons');
  }

  let conversion: CompiledTariff['conversion'];
  if (doc.conversion !== undefined) {
    const conv = c.object(doc.conversion, 'conversion');
    if (conv) {
      c.unknownKeys(conv, ['from', 'factor', 'volumeCorrection', 'calorificValue'], 'conversion');
      const from = typeof conv.from === 'string' ? canonicalUnit(conv.from) : undefined;
      if (!from) c.fail('conversion.from', 'must name the unit readings arrive in, such as "m3" or "RTh"');
      let factor: Ratio | undefined;
      const vcf =
        conv.volumeCorrection === undefined
          ? undefined
          : c.ratio(conv.volumeCorrection, 'conversion.volumeCorrection');
      const cv =
        conv.calorificValue === undefined
          ? undefined
          : c.ratio(conv.calorificValue, 'conversion.calorificValue');
      if (conv.factor !== undefined) {
        factor = c.ratio(conv.factor, 'conversion.factor');
      } else if (conv.volumeCorrection !== undefined && conv.calorificValue !== undefined) {
        // kWh = m3 x VCF x CV[MJ/m3] / 3.6 MJ/kWh
        if (vcf && cv) factor = { num: vcf.num * cv.num * 10n, den: vcf.den * cv.den * 36n };
      } else if (conv.volumeCorrection !== undefined || conv.calorificValue !== undefined) {
        const missing = conv.volumeCorrection === undefined ? 'volumeCorrection' : 'calorificValue';
        c.fail(`conversion.${missing}`, 'is required with the other, or give "factor"');
      } else {
        c.fail('conversion', 'needs "factor", or "volumeCorrection" and "calorificValue" for gas');
      }
      if (from && factor) conversion = { from, factor };
    }
  }

  const energy = compileEnergy(c, doc, seasons);

  const surcharges: CompiledTariff['surcharges'] = [];
  if (doc.surcharges !== undefined) {
    c.array(doc.surcharges, 'surcharges')?.forEach((item, i) => {
      const s = c.object(item, `surcharges[${i}]`);
      if (!s) return;
      c.unknownKeys(s, ['name', 'rate', 'share'], `surcharges[${i}]`);
      const itemName = c.name(s.name, `surcharges[${i}].name`);
      const rate = c.price(doc, s.rate, `surcharges[${i}].rate`);
      let share: Ratio | undefined = { num: 1n, den: 1n };
      if (s.share !== undefined) {
        const percent = c.ratio(s.share, `surcharges[${i}].share`);
        share = percent && { num: percent.num, den: percent.den * 100n };
      }
      if (itemName && rate !== undefined && share) surcharges.push({ name: itemName, rate, share });
    });
  }

  let standingPerDay: bigint | undefined;
  if (doc.standingCharge !== undefined) {
    const s = c.object(doc.standingCharge, 'standingCharge');
    if (s) {
      c.unknownKeys(s, ['perDay'], 'standingCharge');
      standingPerDay = c.price(doc, s.perDay, 'standingCharge.perDay');
    }
  }

  const fixedMonthly: CompiledTariff['fixedMonthly'] = [];
  if (doc.fixedMonthly !== undefined) {
    c.array(doc.fixedMonthly, 'fixedMonthly')?.forEach((item, i) => {
      const s = c.object(item, `fixedMonthly[${i}]`);
      if (!s) return;
      c.unknownKeys(s, ['name', 'amount', 'per', 'rate'], `fixedMonthly[${i}]`);
      const itemName = c.name(s.name, `fixedMonthly[${i}].name`);
      if (s.per === undefined && s.rate === undefined) {
        const amount = c.price(doc, s.amount, `fixedMonthly[${i}].amount`);
        if (itemName && amount !== undefined) fixedMonthly.push({ name: itemName, amount });
      } else if (s.amount !== undefined) {
        c.fail(`fixedMonthly[${i}]`, 'gives "amount", or "per" and "rate", not both');
      } else {
        const per = c.name(s.per, `fixedMonthly[${i}].per`);
        const rate = c.price(doc, s.rate, `fixedMonthly[${i}].rate`);
        if (itemName && per && rate !== undefined) fixedMonthly.push({ name: itemName, amount: rate, per });
      }
    });
  }

  const minimumMonthly =
    doc.minimumMonthly !== undefined ? c.price(doc, doc.minimumMonthly, 'minimumMonthly') : undefined;

  const partialMonth: CompiledTariff['partialMonth'] = {
    moveIn: DEFAULT_PARTIAL_MONTH,
    moveOut: DEFAULT_PARTIAL_MONTH,
  };
  if (doc.partialMonth !== undefined) {
    const pm = c.object(doc.partialMonth, 'partialMonth');
    if (pm) {
      c.unknownKeys(pm, ['moveIn', 'moveOut'], 'partialMonth');
      for (const key of ['moveIn', 'moveOut'] as const) {
        const value = pm[key];
        if (value === undefined) continue;
        if ((PARTIAL_MONTH_POLICIES as readonly unknown[]).includes(value))
          partialMonth[key] = value as PartialMonthPolicy;
        else
          c.fail(
            `partialMonth.${key}`,
            `must be one of ${PARTIAL_MONTH_POLICIES.map((p) => `"${p}"`).join(', ')}`,
          );
      }
    }
  }

  let demand: CompiledTariff['demand'];
  if (doc.demand !== undefined) {
    const d = c.object(doc.demand, 'demand');
    if (d) {
      c.unknownKeys(d, ['rate', 'intervalMinutes', 'periods'], 'demand');
      const rate = c.price(doc, d.rate, 'demand.rate');
      if (d.intervalMinutes !== 15 && d.intervalMinutes !== 30)
        c.fail('demand.intervalMinutes', 'must be 15 or 30');
      let periods: Set<string> | undefined;
      if (d.periods !== undefined) {
        const list = c.array(d.periods, 'demand.periods');
        if (list) {
          periods = new Set();
          list.forEach((p, i) => {
            if (energy?.type === 'tou' && typeof p === 'string' && energy.rates.has(p)) periods?.add(p);
            else c.fail(`demand.periods[${i}]`, 'must name a period of the time-of-use energy rates');
          });
        }
      }
      if (doc.utility !== undefined && doc.utility !== 'electricity' && doc.utility !== 'cooling') {
        c.fail('demand', 'maximum-demand charges apply to electricity or cooling energy');
      }
      if (rate !== undefined && (d.intervalMinutes === 15 || d.intervalMinutes === 30)) {
        demand = { rate, intervalMs: d.intervalMinutes * 60_000, periods };
      }
    }
  }

  let capacity: CompiledTariff['capacity'];
  if (doc.capacity !== undefined) {
    const cap = c.object(doc.capacity, 'capacity');
    if (cap) {
      c.unknownKeys(cap, ['contracted', 'per', 'unit', 'ratePerYear', 'dayCount'], 'capacity');
      if (cap.unit !== undefined && typeof cap.unit !== 'string') c.fail('capacity.unit', 'must be a string');
      let per: string | undefined;
      let contracted: Ratio | undefined;
      if (cap.per !== undefined) {
        per = c.name(cap.per, 'capacity.per');
        if (cap.contracted !== undefined) c.fail('capacity', 'gives "contracted" or "per", not both');
      } else contracted = c.ratio(cap.contracted, 'capacity.contracted');
      const ratePerYear = c.price(doc, cap.ratePerYear, 'capacity.ratePerYear');
      const dayCount = cap.dayCount ?? 'actual/365';
      if (!(DAY_COUNTS as readonly unknown[]).includes(dayCount)) {
        c.fail('capacity.dayCount', `must be one of ${DAY_COUNTS.map((d) => `"${d}"`).join(', ')}`);
      } else if ((contracted || per) && ratePerYear !== undefined) {
        const capUnit = typeof cap.unit === 'string' ? cap.unit : (per ?? 'RT');
        capacity = per
          ? { per, unit: capUnit, ratePerYear, dayCount: dayCount as DayCount }
          : { contracted, unit: capUnit, ratePerYear, dayCount: dayCount as DayCount };
      }
    }
  }

  const taxes: CompiledTariff['taxes'] = [];
  if (doc.taxes !== undefined) {
    c.array(doc.taxes, 'taxes')?.forEach((item, i) => {
      const s = c.object(item, `taxes[${i}]`);
      if (!s) return;
      c.unknownKeys(s, ['name', 'percent', 'appliesTo'], `taxes[${i}]`);
      const taxName = c.name(s.name, `taxes[${i}].name`);
      const percent = c.ratio(s.percent, `taxes[${i}].percent`);
      let appliesTo: string[] | undefined;
      if (s.appliesTo !== undefined) {
        const list = c.array(s.appliesTo, `taxes[${i}].appliesTo`);
        appliesTo = list?.filter((x, j): x is string =>
          typeof x === 'string' && x.length > 0
            ? true
            : !!c.fail(`taxes[${i}].appliesTo[${j}]`, 'must be a component name'),
        );
      }
      if (taxName && percent) {
        const text = formatScaled(percent.num, percent.den.toString().length - 1);
        taxes.push({
          name: taxName,
          percent: { num: percent.num, den: percent.den * 100n },
          appliesTo,
          component: `tax.${taxName}`,
          rateText: `${text.includes('.') ? text.replace(/\.?0+$/, '') : text}%`,
        });
      }
    });
  }

  let carbon: CompiledTariff['carbon'];
  if (doc.carbon !== undefined) {
    const cb = c.object(doc.carbon, 'carbon');
    if (cb) {
      c.unknownKeys(cb, ['kgPerUnit', 'maxAgeMinutes'], 'carbon');
      const kg = c.ratio(cb.kgPerUnit, 'carbon.kgPerUnit');
      const maxAge = cb.maxAgeMinutes ?? 60;
      if (typeof maxAge !== 'number' || !(maxAge > 0))
        c.fail('carbon.maxAgeMinutes', 'must be a positive number');
      if (kg)
        carbon = { mgPerUnit: { num: kg.num * 1_000_000n, den: kg.den }, maxAgeMs: Number(maxAge) * 60_000 };
    }
  }

  for (const key of ['name', 'description', '$schema'] as const) {
    if (document[key] !== undefined && typeof document[key] !== 'string') c.fail(key, 'must be a string');
  }

  if (c.problems.length > 0 || !energy || !unit) throw new TariffValidationError(name, c.problems);
  return {
    name,
    document: doc,
    currency: doc.currency,
    priceUnit: doc.priceUnit ?? 'major',
    utility: doc.utility as Utility | undefined,
    unit,
    zone: TimeZone.get(zoneName),
    rounding,
    holidays,
    seasons,
    conversion,
    energy,
    surcharges,
    standingPerDay,
    fixedMonthly,
    minimumMonthly,
    partialMonth,
    demand,
    capacity,
    declared: [
      ...new Set([
        ...fixedMonthly.flatMap((item) => (item.per ? [item.per] : [])),
        ...(capacity?.per ? [capacity.per] : []),
      ]),
    ],
    taxes,
    carbon,
  };
}

function compileEnergy(
  c: Checker,
  doc: TariffDocument,
  seasons: CompiledTariff['seasons'],
): CompiledEnergy | undefined {
  const energy = c.object(doc.energy, 'energy');
  if (!energy) return undefined;
  switch (energy.type) {
    case 'flat': {
      c.unknownKeys(energy, ['type', 'rate'], 'energy');
      const rate = c.price(doc, energy.rate, 'energy.rate');
      return rate === undefined ? undefined : { type: 'flat', rate };
    }
    case 'block': {
      c.unknownKeys(energy, ['type', 'reset', 'billingDay', 'blocks'], 'energy');
      const reset = energy.reset;
      if (reset !== 'day' && reset !== 'month' && reset !== 'billing-cycle') {
        c.fail('energy.reset', 'must be "day", "month" or "billing-cycle"');
      }
      const billingDay = energy.billingDay ?? 1;
      if (
        typeof billingDay !== 'number' ||
        !Number.isInteger(billingDay) ||
        billingDay < 1 ||
        billingDay > 28
      ) {
        c.fail('energy.billingDay', 'must be a whole day of the month from 1 to 28');
      }
      const list = c.array(energy.blocks, 'energy.blocks');
      if (!list) return undefined;
      if (list.length === 0) c.fail('energy.blocks', 'needs at least one block');
      if (list.length > MAX_BLOCKS) c.fail('energy.blocks', `at most ${MAX_BLOCKS} blocks`);
      const blocks: Array<{ upTo: bigint | null; rate: bigint }> = [];
      let previous = 0n;
      list.forEach((item, i) => {
        const b = c.object(item, `energy.blocks[${i}]`);
        if (!b) return;
        c.unknownKeys(b, ['upTo', 'rate'], `energy.blocks[${i}]`);
        const rate = c.price(doc, b.rate, `energy.blocks[${i}].rate`);
        const last = i === list.length - 1;
        let upTo: bigint | null = null;
        if (b.upTo !== undefined && b.upTo !== null) {
          const checked = c.ratio(b.upTo, `energy.blocks[${i}].upTo`);
          if (checked !== undefined) {
            upTo = (checked.num * 1_000_000n) / checked.den;
            if (upTo <= previous)
              c.fail(`energy.blocks[${i}].upTo`, "must be greater than the previous block's");
            previous = upTo;
          }
        } else if (!last) {
          c.fail(`energy.blocks[${i}].upTo`, 'is required on every block but the last');
        }
        if (rate !== undefined) blocks.push({ upTo, rate });
      });
      const lastBlock = list[list.length - 1];
      if (isObject(lastBlock) && lastBlock.upTo !== undefined && lastBlock.upTo !== null) {
        c.fail(
          `energy.blocks[${list.length - 1}].upTo`,
          'must be omitted on the last block (it is open-ended)',
        );
      }
      return { type: 'block', reset: reset as 'day', billingDay: billingDay as number, blocks };
    }
    case 'tou': {
      c.unknownKeys(energy, ['type', 'rates', 'schedule', 'default'], 'energy');
      const rates = new Map<string, bigint>();
      const rateDoc = c.object(energy.rates, 'energy.rates');
      for (const [period, value] of Object.entries(rateDoc ?? {})) {
        c.name(period, `energy.rates.${period}`);
        const rate = c.price(doc, value, `energy.rates.${period}`);
        if (rate !== undefined) rates.set(period, rate);
      }
      if (rateDoc && Object.keys(rateDoc).length === 0) c.fail('energy.rates', 'needs at least one period');
      const defaultPeriod = energy.default;
      // Own keys only: a period named "toString" or "constructor" is not a rate.
      const isPeriod = (name: unknown): boolean =>
        typeof name === 'string' && (!rateDoc || Object.prototype.hasOwnProperty.call(rateDoc, name));
      if (!isPeriod(defaultPeriod)) {
        c.fail('energy.default', 'must name one of the periods in energy.rates');
      }
      const rules: CompiledRule[] = [];
      const boundaries = new Set<number>([0]);
      c.array(energy.schedule, 'energy.schedule')?.forEach((item, i) => {
        const path = `energy.schedule[${i}]`;
        const r = c.object(item, path);
        if (!r) return;
        c.unknownKeys(r, ['days', 'from', 'to', 'period', 'seasons'], path);
        let dayMask = 0;
        const days = c.array(r.days, `${path}.days`);
        days?.forEach((d, j) => {
          if (typeof d === 'string' && (DAY_TYPES as readonly string[]).includes(d))
            dayMask |= DAY_BITS[d as DayType];
          else c.fail(`${path}.days[${j}]`, `must be one of ${DAY_TYPES.join(', ')}`);
        });
        if (days && days.length === 0) c.fail(`${path}.days`, 'needs at least one day type');
        const from = c.minutes(r.from, `${path}.from`);
        const to = c.minutes(r.to, `${path}.to`);
        if (from !== undefined && to !== undefined && from === to)
          c.fail(`${path}.to`, 'must differ from "from"');
        if (!isPeriod(r.period)) {
          c.fail(`${path}.period`, 'must name one of the periods in energy.rates');
        }
        let seasonMask = ~0;
        if (r.seasons !== undefined) {
          seasonMask = 0;
          c.array(r.seasons, `${path}.seasons`)?.forEach((s, j) => {
            const index = seasons.findIndex((season) => season.name === s);
            if (index < 0) c.fail(`${path}.seasons[${j}]`, 'must name a season defined in "seasons"');
            else seasonMask |= 1 << index;
          });
        }
        if (from === undefined || to === undefined || typeof r.period !== 'string') return;
        const ranges: Array<[number, number]> =
          from < to
            ? [[from, to]]
            : [
                [from, 1440],
                [0, to],
              ];
        boundaries.add(from % 1440).add(to % 1440);
        rules.push({ dayMask, seasonMask, ranges, period: r.period });
      });
      return {
        type: 'tou',
        rates,
        components: new Map([...rates.keys()].map((period) => [period, `energy.${period}`])),
        rules,
        defaultPeriod: String(defaultPeriod),
        boundaries: [...boundaries].sort((a, b) => a - b),
      };
    }
    case 'dynamic': {
      c.unknownKeys(energy, ['type', 'fallbackRate', 'maxAgeMinutes'], 'energy');
      const fallbackRate = c.price(doc, energy.fallbackRate, 'energy.fallbackRate');
      const maxAge = energy.maxAgeMinutes;
      if (typeof maxAge !== 'number' || !(maxAge > 0))
        c.fail('energy.maxAgeMinutes', 'must be a positive number');
      if (fallbackRate === undefined || typeof maxAge !== 'number') return undefined;
      return { type: 'dynamic', fallbackRate, maxAgeMs: maxAge * 60_000 };
    }
    default:
      c.fail('energy.type', 'must be "flat", "block", "tou" or "dynamic"');
      return undefined;
  }
}
