/**
 * Which units demand limiting must leave alone. Demand limiting never works against the cutoff policy: a
 * tenant it protects from being turned off is not limited for the site's demand either. The policy's own
 * protections (never-disconnect utilities, friendly-credit hours) come from the cutoff policy; medical and
 * critical units are flagged per account by the site. An account not in the list is never touched, so a unit
 * missing from the configuration is left alone rather than limited by mistake.
 */
import { inFriendlyWindow, type CutoffPolicy } from '../cutoff/policy';
import type { CreditState, Utility } from '../messages';

export interface UnitFacts {
  utility: Utility;
  /** The unit's relay can limit power (as prepay-cutoff's "can limit"); a switch-only relay is never used. */
  canLimit: boolean;
  /** Life-supporting equipment on the supply: never limited, its HVAC never set back. */
  medical?: boolean;
  /** A critical load (server room, cold store): never limited, its HVAC never set back. */
  critical?: boolean;
  /** The account's latest credit state, when known. */
  state?: CreditState;
}

/** What a shed step does to the unit: limit its supply, or command its HVAC. */
export type StepKind = 'limit' | 'command';

export interface DemandProtections {
  /** Why `account` (or its `meter`) may not be shed by a step of `kind` at `now`, or undefined when it may. */
  refusal(account: string, kind: StepKind, now: number, meter?: string): string | undefined;
}

/** The protections of a cutoff policy and the site's unit list. */
export function cutoffProtections(
  policy: Pick<CutoffPolicy, 'name' | 'neverDisconnect' | 'friendly'>,
  units: ReadonlyMap<string, UnitFacts>,
): DemandProtections {
  return {
    refusal(account, kind, now) {
      const unit = units.get(account);
      if (!unit) return `account ${account} is not in the unit list: left alone`;
      if (unit.medical) return `account ${account} is flagged medical`;
      if (unit.critical) return `account ${account} is flagged critical`;
      // A setpoint change is comfort, not supply: only the medical and critical flags protect it.
      if (kind === 'command') return undefined;
      if (policy.neverDisconnect.includes(unit.utility))
        return `policy "${policy.name}" never disconnects ${unit.utility}`;
      if (!unit.canLimit) return `the relay of account ${account} cannot limit power`;
      if (inFriendlyWindow(policy.friendly, now)) return `friendly-credit hours of policy "${policy.name}"`;
      if (unit.state === 'emergency')
        return `account ${account} is on emergency credit (the cutoff policy limits it)`;
      if (unit.state === 'exhausted' || unit.state === 'closed')
        return `account ${account} is ${unit.state} (the cutoff policy decides its supply)`;
      return undefined;
    },
  };
}
