/**
 * The glue between prepay-loadcontrol and the pure demand limiting and price rules: site readings in, the
 * demand controller's decisions out as limit requests (for prepay-cutoff) and BEMS writes (for the BACnet
 * commander), window reports, and the price rules' writes when the signals or the clock move them. Limit requests
 * carry a lease and are renewed while in force, so a stopped controller never leaves a tenant limited.
 */
import type { DesiredCommand } from '../core/loadcontrol/command-shapes';
import {
  DemandController,
  type DemandDecision,
  type DemandSettings,
  type DemandUpdate,
  type WindowReport,
} from '../core/loadcontrol/demand';
import type { DemandProtections } from '../core/loadcontrol/demand-protection';
import { evaluatePriceRules, type PriceRule, type PriceSignals } from '../core/loadcontrol/price-rules';
import { SiteMeter } from '../core/loadcontrol/site-meter';
import type { CreditState } from '../core/messages';

/** The cutoff's limit message (topic "limit"): see prepay-cutoff. */
export interface LimitMessage {
  meterId?: string;
  accountId?: string;
  limitW: number | null;
  reason: string;
  by: string;
  minutes?: number;
}

export interface DemandRunnerOptions {
  /** Absent: no demand limiting (price rules only). */
  demand?: Omit<DemandSettings, 'protections'>;
  priceRules: readonly PriceRule[];
  /** Meters that make the site (empty: every electricity meter heard). */
  siteMeters: ReadonlySet<string>;
  /** Who the limits are asked by (audited by the cutoff). */
  by: string;
  /** A limit lapses at the cutoff after this unless renewed (renewed at half of it). */
  limitMinutes: number;
  sendLimit(limit: LimitMessage): void;
  sendCommand(command: DesiredCommand): void;
  /** Window reports, decisions and predictions, for the operator and the savings report. */
  sendReport(topic: 'demand-window' | 'demand-decision', payload: unknown): void;
}

export class DemandRunner {
  private readonly controller: DemandController | undefined;
  private readonly site: SiteMeter;
  private readonly states = new Map<string, CreditState>();
  private readonly signals: PriceSignals = {};
  /** What each price rule last asked the BEMS for (key to value), so only changes are written. */
  private readonly written = new Map<string, number | boolean | null>();
  /** Limits in force: step id to when last sent. */
  private readonly limits = new Map<string, { message: LimitMessage; sentAt: number }>();
  private nextPriceChange: number | undefined;

  constructor(private readonly options: DemandRunnerOptions) {
    this.site = new SiteMeter(options.siteMeters);
    if (options.demand)
      this.controller = new DemandController({ ...options.demand, protections: this.protections() });
  }

  /** The credit state of accounts the shed table limits: the cutoff policy decides those on hard credit. */
  private protections(): DemandProtections {
    return {
      refusal: (account, kind) => {
        if (kind !== 'limit') return undefined;
        const state = this.states.get(account);
        if (state === 'emergency' || state === 'exhausted' || state === 'closed')
          return `account ${account} is ${state} (the cutoff policy decides its supply)`;
        return undefined;
      },
    };
  }

  inForce(): string[] {
    return this.controller?.inForce() ?? [];
  }

  accountState(accountId: string, state: CreditState): void {
    this.states.set(accountId, state);
  }

  /** A meter reader message; true when it counted towards the site's demand. */
  meterMessage(payload: Record<string, unknown>, now: number): boolean {
    if (!this.controller) return false;
    const energy = SiteMeter.energyOf(payload);
    if (!energy || !this.site.counts(energy.meterId)) return false;
    const reading = this.site.reading(energy.meterId, energy.at, energy.kWh);
    if (reading) this.handle(this.controller.reading(reading.at, reading.kWh), now);
    return true;
  }

  priceSignal(
    kind: 'prices' | 'carbon',
    signal: NonNullable<PriceSignals['prices' | 'carbon']>,
    now: number,
  ): void {
    if (kind === 'prices') this.signals.prices = signal as PriceSignals['prices'];
    else this.signals.carbon = signal as PriceSignals['carbon'];
    this.priceRules(now, true);
  }

  /** Looks again without a new reading: holds ending, leases to renew, price periods beginning. */
  tick(now: number): void {
    if (this.controller) this.handle(this.controller.evaluate(now), now);
    this.priceRules(now, false);
    const renewAfter = (this.options.limitMinutes * 60_000) / 2;
    for (const limit of this.limits.values())
      if (now - limit.sentAt >= renewAfter) {
        limit.sentAt = now;
        this.options.sendLimit(limit.message);
      }
  }

  private priceRules(now: number, signalsChanged: boolean): void {
    if (this.options.priceRules.length === 0) return;
    if (!signalsChanged && (this.nextPriceChange === undefined || now < this.nextPriceChange)) return;
    const outcomes = evaluatePriceRules(this.options.priceRules, this.signals, now);
    this.nextPriceChange = undefined;
    for (const outcome of outcomes) {
      if (outcome.nextChangeAt !== undefined)
        this.nextPriceChange = Math.min(this.nextPriceChange ?? Infinity, outcome.nextChangeAt);
      const { command } = outcome;
      const before = this.written.get(command.key);
      // Idle at the start: nothing was written, so nothing to release.
      if (before === command.value || (before === undefined && command.value === null)) continue;
      this.written.set(command.key, command.value);
      this.options.sendCommand(command);
    }
  }

  private handle(update: DemandUpdate, now: number): void {
    for (const decision of update.decisions) this.carryOut(decision, now);
    for (const report of update.reports)
      this.options.sendReport('demand-window', report satisfies WindowReport);
  }

  private carryOut(decision: DemandDecision, now: number): void {
    this.options.sendReport('demand-decision', decision);
    if (decision.command) this.options.sendCommand(decision.command);
    const limit = decision.limit;
    if (!limit) return;
    const message: LimitMessage = {
      ...(limit.meter !== undefined ? { meterId: limit.meter } : { accountId: limit.account }),
      limitW: limit.limitW,
      reason: limit.reason,
      by: this.options.by,
    };
    if (limit.limitW === null) this.limits.delete(decision.step);
    else {
      message.minutes = this.options.limitMinutes;
      this.limits.set(decision.step, { message, sentAt: now });
    }
    this.options.sendLimit(message);
  }
}
