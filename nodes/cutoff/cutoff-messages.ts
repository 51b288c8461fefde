/**
 * What arrives at the cutoff node: account states (the ledger's second output), the meter reader's news
 * (comm loss, estimated consumption) and operator overrides. Each error names the field at fault.
 */
import type { LoadLimit, Override } from '../core/cutoff/policy';
import type { AccountState, CreditState } from '../core/messages';

export class CutoffInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'CutoffInputError';
  }
}

const STATES: CreditState[] = ['ok', 'low', 'emergency', 'exhausted', 'closed'];
const MAX_OVERRIDE_MS = 31 * 24 * 3600_000;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export type CutoffInput =
  | { kind: 'account'; state: AccountState }
  | { kind: 'meter'; meterId: string; commLoss?: boolean; estimated?: boolean }
  | { kind: 'override'; meterId: string; override?: Override; by?: string }
  | ({ kind: 'limit' } & LoadLimitInput)
  | { kind: 'ignore' };

/** A load-control limit request: one meter or every meter of an account; `limit` undefined releases it. */
export interface LoadLimitInput {
  meterId?: string;
  accountId?: string;
  limit?: LoadLimit;
  reason: string;
  by: string;
}

/** The answer to a limit request, on the second output (topic "limit"). */
export interface LoadLimitAnswer {
  meterId?: string;
  accountId?: string;
  /** applied: every meter limited as asked; released: the limit is gone; held: kept, but the policy's own
   * decision wins for now (the limit applies once it allows); refused: never applies here. */
  outcome: 'applied' | 'released' | 'held' | 'refused';
  limitW: number | null;
  reason: string;
  by: string;
  ts: number;
  policy: string;
  cutoff: { id: string; name: string };
  error?: string;
  meters: Array<{
    meterId: string;
    outcome: 'applied' | 'released' | 'held' | 'refused';
    text: string;
    supply?: string | null;
    limitW?: number;
  }>;
}

/** A limit lapses after this unless renewed: a load controller that stops never leaves a tenant limited. */
const DEFAULT_LIMIT_MINUTES = 60;
const MAX_LIMIT_MS = 24 * 3600_000;

/** Sorts out one payload. `now` resolves relative override expiries. */
export function readCutoffInput(topic: unknown, payload: unknown, now: number): CutoffInput {
  if (topic === 'override') return readOverride(payload, now);
  if (topic === 'limit') return readLoadLimit(payload, now);
  if (!isObject(payload))
    throw new CutoffInputError(
      'payload',
      'must be an account state, a meter event or reading, or an override',
    );
  // Meter reader: events (output 3), consumption (output 1) and readings (output 2).
  if (typeof payload.meterId === 'string' && typeof payload.type === 'string') {
    if (payload.type === 'comm-loss') return { kind: 'meter', meterId: payload.meterId, commLoss: true };
    if (payload.type === 'comm-restored') return { kind: 'meter', meterId: payload.meterId, commLoss: false };
    return { kind: 'ignore' };
  }
  if (typeof payload.meterId === 'string' && typeof payload.readingId === 'string') {
    return {
      kind: 'meter',
      meterId: payload.meterId,
      estimated: payload.estimated === true,
      commLoss: false,
    };
  }
  if (typeof payload.meterId === 'string' && typeof payload.quality === 'string') {
    if (payload.quality === 'comm-loss') return { kind: 'meter', meterId: payload.meterId, commLoss: true };
    return payload.quality === 'good'
      ? { kind: 'meter', meterId: payload.meterId, commLoss: false }
      : { kind: 'ignore' };
  }
  return { kind: 'account', state: readAccountState(payload) };
}

export function readAccountState(payload: Record<string, unknown>): AccountState {
  if (typeof payload.accountId !== 'string' || payload.accountId === '')
    throw new CutoffInputError('accountId', 'is required');
  if (!STATES.includes(payload.state as CreditState))
    throw new CutoffInputError(
      'state',
      `must be one of ${STATES.join(', ')} (got ${JSON.stringify(payload.state)})`,
    );
  if (typeof payload.available !== 'number' || !Number.isFinite(payload.available))
    throw new CutoffInputError('available', 'must be a number (minor units)');
  const changedAt =
    typeof payload.changedAt === 'number'
      ? payload.changedAt
      : typeof payload.changedAt === 'string'
        ? Date.parse(payload.changedAt)
        : NaN;
  return {
    accountId: payload.accountId,
    balance: typeof payload.balance === 'number' ? payload.balance : payload.available,
    available: payload.available,
    currency: typeof payload.currency === 'string' ? payload.currency : '',
    state: payload.state as CreditState,
    changedAt,
  };
}

function readOverride(payload: unknown, now: number): CutoffInput {
  if (!isObject(payload))
    throw new CutoffInputError(
      'payload',
      'an override is {meterId, action: "connect"|"disconnect"|"clear", reason, until or minutes, by?}',
    );
  if (typeof payload.meterId !== 'string' || payload.meterId === '')
    throw new CutoffInputError('meterId', 'is required');
  const by = typeof payload.by === 'string' && payload.by.trim() !== '' ? payload.by.trim() : undefined;
  if (payload.action === 'clear')
    return by === undefined
      ? { kind: 'override', meterId: payload.meterId }
      : { kind: 'override', meterId: payload.meterId, by };
  if (payload.action !== 'connect' && payload.action !== 'disconnect')
    throw new CutoffInputError('action', 'must be "connect", "disconnect" or "clear"');
  if (typeof payload.reason !== 'string' || payload.reason.trim().length < 3)
    throw new CutoffInputError('reason', 'is required: every override is audited with its reason');
  let until: number;
  if (payload.until !== undefined) {
    until = typeof payload.until === 'number' ? payload.until : Date.parse(String(payload.until));
    if (!Number.isFinite(until)) throw new CutoffInputError('until', 'must be a time (epoch ms or ISO 8601)');
  } else if (payload.minutes !== undefined) {
    const minutes = Number(payload.minutes);
    if (!(minutes > 0)) throw new CutoffInputError('minutes', 'must be a positive number');
    until = now + minutes * 60_000;
  } else {
    throw new CutoffInputError('until', 'an override needs an expiry: "until" (a time) or "minutes"');
  }
  if (until <= now) throw new CutoffInputError('until', 'is already past');
  if (until - now > MAX_OVERRIDE_MS)
    throw new CutoffInputError('until', 'is more than 31 days away: renew overrides instead');
  const override: Override = { action: payload.action, reason: payload.reason.trim(), until };
  if (by === undefined) return { kind: 'override', meterId: payload.meterId, override };
  override.by = by;
  return { kind: 'override', meterId: payload.meterId, override, by };
}

function readLoadLimit(payload: unknown, now: number): CutoffInput {
  if (!isObject(payload))
    throw new CutoffInputError(
      'payload',
      'a limit request is {meterId or accountId, limitW (W > 0, or null to release), reason, by, minutes?}',
    );
  const meterId = typeof payload.meterId === 'string' && payload.meterId !== '' ? payload.meterId : undefined;
  const accountId =
    typeof payload.accountId === 'string' && payload.accountId !== '' ? payload.accountId : undefined;
  if (meterId === undefined && accountId === undefined)
    throw new CutoffInputError('meterId', 'a limit names a meterId or an accountId');
  if (typeof payload.by !== 'string' || payload.by.trim() === '')
    throw new CutoffInputError('by', 'is required: every limit is audited with who asked for it');
  const by = payload.by.trim();
  const reason =
    typeof payload.reason === 'string' && payload.reason.trim() !== '' ? payload.reason.trim() : '';
  const target = meterId !== undefined ? { meterId } : { accountId: accountId! };
  if (payload.limitW === null || payload.limitW === undefined)
    return { kind: 'limit', ...target, reason: reason || 'released', by };
  if (typeof payload.limitW !== 'number' || !(payload.limitW > 0) || !Number.isFinite(payload.limitW))
    throw new CutoffInputError('limitW', 'must be a power in W above 0, or null to release the limit');
  if (reason.length < 3)
    throw new CutoffInputError('reason', 'is required: every limit is audited with its reason');
  let until: number;
  if (payload.until !== undefined) {
    until = typeof payload.until === 'number' ? payload.until : Date.parse(String(payload.until));
    if (!Number.isFinite(until)) throw new CutoffInputError('until', 'must be a time (epoch ms or ISO 8601)');
  } else {
    const minutes = payload.minutes === undefined ? DEFAULT_LIMIT_MINUTES : Number(payload.minutes);
    if (!(minutes > 0)) throw new CutoffInputError('minutes', 'must be a positive number');
    until = now + minutes * 60_000;
  }
  if (until <= now) throw new CutoffInputError('until', 'is already past');
  if (until - now > MAX_LIMIT_MS)
    throw new CutoffInputError('until', 'is more than 24 hours away: renew limits instead');
  return {
    kind: 'limit',
    ...target,
    limit: { limitW: Math.round(payload.limitW), reason, by, until },
    reason,
    by,
  };
}
