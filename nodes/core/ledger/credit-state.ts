/**
 * The credit state machine: ok -> low -> emergency -> exhausted, with hysteresis on the way back so
 * a balance hovering at a threshold does not flap (and a relay driven by it does not chatter).
 *
 * - exhausted: no credit available (balance + emergency credit in use <= 0). Leaving it needs
 *   available credit of at least `reconnectAbove`.
 * - emergency: running on emergency credit (balance below zero, allowance active).
 * - low: balance at or below `lowThreshold`; back to ok at lowThreshold + lowHysteresis.
 */
import { CreditState } from '../messages';
import { AccountPolicy } from './types';

export interface CreditFacts {
  status: 'open' | 'closed';
  balance: bigint;
  emergencyActive: boolean;
  policy: AccountPolicy;
}

/** Credit available to consume, minor units: the balance plus emergency credit in use. */
export function availableCredit(facts: CreditFacts): bigint {
  return facts.balance + (facts.emergencyActive ? facts.policy.emergencyCredit : 0n);
}

export function nextCreditState(previous: CreditState, facts: CreditFacts): CreditState {
  if (facts.status === 'closed') return 'closed';
  const { policy, balance } = facts;
  const available = availableCredit(facts);
  if (available <= 0n) return 'exhausted';
  if (previous === 'exhausted' && available < policy.reconnectAbove) return 'exhausted';
  if (facts.emergencyActive && balance < 0n) return 'emergency';
  if (balance <= policy.lowThreshold) return 'low';
  if (
    (previous === 'low' || previous === 'emergency' || previous === 'exhausted') &&
    balance < policy.lowThreshold + policy.lowHysteresis
  ) {
    return 'low';
  }
  return 'ok';
}
