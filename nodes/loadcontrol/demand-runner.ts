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
  type DemandSnapshot,
  type DemandUpdate,
  type WindowReport,
} from '../core/loadcontrol/demand';
import type { DemandProtections } from '../core/loadcontrol/demand-protection';
import { demandFromTariff, type TariffDemand } from '../core/loadcontrol/demand-tariff';
import { readLimitAnswer } from '../core/loadcontrol/limit-answer';
import { protectedRefusal, type ProtectedUnits } from '../core/loadcontrol/protected-units';
import { evaluatePriceRules, type PriceRule, type PriceSignals } from '../core/loadcontrol/price-rules';
import { SiteMeter } from '../core/loadcontrol/site-meter';
import type { CreditState } from '../core/messages';
import type { ShedStep } from '../core/loadcontrol/demand';

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
  sendReport(topic: 'demand-window' | 'demand-decision' | 'demand-state', payload: unknown): void;
  /** Units flagged medical or critical: never limited, their HVAC never set back. */
  protectedUnits?: ProtectedUnits;
  /** Called when what a restart needs has changed (the node saves `snapshot()`). */
  onStateChange?(): void;
}

/** What prepay-loadcontrol keeps on disk for demand limiting, so a restart carries on. */
export interface RunnerSnapshot {
  version: 1;
  savedAt: number;
  controller?: DemandSnapshot;
  /** Limits in force: step id to when the cutoff last heard it (its lease runs from then). */
  limits: Record<string, number>;
  /** The tariff document the windows were taken from, and the target given with it. */
  tariff?: unknown;
}

/** Reads a saved snapshot; what does not fit is dropped (a hand-edited file never stops the node). */
export function readRunnerSnapshot(value: unknown): RunnerSnapshot {
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const snapshot: RunnerSnapshot = {
    version: 1,
    savedAt: typeof v.savedAt === 'number' ? v.savedAt : 0,
    limits: {},
  };
  const num = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
  if (typeof v.limits === 'object' && v.limits !== null)
    for (const [step, at] of Object.entries(v.limits)) if (num(at)) snapshot.limits[step] = at;
  const c = v.controller as Partial<DemandSnapshot> | undefined;
  if (c && Array.isArray(c.active)) {
    snapshot.controller = {
      active: c.active
        .filter((a) => typeof a?.step === 'string' && num(a.shedAt))
        .map((a) => ({
          step: a.step,
          shedAt: a.shedAt,
          ...(a.held && typeof a.held.reason === 'string' && num(a.held.at)
            ? { held: { reason: a.held.reason, at: a.held.at } }
            : {}),
        })),
      rests: (Array.isArray(c.rests) ? c.rests : [])
        .filter((r) => typeof r?.step === 'string' && num(r.until))
        .map((r) => ({ step: r.step, until: r.until, ...(typeof r.why === 'string' ? { why: r.why } : {}) })),
    };
    if (num(c.lastRestoreAt)) snapshot.controller.lastRestoreAt = c.lastRestoreAt;
  }
  if (v.tariff !== undefined) snapshot.tariff = v.tariff;
  return snapshot;
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
  private tariff: unknown;
  private savedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: DemandRunnerOptions) {
    this.site = new SiteMeter(options.siteMeters);
    if (options.demand)
      this.controller = new DemandController({ ...options.demand, protections: this.protections() });
  }

  /** The credit state of accounts the shed table limits: the cutoff policy decides those on hard credit. */
  private protections(): DemandProtections {
    return {
      refusal: (account, kind, _now, meter) => {
        const flagged = protectedRefusal(this.options.protectedUnits ?? new Map(), account, meter);
        if (flagged) return flagged;
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

  /**
   * The cutoff's answer to one of this controller's limit requests (prepay-cutoff output 2, topic "limit"). A
   * held or refused step relieves nothing: it is reported with the cutoff's reason, and the next steps in the
   * shed order go in at once if the window is still predicted over. Returns false for an answer to someone
   * else's request or to a step not in force (ignored); throws when the payload is not an answer.
   */
  limitAnswer(payload: unknown, now: number): boolean {
    const answer = readLimitAnswer(payload);
    if (!this.controller || answer.by !== this.options.by || answer.limitW === null) return false;
    if (answer.outcome === 'released') return false;
    const entry = [...this.limits].find(
      ([, { message }]) =>
        message.meterId === answer.meterId &&
        message.accountId === answer.accountId &&
        message.limitW === answer.limitW,
    );
    if (!entry) return false;
    const [step] = entry;
    if (answer.outcome === 'refused') this.limits.delete(step);
    const outcome = answer.outcome;
    // A renewal answered held again, or applied for a step never held, changes nothing to report.
    const wasHeld = this.controller.isHeld(step);
    if ((outcome === 'held' && wasHeld) || (outcome === 'applied' && !wasHeld)) return true;
    const facts = this.stepFacts(this.options.demand!.steps.findIndex((s) => s.id === step));
    this.options.sendReport('demand-decision', {
      at: now,
      action: outcome,
      step,
      ...facts,
      // Held or refused: it relieves nothing; applied after a hold: its relief counts again.
      reliefKw: outcome === 'applied' ? facts.reliefKw : 0,
      reason:
        outcome === 'applied'
          ? `the cutoff applied the limit of step "${step}" it held`
          : `the cutoff ${outcome} the limit of step "${step}": ${answer.reason}`,
    });
    this.handle(this.controller.answer(step, outcome, answer.reason, now), now);
    this.changed(now);
    return true;
  }

  /**
   * Takes the demand windows (and a target, when given beside it) from a tariff document's demand charge.
   * Throws naming the fault when the document is not a valid tariff or has no demand charge (the node's own
   * window and target stay then).
   */
  tariffDocument(payload: unknown, now: number): TariffDemand {
    if (!this.controller) throw new Error('tariff: no demand limiting configured (no target and shed steps)');
    const demand = demandFromTariff(payload);
    this.controller.retarget(demand.window, demand.targetKw);
    this.tariff = payload;
    this.changed(now);
    return demand;
  }

  /** The demand windows and target in use. */
  demandNow(): { intervalMinutes: number; targetKw: number } | undefined {
    const now = this.controller?.windowNow();
    return now && { intervalMinutes: now.window.intervalMs / 60_000, targetKw: now.targetKw };
  }

  snapshot(now: number): RunnerSnapshot {
    const limits: Record<string, number> = {};
    for (const [step, { sentAt }] of this.limits) limits[step] = sentAt;
    const snapshot: RunnerSnapshot = { version: 1, savedAt: now, limits };
    if (this.controller) snapshot.controller = this.controller.snapshot();
    if (this.tariff !== undefined) snapshot.tariff = this.tariff;
    return snapshot;
  }

  /**
   * Carries on from the state a previous run saved (at start). A limit is still in force only while its lease
   * at the cutoff runs (from when it was last sent); a BEMS write only if the node was stopped for less than the
   * same lease (a longer stop has had it relinquished by the lease watchdog). Steps kept stay in force with
   * their hold counted from when they were shed; the rest are dropped. Returns the BEMS writes to assert again.
   */
  resume(saved: RunnerSnapshot, now: number): DesiredCommand[] {
    if (saved.tariff !== undefined && this.controller)
      try {
        this.tariffDocument(saved.tariff, now);
      } catch {
        // A document that no longer reads (the code changed) leaves the node's own window.
      }
    if (!this.controller || !saved.controller) return [];
    const leaseMs = this.options.limitMinutes * 60_000;
    const lapsed = (step: ShedStep): string | undefined => {
      if (step.action.kind === 'limit') {
        const sentAt = saved.limits[step.id];
        if (sentAt === undefined) return 'its limit was not in force at the cutoff';
        if (now >= sentAt + leaseMs)
          return `its limit lapsed at the cutoff at ${new Date(sentAt + leaseMs).toISOString()}`;
        return undefined;
      }
      if (now >= saved.savedAt + leaseMs)
        return `the node was stopped longer than the ${this.options.limitMinutes} min lease (the BEMS write was relinquished)`;
      return undefined;
    };
    const { kept, dropped } = this.controller.adopt(saved.controller, lapsed);
    const commands: DesiredCommand[] = [];
    for (const step of kept) {
      const action = step.action;
      const reason = `demand limiting: step "${step.id}" still in force after a restart`;
      if (action.kind === 'limit') {
        const message: LimitMessage = {
          ...(action.meter !== undefined ? { meterId: action.meter } : { accountId: action.account }),
          limitW: action.limitW,
          reason,
          by: this.options.by,
          minutes: this.options.limitMinutes,
        };
        this.limits.set(step.id, { message, sentAt: saved.limits[step.id]! });
      } else
        commands.push({
          key: action.key,
          target: action.target,
          value: action.value,
          priority: action.priority,
          reason,
        });
    }
    this.options.sendReport('demand-state', {
      at: now,
      savedAt: saved.savedAt,
      inForce: kept.map((s) => s.id),
      dropped,
    });
    this.changed(now);
    return commands;
  }

  private changed(now: number): void {
    this.savedAt = now;
    this.options.onStateChange?.();
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
    let renewed = false;
    for (const limit of this.limits.values())
      if (now - limit.sentAt >= renewAfter) {
        limit.sentAt = now;
        renewed = true;
        this.options.sendLimit(limit.message);
      }
    // Saved at every renewal, and at least every half lease: a restart knows how long the node was away.
    if (this.controller && (renewed || now - this.savedAt >= renewAfter)) this.changed(now);
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
    if (update.decisions.length > 0) this.changed(now);
    for (const report of update.reports)
      this.options.sendReport('demand-window', report satisfies WindowReport);
  }

  /** The unit a step acts on and its expected relief, for the savings evidence. */
  private stepFacts(index: number): { account?: string; meter?: string; reliefKw: number } {
    const step = this.options.demand?.steps[index];
    if (!step) return { reliefKw: 0 };
    const action = step.action;
    return {
      ...(action.account !== undefined ? { account: action.account } : {}),
      ...(action.kind === 'limit' && action.meter !== undefined ? { meter: action.meter } : {}),
      reliefKw: step.reliefKw,
    };
  }

  private carryOut(decision: DemandDecision, now: number): void {
    this.options.sendReport('demand-decision', { ...decision, ...this.stepFacts(decision.index) });
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
