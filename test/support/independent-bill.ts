/**
 * An independent bill: what a site's tariffs make of the intervals its meters were billed for, computed here
 * from the tariff documents' published rules with exact fractions, by code that shares nothing with the
 * tariff engine. It follows the rules the README documents: each charge's interval is split at local
 * midnights and time-of-use boundaries and shared out by elapsed time; each line of each piece is an exact
 * fraction rounded once to 10^-12 of a minor unit; a component's pieces are added over the account's whole
 * stream and the sum rounded once (half-even) to sub-minor units; blocks fill with whole micro-units of the
 * billing unit, per local month; a calendar day's standing charge is the day's rate.
 *
 * Amounts are in sub-minor units (10^-4 of the minor unit); quantities come in as decimal text in the meter's
 * unit.
 */

/** An exact fraction n/d (d > 0). */
export class Q {
  constructor(
    readonly n: bigint,
    readonly d: bigint = 1n,
  ) {}

  static of(text: string): Q {
    const negative = text.startsWith('-');
    const [whole, fraction = ''] = (negative ? text.slice(1) : text).split('.');
    const n = BigInt(`${whole}${fraction}` || '0') * (negative ? -1n : 1n);
    return new Q(n, 10n ** BigInt(fraction.length));
  }

  times(other: Q): Q {
    return new Q(this.n * other.n, this.d * other.d);
  }

  plus(other: Q): Q {
    return new Q(this.n * other.d + other.n * this.d, this.d * other.d);
  }

  /** Rounded half to even to a whole number. */
  round(): bigint {
    const q = this.n / this.d;
    const r = this.n - q * this.d;
    const twice = 2n * (r < 0n ? -r : r);
    if (twice < this.d) return q;
    if (twice > this.d) return this.n < 0n ? q - 1n : q + 1n;
    return q % 2n === 0n ? q : this.n < 0n ? q - 1n : q + 1n;
  }
}

/** Sub-minor units of one major unit, for a currency with two minor digits (MYR: sen). */
const SUB_PER_MAJOR = 1_000_000n;
/** Pico units (10^-12 of a minor unit) per sub-minor unit. */
const PICO_PER_SUB = 100_000_000n;
const MINUTE = 60_000;
const DAY = 86_400_000;

/** Units a meter reports and how many of the tariff's billing unit one of them is. */
const TO_BILLING: Record<string, Q> = {
  kWh: new Q(1n),
  Wh: new Q(1n, 1000n),
  MWh: new Q(1000n),
  m3: new Q(1n),
  L: new Q(1n, 1000n),
};

export interface SiteTariff {
  utility: string;
  timezoneOffsetMinutes: number;
  /** Flat rate (major units per billing unit), or the time-of-use rates and peak hours. */
  flat?: string;
  tou?: { peak: string; offpeak: string; peakFrom: number; peakTo: number };
  /** Blocks per local month: [upTo or undefined, rate]. */
  blocks?: Array<[string | undefined, string]>;
  surcharges?: Array<{ name: string; rate: string; sharePercent: string }>;
  /** Meter unit to billing unit (gas m3 to kWh: VCF x CV / 3.6), on top of the unit's own factor. */
  conversion?: Q;
  standingPerDay?: string;
}

export interface BilledInterval {
  accountId: string;
  utility: string;
  from: number;
  to: number;
  delta: string;
  unit: string;
}

function localMidnights(from: number, to: number, offset: number): number[] {
  const out: number[] = [];
  let t = Math.floor((from + offset) / DAY) * DAY + DAY - offset;
  for (; t < to; t += DAY) out.push(t);
  return out;
}

/** The pieces of an interval: at local midnights and, for time-of-use, at the peak boundaries. */
function pieces(
  interval: BilledInterval,
  tariff: SiteTariff,
): Array<{ start: number; end: number; peak: boolean }> {
  const offset = tariff.timezoneOffsetMinutes * MINUTE;
  const cuts = new Set<number>(localMidnights(interval.from, interval.to, offset));
  if (tariff.tou) {
    for (let day = Math.floor((interval.from + offset) / DAY) * DAY - offset; day < interval.to; day += DAY)
      for (const hour of [tariff.tou.peakFrom, tariff.tou.peakTo]) {
        const t = day + hour * 3_600_000;
        if (t > interval.from && t < interval.to) cuts.add(t);
      }
  }
  const bounds = [interval.from, ...[...cuts].sort((a, b) => a - b), interval.to];
  const out: Array<{ start: number; end: number; peak: boolean }> = [];
  for (let i = 1; i < bounds.length; i++) {
    const start = bounds[i - 1] as number;
    const end = bounds[i] as number;
    const hour = ((((start + offset) % DAY) + DAY) % DAY) / 3_600_000;
    const peak = tariff.tou ? hour >= tariff.tou.peakFrom && hour < tariff.tou.peakTo : false;
    const last = out[out.length - 1];
    // Consecutive pieces of the same local day and period are one.
    if (
      last &&
      last.peak === peak &&
      Math.floor((last.start + offset) / DAY) === Math.floor((start + offset) / DAY)
    )
      last.end = end;
    else out.push({ start, end, peak });
  }
  return out;
}

function localMonth(t: number, offsetMinutes: number): string {
  return new Date(t + offsetMinutes * MINUTE).toISOString().slice(0, 7);
}

/**
 * Sub-minor units each account owes for the intervals it was billed (per component, summed over the account's
 * stream, rounded once per component).
 */
export function independentBill(
  intervals: BilledInterval[],
  tariffs: SiteTariff[],
): Map<string, Map<string, bigint>> {
  // (account, utility) -> component -> pico (exact integers after per-piece rounding). Each utility of an
  // account runs its own totals, as the tariff documents' rounding is per account's tariff.
  const pico = new Map<string, Map<string, bigint>>();
  const add = (key: string, component: string, amount: bigint): void => {
    const lines = pico.get(key) ?? new Map<string, bigint>();
    lines.set(component, (lines.get(component) ?? 0n) + amount);
    pico.set(key, lines);
  };
  const sorted = [...intervals].sort((a, b) => a.to - b.to);
  // Block tariffs: per account, utility and local month, micro-units used; per account and utility the running raw
  // quantity (micro-units of the meter's unit), whose conversion is rounded as a running total.
  const blockUsed = new Map<string, bigint>();
  const rawTotal = new Map<string, bigint>();
  for (const interval of sorted) {
    const tariff = tariffs.find((t) => t.utility === interval.utility);
    if (!tariff) throw new Error(`no tariff for ${interval.utility}`);
    const unitFactor = TO_BILLING[interval.unit];
    if (!unitFactor) throw new Error(`unknown unit ${interval.unit}`);
    const factor = tariff.conversion ? unitFactor.times(tariff.conversion) : unitFactor;
    const rawMicro = Q.of(interval.delta).times(new Q(1_000_000n)).round();
    // The billed quantity as an exact fraction of micro-units of the billing unit.
    const billed = new Q(rawMicro).times(factor);
    const duration = BigInt(interval.to - interval.from);
    const key = `${interval.accountId}\u0000${interval.utility}`;
    const before = rawTotal.get(key) ?? 0n;
    rawTotal.set(key, before + rawMicro);
    const wholeMicro = new Q(before + rawMicro).times(factor).round() - new Q(before).times(factor).round();
    let allocated = 0n;
    let elapsed = 0n;
    const parts = pieces(interval, tariff);
    for (const piece of parts) {
      const span = BigInt(piece.end - piece.start);
      const share = parts.length === 1 || duration === 0n ? billed : billed.times(new Q(span, duration));
      const line = (rate: string): bigint =>
        // micro-units x (sub-minor per unit) x 100 = pico
        share.times(Q.of(rate).times(new Q(SUB_PER_MAJOR * 100n))).round();
      if (tariff.flat) add(key, 'energy', line(tariff.flat));
      if (tariff.tou) {
        const period = piece.peak ? 'peak' : 'offpeak';
        add(key, `energy.${period}`, line(tariff.tou[period]));
      }
      if (tariff.blocks) {
        elapsed += span;
        const upToHere = duration > 0n ? new Q(wholeMicro * elapsed, duration).round() : wholeMicro;
        let micro = upToHere - allocated;
        allocated = upToHere;
        const monthKey = `${key}\u0000${localMonth(piece.start, tariff.timezoneOffsetMinutes)}`;
        let used = blockUsed.get(monthKey) ?? 0n;
        tariff.blocks.forEach(([upTo, rate], index) => {
          if (micro <= 0n) return;
          const room = upTo === undefined ? micro : Q.of(upTo).times(new Q(1_000_000n)).round() - used;
          if (room <= 0n) return;
          const take = room < micro ? room : micro;
          add(
            key,
            `block.${index + 1}`,
            take *
              Q.of(rate)
                .times(new Q(SUB_PER_MAJOR * 100n))
                .round(),
          );
          used += take;
          micro -= take;
        });
        blockUsed.set(monthKey, used);
      }
      for (const surcharge of tariff.surcharges ?? [])
        add(
          key,
          `surcharge.${surcharge.name}`,
          share
            .times(new Q(Q.of(surcharge.sharePercent).n, Q.of(surcharge.sharePercent).d * 100n))
            .times(Q.of(surcharge.rate).times(new Q(SUB_PER_MAJOR * 100n)))
            .round(),
        );
    }
  }
  // Per account: component (with its utility) -> sub-minor units.
  const out = new Map<string, Map<string, bigint>>();
  for (const [key, lines] of pico) {
    const [account, utility] = key.split('\u0000') as [string, string];
    const rounded = out.get(account) ?? new Map<string, bigint>();
    for (const [component, total] of lines)
      rounded.set(`${utility}:${component}`, new Q(total, PICO_PER_SUB).round());
    out.set(account, rounded);
  }
  return out;
}

/** A standing charge's amount in sub-minor units. */
export function standingAmount(tariff: SiteTariff): bigint {
  return tariff.standingPerDay === undefined
    ? 0n
    : Q.of(tariff.standingPerDay).times(new Q(SUB_PER_MAJOR)).round();
}

/** Exact decimal subtraction of register texts ("1234.57" - "1230.1"). */
export function decimalDifference(a: string, b: string): string {
  const x = Q.of(a);
  const y = Q.of(b);
  const d = x.d > y.d ? x.d : y.d;
  const n = x.n * (d / x.d) - y.n * (d / y.d);
  const digits = d.toString().length - 1;
  const negative = n < 0n;
  const text = (negative ? -n : n).toString().padStart(digits + 1, '0');
  const whole = digits > 0 ? text.slice(0, -digits) : text;
  const fraction = digits > 0 ? text.slice(-digits).replace(/0+$/, '') : '';
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}
