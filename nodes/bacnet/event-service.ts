/**
 * The alarm and event services on the wire (ASHRAE 135 clause 13): Confirmed- and UnconfirmedEventNotification
 * (13.8, 13.9) with their ack-notifications, AcknowledgeAlarm (13.5), GetEventInformation (13.12) and
 * GetAlarmSummary (13.10). The states, stamps and acknowledgements themselves are the core's
 * (core/bacnet/events.ts); this file only encodes and decodes.
 */
import { EventState, EventType, NotifyType, ObjectType } from '../core/bacnet/constants';
import type { EventNotice, StampKey, WallStamp } from '../core/bacnet/events';
import type { Point } from '../core/bacnet/points';
import { Reader, type Writer } from './codec';

/** The service data of an EventNotification for one recipient process. */
export function writeEventNotification(
  w: Writer,
  notice: EventNotice,
  processId: number,
  deviceInstance: number,
): void {
  writeHead(
    w,
    notice.point,
    notice.stamp,
    notice.notificationClass,
    notice.priority,
    notice.eventType,
    processId,
    deviceInstance,
  );
  w.ctxString(7, notice.text);
  w.ctxEnum(8, NotifyType.ALARM);
  w.ctxBool(9, notice.ackRequired);
  w.ctxEnum(10, notice.from);
  w.ctxEnum(11, notice.to);
  w.opening(12);
  if (notice.eventType === EventType.CHANGE_OF_RELIABILITY) {
    w.opening(EventType.CHANGE_OF_RELIABILITY);
    w.ctxEnum(0, notice.reliability);
    w.ctxBits(1, 4, notice.statusFlags);
    w.opening(2); // property values: none beyond the reliability and flags
    w.closing(2);
    w.closing(EventType.CHANGE_OF_RELIABILITY);
  } else {
    w.opening(EventType.CHANGE_OF_STATE);
    w.opening(0);
    const state = notice.newState ?? { choice: 1, value: notice.point.value };
    if (state.choice === 1) w.ctxEnum(1, state.value);
    else w.ctxUnsigned(state.choice, state.value);
    w.closing(0);
    w.ctxBits(1, 4, notice.statusFlags);
    w.closing(EventType.CHANGE_OF_STATE);
  }
  w.closing(12);
}

/** An ack-notification: the transition to `toState` of `point` was acknowledged. */
export function writeAckNotification(
  w: Writer,
  point: Point,
  toState: number,
  stamp: WallStamp,
  priority: number,
  notificationClass: number,
  processId: number,
  deviceInstance: number,
): void {
  const eventType =
    toState === EventState.FAULT ? EventType.CHANGE_OF_RELIABILITY : EventType.CHANGE_OF_STATE;
  writeHead(w, point, stamp, notificationClass, priority, eventType, processId, deviceInstance);
  w.ctxEnum(8, NotifyType.ACK_NOTIFICATION);
  w.ctxEnum(11, toState);
}

function writeHead(
  w: Writer,
  point: Point,
  stamp: WallStamp,
  notificationClass: number,
  priority: number,
  eventType: number,
  processId: number,
  deviceInstance: number,
): void {
  w.ctxUnsigned(0, processId);
  w.ctxOid(1, ObjectType.DEVICE, deviceInstance);
  w.ctxOid(2, point.type, point.instance);
  w.opening(3);
  w.timeStamp(stamp);
  w.closing(3);
  w.ctxUnsigned(4, notificationClass);
  w.ctxUnsigned(5, priority);
  w.ctxEnum(6, eventType);
}

export interface AcknowledgeAlarmRequest {
  processId: number;
  object: { type: number; instance: number };
  state: number;
  stamp: StampKey;
}

/** Decodes AcknowledgeAlarm-Request; throws DecodeError (a reject) when malformed. */
export function decodeAcknowledgeAlarm(buf: Buffer, start: number, end: number): AcknowledgeAlarmRequest {
  const r = new Reader(buf, start, end);
  const processId = r.contextUnsigned(0);
  const object = r.contextOid(1);
  const state = r.contextUnsigned(2);
  const stamp = r.timeStamp(3);
  r.skipContext(4); // acknowledgment source
  r.timeStamp(5); // time of acknowledgment
  return { processId, object, state, stamp };
}

/** GetEventInformation's optional last-received object identifier. */
export function decodeGetEventInformation(
  buf: Buffer,
  start: number,
  end: number,
): { type: number; instance: number } | undefined {
  if (start >= end) return undefined;
  return new Reader(buf, start, end).contextOid(0);
}

/** Points whose event state is not normal or that wait for an acknowledgement (GetEventInformation). */
export function needsAttention(point: Point): boolean {
  const record = point.event;
  return !!record && (record.state !== EventState.NORMAL || record.acked.includes(false));
}

/**
 * GetEventInformation-ACK for `points` (in object-list order) after `after`, as many as fit in `budget` octets;
 * more-events says whether any were left out.
 */
export function writeEventInformation(
  w: Writer,
  points: readonly Point[],
  priority: readonly number[],
  budget: number,
): void {
  const start = w.pos;
  let more = false;
  w.opening(0);
  for (const point of points) {
    const record = point.event;
    if (!record) continue;
    // One summary is at most about 70 octets; leave room for it and the closing octets.
    if (w.pos - start > budget - 80) {
      more = true;
      break;
    }
    w.ctxOid(0, point.type, point.instance);
    w.ctxEnum(1, record.state);
    w.ctxBits(
      2,
      3,
      record.acked.flatMap((on, i) => (on ? [i] : [])),
    );
    w.opening(3);
    for (const stamp of record.stamps) w.timeStamp(stamp);
    w.closing(3);
    w.ctxEnum(4, NotifyType.ALARM);
    w.ctxBits(5, 3, [0, 1, 2]);
    w.opening(6);
    for (const p of priority) w.appUnsigned(p);
    w.closing(6);
  }
  w.closing(0);
  w.ctxBool(1, more);
}

/** GetAlarmSummary-ACK: every object in alarm (event state not normal, notify type alarm). */
export function writeAlarmSummary(w: Writer, points: readonly Point[]): void {
  for (const point of points) {
    const record = point.event;
    if (!record || record.state === EventState.NORMAL) continue;
    w.appOid(point.type, point.instance);
    w.appEnum(record.state);
    w.appBits(
      3,
      record.acked.flatMap((on, i) => (on ? [i] : [])),
    );
  }
}
