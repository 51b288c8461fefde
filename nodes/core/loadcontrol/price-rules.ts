/**
 * Price and carbon rules: pre-cool before a high-price (or high-carbon) period and raise a setpoint or shift a
 * load during it. They read the same signals the tariff node prices with (a `price` signal's intervals in
 * sub-minor units per billing unit, a `carbon` signal's intensities in mg CO2e per unit, as the tariff engine
 * keeps them), so the thresholds compare exactly. A rule is a BEMS object it commands, the value the BEMS keeps
 * when the rule is idle, a change before the period (lower a setpoint by X for N minutes: pre-cool) and during
 * it (raise it, or write a value such as "off" to shift a load), comfort bounds no value leaves, and a maximum
 * duration after which the rule lets go even if the period goes on. Pure: time comes in as `now`.
 */
import { toScaledExact } from '../decimal';
import { marketPriceToSubMinor } from '../money';
import { extend } from '../shapes';
import type { CarbonSignal, PriceSignal } from '../tariff/engine';
import type { CompiledTariff } from '../tariff/types';
import type { BacnetTarget, DesiredCommand } from './command-shapes';

export interface PhaseChange {
  /** Added to the rule's normal value (a setpoint): -2 pre-cools by 2 degrees, +2 sets back. */
  offset?: number;
  /** Written as it is (a fan speed, an enable switched off to shift a load). */
  value?: number | boolean;
}

export interface PriceRule {
  name: string;
  /** High when a price is at or above this, sub-minor units per billing unit. */
  priceAtLeast?: bigint;
  /** High when the carbon intensity is at or above this, mg CO2e per billing unit. */
  carbonAtLeast?: bigint;
  target: BacnetTarget;
  priority: number;
  /** What the BEMS holds while the rule is idle: the value offsets are taken from. */
  normal: number | boolean;
  /** Before each high period: for `minutes` before it starts (pre-cooling). */
  before?: PhaseChange & { minutes: number };
  /** During each high period (set back, shift). */
  during?: PhaseChange;
  /** Comfort bounds: no numeric value written goes below min or above max. */
  min?: number;
  max?: number;
  /** The change during a period lasts at most this long; then the rule lets go until the next period. */
  maxDurationMinutes: number;
  /** High intervals this close together count as one period (default 0: only touching ones). */
  joinMinutes?: number;
}

export interface PriceSignals {
  prices?: PriceSignal;
  carbon?: CarbonSignal;
}

export interface RuleOutcome {
  rule: string;
  phase: 'idle' | 'before' | 'during';
  /** The BEMS write: a value, or null to release the object to the BEMS's own control. */
  command: DesiredCommand;
  /** When the phase next changes (evaluate again then), if the signals say. */
  nextChangeAt?: number;
}

const MINUTE = 60_000;

/**
 * A price threshold written as the tariff quotes its prices ("0.40" per kWh in its currency, major or minor
 * units), in the sub-minor units price signals are kept in, rounded as the tariff rounds a signal's rates.
 */
export function priceThreshold(
  tariff: Pick<CompiledTariff, 'currency' | 'priceUnit' | 'rounding'>,
  price: string | number,
): bigint {
  return marketPriceToSubMinor(price, tariff.currency, tariff.priceUnit, tariff.rounding);
}

/** A carbon threshold in kg CO2e per unit ("0.4"), in mg as carbon signals are kept; finer than a mg is refused. */
export function carbonThreshold(kgPerUnit: string | number): bigint {
  return toScaledExact(kgPerUnit, 6);
}

/** Throws naming the rule and field when a rule cannot work. */
export function checkPriceRule(rule: PriceRule): void {
  const where = `price rule "${rule.name}"`;
  if (rule.priceAtLeast === undefined && rule.carbonAtLeast === undefined)
    throw new Error(`${where}: needs a price or a carbon threshold`);
  if (!(rule.maxDurationMinutes > 0)) throw new Error(`${where}: maximum duration must be above 0 minutes`);
  if (rule.before && !(rule.before.minutes > 0)) throw new Error(`${where}: before.minutes must be above 0`);
  if (rule.min !== undefined && rule.max !== undefined && rule.min > rule.max)
    throw new Error(`${where}: comfort bounds min ${rule.min} is above max ${rule.max}`);
  for (const [name, phase] of [
    ['before', rule.before],
    ['during', rule.during],
  ] as const) {
    if (!phase) continue;
    if ((phase.offset === undefined) === (phase.value === undefined))
      throw new Error(`${where}: ${name} needs an offset or a value, not both`);
    if (phase.offset !== undefined && typeof rule.normal !== 'number')
      throw new Error(`${where}: ${name}.offset needs a numeric normal value`);
  }
}

/** The high periods of the signals for a rule: [from, to) intervals, sorted and joined. */
export function highPeriods(
  rule: PriceRule,
  signals: PriceSignals,
): Array<{ from: number; to: number; why: string }> {
  const high: Array<{ from: number; to: number; why: string }> = [];
  if (rule.priceAtLeast !== undefined)
    for (const interval of signals.prices?.intervals ?? [])
      if (interval.rate >= rule.priceAtLeast)
        high.push({ from: interval.from, to: interval.to, why: 'price' });
  if (rule.carbonAtLeast !== undefined)
    for (const interval of signals.carbon?.intervals ?? []) {
      const { num, den } = interval.mgPerUnit;
      // mg per unit is a ratio: compare num/den >= threshold without rounding.
      if (num >= rule.carbonAtLeast * den) high.push({ from: interval.from, to: interval.to, why: 'carbon' });
    }
  high.sort((a, b) => a.from - b.from);
  const join = (rule.joinMinutes ?? 0) * MINUTE;
  const joined: typeof high = [];
  for (const period of high) {
    const last = joined[joined.length - 1];
    if (last && period.from <= last.to + join) {
      last.to = Math.max(last.to, period.to);
      if (!last.why.includes(period.why)) last.why = `${last.why} and ${period.why}`;
    } else joined.push({ from: period.from, to: period.to, why: period.why });
  }
  return joined;
}

/** What one rule wants written now. */
export function evaluatePriceRule(rule: PriceRule, signals: PriceSignals, now: number): RuleOutcome {
  const periods = highPeriods(rule, signals);
  const key = `price:${rule.name}`;
  const command = (value: number | boolean | null, reason: string): DesiredCommand => ({
    key,
    target: rule.target,
    value,
    priority: rule.priority,
    reason: `price rule "${rule.name}": ${reason}`,
  });
  const beforeMs = (rule.before?.minutes ?? 0) * MINUTE;
  const maxMs = rule.maxDurationMinutes * MINUTE;
  // Moments the phase changes: the next one after now is when to look again.
  const changes: number[] = [];
  let outcome: Omit<RuleOutcome, 'nextChangeAt'> | undefined;
  for (const period of periods) {
    const span = `${iso(period.from)} to ${iso(period.to)}`;
    const stop = Math.min(period.to, period.from + maxMs);
    changes.push(period.from - beforeMs, period.from, stop);
    if (outcome) continue;
    if (rule.during && now >= period.from && now < stop)
      outcome = {
        rule: rule.name,
        phase: 'during',
        command: command(valueOf(rule, rule.during), `high ${period.why} from ${span}`),
      };
    else if (rule.before && now >= period.from - beforeMs && now < period.from)
      outcome = {
        rule: rule.name,
        phase: 'before',
        command: command(valueOf(rule, rule.before), `ahead of high ${period.why} from ${span}`),
      };
    else if (now >= stop && now < period.to)
      outcome = {
        rule: rule.name,
        phase: 'idle',
        command: command(
          null,
          `maximum duration of ${rule.maxDurationMinutes} min reached in high ${period.why} from ${span}`,
        ),
      };
  }
  outcome ??= { rule: rule.name, phase: 'idle', command: command(null, 'no high period now') };
  const next = changes.filter((t) => t > now).sort((a, b) => a - b)[0];
  return next === undefined ? outcome : extend(outcome, { nextChangeAt: next });
}

/** What every rule wants written now, in the order given. */
export function evaluatePriceRules(
  rules: readonly PriceRule[],
  signals: PriceSignals,
  now: number,
): RuleOutcome[] {
  return rules.map((rule) => evaluatePriceRule(rule, signals, now));
}

/** A phase's value: an offset from normal within the comfort bounds, or the value as given. */
function valueOf(rule: PriceRule, phase: PhaseChange): number | boolean {
  if (phase.value !== undefined) {
    if (typeof phase.value !== 'number') return phase.value;
    return clamp(phase.value, rule.min, rule.max);
  }
  return clamp((rule.normal as number) + (phase.offset ?? 0), rule.min, rule.max);
}

function clamp(value: number, min: number | undefined, max: number | undefined): number {
  return Math.min(max ?? Number.POSITIVE_INFINITY, Math.max(min ?? Number.NEGATIVE_INFINITY, value));
}

function iso(t: number): string {
  return new Date(t).toISOString();
}
