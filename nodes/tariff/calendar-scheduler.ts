/**
 * Raises calendar charges (standing, capacity, monthly items) at local midnight in each tariff's
 * time zone, and on start-up catches up the days a stopped Node-RED missed, so a restart over
 * midnight never skips a day's standing charge nor raises it twice (the engine remembers the last
 * day raised per account).
 */
import { Clock, TimerHandle } from '../core/clock';
import { Charge, Credit } from '../core/messages';
import { TariffEngine } from '../core/tariff/engine';
import { dayInfo, dayNumberOf } from '../core/tariff/calendar';
import { CompiledTariff } from '../core/tariff/types';
import { isoDate, TimeZone } from '../core/tariff/zone';

/** How far back a restart catches up missed days. */
const MAX_CATCH_UP_DAYS = 62;

export function localDate(zone: TimeZone, t: number): string {
  const parts = zone.wallParts(t);
  return isoDate(parts.year, parts.month, parts.day);
}

export function nextLocalMidnight(zone: TimeZone, t: number): number {
  const parts = zone.wallParts(t);
  const next = new Date(Date.UTC(parts.year, parts.month - 1, parts.day + 1));
  return zone.wallToInstant(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate());
}

export class CalendarScheduler {
  private timer: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly engine: TariffEngine,
    private readonly tariffs: () => Map<string, CompiledTariff>,
    private readonly emit: (charges: Charge[], credits: Credit[]) => void,
  ) {}

  start(): void {
    this.runDue();
  }

  stop(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * Raises every calendar charge due up to `until` (a local date per tariff zone, default today)
   * for every account the engine knows, then arms the timer for the next local midnight.
   */
  runDue(until?: string): Charge[] {
    const now = this.clock.now();
    const charges: Charge[] = [];
    const tariffs = this.tariffs();
    // One entry per account and utility: each utility's tariff raises its own items.
    for (const { key, account, utility, tariff: name } of this.engine.knownAccounts()) {
      const tariff = name === undefined ? undefined : tariffs.get(name);
      if (!tariff) continue;
      const today = until ?? localDate(tariff.zone, now);
      const state = this.engine.state.accounts[key];
      const last = state?.lastDay;
      const todayNumber = dayNumberOf(today);
      // A new account's calendar starts on its move-in day (its first reading's), that day's items included.
      const start =
        last !== undefined
          ? dayNumberOf(last) + 1
          : state?.moveIn !== undefined
            ? dayNumberOf(state.moveIn)
            : todayNumber;
      let dayNumber = Math.max(start, todayNumber - MAX_CATCH_UP_DAYS);
      for (; dayNumber <= todayNumber; dayNumber++) {
        const date = dayInfo(tariff, dayNumber).date;
        const accountId = account.startsWith('meter:') ? undefined : account;
        charges.push(...this.engine.calendarCharges(tariff, account, date, { accountId, utility }));
      }
    }
    // Credits of move-outs whose last day was raised now.
    const credits = this.engine.takeCredits();
    if (charges.length + credits.length > 0) this.emit(charges, credits);
    this.arm(now, tariffs);
    return charges;
  }

  private arm(now: number, tariffs: Map<string, CompiledTariff>): void {
    this.stop();
    let next = Number.POSITIVE_INFINITY;
    for (const tariff of tariffs.values()) next = Math.min(next, nextLocalMidnight(tariff.zone, now));
    if (!Number.isFinite(next)) return;
    // A second after midnight, so the new local date is unambiguous however the clock rounds.
    this.timer = this.clock.setTimeout(() => this.runDue(), next - now + 1000);
  }
}
