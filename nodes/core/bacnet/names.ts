/**
 * Object names: `T0412.Balance` (per account), `T0412.Electricity.Supply` (per account and utility),
 * `E-T0412.Register` (per meter). A name says what its object is, so the persisted name-to-instance map alone is
 * enough to bring every object back after a restart.
 */
import { UTILITIES, type Utility } from '../messages';
import type { PointKind } from './points';

const ACCOUNT_SUFFIX: Readonly<Partial<Record<PointKind, string>>> = {
  balance: 'Balance',
  available: 'Available',
  'credit-state': 'CreditState',
  'days-left': 'DaysLeft',
  alarm: 'Alarm',
};
const UTILITY_SUFFIX: Readonly<Partial<Record<PointKind, string>>> = {
  'consumption-today': 'ConsumptionToday',
  supply: 'Supply',
  override: 'Override',
};

export function utilityLabel(utility: Utility): string {
  return utility.charAt(0).toUpperCase() + utility.slice(1);
}

export interface PointIdentity {
  kind: PointKind;
  accountId?: string;
  utility?: Utility;
  meterId?: string;
}

/** The key points are grouped by: the account, "account|utility", or the meter. */
export function pointKey(identity: PointIdentity): string {
  if (identity.meterId !== undefined) return identity.meterId;
  return identity.utility ? `${identity.accountId}|${identity.utility}` : (identity.accountId as string);
}

export function pointName(identity: PointIdentity): string {
  if (identity.kind === 'register') return `${identity.meterId}.Register`;
  const accountSuffix = ACCOUNT_SUFFIX[identity.kind];
  if (accountSuffix) return `${identity.accountId}.${accountSuffix}`;
  return `${identity.accountId}.${utilityLabel(identity.utility as Utility)}.${UTILITY_SUFFIX[identity.kind]}`;
}

/** The identity a name was made from, or undefined for a name this model never makes. */
export function parsePointName(name: string): PointIdentity | undefined {
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const head = name.slice(0, dot);
  const suffix = name.slice(dot + 1);
  if (suffix === 'Register') return { kind: 'register', meterId: head };
  for (const [kind, text] of Object.entries(ACCOUNT_SUFFIX)) {
    if (text === suffix) return { kind: kind as PointKind, accountId: head };
  }
  for (const [kind, text] of Object.entries(UTILITY_SUFFIX)) {
    if (text !== suffix) continue;
    const second = head.lastIndexOf('.');
    if (second <= 0) return undefined;
    const label = head.slice(second + 1);
    const utility = UTILITIES.find((u) => utilityLabel(u) === label);
    if (!utility) return undefined;
    return { kind: kind as PointKind, accountId: head.slice(0, second), utility };
  }
  return undefined;
}
