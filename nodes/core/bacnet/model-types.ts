/**
 * The shapes around the object model: its inputs (parsed messages), options, the changes it reports, the
 * override commands it produces for the cutoff relay, and the values snapshot it is restored from.
 */
import type { CreditState, Utility } from '../messages';
import type { DeviceInfo } from './device-object';
import type { EventNotice, NotificationClassSettings } from './events';
import type { Point } from './points';

export type ModelInput =
  | {
      kind: 'account';
      accountId: string;
      balance: number;
      available: number;
      currency: string;
      state: CreditState;
      daysLeft?: number;
    }
  | {
      kind: 'consumption';
      meterId: string;
      accountId?: string;
      utility: Utility;
      unit: string;
      value: number;
      delta: number | string;
      to: number;
    }
  | {
      kind: 'reading';
      meterId: string;
      accountId?: string;
      utility: Utility;
      unit: string;
      /** Absent on a reading that is not good when nothing was read (comm loss, a refused counter). */
      value?: number;
      quality: 'good' | 'suspect' | 'comm-loss';
    }
  | {
      kind: 'meter-event';
      meterId: string;
      accountId?: string;
      utility?: Utility;
      type: string;
      alarm: boolean;
      text: string;
    }
  | {
      kind: 'relay';
      meterId: string;
      accountId?: string;
      utility?: Utility;
      action: 'connect' | 'disconnect' | 'limit';
    }
  | { kind: 'cutoff-alarm'; meterId: string; accountId?: string; type: string; alarm: boolean; text: string }
  /** The cutoff relay's answer to an override (the flow's own answer for a meter no cutoff node drives). */
  | {
      kind: 'override-answer';
      meterId: string;
      accountId?: string;
      outcome: 'applied' | 'refused';
      text: string;
    }
  | { kind: 'retire'; accountId?: string; meterId?: string };

/** COV increments for the points a message creates or updates (set per prepay-bacnet node). */
export interface PointSettings {
  /** Currency major units (balance, available). */
  money: number;
  /** The meter's unit (consumption today). */
  consumption: number;
  /** The meter's unit (register). */
  register: number;
  days: number;
}

export const DEFAULT_POINT_SETTINGS: PointSettings = { money: 1, consumption: 1, register: 1, days: 0.5 };

export interface ModelOptions {
  device: DeviceInfo;
  /** Writable override points per account and utility. */
  overrides: boolean;
  /** How long an override write lasts before its priority slot is relinquished (the cutoff needs an expiry). */
  overrideMinutes: number;
  maxObjects: number;
  maxSubscriptions: number;
  /** Priorities, acknowledgements and recipients of the alarm notifications (default: none configured). */
  notificationClass?: NotificationClassSettings;
  /** A BEMS may write the notification class's recipient list (WriteProperty, AddListElement, RemoveListElement). */
  recipientWrites?: boolean;
}

/** What a change did: points whose values moved (for COV) and the object set (for the database revision). */
export interface ModelChange {
  changed: Point[];
  added: Point[];
  removed: Point[];
  /** Event transitions the change made (intrinsic reporting), to notify. */
  events?: EventNotice[];
}

/** An override for the cutoff relay, in the shape its `topic: "override"` input takes. */
export interface OverrideCommand {
  meterId: string;
  accountId: string;
  utility: Utility;
  action: 'connect' | 'disconnect' | 'clear';
  reason?: string;
  until?: number;
  by?: string;
}

export class ModelInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'ModelInputError';
  }
}

export interface MeterInfo {
  accountId?: string;
  utility?: Utility;
  unit?: string;
  commLoss?: boolean;
  suspect?: boolean;
  /** Open alarms by type (comm-loss, suspect, relay-fault, policy...) with their text. */
  alarms?: Record<string, string>;
  /** The relay's last commanded action. */
  relay?: 'connect' | 'disconnect' | 'limit';
  /** Why the last override for this meter was refused, until one is applied or the point is back on auto. */
  overrideRefused?: string;
}

export interface Today {
  day: string;
  /** Micro-units of the meter's unit: deltas are exact decimals, summed exactly. */
  micro: bigint;
  /**
   * Per meter, the end of the last consumption counted: a replay after a restart counts nothing. A Map, not
   * an object keyed by meter id (see `idRecord`).
   */
  last: Map<string, number>;
}

export interface SavedPoint {
  d: string;
  u: number;
  v: number;
  r: number;
  c: number;
  p?: Array<number | null>;
  x?: Array<number | null>;
}

export interface ValuesSnapshot {
  version: 1;
  points: Record<string, SavedPoint>;
  meters: Record<string, MeterInfo>;
  currencies: Record<string, string>;
  today: Record<string, { day: string; micro: string; last: Record<string, number> }>;
}

export function readValuesSnapshot(value: unknown): ValuesSnapshot {
  const snapshot = value as ValuesSnapshot;
  if (snapshot?.version !== 1 || typeof snapshot.points !== 'object' || typeof snapshot.meters !== 'object')
    throw new Error('not a BACnet values file');
  return snapshot;
}
