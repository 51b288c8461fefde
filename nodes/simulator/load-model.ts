/**
 * Believable demand for simulated tenants: an office works weekdays 08-18, a shop trades 10-21 every day,
 * a restaurant peaks at lunch and dinner, a cooling plant follows office hours with a hot-afternoon bump.
 * Each meter gets its own seeded noise so two runs with the same seed produce the same registers.
 */
import type { Utility } from '../core/messages';
import { TimeZone } from '../core/tariff/zone';

export const TENANT_KINDS = ['office', 'shop', 'restaurant'] as const;
export type TenantKind = (typeof TENANT_KINDS)[number];

/** Hourly shape (0-1) of each kind on a working day and on a rest day (weekend). */
const SHAPES: Record<TenantKind, { work: number[]; rest: number[] }> = {
  office: {
    work: [
      0.15, 0.15, 0.15, 0.15, 0.15, 0.15, 0.25, 0.5, 0.9, 1, 1, 1, 0.95, 1, 1, 1, 0.95, 0.8, 0.5, 0.3, 0.2,
      0.15, 0.15, 0.15,
    ],
    rest: [
      0.15, 0.15, 0.15, 0.15, 0.15, 0.15, 0.15, 0.15, 0.18, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.18,
      0.15, 0.15, 0.15, 0.15, 0.15, 0.15,
    ],
  },
  shop: {
    work: [
      0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.15, 0.3, 0.7, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.95, 0.5, 0.15, 0.1,
    ],
    rest: [
      0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.6, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.9, 0.6, 0.2, 0.1, 0.1,
    ],
  },
  restaurant: {
    work: [
      0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.15, 0.3, 0.4, 0.6, 0.9, 1, 0.9, 0.5, 0.4, 0.5, 0.8, 1, 1, 0.9, 0.6,
      0.3, 0.15,
    ],
    rest: [
      0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.15, 0.3, 0.5, 0.7, 1, 1, 1, 0.7, 0.5, 0.6, 0.9, 1, 1, 1, 0.7, 0.4,
      0.2,
    ],
  },
};

/** A small fast seeded generator (mulberry32); Math.random cannot be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function hashSeed(text: string): number {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i += 1) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  return hash >>> 0;
}

/** Anything a simulated meter can integrate: demand at a moment, in the rate unit. */
export interface RateSource {
  rate(t: number): number;
}

export interface LoadSpec {
  kind: TenantKind;
  utility: Utility;
  /** Peak demand in the utility's rate unit: kW (electricity, cooling), m³/h (water, gas). */
  peak: number;
  seed: number;
}

export class LoadModel implements RateSource {
  private readonly zone: TimeZone;
  private readonly noise: () => number;
  private readonly jitter: number[];

  constructor(
    readonly spec: LoadSpec,
    timeZone: string,
  ) {
    this.zone = TimeZone.get(timeZone);
    this.noise = seededRandom(spec.seed);
    // A fixed per-hour wobble per meter, so tenants of a kind do not move in lockstep.
    this.jitter = Array.from({ length: 24 }, () => 0.85 + 0.3 * this.noise());
  }

  /** Demand at time t, in the rate unit. */
  rate(t: number): number {
    const parts = this.zone.wallParts(t);
    const hour = Math.floor(parts.minuteOfDay / 60);
    const rest = parts.weekday === 0 || parts.weekday === 6;
    const shape = SHAPES[this.spec.kind][rest ? 'rest' : 'work'][hour] ?? 0.1;
    let factor = shape * (this.jitter[hour] ?? 1);
    if (this.spec.utility === 'water' || this.spec.utility === 'gas') {
      // Water and gas flow comes in bursts: most minutes nothing, some minutes a lot.
      const minuteSeed = hashSeed(`${this.spec.seed}:${Math.floor(t / 60_000)}`);
      factor = (minuteSeed % 100) / 100 < shape ? shape * 2 : 0;
    }
    if (this.spec.utility === 'cooling') {
      const afternoon = hour >= 12 && hour <= 17 ? 1.25 : 1;
      factor *= afternoon;
    }
    return this.spec.peak * factor;
  }

  /** Consumption between t0 and t1 (rate unit x hours), integrated in one-minute steps. */
  consumption(t0: number, t1: number): number {
    if (t1 <= t0) return 0;
    let total = 0;
    let t = t0;
    while (t < t1) {
      const next = Math.min(t1, (Math.floor(t / 60_000) + 1) * 60_000);
      total += this.rate(t) * ((next - t) / 3_600_000);
      t = next;
    }
    return total;
  }
}
