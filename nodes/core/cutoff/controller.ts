/**
 * Keeps what the cutoff policy needs per meter and per account, feeds it the news (account states, meter
 * health, overrides, commands carried out) and says what to do. Alarms and warnings are reported when they
 * change, not on every evaluation. Pure: time comes in as `now`.
 */
import type { AccountState, RelayCommand, Utility } from '../messages';
import {
  decide,
  type AccountView,
  type CutoffPolicy,
  type Decision,
  type LoadLimit,
  type MeterView,
  type Override,
  type SupplyAction,
} from './policy';

export interface CutoffMeter {
  meterId: string;
  accountId: string;
  utility: Utility;
  canLimit: boolean;
}

export interface Outcome {
  meterId: string;
  accountId: string;
  decision: Decision;
  /** Set when the decision asks for a relay command (`by`: the operator whose override it obeys). */
  command?: RelayCommand & { accountId: string; utility: Utility; by?: string };
  /** A new alarm (or undefined when it is the same as last time). */
  alarm?: string;
  /** Set when an earlier alarm no longer applies. */
  alarmCleared?: boolean;
  warn?: string;
}

export interface SavedMeter {
  commanded?: SupplyAction;
  commandedAt?: number;
  commandedLimitW?: number;
  override?: Override;
  /** Kept across a restart with its lease: the demand window it protects goes on while the node restarts. */
  loadLimit?: LoadLimit;
}

export class CutoffController {
  private readonly meters = new Map<
    string,
    { info: CutoffMeter; view: MeterView; lastAlarm?: string; lastWarn?: string }
  >();
  private readonly byAccount = new Map<string, string[]>();
  private readonly accounts = new Map<string, AccountView>();

  /**
   * @param quietUntil Until then a meter whose account has no state yet holds without an alarm: at start the
   * ledger's first states are on their way (after a kill its recovery can take a while), and an alarm for every
   * meter, cleared moments later, would flood the operators' board. The relay is held all the same.
   */
  constructor(
    private readonly policy: CutoffPolicy,
    private readonly quietUntil = -Infinity,
  ) {}

  addMeter(info: CutoffMeter, saved?: SavedMeter): void {
    const view: MeterView = {
      meterId: info.meterId,
      utility: info.utility,
      canLimit: info.canLimit,
      commLoss: false,
      estimated: false,
    };
    if (saved?.commanded) view.commanded = saved.commanded;
    if (saved?.commandedAt !== undefined) view.commandedAt = saved.commandedAt;
    if (saved?.commandedLimitW !== undefined) view.commandedLimitW = saved.commandedLimitW;
    if (saved?.override) view.override = saved.override;
    if (saved?.loadLimit) view.loadLimit = saved.loadLimit;
    this.meters.set(info.meterId, { info, view });
    this.byAccount.set(info.accountId, [...(this.byAccount.get(info.accountId) ?? []), info.meterId]);
  }

  has(meterId: string): boolean {
    return this.meters.has(meterId);
  }

  meterIds(): string[] {
    return [...this.meters.keys()];
  }

  info(meterId: string): CutoffMeter | undefined {
    return this.meters.get(meterId)?.info;
  }

  view(meterId: string): MeterView | undefined {
    return this.meters.get(meterId)?.view;
  }

  account(accountId: string): AccountView | undefined {
    return this.accounts.get(accountId);
  }

  snapshot(): Record<string, SavedMeter> {
    const out: Record<string, SavedMeter> = {};
    for (const [meterId, { view }] of this.meters) {
      const saved: SavedMeter = {};
      if (view.commanded) saved.commanded = view.commanded;
      if (view.commandedAt !== undefined) saved.commandedAt = view.commandedAt;
      if (view.commandedLimitW !== undefined) saved.commandedLimitW = view.commandedLimitW;
      if (view.override) saved.override = view.override;
      if (view.loadLimit) saved.loadLimit = view.loadLimit;
      out[meterId] = saved;
    }
    return out;
  }

  /** A new account state; returns what to do about the account's meters. */
  accountState(state: AccountState, now: number): Outcome[] {
    // Every cutoff node of a site hears every account's states; one keeps only those of its own meters (a
    // 4,000-tenant site on 40 gateways would otherwise hold 160,000 account views).
    if (!this.byAccount.has(state.accountId)) return [];
    const previous = this.accounts.get(state.accountId);
    const view: AccountView = { state: state.state, available: state.available, receivedAt: now };
    if (state.state === 'exhausted') {
      // Grace runs from when the account became exhausted, not from each repeated state message.
      const changedAt = Number.isFinite(state.changedAt) && state.changedAt <= now ? state.changedAt : now;
      view.exhaustedSince =
        previous?.state === 'exhausted' ? (previous.exhaustedSince ?? changedAt) : changedAt;
    }
    this.accounts.set(state.accountId, view);
    return this.evaluateAccount(state.accountId, now);
  }

  meterHealth(meterId: string, health: { commLoss?: boolean; estimated?: boolean }, now: number): Outcome[] {
    const meter = this.meters.get(meterId);
    if (!meter) return [];
    if (health.commLoss !== undefined) meter.view.commLoss = health.commLoss;
    if (health.estimated !== undefined) meter.view.estimated = health.estimated;
    // After a communication loss the balance rests on an estimate (the gap is billed in estimated slices)
    // until a measured delta arrives: coming back alone does not make the meter cuttable.
    if (health.commLoss === true) meter.view.estimated = true;
    return [this.evaluate(meterId, now)];
  }

  setOverride(meterId: string, override: Override | undefined, now: number): Outcome[] {
    const meter = this.meters.get(meterId);
    if (!meter) return [];
    if (override) meter.view.override = override;
    else delete meter.view.override;
    return [this.evaluate(meterId, now)];
  }

  /** Meters of an account (in table order). */
  metersOf(accountId: string): string[] {
    return this.byAccount.get(accountId) ?? [];
  }

  /** Sets (or, with undefined, releases) a meter's load-control limit; returns what to do about it. */
  setLoadLimit(
    meterId: string,
    limit: LoadLimit | undefined,
    now: number,
    releasedBy?: { by: string; reason: string },
  ): Outcome[] {
    const meter = this.meters.get(meterId);
    if (!meter) return [];
    if (limit) meter.view.loadLimit = limit;
    else delete meter.view.loadLimit;
    const outcome = this.evaluate(meterId, now);
    // The command a release leads to is audited as the release it is, with who asked.
    if (!limit && releasedBy && outcome.command) {
      outcome.command.by = releasedBy.by;
      outcome.command.reason = `load-control limit released (${releasedBy.reason}): ${outcome.command.reason}`;
    }
    return [outcome];
  }

  /** The relay was commanded (and, for real relays, confirmed): the policy's minimum times count from now. */
  commanded(meterId: string, action: SupplyAction, now: number, limitW?: number): void {
    const meter = this.meters.get(meterId);
    if (!meter) return;
    meter.view.commanded = action;
    meter.view.commandedAt = now;
    if (action === 'limit' && limitW !== undefined) meter.view.commandedLimitW = limitW;
    else delete meter.view.commandedLimitW;
  }

  evaluateAll(now: number): Outcome[] {
    return this.meterIds().map((meterId) => this.evaluate(meterId, now));
  }

  evaluateAccount(accountId: string, now: number): Outcome[] {
    return (this.byAccount.get(accountId) ?? []).map((meterId) => this.evaluate(meterId, now));
  }

  evaluate(meterId: string, now: number): Outcome {
    const meter = this.meters.get(meterId)!;
    if (meter.view.override && meter.view.override.until <= now) delete meter.view.override;
    if (meter.view.loadLimit && meter.view.loadLimit.until <= now) delete meter.view.loadLimit;
    const account = this.accounts.get(meter.info.accountId);
    let decision = decide(this.policy, meter.view, account, now);
    if (!account && decision.alarm && now < this.quietUntil) {
      const { alarm: _held, ...quiet } = decision;
      decision = quiet;
    }
    const outcome: Outcome = { meterId, accountId: meter.info.accountId, decision };
    if (decision.action) {
      const command: Outcome['command'] = {
        meterId,
        accountId: meter.info.accountId,
        utility: meter.info.utility,
        action: decision.action,
        reason: decision.reason,
        policy: this.policy.name,
      };
      if (decision.action === 'limit') command.limitW = decision.limitW ?? this.policy.limitW;
      if (decision.by !== undefined) command.by = decision.by;
      outcome.command = command;
    }
    if (decision.alarm !== meter.lastAlarm) {
      if (decision.alarm) outcome.alarm = decision.alarm;
      else outcome.alarmCleared = true;
      meter.lastAlarm = decision.alarm;
    }
    if (decision.warn !== meter.lastWarn) {
      if (decision.warn) outcome.warn = decision.warn;
      meter.lastWarn = decision.warn;
    }
    return outcome;
  }
}
