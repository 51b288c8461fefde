/**
 * What the tariff engine remembers between charges, as plain JSON (bigints as decimal strings) so a
 * node can persist it and a restart continues the same block position, rounding residue, demand
 * peak and month totals: a restart never re-bills a block or loses a fraction of a penny.
 */
import { Charge, Utility } from '../messages';

/**
 * A big integer as the engine holds it: bigint in memory (no parsing on the hot path), a decimal
 * string once written to disk and read back.
 */
export type Big = bigint | string;

export function big(value: Big | undefined): bigint {
  return value === undefined ? 0n : typeof value === 'bigint' ? value : BigInt(value);
}

/** JSON text of a state, bigints as decimal strings. */
export function serializeEngineState(state: TariffEngineState): string {
  return JSON.stringify(state, (_key, value: unknown) =>
    typeof value === 'bigint' ? value.toString() : value,
  );
}

export interface AccountTariffState {
  /** Running totals per component in pico units (cumulative rounding). */
  cum: Record<string, Big>;
  /** Running total of raw quantity in micro-units, for exact billed-quantity display. */
  quantityCum?: Big;
  /** Block tariff position: the reset period and micro-units used in it. */
  block?: { period: string; used: Big };
  /**
   * Pre-tax sub-minor totals of recent local months, for the minimum monthly charge. `share` is the part of
   * the month the account owes fixed items and the minimum for (1 when occupied all month; the move-in and
   * move-out policy otherwise); a month kept without one owes all (`full`) or nothing.
   */
  months?: Record<string, { subtotal: Big; full: boolean; share?: { num: Big; den: Big } }>;
  /** Maximum demand: peaks per month in micro-kW, and integration intervals still open (micro-kWh). */
  demand?: { peaks: Record<string, Big>; open: Array<{ start: number; month: string; energy: Big }> };
  /** Quantities the account declared (fittings, kVA...), as decimal text, for items priced per them. */
  declared?: Record<string, string>;
  /** First local date the tenant occupies: the date of the first reading priced, or of a move-in message. */
  moveIn?: string;
  /** Last local date the tenant occupies (a move-out message): no calendar item is raised after it. */
  moveOut?: string;
  /** The move-out's final items (the month's close, the credit of what was raised in advance) are raised. */
  movedOut?: boolean;
  /** Last local date standing charges were raised for. */
  lastDay?: string;
  /** Last local month monthly items were raised for. */
  lastMonth?: string;
  /** The tariff that priced this account and utility last: its calendar items are the ones raised. */
  tariff?: string;
  /** The account id (or `meter:<id>` for a meter billed without one). */
  account?: string;
  utility?: Utility;
}

export interface MeterWatermark {
  /** End of the last priced interval. */
  lastTo: number;
  lastReadingId: string;
}

export interface TariffEngineState {
  version: 2;
  /**
   * Per account AND utility (key: see accountStateKey): an account with electricity and water, or gas and
   * cooling, has each utility's running totals, block position, months and calendar items of its own.
   */
  accounts: Record<string, AccountTariffState>;
  /**
   * Version 1 states kept one entry per account, shared by every utility. Each is carried over to the
   * utility of the tariff that priced it last, and kept here as the starting point of the account's other
   * utilities (their block position and the day their calendar items were raised to), taken once each.
   */
  legacy?: Record<string, AccountTariffState>;
  meters: Record<string, MeterWatermark>;
  /** The most recent charges by reading id, re-sent unchanged when a reading is replayed. */
  recent: Array<[string, Charge]>;
}

export function emptyEngineState(): TariffEngineState {
  return { version: 2, accounts: {}, meters: {}, recent: [] };
}

/** Separates account and utility in a state key (a control character no account id contains). */
const KEY_SEPARATOR = '\u001f';

/** The key of an account's (or a lone meter's) state for one utility. */
export function accountStateKey(accountKey: string, utility: Utility | undefined): string {
  return utility === undefined ? accountKey : `${accountKey}${KEY_SEPARATOR}${utility}`;
}

/**
 * Checks a state object read back from disk; an unreadable one is refused, never half-used. A version 1
 * state (one entry per account) is read into `legacy`, for TariffEngine.adoptLegacy to place.
 */
export function parseEngineState(value: unknown): TariffEngineState {
  const state = value as Omit<TariffEngineState, 'version'> & { version: number };
  if (
    !state ||
    (state.version !== 1 && state.version !== 2) ||
    typeof state.accounts !== 'object' ||
    typeof state.meters !== 'object' ||
    !Array.isArray(state.recent)
  ) {
    throw new Error('tariff state is not a version 1 or 2 state document');
  }
  if (state.version === 2) return state as TariffEngineState;
  return {
    version: 2,
    accounts: {},
    legacy: state.accounts,
    meters: state.meters,
    recent: state.recent,
  };
}
