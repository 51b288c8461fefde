/**
 * The vacancy setback rule: a unit whose account is closed (vacant) or whose supply the cutoff policy has cut
 * (exhausted credit) has its HVAC objects commanded to unoccupied; a reconnection or a move-in restores them.
 *
 * It learns from two message streams: the ledger's account states (`state: "closed"` is a vacant unit, any
 * other state after it a move-in) and the cutoff node's relay commands (a `disconnect` decided by the policy is a
 * cut; `connect` or `limit` a reconnection). A disconnect an operator forced (`by` set) is not a cut for
 * exhausted credit and sets nothing back. An account nothing has been heard of is left as the BEMS runs it.
 * A unit flagged medical or critical is never set back for a cut, and for a vacancy only when its row allows it.
 */
import type { CreditState } from '../messages';
import { slotKey, type DesiredCommand } from './commands';
import { rowsByAccount, type HvacRow } from './hvac-map';
import type { ProtectedUnits } from './protected-units';

export type UnitMode = 'setback' | 'occupied';

interface UnitState {
  credit?: CreditState;
  /** Meters whose supply the policy has cut. */
  cut: Set<string>;
  mode?: UnitMode;
  why: string;
}

/** What the rule keeps across restarts. */
export interface VacancySnapshot {
  accounts: Record<string, { credit?: CreditState; cut: string[]; mode?: UnitMode; why: string }>;
}

export type VacancyInput =
  | { kind: 'account'; accountId: string; state: CreditState }
  | {
      kind: 'relay';
      accountId: string;
      meterId: string;
      action: 'connect' | 'disconnect' | 'limit';
      forced: boolean;
    }
  | { kind: 'ignore'; why: string };

export class VacancyInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'VacancyInputError';
  }
}

const STATES: readonly CreditState[] = ['ok', 'low', 'emergency', 'exhausted', 'closed'];
const ACTIONS = ['connect', 'disconnect', 'limit'] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Sorts out a payload: an account state (ledger output 2) or a relay command (cutoff output 1). */
export function readVacancyInput(payload: unknown): VacancyInput {
  if (!isObject(payload))
    throw new VacancyInputError('payload', 'must be an account state or a relay command');
  if (typeof payload.action === 'string' && typeof payload.meterId === 'string') {
    if (!(ACTIONS as readonly string[]).includes(payload.action))
      throw new VacancyInputError(
        'action',
        `must be one of ${ACTIONS.join(', ')} (got ${JSON.stringify(payload.action)})`,
      );
    if (typeof payload.accountId !== 'string' || payload.accountId === '')
      return { kind: 'ignore', why: `relay command for meter ${payload.meterId} names no account` };
    return {
      kind: 'relay',
      accountId: payload.accountId,
      meterId: payload.meterId,
      action: payload.action as (typeof ACTIONS)[number],
      forced: typeof payload.by === 'string' && payload.by !== '',
    };
  }
  if (typeof payload.accountId !== 'string' || payload.accountId === '')
    throw new VacancyInputError('accountId', 'is required');
  if (!STATES.includes(payload.state as CreditState))
    throw new VacancyInputError(
      'state',
      `must be one of ${STATES.join(', ')} (got ${JSON.stringify(payload.state)})`,
    );
  return { kind: 'account', accountId: payload.accountId, state: payload.state as CreditState };
}

export class VacancyRule {
  private readonly units = new Map<string, UnitState>();
  private readonly rows: Map<string, HvacRow[]>;

  constructor(
    rows: readonly HvacRow[],
    snapshot?: VacancySnapshot,
    private readonly protectedUnits: ProtectedUnits = new Map(),
  ) {
    this.rows = rowsByAccount(rows);
    for (const [account, saved] of Object.entries(snapshot?.accounts ?? {})) {
      const unit: UnitState = { cut: new Set(saved.cut), why: saved.why };
      if (saved.credit) unit.credit = saved.credit;
      if (saved.mode) unit.mode = saved.mode;
      // A unit flagged since it was set back comes back at the next start.
      const wanted = this.modeOf(account, unit);
      if (wanted.mode !== undefined && wanted.mode !== unit.mode) {
        unit.mode = wanted.mode;
        unit.why = wanted.why || 'restored';
      }
      this.units.set(account, unit);
    }
  }

  /** Whether the table maps the account (others are followed but command nothing). */
  maps(account: string): boolean {
    return this.rows.has(account);
  }

  /** Applies one input; returns the commands that change because of it (none when the unit's mode stays). */
  apply(input: VacancyInput): DesiredCommand[] {
    if (input.kind === 'ignore') return [];
    const unit = this.units.get(input.accountId) ?? { cut: new Set<string>(), why: '' };
    this.units.set(input.accountId, unit);
    let restoreWhy = '';
    if (input.kind === 'account') {
      if (unit.credit === 'closed' && input.state !== 'closed') restoreWhy = 'moved in';
      unit.credit = input.state;
    } else if (input.action === 'disconnect') {
      if (!input.forced) unit.cut.add(input.meterId);
    } else if (unit.cut.delete(input.meterId)) restoreWhy = `meter ${input.meterId} reconnected`;
    const wanted = this.modeOf(input.accountId, unit);
    if (wanted.mode === undefined || wanted.mode === unit.mode) return [];
    unit.mode = wanted.mode;
    unit.why = wanted.mode === 'setback' ? wanted.why : restoreWhy || wanted.why || 'restored';
    return this.commandsOf(input.accountId, unit);
  }

  private modeOf(account: string, unit: UnitState): { mode?: UnitMode; why: string } {
    const flagged = this.protectedUnits.get(account);
    if (flagged) {
      // The safe way round: a flagged unit's HVAC keeps running unless its row allows a vacant unit's setback.
      if (unit.credit === 'closed' && flagged.vacancySetback)
        return { mode: 'setback', why: `vacant (account closed; flagged ${flagged.flag}, setback allowed)` };
      return unit.mode === undefined
        ? { why: '' }
        : { mode: 'occupied', why: `flagged ${flagged.flag}: never set back` };
    }
    if (unit.credit === 'closed') return { mode: 'setback', why: 'vacant (account closed)' };
    if (unit.cut.size > 0)
      return { mode: 'setback', why: `supply cut for exhausted credit (meter ${[...unit.cut].join(', ')})` };
    // Occupied only once something was set back: an account first heard of in credit is left to the BEMS.
    return unit.mode === undefined ? { why: '' } : { mode: 'occupied', why: '' };
  }

  private commandsOf(account: string, unit: UnitState): DesiredCommand[] {
    const out: DesiredCommand[] = [];
    for (const row of this.rows.get(account) ?? []) {
      const setback = unit.mode === 'setback';
      out.push({
        key: slotKey(row.target, row.priority),
        target: row.target,
        value: setback ? row.unoccupied : row.occupied,
        priority: row.priority,
        reason: `${account} ${unit.why}`,
      });
    }
    return out;
  }

  /** Every command the rule holds now (restores with a value included; relinquished slots are not). */
  desired(): DesiredCommand[] {
    const out: DesiredCommand[] = [];
    for (const [account, unit] of this.units)
      if (unit.mode !== undefined)
        out.push(...this.commandsOf(account, unit).filter((c) => c.value !== null));
    return out;
  }

  /** The account's mode (undefined: nothing decided yet) and why. */
  modeOfAccount(account: string): { mode?: UnitMode; why: string } {
    const unit = this.units.get(account);
    return unit?.mode === undefined ? { why: '' } : { mode: unit.mode, why: unit.why };
  }

  counts(): { setback: number; occupied: number } {
    let setback = 0;
    let occupied = 0;
    for (const [account, unit] of this.units) {
      if (!this.maps(account)) continue;
      if (unit.mode === 'setback') setback += 1;
      else if (unit.mode === 'occupied') occupied += 1;
    }
    return { setback, occupied };
  }

  snapshot(): VacancySnapshot {
    const accounts: VacancySnapshot['accounts'] = {};
    for (const [account, unit] of this.units) {
      const saved: VacancySnapshot['accounts'][string] = { cut: [...unit.cut], why: unit.why };
      if (unit.credit) saved.credit = unit.credit;
      if (unit.mode) saved.mode = unit.mode;
      accounts[account] = saved;
    }
    return { accounts };
  }
}

/** Reads a saved snapshot, dropping what does not fit (a hand-edited or older file never stops the node). */
export function readVacancySnapshot(value: unknown): VacancySnapshot {
  const accounts: VacancySnapshot['accounts'] = {};
  const source = isObject(value) && isObject(value.accounts) ? value.accounts : {};
  for (const [account, saved] of Object.entries(source)) {
    if (!isObject(saved)) continue;
    const entry: VacancySnapshot['accounts'][string] = {
      cut: Array.isArray(saved.cut) ? saved.cut.filter((m): m is string => typeof m === 'string') : [],
      why: typeof saved.why === 'string' ? saved.why : '',
    };
    if (STATES.includes(saved.credit as CreditState)) entry.credit = saved.credit as CreditState;
    if (saved.mode === 'setback' || saved.mode === 'occupied') entry.mode = saved.mode;
    accounts[account] = entry;
  }
  return { accounts };
}
