/**
 * Reads what arrives at the tariff node's input: a consumption (the meter reader's output or any
 * upstream node's in the same shape), a dynamic price signal, a carbon-intensity signal, or a
 * request to raise calendar charges. Each error names the field at fault.
 */
import { ConsumptionError, ConsumptionInput, CarbonSignal, PriceSignal } from '../core/tariff/engine';
import { marketPriceToSubMinor, SUB_MINOR_PER_MINOR } from '../core/money';
import { RATE_MINOR_DIGITS } from '../core/tariff/rules';
import { CompiledTariff, Ratio } from '../core/tariff/types';
import { parseDecimal } from '../core/decimal';
import { RegisterMovement, UTILITIES, Utility } from '../core/messages';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A time as epoch milliseconds from a number or an ISO 8601 string. */
export function toTime(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const parsed = Date.parse(value);
    if (Number.isFinite(parsed)) return parsed;
  }
  if (value instanceof Date && Number.isFinite(value.getTime())) return value.getTime();
  throw new ConsumptionError(field, 'must be a time (epoch milliseconds or an ISO 8601 string)');
}

export interface ParsedConsumption extends ConsumptionInput {
  quality?: string;
  estimated?: boolean;
  tariff?: string;
}

function registerMovement(p: Record<string, unknown>): RegisterMovement {
  const register: RegisterMovement = {
    end: p.value as number,
    delta: p.delta as number | string,
    unit: p.unit as string,
  };
  if (typeof p.start === 'number') register.start = p.start;
  if (p.estimated === true) register.estimated = true;
  if (p.rollover === true) register.rollover = true;
  const after = p.after as RegisterMovement['after'] | undefined;
  if (after && typeof after === 'object' && (after.event === 'rebaselined' || after.event === 'replaced'))
    register.after = {
      event: after.event,
      at: Number(after.at),
      ...(after.text ? { text: String(after.text) } : {}),
    };
  return register;
}

/** Turns a consumption payload into engine input; throws a ConsumptionError naming the field. */
export function readConsumption(payload: unknown): ParsedConsumption {
  if (!isObject(payload))
    throw new ConsumptionError('payload', 'must be a consumption object (see the node help)');
  const p = payload;
  if (typeof p.meterId !== 'string' || p.meterId === '') throw new ConsumptionError('meterId', 'is required');
  if (p.accountId !== undefined && (typeof p.accountId !== 'string' || p.accountId === '')) {
    throw new ConsumptionError('accountId', 'must be a non-empty string when given');
  }
  if (p.utility !== undefined && !UTILITIES.includes(p.utility as Utility)) {
    throw new ConsumptionError('utility', `must be one of ${UTILITIES.join(', ')}`);
  }
  if (p.quality !== undefined && p.quality !== 'good') {
    throw new ConsumptionError('quality', `is "${String(p.quality)}": only good consumption is priced`);
  }
  if (typeof p.delta !== 'number' && typeof p.delta !== 'string')
    throw new ConsumptionError('delta', 'is required');
  try {
    parseDecimal(p.delta);
  } catch (error) {
    throw new ConsumptionError('delta', (error as Error).message);
  }
  if (typeof p.unit !== 'string' || p.unit === '') throw new ConsumptionError('unit', 'is required');
  const to = toTime(p.to ?? p.ts, p.to === undefined ? 'ts' : 'to');
  const from = p.from === undefined ? to : toTime(p.from, 'from');
  const readingId = typeof p.readingId === 'string' && p.readingId !== '' ? p.readingId : undefined;
  if (!readingId) throw new ConsumptionError('readingId', 'is required: it makes replays charge nothing');
  const parsed: ParsedConsumption = {
    meterId: p.meterId,
    accountId: p.accountId as string | undefined,
    utility: p.utility as Utility | undefined,
    delta: p.delta,
    unit: p.unit,
    from,
    to,
    readingId,
    tariff: typeof p.tariff === 'string' ? p.tariff : undefined,
  };
  if (p.declared !== undefined) {
    if (!isObject(p.declared))
      throw new ConsumptionError(
        'declared',
        'must be an object of quantity name -> decimal, such as {"kVA": "63"}',
      );
    parsed.declared = p.declared as Record<string, string | number>;
  }
  // The register movement, as the meter reader gives it, rides along to the ledger.
  if (typeof p.value === 'number') parsed.register = registerMovement(p);
  return parsed;
}

/** A price signal: {tariff?, issuedAt?, prices: [{from, to, rate}]}, rates in the tariff's quote unit. */
export function readPriceSignal(payload: unknown, tariff: CompiledTariff, now: number): PriceSignal {
  if (!isObject(payload)) throw new ConsumptionError('payload', 'must be a price signal object');
  const list = payload.prices ?? payload.intervals;
  if (!Array.isArray(list) || list.length === 0)
    throw new ConsumptionError('prices', 'must be a non-empty list of {from, to, rate}');
  const intervals = list.map((item: unknown, i) => {
    if (!isObject(item)) throw new ConsumptionError(`prices[${i}]`, 'must be {from, to, rate}');
    const from = toTime(item.from, `prices[${i}].from`);
    const to = toTime(item.to, `prices[${i}].to`);
    if (to <= from) throw new ConsumptionError(`prices[${i}].to`, 'must be after from');
    if (typeof item.rate !== 'number' && typeof item.rate !== 'string')
      throw new ConsumptionError(`prices[${i}].rate`, 'is required');
    let rate: bigint;
    try {
      rate = marketPriceToSubMinor(item.rate, tariff.currency, tariff.priceUnit, tariff.rounding);
    } catch (error) {
      throw new ConsumptionError(`prices[${i}].rate`, (error as Error).message);
    }
    // The bound of every per-unit rate of a tariff document, either sign: a charge must carry what it prices.
    const limit = 10n ** BigInt(RATE_MINOR_DIGITS) * SUB_MINOR_PER_MINOR;
    if (rate >= limit || rate <= -limit)
      throw new ConsumptionError(
        `prices[${i}].rate`,
        `is out of range: a rate is below ${10 ** RATE_MINOR_DIGITS} minor units per unit, either sign`,
      );
    return { from, to, rate };
  });
  const issuedAt = payload.issuedAt === undefined ? now : toTime(payload.issuedAt, 'issuedAt');
  return { issuedAt, intervals: intervals.sort((a, b) => a.from - b.from) };
}

/** A carbon signal: {issuedAt?, intensities: [{from, to, kgPerUnit}]}. */
export function readCarbonSignal(payload: unknown, now: number): CarbonSignal {
  if (!isObject(payload)) throw new ConsumptionError('payload', 'must be a carbon signal object');
  const list = payload.intensities ?? payload.intervals;
  if (!Array.isArray(list) || list.length === 0) {
    throw new ConsumptionError('intensities', 'must be a non-empty list of {from, to, kgPerUnit}');
  }
  const intervals = list.map((item: unknown, i) => {
    if (!isObject(item)) throw new ConsumptionError(`intensities[${i}]`, 'must be {from, to, kgPerUnit}');
    const from = toTime(item.from, `intensities[${i}].from`);
    const to = toTime(item.to, `intensities[${i}].to`);
    let mgPerUnit: Ratio;
    try {
      const { units, scale } = parseDecimal(item.kgPerUnit as string | number);
      if (units < 0n) throw new RangeError('must not be negative');
      mgPerUnit = { num: units * 1_000_000n, den: 10n ** BigInt(scale) };
    } catch (error) {
      throw new ConsumptionError(`intensities[${i}].kgPerUnit`, (error as Error).message);
    }
    return { from, to, mgPerUnit };
  });
  const issuedAt = payload.issuedAt === undefined ? now : toTime(payload.issuedAt, 'issuedAt');
  return { issuedAt, intervals: intervals.sort((a, b) => a.from - b.from) };
}

/** A move-in or move-out: `{accountId, utility?, date}`, the date local ("YYYY-MM-DD") in the tariff's zone. */
export interface Occupancy {
  accountId: string;
  utility?: Utility;
  date: string;
}

export function readOccupancy(payload: unknown, topic: 'move-in' | 'move-out'): Occupancy {
  if (!isObject(payload))
    throw new ConsumptionError('payload', `${topic} must be an object {accountId, utility?, date}`);
  const accountId = payload.accountId ?? payload.account;
  if (typeof accountId !== 'string' || accountId === '')
    throw new ConsumptionError('accountId', 'is required');
  const utility = payload.utility;
  if (utility !== undefined && !UTILITIES.includes(utility as Utility))
    throw new ConsumptionError('utility', `must be one of ${UTILITIES.join(', ')}`);
  const date = payload.date;
  if (typeof date !== 'string' || !/^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/.test(date))
    throw new ConsumptionError(
      'date',
      'must be a local date "YYYY-MM-DD" (the last day occupied, for a move-out)',
    );
  return utility === undefined ? { accountId, date } : { accountId, utility: utility as Utility, date };
}
