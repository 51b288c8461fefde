/**
 * Intrinsic reporting (ASHRAE 135 clause 13.2): the alarm points' event states, their transitions, the
 * acknowledgements they wait for, and the Notification Class object that says who hears of them.
 *
 * Event-capable points and what puts them in alarm:
 * - CreditState (multi-state value, CHANGE_OF_STATE): OFFNORMAL while low, emergency or exhausted;
 * - Alarm (binary value, CHANGE_OF_STATE): OFFNORMAL while active (comm loss, suspect value, relay fault, or
 *   another meter alarm on any of the account's meters);
 * - Register (analog input) and Supply (binary value): FAULT while their Reliability reports one (comm loss,
 *   suspect value, a relay that does not confirm), reported as CHANGE_OF_RELIABILITY.
 * A fault outranks an alarm. Each transition is stamped, waits for an acknowledgement when the notification
 * class requires one (to-offnormal and to-fault by default), and is notified to the class's recipients.
 */
import { EventState, EventType, NotifyType, ObjectType, PropertyId as P, Reliability } from './constants';
import type { Point } from './points';
import { arrayRead, NOT_AN_ARRAY, UNKNOWN_PROPERTY, type PropertyValue, type ReadResult } from './properties';
import type { TimeZone } from '../tariff/zone';
import { RecipientList, windowOf, type AddedRecipient, type Recipient } from './recipients';

export type { Recipient } from './recipients';

/** Transitions in the order of Acked_Transitions, Event_Time_Stamps and Priority: to-offnormal, to-fault, to-normal. */
export const TO_OFFNORMAL = 0;
export const TO_FAULT = 1;
export const TO_NORMAL = 2;

/** Credit states (multi-state values 1..5) that are alarms: low, emergency, exhausted. */
export const CREDIT_ALARM_VALUES: readonly number[] = [2, 3, 4];

/** The one notification class of the device. */
export const NOTIFICATION_CLASS = 1;

export function isEventCapable(point: Point): boolean {
  return (
    point.kind === 'credit-state' ||
    point.kind === 'alarm' ||
    point.kind === 'register' ||
    point.kind === 'supply'
  );
}

/** A BACnetDateTime as the device's local wall clock (a BACnetTimeStamp of the dateTime choice). */
export interface WallStamp {
  year: number;
  month: number;
  day: number;
  weekday: number;
  hour: number;
  minute: number;
  second: number;
  hundredths: number;
}

export interface EventRecord {
  state: number;
  /** Acked_Transitions: true when that transition is acknowledged (or needs no acknowledgement). */
  acked: [boolean, boolean, boolean];
  /** When each transition last happened (ms), and as the wall clock that goes on the wire. */
  times: [number | undefined, number | undefined, number | undefined];
  stamps: [WallStamp | undefined, WallStamp | undefined, WallStamp | undefined];
}

export interface NotificationClassSettings {
  /** Priority per transition (0 highest .. 255). */
  priority: [number, number, number];
  ackRequired: [boolean, boolean, boolean];
  recipients: Recipient[];
}

export const DEFAULT_NOTIFICATION_CLASS: NotificationClassSettings = {
  priority: [100, 80, 200],
  ackRequired: [true, true, false],
  recipients: [],
};

/** An event notification to send: the transition, and what the receiver needs to show it. */
export interface EventNotice {
  point: Point;
  from: number;
  to: number;
  transition: number;
  eventType: number;
  stamp: WallStamp;
  priority: number;
  ackRequired: boolean;
  notificationClass: number;
  /** CHANGE_OF_STATE: the new state (a BACnetPropertyStates choice: [1] binary-value or [11] unsigned-value). */
  newState?: { choice: number; value: number };
  reliability: number;
  statusFlags: number[];
  text: string;
}

/** What AcknowledgeAlarm found. */
export type AckOutcome = 'acknowledged' | 'unknown-object' | 'invalid-time-stamp' | 'not-event-object';

const TRANSITION_TEXT = ['to-offnormal', 'to-fault', 'to-normal'];

export class NotificationClassObject {
  readonly type = ObjectType.NOTIFICATION_CLASS;
  readonly instance = NOTIFICATION_CLASS;
  readonly name: string;
  readonly supportsCov = false;
  encodings: unknown = undefined;
  answerSlot = 0;
  private static readonly REQUIRED = [
    P.OBJECT_IDENTIFIER,
    P.OBJECT_NAME,
    P.OBJECT_TYPE,
    P.NOTIFICATION_CLASS,
    P.PRIORITY,
    P.ACK_REQUIRED,
    P.RECIPIENT_LIST,
    P.PROPERTY_LIST,
  ];
  private static readonly OPTIONAL = [P.DESCRIPTION];

  constructor(
    deviceName: string,
    readonly settings: NotificationClassSettings,
    /** The configured recipients and those a BEMS added (Recipient_List). */
    readonly recipients: RecipientList,
  ) {
    this.name = `${deviceName}.Alarms`;
  }

  /** Moves when the recipient list changes, so cached encodings are made again. */
  get version(): number {
    return 1 + this.recipients.version;
  }

  propertyIds(which: 'all' | 'required' | 'optional'): readonly number[] {
    if (which === 'required') return NotificationClassObject.REQUIRED;
    if (which === 'optional') return NotificationClassObject.OPTIONAL;
    return [...NotificationClassObject.REQUIRED, ...NotificationClassObject.OPTIONAL];
  }

  isVolatile(): boolean {
    return false;
  }

  read(property: number, index?: number): ReadResult {
    switch (property) {
      case P.PRIORITY:
        return arrayRead(
          this.settings.priority.map((v) => ({ t: 'unsigned', v })),
          index,
        );
      case P.PROPERTY_LIST:
        return arrayRead(
          [P.NOTIFICATION_CLASS, P.PRIORITY, P.ACK_REQUIRED, P.RECIPIENT_LIST, P.DESCRIPTION].map((v) => ({
            t: 'enum',
            v,
          })),
          index,
        );
    }
    if (index !== undefined)
      return this.propertyIds('all').includes(property) ? NOT_AN_ARRAY : UNKNOWN_PROPERTY;
    switch (property) {
      case P.OBJECT_IDENTIFIER:
        return { t: 'oid', type: this.type, instance: this.instance };
      case P.OBJECT_NAME:
        return { t: 'string', v: this.name };
      case P.OBJECT_TYPE:
        return { t: 'enum', v: this.type };
      case P.DESCRIPTION:
        return { t: 'string', v: 'Credit, comm loss, suspect value and relay alarms' };
      case P.NOTIFICATION_CLASS:
        return { t: 'unsigned', v: this.instance };
      case P.ACK_REQUIRED:
        return { t: 'bits', length: 3, set: bitsOf(this.settings.ackRequired) };
      case P.RECIPIENT_LIST:
        return {
          t: 'list',
          items: this.recipients.all().map((r) => {
            const window = windowOf(r);
            return {
              t: 'destination',
              host: r.host,
              port: r.port,
              processId: r.processId,
              confirmed: r.confirmed,
              transitions: bitsOf(r.transitions),
              days: bitsOf(window.days),
              from: window.from,
              to: window.to,
            };
          }),
        };
    }
    return UNKNOWN_PROPERTY;
  }
}

function bitsOf(flags: readonly boolean[]): number[] {
  return flags.flatMap((on, i) => (on ? [i] : []));
}

/** The event-reporting properties of an event-capable point (read by Point.read). */
export function readEventProperty(point: Point, property: number, index?: number): ReadResult | undefined {
  const record = point.event;
  if (!record) return undefined;
  if (property === P.EVENT_TIME_STAMPS)
    return arrayRead(
      record.stamps.map((stamp) => ({ t: 'timestamp', stamp }) as PropertyValue),
      index,
    );
  if (property === P.ALARM_VALUES && point.kind === 'credit-state')
    return { t: 'list', items: CREDIT_ALARM_VALUES.map((v) => ({ t: 'unsigned', v })) };
  switch (property) {
    case P.ACKED_TRANSITIONS:
      return { t: 'bits', length: 3, set: bitsOf(record.acked) };
    case P.EVENT_ENABLE:
      return { t: 'bits', length: 3, set: [0, 1, 2] };
    case P.NOTIFY_TYPE:
      return { t: 'enum', v: NotifyType.ALARM };
    case P.NOTIFICATION_CLASS:
      return { t: 'unsigned', v: NOTIFICATION_CLASS };
    case P.TIME_DELAY:
      return { t: 'unsigned', v: 0 };
    case P.EVENT_DETECTION_ENABLE:
      return { t: 'bool', v: true };
    case P.ALARM_VALUE:
      return { t: 'enum', v: 1 };
    case P.HIGH_LIMIT:
    case P.LOW_LIMIT:
    case P.DEADBAND:
      return { t: 'real', v: 0 };
    case P.LIMIT_ENABLE:
      // Registers report faults only: neither limit is enabled.
      return { t: 'bits', length: 2, set: [] };
  }
  return undefined;
}

/** The properties an event-capable point of this kind adds (optional ones of its object type). */
export function eventPropertyIds(kind: Point['kind']): number[] {
  const common = [
    P.TIME_DELAY,
    P.NOTIFICATION_CLASS,
    P.EVENT_ENABLE,
    P.ACKED_TRANSITIONS,
    P.NOTIFY_TYPE,
    P.EVENT_TIME_STAMPS,
    P.EVENT_DETECTION_ENABLE,
  ];
  switch (kind) {
    case 'credit-state':
      return [...common, P.ALARM_VALUES];
    case 'alarm':
    case 'supply':
      return kind === 'alarm' ? [...common, P.ALARM_VALUE] : common;
    case 'register':
      return [...common, P.HIGH_LIMIT, P.LOW_LIMIT, P.DEADBAND, P.LIMIT_ENABLE];
    default:
      return [];
  }
}

/** Evaluates event-capable points and keeps their records; acknowledgements and summaries. */
export class EventReporter {
  readonly nc: NotificationClassObject;

  readonly recipients: RecipientList;

  constructor(
    deviceName: string,
    settings: NotificationClassSettings,
    private readonly zone: TimeZone,
    added: readonly AddedRecipient[] = [],
  ) {
    this.recipients = new RecipientList(settings.recipients, added);
    this.nc = new NotificationClassObject(deviceName, settings, this.recipients);
  }

  /** The recipients that hear `transition` at `now` (their valid days and times, in the device's zone). */
  recipientsFor(transition: number, now: number): Recipient[] {
    const stamp = this.stamp(now);
    return this.recipients.hearing(transition, stamp.weekday, stamp);
  }

  /** The state a point's values call for now. */
  static target(point: Point): number {
    if (point.reliability !== Reliability.NO_FAULT_DETECTED) return EventState.FAULT;
    if (point.kind === 'credit-state' && CREDIT_ALARM_VALUES.includes(point.value))
      return EventState.OFFNORMAL;
    if (point.kind === 'alarm' && point.value === 1) return EventState.OFFNORMAL;
    return EventState.NORMAL;
  }

  /** A point joins (created or restored): normal and fully acknowledged until evaluated. */
  attach(point: Point): void {
    if (!isEventCapable(point) || point.event) return;
    point.event = {
      state: EventState.NORMAL,
      acked: [true, true, true],
      times: [undefined, undefined, undefined],
      stamps: [undefined, undefined, undefined],
    };
  }

  /** The transition a point's current values make, if any: recorded, and returned to be notified. */
  evaluate(point: Point, now: number): EventNotice | undefined {
    this.attach(point);
    const record = point.event;
    if (!record) return undefined;
    const to = EventReporter.target(point);
    if (to === record.state) return undefined;
    const from = record.state;
    const transition =
      to === EventState.FAULT ? TO_FAULT : to === EventState.NORMAL ? TO_NORMAL : TO_OFFNORMAL;
    const settings = this.nc.settings;
    record.state = to;
    record.acked[transition] = !settings.ackRequired[transition];
    record.times[transition] = now;
    const stamp = this.stamp(now);
    record.stamps[transition] = stamp;
    point.version += 1;
    const fault = to === EventState.FAULT || from === EventState.FAULT;
    const eventType = fault ? EventType.CHANGE_OF_RELIABILITY : EventType.CHANGE_OF_STATE;
    return {
      point,
      from,
      to,
      transition,
      eventType,
      stamp,
      priority: settings.priority[transition],
      ackRequired: settings.ackRequired[transition],
      notificationClass: NOTIFICATION_CLASS,
      ...(fault
        ? {}
        : {
            newState:
              point.type === ObjectType.MULTI_STATE_VALUE
                ? { choice: 11, value: point.value }
                : { choice: 1, value: point.value },
          }),
      reliability: point.reliability,
      statusFlags: point.statusFlagBits(),
      text: `${point.name} ${TRANSITION_TEXT[transition]}: ${point.description}`,
    };
  }

  /**
   * AcknowledgeAlarm: the transition to `acknowledgedState` of the point, if `stamp` is when it happened.
   * Returns the outcome and, when acknowledged, the point (its Acked_Transitions changed).
   */
  acknowledge(point: Point | undefined, acknowledgedState: number, stamp: StampKey): AckOutcome {
    if (!point) return 'unknown-object';
    const record = point.event;
    if (!record) return 'not-event-object';
    const transition =
      acknowledgedState === EventState.NORMAL
        ? TO_NORMAL
        : acknowledgedState === EventState.FAULT
          ? TO_FAULT
          : TO_OFFNORMAL;
    const recorded = record.stamps[transition];
    if (!recorded || !sameStamp(recorded, stamp)) return 'invalid-time-stamp';
    if (!record.acked[transition]) {
      record.acked[transition] = true;
      point.version += 1;
    }
    return 'acknowledged';
  }

  private stamp(ms: number): WallStamp {
    const parts = this.zone.wallParts(ms);
    const within = ((ms % 60_000) + 60_000) % 60_000;
    return {
      year: parts.year,
      month: parts.month,
      day: parts.day,
      weekday: parts.weekday === 0 ? 7 : parts.weekday,
      hour: Math.floor(parts.minuteOfDay / 60),
      minute: parts.minuteOfDay % 60,
      second: Math.floor(within / 1000),
      hundredths: Math.floor((within % 1000) / 10),
    };
  }
}

/** A BACnetTimeStamp as an acknowledgement carries it: a date and time (fields 255 = any), or a sequence number. */
export type StampKey =
  | { kind: 'datetime'; stamp: WallStamp }
  | { kind: 'time'; hour: number; minute: number; second: number; hundredths: number }
  | { kind: 'sequence'; n: number };

/** True when the acknowledged time stamp names the recorded one (unspecified fields match anything). */
function sameStamp(recorded: WallStamp, key: StampKey): boolean {
  const eq = (a: number, b: number): boolean => b === 255 || a === b;
  if (key.kind === 'sequence') return false;
  const t = key.kind === 'time' ? key : key.stamp;
  const time =
    eq(recorded.hour, t.hour) &&
    eq(recorded.minute, t.minute) &&
    eq(recorded.second, t.second) &&
    eq(recorded.hundredths, t.hundredths);
  if (key.kind === 'time') return time;
  const d = key.stamp;
  return (
    time &&
    eq(recorded.year, d.year === 255 ? 255 : d.year) &&
    eq(recorded.month, d.month) &&
    eq(recorded.day, d.day)
  );
}
