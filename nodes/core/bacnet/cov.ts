/**
 * COV subscriptions (SubscribeCOV and SubscribeCOVProperty) and the rules for when a point's change is worth a
 * notification: an analog present value that moved by at least the COV increment since the last notification,
 * any change of a binary or multi-state value, any change of the status flags, and for a subscribed property
 * other than the present value any change at all. Subscriptions expire after their lifetime (0: never).
 */
import { ErrorClass, ErrorCode, ObjectType, PropertyId as P } from './constants';
import type { BacnetObject, Point } from './points';
import {
  isPropertyError,
  UNKNOWN_OBJECT,
  UNKNOWN_PROPERTY,
  type CovSubscriptionView,
  type PropertyError,
  type PropertyValue,
} from './properties';

/** Where notifications go: the subscriber's IPv4 address and port, and its network behind a router if any. */
export interface Recipient {
  host: string;
  port: number;
  net?: number;
  adr?: number[];
}

export interface SubscribeRequest {
  recipient: Recipient;
  processId: number;
  object: { type: number; instance: number };
  /** SubscribeCOVProperty only. */
  property?: { id: number; index?: number };
  cancel: boolean;
  confirmed: boolean;
  /** Seconds; 0 means no expiry. */
  lifetime: number;
  /** SubscribeCOVProperty's own increment, replacing the object's for this subscription. */
  covIncrement?: number;
}

export interface Subscription {
  readonly key: string;
  readonly recipient: Recipient;
  readonly processId: number;
  readonly object: { type: number; instance: number };
  readonly property?: { id: number; index?: number };
  confirmed: boolean;
  expiresAt: number | undefined;
  covIncrement?: number;
  /** What the last notification carried. */
  lastValue?: number;
  lastFlags?: string;
  lastSignature?: string;
}

export interface Notification {
  subscription: Subscription;
  /** Seconds left, 0 for an indefinite subscription. */
  timeRemaining: number;
  values: Array<{ property: number; index?: number; value: PropertyValue }>;
}

/** Properties a SubscribeCOVProperty may watch. */
const COV_PROPERTIES = new Set<number>([
  P.PRESENT_VALUE,
  P.STATUS_FLAGS,
  P.RELIABILITY,
  P.EVENT_STATE,
  P.OUT_OF_SERVICE,
  P.PRIORITY_ARRAY,
  P.CURRENT_COMMAND_PRIORITY,
]);

const NO_SPACE: PropertyError = { error: [ErrorClass.RESOURCES, 19] }; // no-space-to-add-list-element
const NO_COV: PropertyError = {
  error: [ErrorClass.OBJECT, ErrorCode.OPTIONAL_FUNCTIONALITY_NOT_SUPPORTED],
};
const NOT_COV_PROPERTY: PropertyError = { error: [ErrorClass.PROPERTY, ErrorCode.NOT_COV_PROPERTY] };

function isAnalog(type: number): boolean {
  return type === ObjectType.ANALOG_INPUT || type === ObjectType.ANALOG_VALUE;
}

function objectKey(object: { type: number; instance: number }): string {
  return `${object.type}:${object.instance}`;
}

function signature(value: PropertyValue): string {
  return JSON.stringify(value);
}

export class CovTable {
  private readonly byKey = new Map<string, Subscription>();
  private readonly byObject = new Map<string, Set<Subscription>>();

  constructor(private readonly maxSubscriptions = 20_000) {}

  get size(): number {
    return this.byKey.size;
  }

  /**
   * Adds, renews or cancels a subscription. Returns the subscription to notify at once (a new or renewed one),
   * undefined for a cancellation, or the error for the service's Error response.
   */
  subscribe(
    request: SubscribeRequest,
    object: BacnetObject | undefined,
    now: number,
  ): Subscription | undefined | PropertyError {
    const key = [
      request.recipient.host,
      request.recipient.port,
      request.recipient.net ?? 0,
      (request.recipient.adr ?? []).join('.'),
      request.processId,
      objectKey(request.object),
      request.property ? `${request.property.id}[${request.property.index ?? ''}]` : '',
    ].join('|');
    if (request.cancel) {
      // Cancelling a subscription that does not exist is not an error (ASHRAE 135 13.14.1.1.4).
      this.remove(key);
      return undefined;
    }
    if (!object) return UNKNOWN_OBJECT;
    if (!object.supportsCov) return NO_COV;
    if (request.property) {
      const probe = object.read(request.property.id, request.property.index);
      if (isPropertyError(probe)) return probe === UNKNOWN_PROPERTY ? UNKNOWN_PROPERTY : probe;
      if (!COV_PROPERTIES.has(request.property.id)) return NOT_COV_PROPERTY;
    }
    const expiresAt = request.lifetime > 0 ? now + request.lifetime * 1000 : undefined;
    const existing = this.byKey.get(key);
    if (existing) {
      existing.confirmed = request.confirmed;
      existing.expiresAt = expiresAt;
      if (request.covIncrement !== undefined) existing.covIncrement = request.covIncrement;
      else delete existing.covIncrement;
      return existing;
    }
    if (this.byKey.size >= this.maxSubscriptions) return NO_SPACE;
    const subscription: Subscription = {
      key,
      recipient: request.recipient,
      processId: request.processId,
      object: { type: request.object.type, instance: request.object.instance },
      confirmed: request.confirmed,
      expiresAt,
      ...(request.property ? { property: request.property } : {}),
      ...(request.covIncrement !== undefined ? { covIncrement: request.covIncrement } : {}),
    };
    this.byKey.set(key, subscription);
    const set = this.byObject.get(objectKey(subscription.object)) ?? new Set();
    set.add(subscription);
    this.byObject.set(objectKey(subscription.object), set);
    return subscription;
  }

  /** Removes expired subscriptions; returns how many. */
  expire(now: number): number {
    let removed = 0;
    for (const subscription of this.byKey.values()) {
      if (subscription.expiresAt !== undefined && subscription.expiresAt <= now) {
        this.remove(subscription.key);
        removed += 1;
      }
    }
    return removed;
  }

  /** Drops every subscription to an object that no longer exists. */
  dropObject(object: { type: number; instance: number }): void {
    for (const subscription of this.byObject.get(objectKey(object)) ?? []) this.remove(subscription.key);
  }

  /** The notification a subscription gets now, and records it as sent. */
  notification(subscription: Subscription, point: Point, now: number): Notification {
    const values: Notification['values'] = [];
    const flags = point.read(P.STATUS_FLAGS) as PropertyValue;
    if (subscription.property) {
      const { id, index } = subscription.property;
      const value = point.read(id, index);
      if (!isPropertyError(value))
        values.push({ property: id, ...(index !== undefined ? { index } : {}), value });
      if (id !== P.STATUS_FLAGS) values.push({ property: P.STATUS_FLAGS, value: flags });
      subscription.lastSignature = isPropertyError(value) ? '' : signature(value);
    } else {
      values.push({ property: P.PRESENT_VALUE, value: point.presentValue() });
      values.push({ property: P.STATUS_FLAGS, value: flags });
    }
    subscription.lastValue = point.value;
    subscription.lastFlags = point.statusFlagBits().join(',');
    return {
      subscription,
      timeRemaining:
        subscription.expiresAt === undefined
          ? 0
          : Math.max(0, Math.ceil((subscription.expiresAt - now) / 1000)),
      values,
    };
  }

  /** The notifications `point`'s latest change calls for (each recorded as sent). */
  changed(point: Point, now: number): Notification[] {
    const subscriptions = this.byObject.get(objectKey(point));
    if (!subscriptions) return [];
    const out: Notification[] = [];
    const flags = point.statusFlagBits().join(',');
    for (const subscription of subscriptions) {
      if (subscription.expiresAt !== undefined && subscription.expiresAt <= now) continue;
      if (this.due(subscription, point, flags)) out.push(this.notification(subscription, point, now));
    }
    return out;
  }

  private due(subscription: Subscription, point: Point, flags: string): boolean {
    if (flags !== subscription.lastFlags) return true;
    const property = subscription.property?.id ?? P.PRESENT_VALUE;
    if (property === P.PRESENT_VALUE && subscription.property?.index === undefined) {
      if (subscription.lastValue === undefined) return true;
      if (!isAnalog(point.type)) return point.value !== subscription.lastValue;
      const increment = subscription.covIncrement ?? point.covIncrement;
      const moved = Math.abs(point.value - subscription.lastValue);
      return increment > 0 ? moved >= increment : moved > 0;
    }
    if (property === P.STATUS_FLAGS) return false;
    const value = point.read(property, subscription.property?.index);
    return !isPropertyError(value) && signature(value) !== subscription.lastSignature;
  }

  views(now: number): CovSubscriptionView[] {
    return [...this.byKey.values()].map((s) => ({
      host: s.recipient.host,
      port: s.recipient.port,
      processId: s.processId,
      object: s.object,
      property: s.property?.id ?? P.PRESENT_VALUE,
      ...(s.property?.index !== undefined ? { index: s.property.index } : {}),
      confirmed: s.confirmed,
      timeRemaining: s.expiresAt === undefined ? 0 : Math.max(0, Math.ceil((s.expiresAt - now) / 1000)),
      ...(s.covIncrement !== undefined ? { covIncrement: s.covIncrement } : {}),
    }));
  }

  private remove(key: string): void {
    const subscription = this.byKey.get(key);
    if (!subscription) return;
    this.byKey.delete(key);
    const set = this.byObject.get(objectKey(subscription.object));
    set?.delete(subscription);
    if (set && set.size === 0) this.byObject.delete(objectKey(subscription.object));
  }
}
