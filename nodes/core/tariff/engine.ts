/**
 * The tariff engine: prices consumption and calendar items (standing, capacity, monthly) exactly.
 *
 * Money path: every line is first an exact fraction (quantity x rate x time share x factors), then
 * rounded once to pico units (10^-12 of a minor unit), added to that account's running total for
 * the component, and emitted in sub-minor units as round(total after) - round(total before) with
 * the tariff's rounding mode. So the lines of any split of a consumption stream add up to what the
 * unsplit stream gives, and a month of 15-minute readings bills the same as one monthly reading.
 * Taxes are percentages of the rounded lines they apply to, rounded the same way.
 */
import { divRound, formatScaled, parseDecimal, toScaledRounded, toSafeNumber } from '../decimal';
import { DECLARED_FORMAT, figurePattern } from './rules';
import { Charge, ChargeLine, Credit, RegisterMovement, Utility } from '../messages';
import { CumulativeRounder, formatSubMinor, PICO_PER_SUB_MINOR, SUB_MINOR_PER_MINOR } from '../money';
import {
  blockPeriodKey,
  dayInfo,
  dayNumberOf,
  daysInMonth,
  DayInfo,
  Segment,
  segmentInterval,
} from './calendar';
import { accountStateKey, AccountTariffState, big, emptyEngineState, TariffEngineState } from './state';
import { monthShare, owedShare } from './occupancy';
import { CompiledTariff, DayCount, Ratio } from './types';
import { unitFactor, canonicalUnit } from './units';
import { extend } from '../shapes';

const DAY = 86_400_000;
const RECENT_CHARGES = 4096;
/** No tenant meter consumes a million units (1 GWh, 1 million m3) between two readings. */
const MAX_DELTA_MICRO = 1_000_000n * 1_000_000n;
const ROUNDERS = {
  'half-even': new CumulativeRounder(PICO_PER_SUB_MINOR, 'half-even'),
  'half-away-from-zero': new CumulativeRounder(PICO_PER_SUB_MINOR, 'half-away-from-zero'),
};
const MICRO = 1_000_000n;
/** Pico units per (micro-unit x sub-minor-per-unit): 10^8 pico per sub-minor / 10^6 micro per unit. */
const PICO_PER_MICRO_SUBMINOR = 100n;
/** Quantities on lines are tracked to 10^-9 units and shown to 10^-6. */
const NANO_PER_MICRO = 1000n;

export interface ConsumptionInput {
  meterId: string;
  readingId: string;
  accountId?: string;
  utility?: Utility;
  /** Consumed quantity in `unit` (a number or decimal string); resolved to 10^-6 of the unit. */
  delta: number | string;
  unit: string;
  from: number;
  to: number;
  /** Carried into the charge unchanged (the register movement, for the ledger's reconciliation). */
  register?: RegisterMovement;
  /**
   * Quantities the account declares for items priced per unit of them ({"kVA": "63", "fittings": "3"}):
   * kept with the account (the latest wins) for its monthly items and capacity.
   */
  declared?: Record<string, string | number>;
}

/** Dynamic prices: sub-minor units per billing unit for each interval. */
export interface PriceSignal {
  issuedAt: number;
  intervals: Array<{ from: number; to: number; rate: bigint }>;
}

/** Carbon intensity: milligrams CO2e per billing unit for each interval. */
export interface CarbonSignal {
  issuedAt: number;
  intervals: Array<{ from: number; to: number; mgPerUnit: Ratio }>;
}

export interface PricingContext {
  now: number;
  prices?: PriceSignal;
  carbon?: CarbonSignal;
}

export type PriceOutcome =
  | { status: 'priced'; charge: Charge }
  /** The reading was priced before; `charge` is the original when it is still remembered. */
  | { status: 'replay'; readingId: string; charge?: Charge };

export class ConsumptionError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'ConsumptionError';
  }
}

interface LineTotal {
  component: string;
  /** Nano-units of the billing unit. */
  quantity: bigint;
  unit: string;
  /** Sub-minor per unit, for display; undefined when mixed (dynamic prices). */
  rate: bigint | undefined;
  /** Exact pico amount, rounded once per segment (the only rounding before emission). */
  pico: bigint;
}

class Lines {
  private readonly byComponent = new Map<string, LineTotal>();

  add(component: string, unit: string, quantityNano: bigint, rate: bigint | undefined, pico: bigint): void {
    const line = this.byComponent.get(component);
    if (!line) {
      this.byComponent.set(component, { component, quantity: quantityNano, unit, rate, pico });
      return;
    }
    line.quantity += quantityNano;
    line.pico += pico;
    if (line.rate !== rate) line.rate = undefined;
  }

  all(): LineTotal[] {
    return [...this.byComponent.values()];
  }
}

function mulRatio(a: Ratio, b: Ratio): Ratio {
  return { num: a.num * b.num, den: a.den * b.den };
}

/** Texts of recent quantities: a site reads the same few values over and over. */
const quantityTexts = new Map<bigint, string>();

/** A 10^-6 fixed-point quantity as a short decimal ("1.5" rather than "1.500000"), cached. */
function quantityText(value: bigint, scale: number): string {
  if (scale !== 6) return shortDecimal(value, scale);
  let text = quantityTexts.get(value);
  if (text === undefined) {
    text = shortDecimal(value, scale);
    if (quantityTexts.size >= 4096) quantityTexts.clear();
    quantityTexts.set(value, text);
  }
  return text;
}

function shortDecimal(value: bigint, scale: number): string {
  const text = formatScaled(value, scale);
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

export class TariffEngine {
  readonly state: TariffEngineState;
  private readonly recent = new Map<string, Charge>();
  private readonly ring: Array<string | undefined> = new Array<string | undefined>(RECENT_CHARGES);
  private ringPos = 0;

  constructor(state: TariffEngineState = emptyEngineState()) {
    this.state = state;
    for (const [, charge] of state.recent.slice(-RECENT_CHARGES)) this.remember(charge);
  }

  /**
   * Accounts (or meters standing in for them) this engine has priced, one per utility, with the tariff that
   * priced that utility last: the one whose calendar items (standing, capacity, monthly) the account owes.
   */
  knownAccounts(): Array<{ key: string; account: string; utility?: Utility; tariff?: string }> {
    return Object.entries(this.state.accounts).map(([key, value]) => ({
      key,
      account: value.account ?? key,
      utility: value.utility,
      tariff: value.tariff,
    }));
  }

  /**
   * Places the entries of a version 1 state (one per account, shared by every utility) now that the tariffs
   * are known: each goes to the utility of the tariff that priced it last (from the tariff, else from a
   * remembered charge), and stays the starting point of the account's other utilities.
   */
  adoptLegacy(tariffs: ReadonlyMap<string, CompiledTariff>): void {
    const legacy = this.state.legacy;
    if (!legacy) return;
    for (const [accountKey, entry] of Object.entries(legacy)) {
      const name = entry.tariff;
      const utility =
        (name === undefined ? undefined : tariffs.get(name)?.utility) ??
        this.state.recent.find(
          ([, c]) => c.tariff === name && (c.accountId ?? `meter:${c.meterId}`) === accountKey,
        )?.[1].utility;
      const key = accountStateKey(accountKey, utility);
      if (!this.state.accounts[key])
        this.state.accounts[key] = extend(structuredClone(entry), { account: accountKey, utility });
    }
  }

  /** The live state, for persisting with serializeEngineState (recent charges included). */
  snapshot(): TariffEngineState {
    this.state.recent = [...this.recent.entries()];
    return this.state;
  }

  priceConsumption(tariff: CompiledTariff, input: ConsumptionInput, ctx: PricingContext): PriceOutcome {
    checkInput(input);
    const seen = this.recent.get(input.readingId);
    if (seen) return { status: 'replay', readingId: input.readingId, charge: seen };
    const mark = this.state.meters[input.meterId];
    if (mark && input.to <= mark.lastTo && input.from < mark.lastTo) {
      return { status: 'replay', readingId: input.readingId };
    }
    const factor = this.billingFactor(tariff, input.unit);
    let rawMicro: bigint;
    try {
      rawMicro = toScaledRounded(input.delta, 6, 'half-even');
    } catch (error) {
      throw new ConsumptionError('delta', (error as Error).message);
    }
    if (rawMicro < 0n)
      throw new ConsumptionError(
        'delta',
        'must not be negative (negative deltas are held as suspect by the meter reader)',
      );
    // Checked before anything changes: a garbage register (a float32 reading 3.4e38) must be refused,
    // not half-priced into the running totals and the demand peak.
    if (rawMicro > MAX_DELTA_MICRO) {
      throw new ConsumptionError(
        'delta',
        `is implausibly large for one reading (more than ${MAX_DELTA_MICRO / MICRO} ${input.unit})`,
      );
    }

    const key = input.accountId ?? `meter:${input.meterId}`;
    const declared = this.checkDeclared(tariff, key, input);
    const utilityKey = accountStateKey(key, input.utility ?? tariff.utility);
    const fresh = this.state.accounts[utilityKey] === undefined && this.state.legacy?.[key] === undefined;
    const account = this.account(key, input.utility ?? tariff.utility, tariff);
    if (declared) account.declared = Object.assign(account.declared ?? {}, declared);
    const lines = new Lines();
    const unit = tariff.unit;
    // Billed quantity in micro-units as an exact fraction.
    const billed: Ratio = { num: rawMicro * factor.num, den: factor.den };
    // Billed quantity in whole micro-units by cumulative rounding of raw quantity x factor over the
    // account's stream: what the charge shows, and what blocks are filled with (a conversion factor
    // such as gas m3 -> kWh leaves fractions of a micro-unit that must carry to the next reading).
    const before = big(account.quantityCum);
    const after = before + rawMicro;
    const quantityMicro =
      divRound(after * factor.num, factor.den, 'half-even') -
      divRound(before * factor.num, factor.den, 'half-even');
    const duration = BigInt(input.to - input.from);
    const segments = this.segments(tariff, input.from, input.to, ctx);
    // An account's first reading is its move-in, unless a move-in message said otherwise before.
    if (fresh) account.moveIn = (segments[0] as Segment).day.date;
    let carbonMg = 0n;
    let blockAllocated = 0n;
    let elapsed = 0n;

    for (const segment of segments) {
      // This segment's share of the billed quantity, micro-units: billed x span / duration (the
      // whole of it when the interval is one segment, the common case: no division at all).
      const whole = segments.length === 1 || duration === 0n;
      const share: Ratio = whole
        ? billed
        : { num: billed.num * BigInt(segment.end - segment.start), den: billed.den * duration };
      const quantityNano = divRound(share.num * NANO_PER_MICRO, share.den, 'half-even');
      const energy = tariff.energy;
      const pico = (rate: bigint): bigint =>
        divRound(share.num * rate * PICO_PER_MICRO_SUBMINOR, share.den, 'half-even');

      if (energy.type === 'flat') {
        lines.add('energy', unit, quantityNano, energy.rate, pico(energy.rate));
      } else if (energy.type === 'tou') {
        const period = segment.period ?? energy.defaultPeriod;
        const rate = energy.rates.get(period) ?? 0n;
        lines.add(energy.components.get(period) ?? `energy.${period}`, unit, quantityNano, rate, pico(rate));
      } else if (energy.type === 'dynamic') {
        const rate = this.dynamicRate(ctx, segment.start, energy.maxAgeMs);
        if (rate === undefined)
          lines.add('energy.fallback', unit, quantityNano, energy.fallbackRate, pico(energy.fallbackRate));
        else lines.add('energy.dynamic', unit, quantityNano, rate, pico(rate));
      } else {
        // Blocks need whole micro-units: allocate the interval's quantity across segments by
        // cumulative rounding so the pieces add up to the total exactly.
        elapsed += BigInt(segment.end - segment.start);
        const upToHere =
          duration > 0n ? divRound(quantityMicro * elapsed, duration, 'half-even') : quantityMicro;
        const micro = upToHere - blockAllocated;
        blockAllocated = upToHere;
        this.allocateBlocks(tariff, account, segment.day, micro, lines);
      }

      for (const surcharge of tariff.surcharges) {
        const surchargeShare = mulRatio(share, surcharge.share);
        lines.add(
          `surcharge.${surcharge.name}`,
          unit,
          divRound(surchargeShare.num * NANO_PER_MICRO, surchargeShare.den, 'half-even'),
          surcharge.rate,
          divRound(
            surchargeShare.num * surcharge.rate * PICO_PER_MICRO_SUBMINOR,
            surchargeShare.den,
            'half-even',
          ),
        );
      }

      if (tariff.demand)
        this.recordDemand(tariff, account, segment.start, segment.day, segment.period, share);

      const intensity = this.carbonIntensity(tariff, ctx, segment.start);
      if (intensity)
        carbonMg += divRound(share.num * intensity.num, share.den * intensity.den * MICRO, 'half-even');
    }

    const breakdown = this.emit(tariff, account, lines.all());
    const subtotal = sumAmounts(breakdown);
    const lastSegment = segments[segments.length - 1] as { day: DayInfo };
    this.addToMonth(account, lastSegment.day.month, subtotal, false);
    breakdown.push(...this.taxLines(tariff, account, breakdown));

    account.quantityCum = after;

    const charge: Charge = {
      accountId: input.accountId,
      meterId: input.meterId,
      readingId: input.readingId,
      utility: input.utility ?? tariff.utility,
      tariff: tariff.name,
      quantity: quantityText(quantityMicro, 6),
      unit,
      amount: toSafeNumber(sumAmounts(breakdown), 'charge amount'),
      currency: tariff.currency,
      breakdown,
      carbonKg: Number(carbonMg) / 1e6,
      from: input.from,
      to: input.to,
      kind: 'consumption',
    };
    if (input.register) charge.register = input.register;
    if (mark) {
      mark.lastTo = Math.max(input.to, mark.lastTo);
      mark.lastReadingId = input.readingId;
    } else {
      this.state.meters[input.meterId] = { lastTo: input.to, lastReadingId: input.readingId };
    }
    this.remember(charge);
    return { status: 'priced', charge };
  }

  /**
   * The calendar charges for local date `date` ("YYYY-MM-DD") of one account and utility (the tariff's,
   * unless `meta.utility` says): standing and capacity charges for the day, and on the 1st of a month the
   * monthly items (fixed items for the new month; maximum demand and any minimum-charge shortfall for the
   * month just ended). Raising a date twice returns nothing the second time. Their reading ids name the
   * account, the utility and the date (`standing:T0412:gas:2024-06-03`, `monthly:T0412:gas:2024-06`), so
   * each utility's items are posted, and a second tariff node pricing the same utility raises the same ids.
   */
  calendarCharges(
    tariff: CompiledTariff,
    accountKey: string,
    date: string,
    meta: { accountId?: string; meterId?: string; utility?: Utility } = {},
  ): Charge[] {
    const utility = meta.utility ?? tariff.utility;
    const account = this.account(accountKey, utility, tariff);
    const idPart = utility === undefined ? accountKey : `${accountKey}:${utility}`;
    if (account.lastDay !== undefined && account.lastDay >= date) return [];
    // Nothing before the tenant moved in, nothing after the tenant moved out.
    if (account.moveIn !== undefined && date < account.moveIn) return [];
    if (account.moveOut !== undefined && date > account.moveOut) {
      const final = account.movedOut ? [] : this.finalItems(tariff, account, accountKey, idPart, meta);
      account.lastDay = date;
      return final;
    }
    const day = dayInfo(tariff, dayNumberOf(date));
    const from = tariff.zone.wallToInstant(day.year, day.monthNumber, day.dayOfMonth);
    const next = dayInfo(tariff, day.dayNumber + 1);
    const to = tariff.zone.wallToInstant(next.year, next.monthNumber, next.dayOfMonth);
    const charges: Charge[] = [];

    if (day.dayOfMonth === 1 && account.lastMonth !== day.month) {
      const monthly = this.monthlyCharge(tariff, account, accountKey, idPart, day, meta, from);
      if (monthly) charges.push(monthly);
    } else if (date === account.moveIn && day.dayOfMonth !== 1) {
      // Moved in after the 1st: the fixed items of the rest of the month, as the move-in policy says.
      const lines = new Lines();
      this.openMonth(tariff, account, day, lines);
      const moveIn = this.emitMonthly(
        tariff,
        account,
        accountKey,
        meta,
        day,
        lines,
        `monthly:${idPart}:${date}`,
        from,
      );
      if (moveIn) charges.push(moveIn);
    }

    const lines = this.dayLines(tariff, account, day);
    account.lastDay = date;
    const all = lines.all();
    if (all.length > 0) {
      const breakdown = this.emit(tariff, account, all);
      this.addToMonth(account, day.month, sumAmounts(breakdown), false);
      breakdown.push(...this.taxLines(tariff, account, breakdown));
      charges.push(
        this.periodicCharge(
          tariff,
          accountKey,
          meta,
          `standing:${idPart}:${date}`,
          'standing',
          breakdown,
          from,
          to,
        ),
      );
    }
    if (date === account.moveOut) charges.push(...this.finalItems(tariff, account, accountKey, idPart, meta));
    return charges;
  }

  /**
   * Records that the tenant of an account moves in on local date `date`: calendar items start that day, and the
   * fixed items of the month follow the tariff's move-in policy. For an account not billed yet (its first
   * reading may come before or after), or one that moved out before `date` (a new tenancy of the same account).
   */
  moveIn(tariff: CompiledTariff, accountKey: string, date: string, utility?: Utility): void {
    checkDate(date);
    const key = accountStateKey(accountKey, utility ?? tariff.utility);
    const known = this.state.accounts[key];
    if (known && known.lastDay !== undefined) {
      if (known.moveOut === undefined)
        throw new ConsumptionError(
          'date',
          `account "${accountKey}" is billed since ${known.moveIn ?? 'before'} up to ${known.lastDay}: send its move-out first`,
        );
      if (date <= known.moveOut)
        throw new ConsumptionError('date', `must be after the move-out of ${known.moveOut}`);
    }
    const account = this.account(accountKey, utility ?? tariff.utility, tariff);
    account.moveIn = date;
    delete account.moveOut;
    delete account.movedOut;
    // A new tenancy: its calendar starts on its move-in day.
    if (account.lastDay !== undefined && account.lastDay >= date)
      account.lastDay = dayInfo(tariff, dayNumberOf(date) - 1).date;
  }

  /**
   * Records that the tenant of an account moves out on local date `date` (the last day occupied): no calendar
   * item is raised after it, and its final items come once the calendar has raised that day (at once when it
   * has): the close of the month (maximum demand, the minimum as the move-out policy says) and a credit of
   * what was raised in advance and is not owed. Returns what is raised now; the same date again returns
   * nothing. A move-out in a month already closed is refused (its items are settled).
   */
  moveOut(
    tariff: CompiledTariff,
    accountKey: string,
    date: string,
    meta: { accountId?: string; meterId?: string; utility?: Utility } = {},
  ): Charge[] {
    checkDate(date);
    const utility = meta.utility ?? tariff.utility;
    const known = this.state.accounts[accountStateKey(accountKey, utility)];
    if (!known)
      throw new ConsumptionError(
        'accountId',
        `"${accountKey}" has no ${utility ?? ''} consumption priced here`,
      );
    if (known.moveOut !== undefined) {
      if (known.moveOut === date) return [];
      throw new ConsumptionError('date', `"${accountKey}" moved out on ${known.moveOut} already`);
    }
    if (known.moveIn !== undefined && date < known.moveIn)
      throw new ConsumptionError('date', `must not be before the move-in of ${known.moveIn}`);
    if (known.lastMonth !== undefined && date.slice(0, 7) < known.lastMonth)
      throw new ConsumptionError(
        'date',
        `is in a month already closed (items are raised to ${known.lastDay ?? known.lastMonth}); credit by hand`,
      );
    const account = this.account(accountKey, utility, tariff);
    account.moveOut = date;
    if (account.lastDay === undefined || account.lastDay < date) return [];
    const idPart = utility === undefined ? accountKey : `${accountKey}:${utility}`;
    return this.finalItems(tariff, account, accountKey, idPart, meta);
  }

  /** Credits raised since last taken (by a move-out), to post with the ledger's `adjust`. */
  takeCredits(): Credit[] {
    const credits = this.credits;
    this.credits = [];
    return credits;
  }

  private credits: Credit[] = [];

  /** The standing and capacity lines of one day. */
  private dayLines(tariff: CompiledTariff, account: AccountTariffState, day: DayInfo): Lines {
    const lines = new Lines();
    if (tariff.standingPerDay !== undefined) {
      lines.add(
        'standing',
        'day',
        NANO_PER_MICRO * MICRO,
        tariff.standingPerDay,
        tariff.standingPerDay * PICO_PER_SUB_MINOR,
      );
    }
    const cap = tariff.capacity;
    const contracted = cap && (cap.per ? declaredRatio(account, cap.per) : cap.contracted);
    if (cap && contracted) {
      const fraction = dayFraction(cap.dayCount, day);
      const pico = divRound(
        contracted.num * cap.ratePerYear * PICO_PER_SUB_MINOR * fraction.num,
        contracted.den * fraction.den,
        'half-even',
      );
      // The line reads as it is computed: contracted x the annual rate x the day's share of a year
      // ("120 RT x 1/365 year" at 240.000000 a year).
      lines.add(
        'capacity',
        `${cap.unit} x ${fraction.num}/${fraction.den} year`,
        divRound(contracted.num * NANO_PER_MICRO * MICRO, contracted.den, 'half-even'),
        cap.ratePerYear,
        pico,
      );
    }
    return lines;
  }

  private monthlyCharge(
    tariff: CompiledTariff,
    account: AccountTariffState,
    accountKey: string,
    idPart: string,
    day: DayInfo,
    meta: { accountId?: string; meterId?: string },
    at: number,
  ): Charge | undefined {
    const previous = dayInfo(tariff, day.dayNumber - 1).month;
    const lines = new Lines();
    this.closeMonth(tariff, account, previous, lines);
    this.openMonth(tariff, account, day, lines);
    return this.emitMonthly(
      tariff,
      account,
      accountKey,
      meta,
      day,
      lines,
      `monthly:${idPart}:${day.month}`,
      at,
    );
  }

  /** The maximum demand of a month that ended, and any shortfall under its minimum (as much of it as is owed). */
  private closeMonth(tariff: CompiledTariff, account: AccountTariffState, month: string, lines: Lines): void {
    if (tariff.demand && account.demand) {
      this.closeDemandIntervals(tariff, account, Number.POSITIVE_INFINITY, month);
      const peak = big(account.demand.peaks[month]);
      if (peak > 0n) {
        lines.add(
          'demand',
          'kW',
          peak * NANO_PER_MICRO,
          tariff.demand.rate,
          peak * tariff.demand.rate * PICO_PER_MICRO_SUBMINOR,
        );
      }
      delete account.demand.peaks[month];
    }
    const months = (account.months ??= {});
    const closed = months[month];
    const share = closed && monthShare(closed);
    if (tariff.minimumMonthly !== undefined && share && share.num > 0n) {
      // The minimum for the part of the month owed (all of it for a whole month), exact until this one rounding.
      const owed = divRound(tariff.minimumMonthly * PICO_PER_SUB_MINOR * share.num, share.den, 'half-even');
      const shortfall = owed - big(closed.subtotal) * PICO_PER_SUB_MINOR - this.peekLines(lines);
      if (shortfall > 0n) {
        const rate = share.num === share.den ? undefined : tariff.minimumMonthly;
        lines.add(
          'minimum',
          'month',
          divRound(share.num * NANO_PER_MICRO * MICRO, share.den, 'half-even'),
          rate,
          shortfall,
        );
      }
    }
    delete months[month];
  }

  /** The fixed items of the month starting on `day` (the 1st, or the move-in day), for the share owed. */
  private openMonth(tariff: CompiledTariff, account: AccountTariffState, day: DayInfo, lines: Lines): void {
    const share = owedShare(tariff.partialMonth, day.month, account.moveIn, account.moveOut);
    this.fixedLines(tariff, account, share, lines);
    const months = (account.months ??= {});
    // Consumption of the new month may have been priced before this midnight job ran.
    months[day.month] = {
      subtotal: months[day.month]?.subtotal ?? '0',
      full: share.num === share.den,
      share: { num: share.num, den: share.den },
    };
    account.lastMonth = day.month;
  }

  /** Fixed monthly items for `share` of a month (amounts, or rates per declared quantity). */
  private fixedLines(tariff: CompiledTariff, account: AccountTariffState, share: Ratio, lines: Lines): void {
    if (share.num === 0n) return;
    for (const item of tariff.fixedMonthly) {
      // Per unit of what the account declared (3 fittings x 2.50 a month), or one a month.
      const quantity = item.per ? declaredRatio(account, item.per) : { num: 1n, den: 1n };
      if (!quantity) continue;
      const q = mulRatio(quantity, share);
      lines.add(
        `fixed.${item.name}`,
        item.per ?? 'month',
        divRound(q.num * NANO_PER_MICRO * MICRO, q.den, 'half-even'),
        item.amount,
        divRound(q.num * item.amount * PICO_PER_SUB_MINOR, q.den, 'half-even'),
      );
    }
  }

  private emitMonthly(
    tariff: CompiledTariff,
    account: AccountTariffState,
    accountKey: string,
    meta: { accountId?: string; meterId?: string; utility?: Utility },
    day: DayInfo,
    lines: Lines,
    readingId: string,
    at: number,
  ): Charge | undefined {
    const all = lines.all();
    if (all.length === 0) return undefined;
    const breakdown = this.emit(tariff, account, all);
    const fixed = sumAmounts(breakdown.filter((l) => l.component.startsWith('fixed.')));
    if (fixed !== 0n) this.addToMonth(account, day.month, fixed, true);
    breakdown.push(...this.taxLines(tariff, account, breakdown));
    return this.periodicCharge(tariff, accountKey, meta, readingId, 'monthly', breakdown, at, at);
  }

  /**
   * A move-out's final items, once the calendar has raised its last day: the credit of what was raised in
   * advance and is not owed (fixed items beyond the share the move-out policy leaves, and standing and capacity
   * of days after the move-out when the message came late), and the close of its month (demand, minimum).
   */
  private finalItems(
    tariff: CompiledTariff,
    account: AccountTariffState,
    accountKey: string,
    idPart: string,
    meta: { accountId?: string; meterId?: string; utility?: Utility },
  ): Charge[] {
    const date = account.moveOut as string;
    account.movedOut = true;
    const day = dayInfo(tariff, dayNumberOf(date));
    const months = (account.months ??= {});
    const entry = months[day.month];
    const credit = new Lines();
    // Days raised after the move-out (the message came after their midnight): standing and capacity back.
    const lastDay = account.lastDay ?? date;
    for (let n = day.dayNumber + 1; n <= dayNumberOf(lastDay); n++) {
      for (const line of this.dayLines(tariff, account, dayInfo(tariff, n)).all())
        credit.add(
          line.component,
          line.unit.startsWith('day') ? 'day' : line.unit,
          line.quantity,
          line.rate,
          line.pico,
        );
    }
    // Fixed items raised for more of the month than is owed now the move-out is known.
    const charged = entry && monthShare(entry);
    if (charged && charged.num > 0n) {
      const owed = owedShare(tariff.partialMonth, day.month, account.moveIn, account.moveOut);
      const back = { num: charged.num * owed.den - owed.num * charged.den, den: charged.den * owed.den };
      if (back.num > 0n) this.fixedLines(tariff, account, back, credit);
      if (entry) entry.share = { num: owed.num, den: owed.den };
    }
    const creditLines = credit.all();
    let creditPico = creditLines.reduce((sum, line) => sum + line.pico, 0n);
    if (entry) entry.subtotal = big(entry.subtotal) - creditPico / PICO_PER_SUB_MINOR;
    const breakdown: ChargeLine[] = creditLines.map((line) => ({
      component: line.component,
      quantity: quantityText(divRound(line.quantity, NANO_PER_MICRO, 'half-even'), 6),
      unit: line.unit,
      rate: line.rate === undefined ? '' : this.rateText(line.rate, tariff.currency),
      amount: toSafeNumber(
        divRound(line.pico, PICO_PER_SUB_MINOR, tariff.rounding),
        `${line.component} credit`,
      ),
    }));
    for (const tax of tariff.taxes) {
      const applies = tax.appliesTo;
      const base = creditLines
        .filter((l) => !applies || applies.some((p) => l.component === p || l.component.startsWith(`${p}.`)))
        .reduce((sum, l) => sum + l.pico, 0n);
      if (base === 0n) continue;
      const pico = divRound(base * tax.percent.num, tax.percent.den, 'half-even');
      creditPico += pico;
      breakdown.push({
        component: tax.component,
        quantity: formatSubMinor(divRound(base, PICO_PER_SUB_MINOR, 'half-even'), tariff.currency),
        unit: tariff.currency,
        rate: tax.rateText,
        amount: toSafeNumber(divRound(pico, PICO_PER_SUB_MINOR, tariff.rounding), `${tax.component} credit`),
      });
    }
    const minor = divRound(creditPico, PICO_PER_SUB_MINOR * SUB_MINOR_PER_MINOR, tariff.rounding);
    const accountId = meta.accountId ?? (accountKey.startsWith('meter:') ? undefined : accountKey);
    if (minor > 0n && accountId !== undefined) {
      this.credits.push({
        kind: 'credit',
        reference: `move-out:${idPart}:${date}`,
        accountId,
        utility: meta.utility ?? tariff.utility,
        tariff: tariff.name,
        amount: toSafeNumber(minor, 'credit amount'),
        currency: tariff.currency,
        breakdown,
        date,
        reason: `move-out ${date}: ${tariff.partialMonth.moveOut} fixed items and days after it given back`,
      });
    }
    // The month's close now, not on the 1st: the account may be closed before then.
    const lines = new Lines();
    this.closeMonth(tariff, account, day.month, lines);
    account.lastMonth = day.month;
    const at = tariff.zone.wallToInstant(day.year, day.monthNumber, day.dayOfMonth);
    const close = this.emitMonthly(
      tariff,
      account,
      accountKey,
      meta,
      day,
      lines,
      `move-out:${idPart}:${date}`,
      at,
    );
    return close ? [close] : [];
  }

  /** Sub-minor total of lines not yet emitted (demand counts toward the minimum charge). */
  private peekLines(lines: Lines): bigint {
    return lines.all().reduce((sum, line) => sum + line.pico, 0n);
  }

  private periodicCharge(
    tariff: CompiledTariff,
    accountKey: string,
    meta: { accountId?: string; meterId?: string; utility?: Utility },
    readingId: string,
    kind: 'standing' | 'monthly',
    breakdown: ChargeLine[],
    from: number,
    to: number,
  ): Charge {
    const charge: Charge = {
      accountId: meta.accountId ?? (accountKey.startsWith('meter:') ? undefined : accountKey),
      meterId: meta.meterId ?? (accountKey.startsWith('meter:') ? accountKey.slice(6) : undefined),
      readingId,
      utility: meta.utility ?? tariff.utility,
      tariff: tariff.name,
      quantity: '1',
      unit: kind === 'standing' ? 'day' : 'month',
      amount: toSafeNumber(sumAmounts(breakdown), 'charge amount'),
      currency: tariff.currency,
      breakdown,
      carbonKg: 0,
      from,
      to,
      kind,
    };
    this.remember(charge);
    return charge;
  }

  /**
   * The interval's pieces. Every meter of a site reads the same 15-minute interval, so the pieces
   * of the last few intervals are kept per tariff (unless signals add boundaries of their own).
   */
  private segments(tariff: CompiledTariff, from: number, to: number, ctx: PricingContext): Segment[] {
    const extra = this.extraBoundaries(tariff, ctx);
    if (extra) return segmentInterval(tariff, from, to, extra);
    const last = this.lastSegments;
    if (last && last.tariff === tariff && last.from === from && last.to === to) return last.segments;
    let cache = this.segmentCache.get(tariff);
    if (!cache) {
      cache = new Map();
      this.segmentCache.set(tariff, cache);
    }
    const key = `${from}:${to}`;
    let segments = cache.get(key);
    if (!segments) {
      segments = segmentInterval(tariff, from, to);
      if (cache.size >= 64) cache.clear();
      cache.set(key, segments);
    }
    this.lastSegments = { tariff, from, to, segments };
    return segments;
  }

  /** The state of one account (or lone meter) and utility; its tariff is the one pricing it now. */
  private account(
    accountKey: string,
    utility: Utility | undefined,
    tariff: CompiledTariff,
  ): AccountTariffState {
    const key = accountStateKey(accountKey, utility);
    let account = this.state.accounts[key];
    if (!account) {
      const legacy = this.state.legacy?.[accountKey];
      // An account carried over from a version 1 state starts each further utility where it stood.
      account = legacy ? extend(structuredClone(legacy), { account: accountKey, utility }) : { cum: {} };
      if (!legacy) {
        account.account = accountKey;
        if (utility !== undefined) account.utility = utility;
      }
      this.state.accounts[key] = account;
    }
    account.tariff = tariff.name;
    return account;
  }

  /**
   * The declared quantities of a consumption, checked before anything changes: each a plain decimal below
   * 100,000; and every quantity the tariff prices items per must be declared by this message or before.
   */
  private checkDeclared(
    tariff: CompiledTariff,
    accountKey: string,
    input: ConsumptionInput,
  ): Record<string, string> | undefined {
    const given = input.declared;
    const out: Record<string, string> = {};
    if (given !== undefined) {
      for (const [name, value] of Object.entries(given)) {
        const text = typeof value === 'number' ? String(value) : value;
        if (typeof text !== 'string' || !new RegExp(figurePattern(DECLARED_FORMAT)).test(text))
          throw new ConsumptionError(
            `declared.${name}`,
            'must be a plain decimal of at most 5 digits before the point and 6 after, such as "63"',
          );
        out[name] = text;
      }
    }
    const known = this.state.accounts[accountStateKey(accountKey, input.utility ?? tariff.utility)]?.declared;
    for (const name of tariff.declared) {
      if (out[name] === undefined && known?.[name] === undefined)
        throw new ConsumptionError(
          `declared.${name}`,
          `is required: tariff "${tariff.name}" prices items per ${name} of each account`,
        );
    }
    return given === undefined ? undefined : out;
  }

  private billingFactor(tariff: CompiledTariff, unit: string): Ratio {
    const canonical = canonicalUnit(unit);
    if (!canonical) throw new ConsumptionError('unit', `"${unit}" is not a unit the tariff engine knows`);
    const direct = unitFactor(canonical, tariff.unit);
    if (tariff.conversion) {
      // The tariff's own factor prices readings in its source unit (ton-hours at the tariff's 3.516852842
      // kWh), and readings of another quantity (gas m3 or litres to kWh); a reading already in the
      // tariff's quantity converts exactly.
      const toSource = unitFactor(canonical, tariff.conversion.from);
      if (toSource && (canonical === tariff.conversion.from || !direct))
        return mulRatio(toSource, tariff.conversion.factor);
    }
    if (direct) return direct;
    throw new ConsumptionError(
      'unit',
      `"${unit}" cannot be billed by tariff "${tariff.name}", which bills in ${tariff.unit}`,
    );
  }

  private allocateBlocks(
    tariff: CompiledTariff,
    account: AccountTariffState,
    day: DayInfo,
    micro: bigint,
    lines: Lines,
  ): void {
    const energy = tariff.energy;
    if (energy.type !== 'block' || micro <= 0n) return;
    const period = blockPeriodKey(energy.reset, energy.billingDay, day);
    if (!account.block || account.block.period !== period) account.block = { period, used: '0' };
    let used = big(account.block.used);
    let remaining = micro;
    energy.blocks.forEach((block, index) => {
      if (remaining <= 0n) return;
      const room = block.upTo === null ? remaining : block.upTo - used;
      if (room <= 0n) return;
      const take = room < remaining ? room : remaining;
      lines.add(
        `block.${index + 1}`,
        tariff.unit,
        take * NANO_PER_MICRO,
        block.rate,
        take * block.rate * PICO_PER_MICRO_SUBMINOR,
      );
      used += take;
      remaining -= take;
    });
    account.block.used = used;
  }

  private recordDemand(
    tariff: CompiledTariff,
    account: AccountTariffState,
    start: number,
    day: DayInfo,
    period: string | undefined,
    share: Ratio,
  ): void {
    const demand = tariff.demand;
    if (!demand) return;
    if (demand.periods && (period === undefined || !demand.periods.has(period))) return;
    const intervalStart = Math.floor(start / demand.intervalMs) * demand.intervalMs;
    const state = (account.demand ??= { peaks: {}, open: [] });
    const micro = divRound(share.num, share.den, 'half-even');
    const open = state.open.find((o) => o.start === intervalStart);
    if (open) open.energy = big(open.energy) + micro;
    else state.open.push({ start: intervalStart, month: day.month, energy: micro });
    this.closeDemandIntervals(tariff, account, intervalStart - demand.intervalMs);
  }

  /** Turns intervals that started before `before` (and, if given, of `month`) into kW peaks. */
  private closeDemandIntervals(
    tariff: CompiledTariff,
    account: AccountTariffState,
    before: number,
    month?: string,
  ): void {
    const demand = tariff.demand;
    if (!demand || !account.demand) return;
    const still: typeof account.demand.open = [];
    for (const interval of account.demand.open) {
      if (interval.start >= before || (month !== undefined && interval.month !== month)) {
        still.push(interval);
        continue;
      }
      // micro-kWh over the interval -> micro-kW
      const kw = (big(interval.energy) * 3_600_000n) / BigInt(demand.intervalMs);
      const peak = big(account.demand.peaks[interval.month]);
      if (kw > peak) account.demand.peaks[interval.month] = kw;
    }
    account.demand.open = still;
  }

  private extraBoundaries(tariff: CompiledTariff, ctx: PricingContext): ((t: number) => number) | undefined {
    const intervalMs = tariff.demand?.intervalMs;
    const prices = tariff.energy.type === 'dynamic' ? ctx.prices?.intervals : undefined;
    const carbon = tariff.carbon ? ctx.carbon?.intervals : undefined;
    if (!intervalMs && !prices?.length && !carbon?.length) return undefined;
    return (t: number): number => {
      let next = Number.POSITIVE_INFINITY;
      if (intervalMs) next = (Math.floor(t / intervalMs) + 1) * intervalMs;
      for (const list of [prices, carbon]) {
        if (!list) continue;
        // Signal times rounded up to whole ms (t always is one), so pieces stay whole ms long.
        for (const interval of list) {
          if (interval.from > t) next = Math.min(next, Math.ceil(interval.from));
          if (interval.to > t) next = Math.min(next, Math.ceil(interval.to));
        }
      }
      return next;
    };
  }

  private dynamicRate(ctx: PricingContext, at: number, maxAgeMs: number): bigint | undefined {
    const signal = ctx.prices;
    if (!signal || ctx.now - signal.issuedAt > maxAgeMs) return undefined;
    return signal.intervals.find((i) => i.from <= at && at < i.to)?.rate;
  }

  private carbonIntensity(tariff: CompiledTariff, ctx: PricingContext, at: number): Ratio | undefined {
    if (!tariff.carbon) return undefined;
    const signal = ctx.carbon;
    if (signal && ctx.now - signal.issuedAt <= tariff.carbon.maxAgeMs) {
      const hit = signal.intervals.find((i) => i.from <= at && at < i.to);
      if (hit) return hit.mgPerUnit;
    }
    return tariff.carbon.mgPerUnit;
  }

  /** Rounds line totals through the account's running totals into sub-minor amounts. */
  private emit(tariff: CompiledTariff, account: AccountTariffState, lines: LineTotal[]): ChargeLine[] {
    const rounder = ROUNDERS[tariff.rounding];
    return lines.map((line) => {
      const { emit, total } = rounder.add(big(account.cum[line.component]), line.pico);
      account.cum[line.component] = total;
      return {
        component: line.component,
        quantity: quantityText(divRound(line.quantity, NANO_PER_MICRO, 'half-even'), 6),
        unit: line.unit,
        rate: line.rate === undefined ? '' : this.rateText(line.rate, tariff.currency),
        amount: toSafeNumber(emit, `${line.component} amount`),
      };
    });
  }

  private taxLines(tariff: CompiledTariff, account: AccountTariffState, lines: ChargeLine[]): ChargeLine[] {
    if (tariff.taxes.length === 0) return [];
    const rounder = ROUNDERS[tariff.rounding];
    return tariff.taxes.map((tax) => {
      const applies = tax.appliesTo;
      const base = sumAmounts(
        applies
          ? lines.filter((l) => applies.some((p) => l.component === p || l.component.startsWith(`${p}.`)))
          : lines,
      );
      const pico = divRound(base * PICO_PER_SUB_MINOR * tax.percent.num, tax.percent.den, 'half-even');
      const { emit, total } = rounder.add(big(account.cum[tax.component]), pico);
      account.cum[tax.component] = total;
      return {
        component: tax.component,
        quantity: formatSubMinor(base, tariff.currency),
        unit: tariff.currency,
        rate: tax.rateText,
        amount: toSafeNumber(emit, `${tax.component} amount`),
      };
    });
  }

  private addToMonth(account: AccountTariffState, month: string, subMinor: bigint, full: boolean): void {
    const months = (account.months ??= {});
    let entry = months[month];
    if (!entry) {
      entry = months[month] = { subtotal: 0n, full };
      // Only a few months stay open (the current and the one awaiting its close).
      const keys = Object.keys(months).sort();
      while (keys.length > 3) delete months[keys.shift() as string];
    }
    entry.subtotal = big(entry.subtotal) + subMinor;
  }

  private readonly rateTexts = new Map<string, string>();
  private readonly segmentCache = new WeakMap<CompiledTariff, Map<string, Segment[]>>();
  /** The pieces of the interval priced last: consecutive readings usually share it. */
  private lastSegments: { tariff: CompiledTariff; from: number; to: number; segments: Segment[] } | undefined;

  /** Display text of a rate; cached, since a site prices with a handful of rates. */
  private rateText(rate: bigint, currency: string): string {
    const key = `${currency}:${rate}`;
    let text = this.rateTexts.get(key);
    if (text === undefined) {
      text = formatSubMinor(rate, currency);
      if (this.rateTexts.size < 10_000) this.rateTexts.set(key, text);
    }
    return text;
  }

  private remember(charge: Charge): void {
    // A ring of the last RECENT_CHARGES reading ids: evicting the oldest is O(1), where a Map's
    // "first key" walks over every deleted slot.
    if (!this.recent.has(charge.readingId)) {
      const evicted = this.ring[this.ringPos];
      if (evicted !== undefined) this.recent.delete(evicted);
      this.ring[this.ringPos] = charge.readingId;
      this.ringPos = (this.ringPos + 1) % RECENT_CHARGES;
    }
    this.recent.set(charge.readingId, charge);
  }
}

/** Sum of line amounts (safe integers): plain number arithmetic while every partial sum stays exact. */
function sumAmounts(lines: ChargeLine[]): bigint {
  let sum = 0;
  for (const line of lines) {
    sum += line.amount;
    if (!Number.isSafeInteger(sum)) return lines.reduce((total, l) => total + BigInt(l.amount), 0n);
  }
  return BigInt(sum);
}

/** A quantity the account declared, as an exact ratio; undefined when it has not declared it. */
function declaredRatio(account: AccountTariffState, name: string): Ratio | undefined {
  const text = account.declared?.[name];
  if (text === undefined) return undefined;
  const { units, scale } = parseDecimal(text);
  return { num: units, den: 10n ** BigInt(scale) };
}

function checkDate(date: string): void {
  if (typeof date !== 'string' || !/^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/.test(date))
    throw new ConsumptionError('date', 'must be a local date "YYYY-MM-DD"');
}

function checkInput(input: ConsumptionInput): void {
  if (typeof input.meterId !== 'string' || input.meterId === '')
    throw new ConsumptionError('meterId', 'is required');
  if (typeof input.readingId !== 'string' || input.readingId === '')
    throw new ConsumptionError('readingId', 'is required');
  // Whole milliseconds: interval lengths are split exactly in integer arithmetic.
  if (!Number.isSafeInteger(input.from))
    throw new ConsumptionError('from', 'must be a time in whole epoch ms');
  if (!Number.isSafeInteger(input.to)) throw new ConsumptionError('to', 'must be a time in whole epoch ms');
  if (input.to < input.from) throw new ConsumptionError('to', 'must not be before "from"');
  if (input.to - input.from > 400 * DAY) throw new ConsumptionError('from', 'interval longer than 400 days');
  if (typeof input.unit !== 'string') throw new ConsumptionError('unit', 'is required');
}

/**
 * The fraction of a year that day `day` accrues under a day-count convention: actual/365 a 365th, actual/actual
 * a 365th or 366th (leap years), actual/360 a 360th (a year of 365 days costs 365/360 of the annual rate, as
 * district cooling capacity is billed), 30/360 a twelfth of a year per month spread evenly over its days (a
 * 372nd in a 31-day month, a 336th in February): every month is exactly 1/12, with no day at zero and no
 * day counted twice.
 */
function dayFraction(dayCount: DayCount, day: DayInfo): Ratio {
  if (dayCount === 'actual/365') return { num: 1n, den: 365n };
  if (dayCount === 'actual/360') return { num: 1n, den: 360n };
  if (dayCount === 'actual/actual') {
    const leap = daysInMonth(day.year, 2) === 29;
    return { num: 1n, den: leap ? 366n : 365n };
  }
  return { num: 1n, den: 12n * BigInt(daysInMonth(day.year, day.monthNumber)) };
}
