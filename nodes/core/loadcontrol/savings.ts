/**
 * Where each consumption's energy went: per local day, inside or outside the unit's occupancy schedule.
 *
 * Exact by construction: energy is held as an integer count of millionths of a kWh (`ENERGY_SCALE`), a
 * consumption's delta is split over its pieces (local days, occupied and unoccupied stretches) in proportion
 * to their real duration by the largest-remainder method, so the pieces always add up to the delta to the last
 * millionth, and each is within one millionth of its exact proportional share. A consumption counts in every
 * day it overlaps (the meter's day summary, by contrast, counts it in the day it ends: a different question).
 */
import { divRound, formatScaled, parseDecimal } from '../decimal';
import type { Consumption } from '../messages';
import type { TimeZone } from '../tariff/zone';
import { localDay, localDayNumber, occupiedIntervals, type OccupancySchedule } from './occupancy';

/** Energy is counted in 10^-6 kWh (mWh). */
export const ENERGY_SCALE = 6;

/** Energy units a consumption may come in, as the power of ten that turns them into kWh. */
const UNIT_EXPONENT: Record<string, number> = { wh: -3, kwh: 0, mwh: 3 };

/**
 * A delta in Wh, kWh or MWh as millionths of a kWh. Digits beyond the millionth (an estimated slice divided by
 * a gap's length) are rounded half-even; null for a unit that is not energy (m³ of water).
 */
export function energyUnits(delta: number | string, unit: string): bigint | null {
  const exponent = UNIT_EXPONENT[unit.trim().toLowerCase()];
  if (exponent === undefined) return null;
  const { units, scale } = parseDecimal(delta);
  const shift = ENERGY_SCALE + exponent - scale;
  if (shift >= 0) return units * 10n ** BigInt(shift);
  return divRound(units, 10n ** BigInt(-shift), 'half-even');
}

/** One local day's share of a consumption. */
export interface DayShare {
  date: string;
  /** Millionths of a kWh inside and outside the occupancy schedule. */
  inside: bigint;
  outside: bigint;
  /** Milliseconds of the day this consumption covers. */
  coveredMs: number;
}

/**
 * Splits `energy` (millionths of a kWh) consumed over [from, to) into local days, inside and outside the
 * schedule. A consumption without duration (from = to) counts whole in the day and state of its instant.
 */
export function splitConsumption(
  schedule: OccupancySchedule,
  zone: TimeZone,
  from: number,
  to: number,
  energy: bigint,
): DayShare[] {
  if (!(to >= from)) throw new RangeError(`a consumption must end after it starts (from ${from}, to ${to})`);
  const pieces: Array<{ date: string; inside: boolean; ms: number }> = [];
  if (to === from) {
    const inside = occupiedIntervals(schedule, zone, from, from + 1).length > 0;
    pieces.push({ date: localDay(zone, localDayNumber(zone, from)).date, inside, ms: 0 });
    return collect(pieces, [energy]);
  }
  const occupied = occupiedIntervals(schedule, zone, from, to);
  for (let d = localDayNumber(zone, from); ; d++) {
    const day = localDay(zone, d);
    const start = Math.max(from, day.start);
    const end = Math.min(to, day.end);
    if (start >= to) break;
    if (end <= start) continue;
    let t = start;
    for (const [s, e] of occupied) {
      if (e <= t || s >= end) continue;
      if (s > t) pieces.push({ date: day.date, inside: false, ms: s - t });
      const until = Math.min(e, end);
      pieces.push({ date: day.date, inside: true, ms: until - Math.max(s, t) });
      t = until;
    }
    if (t < end) pieces.push({ date: day.date, inside: false, ms: end - t });
  }
  return collect(
    pieces,
    apportion(
      energy,
      pieces.map((p) => BigInt(p.ms)),
    ),
  );
}

function collect(pieces: Array<{ date: string; inside: boolean; ms: number }>, parts: bigint[]): DayShare[] {
  const byDate = new Map<string, DayShare>();
  pieces.forEach((piece, i) => {
    let share = byDate.get(piece.date);
    if (!share) {
      share = { date: piece.date, inside: 0n, outside: 0n, coveredMs: 0 };
      byDate.set(piece.date, share);
    }
    const part = parts[i] ?? 0n;
    if (piece.inside) share.inside += part;
    else share.outside += part;
    share.coveredMs += piece.ms;
  });
  return [...byDate.values()];
}

/**
 * `total` split in proportion to `weights`, in whole units that add up to `total` exactly: each part is its
 * share rounded down, and the units left over go one each to the largest remainders (the earliest on a tie).
 */
export function apportion(total: bigint, weights: bigint[]): bigint[] {
  const sum = weights.reduce((a, b) => a + b, 0n);
  if (sum === 0n) return weights.map((_, i) => (i === 0 ? total : 0n));
  const negative = total < 0n;
  const magnitude = negative ? -total : total;
  const parts = weights.map((w) => (magnitude * w) / sum);
  const remainders = weights.map((w, i) => ({ i, r: (magnitude * w) % sum }));
  let left = magnitude - parts.reduce((a, b) => a + b, 0n);
  remainders.sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1));
  for (const { i } of remainders) {
    if (left === 0n) break;
    parts[i] = (parts[i] as bigint) + 1n;
    left -= 1n;
  }
  return negative ? parts.map((p) => -p) : parts;
}

/** What a consumption message gives the savings tallies, or why it gives nothing. */
export type ConsumptionInput =
  | { ok: true; id: string; from: number; to: number; energy: bigint; estimated: boolean }
  | { ok: false; reason: string };

/** Checks a consumption message (README "Message contracts") and reads its energy. */
export function consumptionInput(msg: Partial<Consumption>): ConsumptionInput {
  const { from, to, delta, unit, readingId, meterId } = msg;
  if (typeof from !== 'number' || typeof to !== 'number' || !Number.isFinite(from) || !Number.isFinite(to)) {
    return { ok: false, reason: 'a consumption needs from and to (epoch ms)' };
  }
  if (to < from) return { ok: false, reason: 'the consumption ends before it starts' };
  if (typeof delta !== 'number' && typeof delta !== 'string') return { ok: false, reason: 'no delta' };
  if (typeof unit !== 'string') return { ok: false, reason: 'no unit' };
  let energy: bigint | null;
  try {
    energy = energyUnits(delta, unit);
  } catch (error) {
    return { ok: false, reason: `delta ${String(delta)}: ${(error as Error).message}` };
  }
  if (energy === null) return { ok: false, reason: `unit "${unit}" is not energy (Wh, kWh, MWh)` };
  // The delta engine never sends one (a counter's wrap is a rollover with a positive delta): a bug upstream.
  if (energy < 0n) return { ok: false, reason: `negative delta ${String(delta)}` };
  // The delta engine names each consumption meterId:to; a message without one is named the same way.
  const id = typeof readingId === 'string' && readingId !== '' ? readingId : `${String(meterId)}:${to}`;
  return { ok: true, id, from, to, energy, estimated: msg.estimated === true };
}

/** Millionths of a kWh as kWh rounded half-even to `places` (3: watt-hours), as a number. */
export function kwh(energy: bigint, places = 3): number {
  const rounded = divRound(energy, 10n ** BigInt(ENERGY_SCALE - places), 'half-even');
  return Number(formatScaled(rounded, places));
}
