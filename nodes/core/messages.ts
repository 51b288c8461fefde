/**
 * The message shapes that travel on the wires between the package's nodes. Any node a user puts in
 * between (MQTT in, a function, another vendor's relay node) interoperates by producing these.
 * Money fields are integers: `amount` in sub-minor units (1/10,000 of the currency's minor unit),
 * balances in minor units; a display value is always derived, never carried.
 */

export const UTILITIES = ['electricity', 'water', 'gas', 'cooling'] as const;
export type Utility = (typeof UTILITIES)[number];

export type ReadingQuality = 'good' | 'suspect' | 'comm-loss';

/** A meter's cumulative register, in the meter's unit. */
export interface Reading {
  meterId: string;
  utility: Utility;
  /** Cumulative register value (kWh, m³, kWh thermal...). */
  value: number;
  unit: string;
  /** Milliseconds since the epoch (or an ISO 8601 string on input). */
  ts: number;
  quality: ReadingQuality;
  accountId?: string;
}

/**
 * A reading when nothing was read: the meter did not answer (`comm-loss`), or it answered but refused its
 * counter (`suspect`). It has no `value`: none was read, and none is made up.
 */
export interface MissingReading {
  meterId: string;
  utility: Utility;
  unit: string;
  ts: number;
  quality: 'comm-loss' | 'suspect';
  accountId?: string;
}

/** A reading after the delta engine: what was consumed between `from` and `to`. */
export interface Consumption extends Reading {
  /** Consumption since the previous good reading, in `unit`. */
  delta: number;
  from: number;
  to: number;
  /** Stable id (meter + register timestamp or sequence): replays price and post nothing. */
  readingId: string;
  /** True when the delta is estimated rather than measured (gap recovery). */
  estimated?: boolean;
  /**
   * The register at `from` (where the previous consumption ended; estimated inside a gap): with `value`, the
   * register at `to`, it lets the ledger check that each meter's charges join up.
   */
  start?: number;
  /** The counter wrapped to zero inside this consumption (`value` is below `start`). */
  rollover?: boolean;
  /** The baseline was moved just before this consumption: its `start` does not join the one before. */
  after?: { event: 'rebaselined' | 'replaced'; at: number; text?: string };
  /**
   * Quantities the account declares for tariff items priced per them ({"kVA": "63"}), from the meter table's
   * `declared` column.
   */
  declared?: Record<string, string>;
}

export interface ChargeLine {
  /** "energy", "energy.peak", "block.2", "surcharge.fuel", "standing", "tax.VAT"... */
  component: string;
  /** Quantity in `unit` as a decimal string (exact), e.g. "12.5". */
  quantity: string;
  unit: string;
  /** Rate as a decimal string in major currency units per unit (display). */
  rate: string;
  /** Sub-minor units (1/10,000 of the minor unit). */
  amount: number;
}

export interface Charge {
  accountId?: string;
  meterId?: string;
  readingId: string;
  utility?: Utility;
  tariff: string;
  quantity: string;
  unit: string;
  /** Sub-minor units: the sum of the breakdown. */
  amount: number;
  currency: string;
  breakdown: ChargeLine[];
  carbonKg: number;
  from: number;
  to: number;
  /** What kind of charge: consumption, or a periodic item raised by the calendar. */
  kind: 'consumption' | 'standing' | 'monthly';
  /**
   * The register movement a consumption charge was priced from, in the meter's unit (from the consumption):
   * kept by the ledger, so the daily reconciliation can check each meter's chain of charges.
   */
  register?: RegisterMovement;
}

/**
 * Money a tariff gives back to an account: at a move-out, the part of the fixed items raised in advance (on the
 * 1st, or for days the move-out message came after) that the tenant does not owe. A charge never credits an
 * account, so a credit is posted with the ledger's `adjust` command, once by its reference.
 */
export interface Credit {
  kind: 'credit';
  /** The ledger posting's reference, `move-out:<account>:<utility>:<date>`: the same however often raised. */
  reference: string;
  accountId: string;
  utility?: Utility;
  tariff: string;
  /** Whole minor units (what `adjust` takes): the exact total of the lines, rounded once by the tariff's rounding. */
  amount: number;
  currency: string;
  /** What is credited, each line's exact amount in sub-minor units. */
  breakdown: ChargeLine[];
  /** The move-out date (the last day occupied). */
  date: string;
  reason: string;
}

/** Where a consumption's register stood at its start and end, and what happened to the chain before it. */
export interface RegisterMovement {
  start?: number;
  end?: number;
  delta: number | string;
  unit: string;
  estimated?: boolean;
  rollover?: boolean;
  /** The baseline was moved before this consumption (the chain breaks here, for this reason). */
  after?: { event: 'rebaselined' | 'replaced'; at: number; text?: string };
}

export type LedgerCommandName =
  'topup' | 'adjust' | 'refund' | 'reverse' | 'open' | 'close' | 'bind' | 'unbind';

export interface LedgerCommand {
  command: LedgerCommandName;
  accountId: string;
  /** Caller-supplied reference that makes the command idempotent. */
  reference: string;
  amount?: number;
  currency?: string;
  [field: string]: unknown;
}

export type CreditState = 'ok' | 'low' | 'emergency' | 'exhausted' | 'closed';

export interface AccountState {
  accountId: string;
  /** Minor units. */
  balance: number;
  /** Minor units, including emergency credit still available. */
  available: number;
  currency: string;
  state: CreditState;
  changedAt: number;
  daysLeft?: number;
}

export interface RelayCommand {
  meterId: string;
  action: 'connect' | 'disconnect' | 'limit';
  limitW?: number;
  reason: string;
  policy: string;
}

/**
 * What a meter reader says about one meter over one local day (its `day-summary` event), the meter's side of
 * the ledger's daily reconciliation. Registers and `billed` are exact decimal text in the meter's unit.
 */
export interface MeterDaySummary {
  meterId: string;
  accountId?: string;
  utility?: string;
  unit: string;
  /** The day, [from, to] in epoch ms: a consumption ending at `to` is the day's last. */
  from: number;
  to: number;
  /** The register at the start of the day's first consumption and at the end of its last. */
  start?: string;
  end?: string;
  /** Sum of the deltas of the consumption that ended in the day. */
  billed: string;
  consumptions: number;
  /** Values held as suspect (not billed). */
  held: Array<{ ts: number; value: number; text: string }>;
  rebaselines: Array<{ ts: number; previous?: number; value: number; reason: string }>;
  replacements: Array<{ ts: number; oldFinal: number; newStart: number }>;
  rollovers: number;
}
