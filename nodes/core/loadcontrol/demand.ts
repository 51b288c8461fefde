/**
 * Site demand limiting: keeps the site's demand over each demand window under a target.
 *
 * Fed site energy readings, it predicts where the window will end (energy so far plus the current rate times
 * the time left) and, when the prediction is above the target (less a margin), sheds steps in their configured
 * order until their expected relief covers the excess: tenant power limits where the relay can limit, BEMS
 * setpoints (chilled-water temperature, zone setpoints, AHU fan speed). Steps come back last shed, first
 * restored, one at a time, only after their minimum hold and only when the load they return (rebound included)
 * still fits under the target less the hysteresis, over the rest of the window and at the present rate.
 *
 * It never cuts a supply: a limit step must leave power on (limitW above zero), and a step whose unit the
 * protections refuse (the cutoff policy's never-disconnect utilities and friendly-credit hours, medical and
 * critical units) is skipped, and released at once if it was in force when the protection began. Readings
 * gone stale shed nothing more; steps still come back as usual. Pure: time comes in as `now`.
 */
import type { BacnetTarget, DesiredCommand, PowerLimitRequest } from './command-shapes';
import type { DemandProtections } from './demand-protection';
import { HOUR_MS, WindowEnergy, windowStartOf, type DemandWindow } from './demand-window';

export type ShedAction =
  | { kind: 'limit'; account: string; meter?: string; limitW: number }
  | {
      kind: 'command';
      key: string;
      target: BacnetTarget;
      value: number | boolean;
      priority: number;
      /** The unit whose HVAC this is, when it is one unit's (checked against the protections). */
      account?: string;
    };

export interface ShedStep {
  id: string;
  action: ShedAction;
  /** Expected drop in site demand while the step is in force, kW. */
  reliefKw: number;
  /** Load that comes back on restore, kW, when more than the relief (an HVAC setback's rebound). */
  restoreKw?: number;
  /** Held at least this long once shed (unless a protection begins). */
  minHoldMs: number;
  /** Released after this long even if still needed (comfort). */
  maxHoldMs?: number;
  /** After its maximum hold, not shed again for this long (default its minimum hold), so comfort recovers. */
  restMs?: number;
}

export interface DemandSettings {
  window: DemandWindow;
  targetKw: number;
  steps: ShedStep[];
  /** Shed when the prediction is above target - margin (default 0). */
  marginKw?: number;
  /** Restore only when the returning load fits under target - hysteresis (default 10% of the target). */
  hysteresisKw?: number;
  /** How long a step takes to show in the readings; its expected effect is counted until then (default 60 s). */
  responseMs?: number;
  /** At least this long between two restores, so one's rebound is seen before the next (default responseMs). */
  restoreGapMs?: number;
  /** Readings older than this shed nothing (default 5 min). */
  staleMs?: number;
  protections?: DemandProtections;
}

export interface DemandDecision {
  at: number;
  action: 'shed' | 'restore';
  step: string;
  /** The step's place in the shed order. */
  index: number;
  reason: string;
  /** For a limit step: the request to carry out (limitW null lifts it). */
  limit?: PowerLimitRequest;
  /** For a command step: the BEMS write (value null releases it). */
  command?: DesiredCommand;
}

export interface Prediction {
  at: number;
  windowStart: number;
  windowEnd: number;
  charged: boolean;
  energyKwh: number;
  rateKw: number;
  /** Demand the window ends at if nothing changes, kW (steps just commanded counted at their expected effect). */
  predictedKw: number;
  targetKw: number;
}

export interface WindowReport {
  start: number;
  end: number;
  charged: boolean;
  targetKw: number;
  /** The window's demand: its energy over its length, kW. */
  actualKw: number;
  energyKwh: number;
  /** Share of the window the readings covered (1: all of it). */
  coverage: number;
  peakPredictedKw: number;
  /** How far the actual demand ended above the target, kW (0 when under it or when demand is not charged). */
  shortfallKw: number;
  /** Every step that could be shed was in force while the window was predicted over the target. */
  exhausted: boolean;
  /** Steps shed during the window, in order. */
  shed: string[];
  /**
   * Steps the cutoff held or refused during the window, with its reason: they were counted at no relief, and
   * the steps after them were shed instead.
   */
  refused: StepAnswer[];
  /** Relief expected from the steps in force when the window ended (held ones count nothing), kW. */
  reliefKw: number;
  reason: string;
}

export interface DemandUpdate {
  decisions: DemandDecision[];
  reports: WindowReport[];
  prediction?: Prediction;
  /** Steps passed over this time and why (protections, rests). */
  skipped: Array<{ step: string; reason: string }>;
  /** Readings that could not be used. */
  problems: string[];
}

/** What the cutoff said of a limit step it did not apply as asked. */
export interface StepAnswer {
  step: string;
  /** held: kept, but the policy's own decision wins for now; refused: never applies there. */
  outcome: 'held' | 'refused';
  reason: string;
  at: number;
}

/** The controller's steps in force and rests, as kept across a restart. */
export interface DemandSnapshot {
  /** Steps in force, in the order they were shed. */
  active: Array<{ step: string; shedAt: number; held?: { reason: string; at: number } }>;
  /** Steps resting after their maximum hold, or refused for the rest of a window. */
  rests: Array<{ step: string; until: number; why?: string }>;
  lastRestoreAt?: number;
}

interface StepState {
  shedAt?: number;
  /** The cutoff holds it without applying it: in force, but relieving nothing. */
  held?: { reason: string; at: number };
  /** Why the step may not be shed until `restUntil` when not its maximum hold (the cutoff refused it). */
  restWhy?: string;
  restoredAt?: number;
  /** Released at its maximum hold: resting until then. */
  restUntil?: number;
}

interface WindowTrack {
  start: number;
  peakPredictedKw: number;
  exhausted: boolean;
  shed: string[];
  refused: StepAnswer[];
}

export class DemandController {
  private readonly state: StepState[];
  /** Indices of steps in force, in the order they were shed. */
  private readonly active: number[] = [];
  private track: WindowTrack | undefined;
  private readonly closed: WindowTrack[] = [];
  private lastRestoreAt = Number.NEGATIVE_INFINITY;
  private problems: string[] = [];
  private energy: WindowEnergy;
  private window: DemandWindow;
  targetKw: number;

  constructor(private readonly settings: DemandSettings) {
    const ids = new Set<string>();
    for (const step of settings.steps) {
      if (ids.has(step.id)) throw new Error(`shed step "${step.id}" is listed twice`);
      ids.add(step.id);
      if (!(step.reliefKw > 0)) throw new Error(`shed step "${step.id}": expected relief must be above 0 kW`);
      // A limit of nothing is a cut, which demand limiting never does.
      if (step.action.kind === 'limit' && !(step.action.limitW > 0))
        throw new Error(
          `shed step "${step.id}": a power limit must be above 0 W (demand limiting never cuts)`,
        );
      if (!(step.minHoldMs >= 0)) throw new Error(`shed step "${step.id}": minimum hold must be 0 or more`);
    }
    if (!(settings.targetKw > 0)) throw new Error('target demand must be above 0 kW');
    if (settings.window.intervalMs <= 0) throw new Error('demand window must be longer than 0');
    this.targetKw = settings.targetKw;
    this.window = settings.window;
    this.energy = new WindowEnergy(settings.window.intervalMs);
    this.state = settings.steps.map(() => ({}));
  }

  /** Steps in force now, in the order they were shed. */
  inForce(): string[] {
    return this.active.map((i) => this.settings.steps[i]!.id);
  }

  /** The demand windows and target now in use. */
  windowNow(): { window: DemandWindow; targetKw: number } {
    return { window: this.window, targetKw: this.targetKw };
  }

  /**
   * Takes new demand windows (a tariff's demand charge) and, when given, a new target. A new window length
   * starts the energy tally afresh from the next reading (the window under way is not reported); steps in force
   * stay in force and come back as usual.
   */
  retarget(window: DemandWindow, targetKw?: number): void {
    if (!(window.intervalMs > 0)) throw new Error('demand window must be longer than 0');
    if (targetKw !== undefined && !(targetKw > 0)) throw new Error('target demand must be above 0 kW');
    if (window.intervalMs !== this.window.intervalMs) {
      this.energy = new WindowEnergy(window.intervalMs);
      this.track = undefined;
      this.closed.length = 0;
    }
    this.window = window;
    if (targetKw !== undefined) this.targetKw = targetKw;
  }

  /**
   * The cutoff's answer to a limit step's request. `held` (kept, but the policy's own decision wins for now)
   * leaves the step in force relieving nothing; `refused` (never applies there) takes it out of force, not to be
   * shed again before the window ends; `applied` counts its relief again. Either way the controller looks again
   * at once, so the next step in the shed order goes in if the window is still predicted over.
   */
  answer(stepId: string, outcome: 'applied' | 'held' | 'refused', reason: string, now: number): DemandUpdate {
    const i = this.settings.steps.findIndex((s) => s.id === stepId);
    if (i < 0 || !this.active.includes(i)) return this.evaluate(now);
    const state = this.state[i]!;
    if (outcome === 'applied') {
      delete state.held;
      return this.evaluate(now);
    }
    // The answer to a renewal of a limit already held says nothing new.
    if (outcome === 'held' && state.held) return this.evaluate(now);
    this.track?.refused.push({ step: stepId, outcome, reason, at: now });
    if (outcome === 'held') state.held = { reason, at: now };
    else {
      delete state.held;
      this.active.splice(this.active.indexOf(i), 1);
      const end = windowStartOf(this.energy.dataAt ?? now, this.window.intervalMs) + this.window.intervalMs;
      state.restUntil = Math.max(end, now);
      state.restWhy = `refused by the cutoff (${reason})`;
    }
    return this.evaluate(now);
  }

  /** Whether a step in force is held by the cutoff (in force, relieving nothing). */
  isHeld(stepId: string): boolean {
    const i = this.settings.steps.findIndex((s) => s.id === stepId);
    return i >= 0 && this.active.includes(i) && this.state[i]!.held !== undefined;
  }

  /** What a restart needs to carry on: the steps in force with since when, rests, the last restore. */
  snapshot(): DemandSnapshot {
    const snapshot: DemandSnapshot = {
      active: this.active.map((i) => {
        const state = this.state[i]!;
        return {
          step: this.settings.steps[i]!.id,
          shedAt: state.shedAt!,
          ...(state.held ? { held: { reason: state.held.reason, at: state.held.at } } : {}),
        };
      }),
      rests: [],
    };
    this.settings.steps.forEach((step, i) => {
      const state = this.state[i]!;
      if (state.restUntil !== undefined)
        snapshot.rests.push({
          step: step.id,
          until: state.restUntil,
          ...(state.restWhy ? { why: state.restWhy } : {}),
        });
    });
    if (Number.isFinite(this.lastRestoreAt)) snapshot.lastRestoreAt = this.lastRestoreAt;
    return snapshot;
  }

  /**
   * Carries on from a snapshot (at start, before any reading). `keep` says whether a step in force is still in
   * force (a limit whose lease lapsed at the cutoff is not); a step no longer in the shed table is dropped.
   * Returns the steps taken back into force and those dropped, with why.
   */
  adopt(
    snapshot: DemandSnapshot,
    keep: (step: ShedStep, shedAt: number) => string | undefined,
  ): { kept: ShedStep[]; dropped: Array<{ step: string; reason: string }> } {
    const kept: ShedStep[] = [];
    const dropped: Array<{ step: string; reason: string }> = [];
    const indexOf = (id: string): number => this.settings.steps.findIndex((s) => s.id === id);
    for (const saved of snapshot.active) {
      const i = indexOf(saved.step);
      if (i < 0) {
        dropped.push({ step: saved.step, reason: 'no longer in the shed table' });
        continue;
      }
      if (this.active.includes(i)) continue;
      const step = this.settings.steps[i]!;
      const lapsed = keep(step, saved.shedAt);
      if (lapsed) {
        dropped.push({ step: saved.step, reason: lapsed });
        continue;
      }
      this.active.push(i);
      this.state[i]!.shedAt = saved.shedAt;
      if (saved.held) this.state[i]!.held = { reason: saved.held.reason, at: saved.held.at };
      kept.push(step);
    }
    for (const rest of snapshot.rests) {
      const i = indexOf(rest.step);
      if (i < 0) continue;
      this.state[i]!.restUntil = rest.until;
      if (rest.why) this.state[i]!.restWhy = rest.why;
    }
    if (snapshot.lastRestoreAt !== undefined) this.lastRestoreAt = snapshot.lastRestoreAt;
    return { kept, dropped };
  }

  /** A cumulative site energy reading (kWh) at `at`, optionally with the site's demand now (kW). */
  reading(at: number, cumulativeKwh: number, powerKw?: number): DemandUpdate {
    const problem = this.energy.reading(at, cumulativeKwh, powerKw);
    if (problem) this.problems.push(problem);
    return this.evaluate(at);
  }

  /** Site energy used between `from` and `to` (kWh). */
  interval(from: number, to: number, kWh: number, powerKw?: number): DemandUpdate {
    const problem = this.energy.interval(from, to, kWh, powerKw);
    if (problem) this.problems.push(problem);
    return this.evaluate(to);
  }

  /** Looks again without a new reading (holds ending, protections beginning, readings gone stale). */
  evaluate(now: number): DemandUpdate {
    const update: DemandUpdate = { decisions: [], reports: [], skipped: [], problems: this.problems };
    this.problems = [];
    const dataAt = this.energy.dataAt;
    if (dataAt === undefined) return update;
    const intervalMs = this.window.intervalMs;
    const start = windowStartOf(dataAt, intervalMs);
    if (this.track && this.track.start !== start) this.closed.push(this.track);
    if (!this.track || this.track.start !== start)
      this.track = { start, peakPredictedKw: 0, exhausted: false, shed: [], refused: [] };
    update.reports = this.reportsUpTo(dataAt);

    this.releaseForced(now, update);

    const charged = this.window.charged?.(start) ?? true;
    const targetKw = charged ? this.targetKw : Number.POSITIVE_INFINITY;
    const end = start + intervalMs;
    const soFar = this.energy.of(start).kWh;
    const leftH = (end - dataAt) / HOUR_MS;
    const rate = Math.max(0, this.energy.rateKw + this.pendingKw(now));
    const predictedKwh = soFar + rate * leftH;
    const predictedKw = (predictedKwh * HOUR_MS) / intervalMs;
    this.track.peakPredictedKw = Math.max(this.track.peakPredictedKw, predictedKw);
    update.prediction = {
      at: dataAt,
      windowStart: start,
      windowEnd: end,
      charged,
      energyKwh: soFar,
      rateKw: rate,
      predictedKw,
      targetKw: charged ? this.targetKw : 0,
    };

    const aimKw = targetKw - (this.settings.marginKw ?? 0);
    const stale = now - dataAt > (this.settings.staleMs ?? 5 * 60_000);
    // A milliwatt of slack: a steady load exactly at the target is not over it for a rounding error.
    if (predictedKw > aimKw + 1e-6 && leftH > 0) {
      if (stale) {
        update.skipped.push({ step: '*', reason: 'readings are stale: shedding nothing more' });
        return update;
      }
      // The excess energy has to come out of the time left: that is the relief needed now.
      let neededKw = ((predictedKw - aimKw) * intervalMs) / HOUR_MS / leftH;
      const why = `window to ${new Date(end).toISOString()} predicted at ${round(predictedKw)} kW, above ${round(aimKw)} kW`;
      for (let i = 0; i < this.settings.steps.length && neededKw > 0; i += 1) {
        if (this.active.includes(i)) continue;
        const step = this.settings.steps[i]!;
        const refusal = this.refusal(step, now);
        if (refusal) {
          update.skipped.push({ step: step.id, reason: refusal });
          continue;
        }
        const rest = this.state[i]!.restUntil;
        if (rest !== undefined && now < rest) {
          const why = this.state[i]!.restWhy;
          update.skipped.push({
            step: step.id,
            reason: why
              ? `${why}: not shed again before ${new Date(rest).toISOString()}`
              : `resting after its maximum hold until ${new Date(rest).toISOString()}`,
          });
          continue;
        }
        this.shed(i, now, why, update);
        neededKw -= step.reliefKw;
      }
      if (neededKw > 0) this.track.exhausted = true;
      return update;
    }

    // Under the target: bring back the last step shed, once its hold is over and what it returns still fits.
    const last = this.active[this.active.length - 1];
    const gap = this.settings.restoreGapMs ?? this.settings.responseMs ?? 60_000;
    if (last === undefined || now - this.lastRestoreAt < gap) return update;
    const step = this.settings.steps[last]!;
    if (now - this.state[last]!.shedAt! < step.minHoldMs) return update;
    const back = step.restoreKw ?? step.reliefKw;
    const ceilingKw = targetKw - (this.settings.hysteresisKw ?? this.targetKw * 0.1);
    const windowAfterKw = ((predictedKwh + back * leftH) * HOUR_MS) / intervalMs;
    if (rate + back <= ceilingKw && windowAfterKw <= ceilingKw)
      this.restore(
        last,
        now,
        charged
          ? `demand ${round(rate)} kW plus the ${round(back)} kW it returns stays under ${round(ceilingKw)} kW`
          : 'demand is not charged in this window',
        update,
      );
    return update;
  }

  private refusal(step: ShedStep, now: number): string | undefined {
    const account = step.action.account;
    if (account === undefined || !this.settings.protections) return undefined;
    const meter = step.action.kind === 'limit' ? step.action.meter : undefined;
    return this.settings.protections.refusal(account, step.action.kind, now, meter);
  }

  /** Steps in force that must come back whatever the demand: a protection began, or the maximum hold ran out. */
  private releaseForced(now: number, update: DemandUpdate): void {
    for (const i of [...this.active]) {
      const step = this.settings.steps[i]!;
      const refusal = this.refusal(step, now);
      if (refusal) this.restore(i, now, `protected now: ${refusal}`, update);
      else if (step.maxHoldMs !== undefined && now - this.state[i]!.shedAt! >= step.maxHoldMs) {
        this.restore(i, now, `maximum hold of ${step.maxHoldMs / 60_000} min reached`, update);
        this.state[i]!.restUntil = now + (step.restMs ?? step.minHoldMs);
        delete this.state[i]!.restWhy;
      }
    }
  }

  /** Expected effect of steps commanded too recently to show in the readings yet, kW (negative: relief). */
  private pendingKw(now: number): number {
    const response = this.settings.responseMs ?? 60_000;
    let kw = 0;
    this.settings.steps.forEach((step, i) => {
      const state = this.state[i]!;
      // A step the cutoff holds relieves nothing: only what is applied is counted.
      if (this.active.includes(i) && !state.held && now - state.shedAt! < response) kw -= step.reliefKw;
      if (!this.active.includes(i) && state.restoredAt !== undefined && now - state.restoredAt < response)
        kw += step.restoreKw ?? step.reliefKw;
    });
    return kw;
  }

  private shed(i: number, now: number, why: string, update: DemandUpdate): void {
    const step = this.settings.steps[i]!;
    this.active.push(i);
    this.state[i]!.shedAt = now;
    delete this.state[i]!.held;
    this.track?.shed.push(step.id);
    const reason = `demand limiting: ${why}; step "${step.id}" sheds about ${round(step.reliefKw)} kW`;
    const decision: DemandDecision = { at: now, action: 'shed', step: step.id, index: i, reason };
    const action = step.action;
    if (action.kind === 'limit') {
      decision.limit = { account: action.account, limitW: action.limitW, reason };
      if (action.meter !== undefined) decision.limit.meter = action.meter;
    } else
      decision.command = {
        key: action.key,
        target: action.target,
        value: action.value,
        priority: action.priority,
        reason,
      };
    update.decisions.push(decision);
  }

  private restore(i: number, now: number, why: string, update: DemandUpdate): void {
    const step = this.settings.steps[i]!;
    this.active.splice(this.active.indexOf(i), 1);
    this.state[i]!.restoredAt = now;
    delete this.state[i]!.held;
    this.lastRestoreAt = now;
    const reason = `demand limiting: step "${step.id}" restored: ${why}`;
    const decision: DemandDecision = { at: now, action: 'restore', step: step.id, index: i, reason };
    const action = step.action;
    if (action.kind === 'limit') {
      decision.limit = { account: action.account, limitW: null, reason };
      if (action.meter !== undefined) decision.limit.meter = action.meter;
    } else
      decision.command = {
        key: action.key,
        target: action.target,
        value: null,
        priority: action.priority,
        reason,
      };
    update.decisions.push(decision);
  }

  /** Reports of every window the readings have gone past. */
  private reportsUpTo(dataAt: number): WindowReport[] {
    const intervalMs = this.window.intervalMs;
    const reliefKw = this.active.reduce(
      (sum, i) => sum + (this.state[i]!.held ? 0 : this.settings.steps[i]!.reliefKw),
      0,
    );
    return this.energy.takeEndedBy(dataAt).map((window) => {
      const track = this.closed.find((t) => t.start === window.start);
      if (track) this.closed.splice(this.closed.indexOf(track), 1);
      const charged = this.window.charged?.(window.start) ?? true;
      const actualKw = (window.kWh * HOUR_MS) / intervalMs;
      const over = charged && actualKw > this.targetKw;
      const exhausted = track?.exhausted ?? false;
      let reason: string;
      const refused = track?.refused ?? [];
      if (!charged) reason = 'demand is not charged in this window';
      else if (!over) reason = `under the target by ${round(this.targetKw - actualKw)} kW`;
      else if (exhausted)
        reason = `over the target by ${round(actualKw - this.targetKw)} kW: the sheddable load was not enough`;
      else
        reason = `over the target by ${round(actualKw - this.targetKw)} kW: the load rose too late in the window`;
      if (refused.length > 0)
        reason += `; the cutoff ${refused.map((r) => `${r.outcome} "${r.step}" (${r.reason})`).join(', ')}`;
      return {
        start: window.start,
        end: window.start + intervalMs,
        charged,
        targetKw: this.targetKw,
        actualKw,
        energyKwh: window.kWh,
        coverage: window.coveredMs / intervalMs,
        peakPredictedKw: track?.peakPredictedKw ?? actualKw,
        shortfallKw: over ? actualKw - this.targetKw : 0,
        exhausted,
        shed: track?.shed ?? [],
        refused: track?.refused ?? [],
        reliefKw,
        reason,
      };
    });
  }
}

function round(kw: number): number {
  return Math.round(kw * 10) / 10;
}
