/**
 * The benchmark harness. Every figure is reported next to a baseline measured in the same run on
 * the same machine (raw driver, bare Node-RED flow, a message clone), as a ratio, because absolute
 * numbers from a shared 2-core machine mean little on their own.
 *
 * A benchmark file (bench/<name>.bench.ts) exports `run(): Promise<BenchResult[]>`.
 */

export interface BenchResult {
  /** What was measured ("tariff: TOU charges per second"). */
  name: string;
  value: number;
  /** Unit of value and baselineValue ("charges/s", "ms", "requests/meter"). */
  unit: string;
  /** What the baseline is ("RED.util.cloneMessage of the same message"). */
  baseline: string;
  baselineValue: number;
  /** value / baselineValue, or baselineValue / value when lower is better: >1 means we beat the baseline. */
  ratio: number;
  /** Target, interpretation, or the cost expressed in baseline units. */
  note?: string;
}

export type BenchModule = { run(): Promise<BenchResult[]> };

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/** A result where higher is better (rates). */
export function higherIsBetter(
  name: string,
  value: number,
  unit: string,
  baseline: string,
  baselineValue: number,
  note?: string,
): BenchResult {
  return { name, value, unit, baseline, baselineValue, ratio: value / baselineValue, note };
}

/** A result where lower is better (latencies, request counts): ratio = baseline / value. */
export function lowerIsBetter(
  name: string,
  value: number,
  unit: string,
  baseline: string,
  baselineValue: number,
  note?: string,
): BenchResult {
  return { name, value, unit, baseline, baselineValue, ratio: baselineValue / value, note };
}
