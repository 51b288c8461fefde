/**
 * The cutoff's answers to demand limiting's limit requests, as prepay-cutoff sends them on its second output
 * (topic "limit"): `applied`, `released`, `held` (kept, but the cutoff policy's own decision wins for now) or
 * `refused` (never applies there), with the reason per meter. Read here so the controller counts only the
 * relief it gets. Pure.
 */

export interface LimitAnswer {
  meterId?: string;
  accountId?: string;
  outcome: 'applied' | 'released' | 'held' | 'refused';
  /** The limit asked for, W (null: a release). */
  limitW: number | null;
  /** Who asked (the controller's own answers only are taken). */
  by: string;
  /** Why it was held or refused, in the cutoff's words. */
  reason: string;
}

const OUTCOMES = ['applied', 'released', 'held', 'refused'] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a cutoff answer; throws naming the field when the payload is not one. */
export function readLimitAnswer(payload: unknown): LimitAnswer {
  if (!isObject(payload))
    throw new Error('payload: a limit answer is prepay-cutoff\'s output 2 message with topic "limit"');
  const outcome = payload.outcome;
  if (!(OUTCOMES as readonly unknown[]).includes(outcome))
    throw new Error(`outcome: must be one of ${OUTCOMES.join(', ')} (got ${JSON.stringify(outcome)})`);
  const meterId = typeof payload.meterId === 'string' && payload.meterId !== '' ? payload.meterId : undefined;
  const accountId =
    typeof payload.accountId === 'string' && payload.accountId !== '' ? payload.accountId : undefined;
  if (meterId === undefined && accountId === undefined)
    throw new Error('meterId: a limit answer names a meterId or an accountId');
  if (typeof payload.by !== 'string') throw new Error('by: a limit answer says who asked');
  const limitW = typeof payload.limitW === 'number' ? payload.limitW : null;
  const meters = Array.isArray(payload.meters) ? payload.meters.filter(isObject) : [];
  const notApplied = meters
    .filter((m) => m.outcome === 'held' || m.outcome === 'refused')
    .map((m) => `${String(m.meterId)}: ${typeof m.text === 'string' ? m.text : String(m.outcome)}`);
  const reason =
    typeof payload.error === 'string' && payload.error !== ''
      ? payload.error
      : notApplied.length > 0
        ? notApplied.join('; ')
        : String(outcome);
  const answer: LimitAnswer = { outcome: outcome as LimitAnswer['outcome'], limitW, by: payload.by, reason };
  if (meterId !== undefined) answer.meterId = meterId;
  if (accountId !== undefined) answer.accountId = accountId;
  return answer;
}
