/**
 * The demand windows a site is billed on, and the site energy that falls in each. A window is the tariff's
 * maximum-demand interval (15 or 30 minutes) and starts where the tariff engine starts its intervals, so the
 * controller watches exactly the windows the demand charge is computed from; a tariff that charges demand only
 * in some time-of-use periods charges only the windows that touch one of them.
 */
import { segmentInterval } from '../tariff/calendar';
import type { CompiledTariff } from '../tariff/types';

export const HOUR_MS = 3_600_000;

export interface DemandWindow {
  /** The window length in ms (the tariff's 15 or 30 minutes). */
  intervalMs: number;
  /** Whether the demand charge applies to the window starting at `start` (absent: every window). */
  charged?: (start: number) => boolean;
}

/**
 * Where the window holding `t` starts. The same rule as the tariff engine's demand intervals: whole intervals
 * since the epoch, which are the local clock's quarter and half hours in every zone whose offset is a whole
 * number of intervals (all but the :45 zones for 30-minute windows, where the engine's intervals are used too).
 */
export function windowStartOf(t: number, intervalMs: number): number {
  return Math.floor(t / intervalMs) * intervalMs;
}

/** The demand windows of a compiled tariff, or undefined when it has no demand charge. */
export function demandWindowOf(tariff: CompiledTariff): DemandWindow | undefined {
  const demand = tariff.demand;
  if (!demand) return undefined;
  const periods = demand.periods;
  if (!periods) return { intervalMs: demand.intervalMs };
  const intervalMs = demand.intervalMs;
  return {
    intervalMs,
    // The engine records demand per priced segment in a charged period: a window touching one is charged.
    charged: (start) =>
      segmentInterval(tariff, start, start + intervalMs).some(
        (segment) => segment.period !== undefined && periods.has(segment.period),
      ),
  };
}

/** Site energy per window, from cumulative readings or interval energies spread evenly over their time. */
export class WindowEnergy {
  private readonly windows = new Map<number, { kWh: number; coveredMs: number }>();
  private last: { at: number; kWh: number } | undefined;
  /** Time the data reaches (the end of the latest reading). */
  dataAt: number | undefined;
  /** Site demand over the latest reading interval, kW (or the reading's own instantaneous demand). */
  rateKw = 0;

  constructor(readonly intervalMs: number) {}

  /** A cumulative reading; returns a problem to report when it cannot be used (nothing is counted then). */
  reading(at: number, cumulativeKwh: number, powerKw?: number): string | undefined {
    const last = this.last;
    this.last = { at, kWh: cumulativeKwh };
    if (!last) {
      this.dataAt = at;
      if (powerKw !== undefined) this.rateKw = powerKw;
      return undefined;
    }
    if (at <= last.at) {
      this.last = last;
      return `reading at ${new Date(at).toISOString()} is not after the last one: ignored`;
    }
    if (cumulativeKwh < last.kWh)
      return `site energy went back from ${last.kWh} to ${cumulativeKwh} kWh (meter replaced?): counting from here`;
    return this.interval(last.at, at, cumulativeKwh - last.kWh, powerKw);
  }

  /** Energy used between `from` and `to`. */
  interval(from: number, to: number, kWh: number, powerKw?: number): string | undefined {
    if (!(to > from) || !Number.isFinite(kWh) || kWh < 0)
      return `interval ${from}-${to} with ${kWh} kWh cannot be counted: ignored`;
    for (let start = windowStartOf(from, this.intervalMs); start < to; start += this.intervalMs) {
      const a = Math.max(from, start);
      const b = Math.min(to, start + this.intervalMs);
      const window = this.windows.get(start) ?? { kWh: 0, coveredMs: 0 };
      // An interval spanning a window boundary is split by time, as the tariff engine splits a reading.
      window.kWh += b - a === to - from ? kWh : (kWh * (b - a)) / (to - from);
      window.coveredMs += b - a;
      this.windows.set(start, window);
    }
    this.rateKw = powerKw ?? (kWh * HOUR_MS) / (to - from);
    this.dataAt = Math.max(this.dataAt ?? to, to);
    return undefined;
  }

  /** Energy of the window starting at `start` so far, kWh, and how much of it the readings covered (ms). */
  of(start: number): { kWh: number; coveredMs: number } {
    return this.windows.get(start) ?? { kWh: 0, coveredMs: 0 };
  }

  /** Windows that ended at or before `t`, oldest first, removed from the tally. */
  takeEndedBy(t: number): Array<{ start: number; kWh: number; coveredMs: number }> {
    const ended = [...this.windows]
      .filter(([start]) => start + this.intervalMs <= t)
      .sort(([a], [b]) => a - b)
      .map(([start, window]) => ({ start, ...window }));
    for (const window of ended) this.windows.delete(window.start);
    return ended;
  }
}
