/**
 * The site's demand from the meter reader's messages: the electricity meters named (or every electricity meter
 * heard) summed into one site energy register. Each meter counts from its first reading, so a meter heard late
 * or replaced (its register going back) adds no step to the site's energy. A site reading is given once a poll
 * cycle is complete: every meter of the site read since the last one, or one of them read again (a meter that
 * stopped answering does not stop the site). Pure.
 */

const KWH_PER_UNIT: Readonly<Record<string, number>> = { wh: 0.001, kwh: 1, mwh: 1000 };

export interface SiteReading {
  at: number;
  /** Site energy since the first readings, kWh. */
  kWh: number;
}

export class SiteMeter {
  private readonly meters = new Map<string, { base: number; last: number; counted: number }>();
  private readonly cycle = new Set<string>();
  private cycleAt = 0;

  /** `only`: the meters that make the site (empty: every electricity meter heard). */
  constructor(private readonly only: ReadonlySet<string>) {}

  /** Whether a payload is a reading this site meter counts (an electricity register in Wh, kWh or MWh). */
  static energyOf(
    payload: Record<string, unknown>,
  ): { meterId: string; at: number; kWh: number } | undefined {
    if (typeof payload.meterId !== 'string' || typeof payload.value !== 'number') return undefined;
    if (payload.utility !== undefined && payload.utility !== 'electricity') return undefined;
    if (payload.quality !== undefined && payload.quality !== 'good') return undefined;
    if (payload.estimated === true) return undefined;
    const scale = KWH_PER_UNIT[String(payload.unit ?? 'kWh').toLowerCase()];
    const at =
      typeof payload.ts === 'number' ? payload.ts : typeof payload.to === 'number' ? payload.to : NaN;
    if (scale === undefined || !Number.isFinite(at) || !Number.isFinite(payload.value)) return undefined;
    return { meterId: payload.meterId, at, kWh: payload.value * scale };
  }

  counts(meterId: string): boolean {
    return this.only.size === 0 || this.only.has(meterId);
  }

  /** A meter's register (kWh) at `at`; a site reading when it completes a cycle. */
  reading(meterId: string, at: number, kWh: number): SiteReading | undefined {
    if (!this.counts(meterId)) return undefined;
    const meter = this.meters.get(meterId);
    if (!meter) this.meters.set(meterId, { base: kWh, last: kWh, counted: 0 });
    else if (kWh < meter.last) {
      // Register went back (meter replaced or rebased): what it had counted stays, counting goes on from here.
      meter.counted += meter.last - meter.base;
      meter.base = kWh;
      meter.last = kWh;
    } else meter.last = kWh;
    const repeat = this.cycle.has(meterId);
    this.cycle.add(meterId);
    this.cycleAt = Math.max(this.cycleAt, at);
    const known = this.only.size > 0 ? this.only.size : this.meters.size;
    if (!repeat && this.cycle.size < known) return undefined;
    const reading = { at: this.cycleAt, kWh: this.total() };
    this.cycle.clear();
    this.cycleAt = 0;
    return reading;
  }

  private total(): number {
    let sum = 0;
    for (const meter of this.meters.values()) sum += meter.counted + meter.last - meter.base;
    return sum;
  }
}
