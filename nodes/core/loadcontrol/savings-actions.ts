/**
 * What load control did, for the savings evidence: prepay-loadcontrol's reports (its third output) of unit
 * setbacks (topic "setback": a unit's HVAC set back or restored, vacancy) and demand steps (topic
 * "demand-decision": shed, restored, held or refused by the cutoff, with the step's expected relief), attributed
 * per unit and local day beside the measured energy: the time set back, the steps shed, the time they were in
 * force and the relief they were expected to give (kW times the hours they relieved, held time excluded).
 *
 * Exact: times are whole milliseconds, the expected relief is whole watts times milliseconds; figures are rounded
 * only when reported (hours and kWh to 3 decimals, half-even). Idempotent: every action has a key (what, whose,
 * when), and an action already kept counts nothing again. Pure.
 */
import { divRound, formatScaled } from '../decimal';
import type { TimeZone } from '../tariff/zone';
import { localDay, localDayNumber } from './occupancy';

export type LoadControlAction =
  | { kind: 'setback'; account: string; mode: 'setback' | 'occupied'; at: number; why: string }
  | {
      kind: 'step';
      account: string;
      meter?: string;
      step: string;
      action: 'shed' | 'restore' | 'held' | 'refused' | 'applied';
      at: number;
      /** Expected relief, whole W. */
      reliefW: number;
    };

export interface DayActions {
  /** Time the unit's HVAC was set back (summed over its accounts), ms. */
  setbackMs: number;
  /** Steps shed on the unit that day. */
  shed: number;
  /** Steps the cutoff held or refused that day. */
  notApplied: number;
  /** Time its steps were in force, ms (summed over the steps). */
  stepMs: number;
  /** Expected relief: W times ms while the steps were in force and applied. */
  reliefWms: bigint;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads a prepay-loadcontrol report; undefined for a report that is not an action on a unit (window reports,
 * plant steps without an account). Throws naming the field when an action is malformed.
 */
export function readLoadControlAction(topic: unknown, payload: unknown): LoadControlAction | undefined {
  if (topic !== 'setback' && topic !== 'demand-decision') return undefined;
  if (!isObject(payload)) throw new Error(`payload: a ${topic} report is an object`);
  const at = payload.at;
  if (typeof at !== 'number' || !Number.isInteger(at)) throw new Error('at: must be epoch ms');
  if (topic === 'setback') {
    if (typeof payload.account !== 'string' || payload.account === '')
      throw new Error('account: is required');
    if (payload.mode !== 'setback' && payload.mode !== 'occupied')
      throw new Error('mode: must be setback or occupied');
    return {
      kind: 'setback',
      account: payload.account,
      mode: payload.mode,
      at,
      why: typeof payload.why === 'string' ? payload.why : '',
    };
  }
  if (typeof payload.account !== 'string' || payload.account === '') return undefined;
  const action = payload.action;
  if (
    action !== 'shed' &&
    action !== 'restore' &&
    action !== 'held' &&
    action !== 'refused' &&
    action !== 'applied'
  )
    throw new Error('action: must be shed, restore, held, refused or applied');
  if (typeof payload.step !== 'string' || payload.step === '') throw new Error('step: is required');
  const reliefKw = payload.reliefKw === undefined ? 0 : Number(payload.reliefKw);
  if (!Number.isFinite(reliefKw) || reliefKw < 0) throw new Error('reliefKw: must be kW, 0 or more');
  return {
    kind: 'step',
    account: payload.account,
    ...(typeof payload.meter === 'string' && payload.meter !== '' ? { meter: payload.meter } : {}),
    step: payload.step,
    action,
    at,
    reliefW: Math.round(reliefKw * 1000),
  };
}

/** What makes an action the same action when it is sent again. */
export function actionKey(a: LoadControlAction): string {
  return a.kind === 'setback'
    ? `setback|${a.account}|${a.mode}|${a.at}`
    : `step|${a.account}|${a.step}|${a.action}|${a.at}`;
}

const empty = (): DayActions => ({ setbackMs: 0, shed: 0, notApplied: 0, stepMs: 0, reliefWms: 0n });

/**
 * Attributes actions (any order; earlier ones give the state at the first date) to the local `dates`. Periods
 * still open count up to `now`.
 */
export function attributeActions(
  actions: readonly LoadControlAction[],
  zone: TimeZone,
  dates: readonly string[],
  now: number,
): Map<string, DayActions> {
  const out = new Map<string, DayActions>(dates.map((d) => [d, empty()]));
  const wanted = new Set(dates);
  const add = (from: number, to: number, apply: (day: DayActions, ms: number) => void): void => {
    for (let n = localDayNumber(zone, from); ; n += 1) {
      const day = localDay(zone, n);
      if (day.start >= to) break;
      const ms = Math.min(to, day.end) - Math.max(from, day.start);
      if (ms > 0 && wanted.has(day.date)) apply(out.get(day.date)!, ms);
    }
  };
  const on = (at: number, apply: (day: DayActions) => void): void => {
    const date = localDay(zone, localDayNumber(zone, at)).date;
    if (wanted.has(date)) apply(out.get(date)!);
  };
  const sorted = [...actions].sort((a, b) => a.at - b.at || actionKey(a).localeCompare(actionKey(b)));
  const setbackSince = new Map<string, number>();
  const stepSince = new Map<string, { at: number; relievingSince?: number; reliefW: number }>();
  const closeRelief = (s: { relievingSince?: number; reliefW: number }, at: number): void => {
    if (s.relievingSince === undefined) return;
    const w = BigInt(s.reliefW);
    add(s.relievingSince, at, (day, ms) => (day.reliefWms += w * BigInt(ms)));
    delete s.relievingSince;
  };
  for (const a of sorted) {
    if (a.kind === 'setback') {
      const since = setbackSince.get(a.account);
      if (a.mode === 'setback') {
        if (since === undefined) setbackSince.set(a.account, a.at);
      } else if (since !== undefined) {
        add(since, a.at, (day, ms) => (day.setbackMs += ms));
        setbackSince.delete(a.account);
      }
      continue;
    }
    const key = `${a.account}|${a.step}`;
    const open = stepSince.get(key);
    if (a.action === 'shed') {
      on(a.at, (day) => (day.shed += 1));
      if (!open) stepSince.set(key, { at: a.at, relievingSince: a.at, reliefW: a.reliefW });
      continue;
    }
    if (a.action === 'held' || a.action === 'refused') on(a.at, (day) => (day.notApplied += 1));
    if (!open) continue;
    if (a.action === 'applied') {
      // Applied after a hold: relieving again from now.
      if (open.relievingSince === undefined) open.relievingSince = a.at;
      continue;
    }
    closeRelief(open, a.at);
    if (a.action === 'held') continue;
    add(open.at, a.at, (day, ms) => (day.stepMs += ms));
    stepSince.delete(key);
  }
  for (const since of setbackSince.values())
    if (since < now) add(since, now, (day, ms) => (day.setbackMs += ms));
  for (const open of stepSince.values()) {
    if (open.at >= now) continue;
    closeRelief(open, now);
    add(open.at, now, (day, ms) => (day.stepMs += ms));
  }
  return out;
}

/** ms as hours, 3 decimals, half-even. */
export function hoursOf(ms: number): number {
  return Number(formatScaled(divRound(BigInt(ms), 3600n, 'half-even'), 3));
}

/** W·ms as kWh, 3 decimals, half-even. */
export function reliefKwhOf(wms: bigint): number {
  // 1 kWh = 1000 W × 3,600,000 ms; to thousandths of a kWh: divide by 3,600,000.
  return Number(formatScaled(divRound(wms, 3_600_000n, 'half-even'), 3));
}
