/**
 * The cutoff policy: given what is known about a meter's account and the meter itself, what should its
 * supply be now? Pure code on an injected time, so weeks of building time can be tested in milliseconds.
 *
 * The rules, in the order they apply:
 * 1. An operator override (force on or off, with a reason and an expiry) wins until it expires.
 * 2. No account state, or one older than `maxStateAgeMs` (ledger down, flow broken): hold what the relay is
 *    doing and raise an alarm. A fault never cuts a tenant off.
 * 3. From the account: `ok` and `low` want the supply on (`low` also warns); `emergency` wants it limited when the
 *    policy says so and the device can, else on; `exhausted` and `closed` want it off, but `exhausted` only after
 *    the grace period has run without a top-up.
 * 4. Turning off (or limiting) waits: never for a utility marked never-disconnect, never inside a friendly-credit
 *    window (nights, weekends, public holidays in the site's zone) nor within `windowMarginMs` before one (the
 *    relay must have switched, read-back and retries included, before the window begins), never while the meter is in communication
 *    loss or its consumption is estimated, and never before the relay has been on for `minOnMs`.
 * 5. Turning back on needs available credit above `reconnectAboveMinor` and the relay off for `minOffMs`.
 * 6. A load-control limit (demand limiting asks the tenant's supply to be limited for a while) applies only
 *    where everything above wants the supply connected and the device can limit: never a disconnection, never
 *    for a never-disconnect utility, never in friendly-credit hours, never on a meter in communication loss or
 *    estimated, and the policy's own
 *    decisions (off when exhausted, its emergency limit) win. Released or lapsed, the supply returns to what the
 *    policy wants.
 */
import type { CreditState, Utility } from '../messages';
import { TimeZone } from '../tariff/zone';

export type SupplyAction = 'connect' | 'disconnect' | 'limit';

export interface FriendlyWindows {
  /** IANA zone the windows are in. */
  timeZone: string;
  /** Nightly window, minutes after local midnight; from > to wraps past midnight (16:00-10:00). */
  nights?: { from: number; to: number };
  /** Saturday and Sunday all day. */
  weekends: boolean;
  /** Local dates "YYYY-MM-DD", all day. */
  holidays: string[];
}

export interface CutoffPolicy {
  /** Named in every command and audit entry. */
  name: string;
  graceMs: number;
  reconnectAboveMinor: number;
  friendly: FriendlyWindows;
  /** No disconnection is started this close before a friendly window: switching takes time (queue, retries). */
  windowMarginMs: number;
  neverDisconnect: Utility[];
  minOnMs: number;
  minOffMs: number;
  /** While on emergency credit: limit power where the device can, or keep the supply on. */
  emergency: 'limit' | 'connect';
  limitW: number;
  maxStateAgeMs: number;
}

export interface AccountView {
  state: CreditState;
  /** Minor units, emergency credit included. */
  available: number;
  /** When this node received it (or the state's own time, whichever is later). */
  receivedAt: number;
  /** When the account entered `exhausted` (kept across repeated exhausted states). */
  exhaustedSince?: number;
}

export interface Override {
  action: 'connect' | 'disconnect';
  reason: string;
  until: number;
  by?: string;
}

/** A load-control request to limit a meter's supply (demand limiting), with the lease it lapses at. */
export interface LoadLimit {
  limitW: number;
  reason: string;
  by: string;
  /** The request lapses by itself then: a load controller that stops never leaves a tenant limited. */
  until: number;
}

export interface MeterView {
  meterId: string;
  utility: Utility;
  canLimit: boolean;
  /** What the relay was last commanded to (undefined: never commanded since start). */
  commanded?: SupplyAction;
  commandedAt?: number;
  /** The power the relay was last limited to (undefined: the policy's `limitW`). */
  commandedLimitW?: number;
  commLoss: boolean;
  estimated: boolean;
  override?: Override;
  loadLimit?: LoadLimit;
}

export interface Decision {
  /** The action to command now, or undefined to leave the relay as it is. */
  action?: SupplyAction;
  /** With `action` "limit": the power to limit to. */
  limitW?: number;
  reason: string;
  /** An alarm to raise (stale state). */
  alarm?: string;
  /** A warning for the tenant or operator (low credit, grace running). */
  warn?: string;
  /** Something will change by then: evaluate again. */
  recheckAt?: number;
  /** Who gave the override this decision obeys (rule 1), for the relay command and its audit entry. */
  by?: string;
}

export const DEFAULT_POLICY: CutoffPolicy = {
  name: 'default',
  graceMs: 60 * 60_000,
  reconnectAboveMinor: 0,
  friendly: { timeZone: 'UTC', nights: { from: 16 * 60, to: 10 * 60 }, weekends: true, holidays: [] },
  windowMarginMs: 5 * 60_000,
  neverDisconnect: ['water'],
  minOnMs: 5 * 60_000,
  minOffMs: 30_000,
  emergency: 'connect',
  limitW: 1000,
  maxStateAgeMs: 30 * 60_000,
};

const DAY_MINUTES = 24 * 60;

/** Whether `t` falls in a friendly-credit window. */
export function inFriendlyWindow(friendly: FriendlyWindows, t: number): boolean {
  const parts = TimeZone.get(friendly.timeZone).wallParts(t);
  if (friendly.weekends && (parts.weekday === 0 || parts.weekday === 6)) return true;
  if (friendly.holidays.length > 0) {
    const date = `${parts.year}-${String(parts.month).padStart(2, '0')}-${String(parts.day).padStart(2, '0')}`;
    if (friendly.holidays.includes(date)) return true;
  }
  const nights = friendly.nights;
  if (nights && nights.from !== nights.to) {
    const m = parts.minuteOfDay;
    return nights.from < nights.to ? m >= nights.from && m < nights.to : m >= nights.from || m < nights.to;
  }
  return false;
}

/** The first minute at or after `t` outside every friendly window (searched minute by minute, up to 10 days). */
export function friendlyWindowEnd(friendly: FriendlyWindows, t: number): number {
  let probe = Math.ceil(t / 60_000) * 60_000;
  const limit = t + 10 * DAY_MINUTES * 60_000;
  // Whole hours first (windows start and end on the minute, so a step back refines it).
  while (probe < limit && inFriendlyWindow(friendly, probe)) probe += 60 * 60_000;
  let back = probe - 60_000;
  while (back > t && !inFriendlyWindow(friendly, back)) {
    probe = back;
    back -= 60_000;
  }
  return probe;
}

/**
 * The first moment in [t, t + margin] inside a friendly window, or undefined. Windows start on the minute, so
 * the start, every whole minute after it and the end of the span are enough to look at.
 */
export function friendlyWindowWithin(
  friendly: FriendlyWindows,
  t: number,
  margin: number,
): number | undefined {
  if (inFriendlyWindow(friendly, t)) return t;
  for (let probe = Math.ceil(t / 60_000) * 60_000; probe < t + margin; probe += 60_000)
    if (inFriendlyWindow(friendly, probe)) return probe;
  return margin > 0 && inFriendlyWindow(friendly, t + margin) ? t + margin : undefined;
}

/**
 * Why the policy forbids an override, or undefined when it may be given. Overrides win over every other rule,
 * so the one thing they may not do is what the policy never does: cut a never-disconnect utility (water in
 * many places by law).
 */
export function overrideRefusal(
  policy: CutoffPolicy,
  utility: Utility,
  override: Pick<Override, 'action'> | undefined,
): string | undefined {
  if (override?.action === 'disconnect' && policy.neverDisconnect.includes(utility))
    return `policy "${policy.name}" never disconnects ${utility}`;
  return undefined;
}

function hold(reason: string, extra: Partial<Decision> = {}): Decision {
  return { reason, ...extra };
}

/** What the supply of `meter` should be at `now`. */
export function decide(
  policy: CutoffPolicy,
  meter: MeterView,
  account: AccountView | undefined,
  now: number,
): Decision {
  const current = meter.commanded;
  const currentLimitW = meter.commandedLimitW ?? policy.limitW;
  const command = (action: SupplyAction, reason: string, extra: Partial<Decision> = {}): Decision => {
    if (action !== 'limit') return action === current ? { reason, ...extra } : { action, reason, ...extra };
    const limitW = extra.limitW ?? policy.limitW;
    const same = current === 'limit' && currentLimitW === limitW;
    const { limitW: _ignored, ...rest } = extra;
    return same ? { reason, ...rest } : { action, reason, ...rest, limitW };
  };

  // 1. Operator override.
  if (meter.override && meter.override.until > now) {
    const o = meter.override;
    return command(
      o.action,
      `override by ${o.by ?? 'operator'} until ${new Date(o.until).toISOString()}: ${o.reason}`,
      o.by === undefined ? { recheckAt: o.until } : { recheckAt: o.until, by: o.by },
    );
  }

  // 2. Fail-safe on missing or stale account state.
  if (!account)
    return hold('no account state yet: holding', { alarm: 'no account state received for this meter' });
  const age = now - account.receivedAt;
  if (age > policy.maxStateAgeMs) {
    return hold('account state is stale: holding', {
      alarm: `account state is ${Math.round(age / 60_000)} min old (limit ${Math.round(policy.maxStateAgeMs / 60_000)} min): holding the relay as it is`,
    });
  }

  // 3. What the credit asks for.
  let wanted: SupplyAction;
  let reason: string;
  let warn: string | undefined;
  let recheckAt: number | undefined;
  switch (account.state) {
    case 'ok':
      wanted = 'connect';
      reason = 'credit available';
      break;
    case 'low':
      wanted = 'connect';
      reason = 'credit low';
      warn = `credit low: ${account.available} available`;
      break;
    case 'emergency':
      wanted = policy.emergency === 'limit' && meter.canLimit ? 'limit' : 'connect';
      reason =
        wanted === 'limit' ? `on emergency credit: limited to ${policy.limitW} W` : 'on emergency credit';
      warn = 'running on emergency credit';
      break;
    case 'exhausted': {
      const since = account.exhaustedSince ?? account.receivedAt;
      const graceEnds = since + policy.graceMs;
      if (now < graceEnds && current !== 'disconnect') {
        return hold(`credit exhausted: grace until ${new Date(graceEnds).toISOString()}`, {
          warn: 'credit exhausted: top up before the grace period ends',
          recheckAt: graceEnds,
        });
      }
      wanted = 'disconnect';
      reason = 'credit exhausted and grace period over';
      break;
    }
    case 'closed':
      wanted = 'disconnect';
      reason = 'account closed';
      break;
  }

  // 4. Protections before turning off or limiting.
  if (wanted !== 'connect' && current !== wanted) {
    if (policy.neverDisconnect.includes(meter.utility)) {
      return command('connect', `${reason}, but ${meter.utility} is never disconnected`, { warn });
    }
    if (meter.commLoss) return hold(`${reason}, but the meter is in communication loss: holding`, { warn });
    if (meter.estimated) return hold(`${reason}, but consumption is estimated: holding`, { warn });
    if (wanted === 'disconnect') {
      const window = friendlyWindowWithin(policy.friendly, now, policy.windowMarginMs);
      if (window !== undefined) {
        const end = friendlyWindowEnd(policy.friendly, window);
        const where =
          window === now ? 'inside a friendly-credit window' : 'a friendly-credit window is about to begin';
        return hold(`${reason}, but ${where}: holding until ${new Date(end).toISOString()}`, {
          warn,
          recheckAt: end,
        });
      }
    }
    if (
      current === 'connect' &&
      meter.commandedAt !== undefined &&
      now - meter.commandedAt < policy.minOnMs
    ) {
      const at = meter.commandedAt + policy.minOnMs;
      return hold(`${reason}, waiting for the minimum on time`, { warn, recheckAt: at });
    }
    return command(wanted, reason, { warn });
  }

  // 6. A load-control limit, where the policy wants the supply connected and nothing protects the meter.
  const load = wanted === 'connect' ? applicableLoadLimit(policy, meter, now) : undefined;

  // 5. Turning back on (moving from one load-control limit to another is not turning back on).
  if (
    wanted === 'connect' &&
    current !== undefined &&
    current !== 'connect' &&
    !(load && current === 'limit')
  ) {
    if (current === 'disconnect' && account.available <= policy.reconnectAboveMinor) {
      return hold(
        `${reason}, but available credit ${account.available} is not above ${policy.reconnectAboveMinor}`,
        { warn },
      );
    }
    if (meter.commandedAt !== undefined && now - meter.commandedAt < policy.minOffMs) {
      const at = meter.commandedAt + policy.minOffMs;
      return hold(`${reason}, waiting for the minimum off time`, { warn, recheckAt: at });
    }
  }
  if (load) {
    return command('limit', `${reason}; limited to ${load.limitW} W by ${load.by}: ${load.reason}`, {
      warn,
      limitW: load.limitW,
      recheckAt: load.until,
      by: load.by,
    });
  }
  return command(wanted, reason, { warn, ...(recheckAt ? { recheckAt } : {}) });
}

/** The meter's load-control limit when it applies now (rule 6), else undefined. */
export function applicableLoadLimit(
  policy: CutoffPolicy,
  meter: MeterView,
  now: number,
): LoadLimit | undefined {
  const load = meter.loadLimit;
  if (!load || load.until <= now) return undefined;
  if (loadLimitRefusal(policy, meter) !== undefined) return undefined;
  if (meter.commLoss || meter.estimated) return undefined;
  // Friendly-credit hours protect a tenant from the supply being cut down as well as off.
  if (inFriendlyWindow(policy.friendly, now)) return undefined;
  return load;
}

/** Why a load-control limit can never apply to this meter, or undefined when it may. */
export function loadLimitRefusal(
  policy: CutoffPolicy,
  meter: Pick<MeterView, 'utility' | 'canLimit'>,
): string | undefined {
  if (!meter.canLimit) return 'the relay of this meter cannot limit power (it can only switch)';
  if (policy.neverDisconnect.includes(meter.utility))
    return `policy "${policy.name}" never limits or disconnects ${meter.utility}`;
  return undefined;
}
