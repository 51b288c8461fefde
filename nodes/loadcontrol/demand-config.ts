/**
 * prepay-loadcontrol's demand limiting and price rule settings, read from the node's configuration, and the
 * price and carbon signals it hears (the same messages the tariff node prices with). Each problem names its
 * field.
 */
import type { RoundingMode } from '../core/decimal';
import { parsePriceRuleTable, parseShedTable } from '../core/loadcontrol/demand-tables';
import { carbonThreshold } from '../core/loadcontrol/price-rules';
import type { CarbonSignal, PriceSignal } from '../core/tariff/engine';
import type { CompiledTariff } from '../core/tariff/types';
import { marketPriceToSubMinor } from '../core/money';
import { readCarbonSignal, readPriceSignal } from '../tariff/tariff-messages';
import type { DemandRunnerOptions } from './demand-runner';

export interface DemandNodeDef {
  /** Target demand over each window, kW (empty: no demand limiting). */
  targetKw?: string | number;
  windowMinutes?: string | number;
  marginKw?: string | number;
  hysteresisKw?: string | number;
  /** Meters whose readings make the site's demand, comma separated (empty: every electricity meter heard). */
  siteMeters?: string;
  shedTable?: string;
  priceRules?: string;
  /** The currency and quote unit price signals and price thresholds are written in. */
  currency?: string;
  priceUnit?: string;
  limitMinutes?: string | number;
  checkSeconds?: string | number;
}

/** How prices are quoted: what the tariff engine needs to read a signal's rates exactly. */
export type PriceQuote = Pick<CompiledTariff, 'currency' | 'priceUnit' | 'rounding'>;

export interface DemandConfig {
  active: boolean;
  options: Omit<DemandRunnerOptions, 'by' | 'sendLimit' | 'sendCommand' | 'sendReport'>;
  prices: PriceQuote;
  checkMs: number;
}

const ROUNDING: RoundingMode = 'half-even';

function number(value: unknown, field: string, fallback: number, min = 0): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min)
    throw new Error(`${field}: "${String(value)}" is not a number ≥ ${min}`);
  return n;
}

export function readDemandConfig(config: DemandNodeDef, device: number, priority: number): DemandConfig {
  const currency = (config.currency ?? '').trim().toUpperCase() || 'GBP';
  const priceUnit = config.priceUnit === 'minor' ? 'minor' : 'major';
  const prices: PriceQuote = { currency, priceUnit, rounding: ROUNDING };
  const shedText = config.shedTable ?? '';
  const steps = parseShedTable(shedText, device, priority);
  const rules = parsePriceRuleTable(config.priceRules ?? '', device, priority, (signal, text) =>
    signal === 'price' ? marketPriceToSubMinor(text, currency, priceUnit, ROUNDING) : carbonThreshold(text),
  );
  const targetKw = number(config.targetKw, 'targetKw', 0);
  if (targetKw > 0 && steps.length === 0) throw new Error('shedTable: a demand target needs shed steps');
  if (targetKw === 0 && steps.length > 0) throw new Error('targetKw: the shed table needs a target demand');
  const windowMinutes = number(config.windowMinutes, 'windowMinutes', 30, 1);
  const options: DemandConfig['options'] = {
    priceRules: rules,
    siteMeters: new Set(
      (config.siteMeters ?? '')
        .split(/[,\s]+/)
        .map((m) => m.trim())
        .filter((m) => m !== ''),
    ),
    limitMinutes: number(config.limitMinutes, 'limitMinutes', 60, 1),
  };
  if (targetKw > 0) {
    options.demand = {
      window: { intervalMs: windowMinutes * 60_000 },
      targetKw,
      steps,
      marginKw: number(config.marginKw, 'marginKw', 0),
    };
    if (config.hysteresisKw !== undefined && config.hysteresisKw !== '')
      options.demand.hysteresisKw = number(config.hysteresisKw, 'hysteresisKw', 0);
  }
  return {
    active: targetKw > 0 || rules.length > 0,
    options,
    prices,
    checkMs: number(config.checkSeconds, 'checkSeconds', 10, 0.05) * 1000,
  };
}

/** A price or carbon signal message, read as the tariff node reads it. */
export function readSignal(
  topic: 'price' | 'carbon',
  payload: unknown,
  prices: PriceQuote,
  now: number,
): { kind: 'prices'; signal: PriceSignal } | { kind: 'carbon'; signal: CarbonSignal } {
  if (topic === 'carbon') return { kind: 'carbon', signal: readCarbonSignal(payload, now) };
  // The reader uses only how the tariff quotes prices: the quote stands in for a whole tariff here.
  return { kind: 'prices', signal: readPriceSignal(payload, prices as CompiledTariff, now) };
}
