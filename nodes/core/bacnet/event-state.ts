/**
 * What of intrinsic reporting outlives a restart, in the device's events state file: each event-capable point's
 * Event_State, Acked_Transitions and Event_Time_Stamps (so an acknowledged alarm stays acknowledged and an
 * unacknowledged one is still listed), and the recipients a BEMS added to the notification class.
 */
import { EventState } from './constants';
import type { EventRecord, WallStamp } from './events';
import type { Point } from './points';
import { readAddedRecipients, type AddedRecipient } from './recipients';

/** One point's record: state, acked transitions, when (ms) and the wall-clock stamps, per transition. */
export interface SavedEvent {
  s: number;
  a: [boolean, boolean, boolean];
  t: [number | null, number | null, number | null];
  w: [WallStamp | null, WallStamp | null, WallStamp | null];
}

export interface EventsSnapshot {
  version: 1;
  recipients: AddedRecipient[];
  points: Record<string, SavedEvent>;
}

/** The records worth keeping: points that ever made a transition (the others are normal and acknowledged). */
export function eventsSnapshot(points: Iterable<Point>, recipients: AddedRecipient[]): EventsSnapshot {
  const saved: Record<string, SavedEvent> = {};
  for (const point of points) {
    const record = point.event;
    if (!record || record.times.every((t) => t === undefined)) continue;
    saved[point.name] = {
      s: record.state,
      a: [...record.acked],
      t: record.times.map((t) => t ?? null) as SavedEvent['t'],
      w: record.stamps.map((w) => w ?? null) as SavedEvent['w'],
    };
  }
  return { version: 1, recipients, points: saved };
}

export function readEventsSnapshot(value: unknown): EventsSnapshot {
  const snapshot = value as EventsSnapshot;
  if (snapshot?.version !== 1 || typeof snapshot.points !== 'object' || snapshot.points === null)
    throw new Error('not a BACnet events file');
  return { version: 1, recipients: readAddedRecipients(snapshot.recipients), points: snapshot.points };
}

const STATES: readonly number[] = [EventState.NORMAL, EventState.FAULT, EventState.OFFNORMAL];

function isStamp(w: unknown): w is WallStamp {
  const s = w as WallStamp;
  return (
    typeof s === 'object' &&
    s !== null &&
    [s.year, s.month, s.day, s.weekday, s.hour, s.minute, s.second, s.hundredths].every((n) =>
      Number.isInteger(n),
    )
  );
}

/** The point's record as saved, when the entry is sound; else the point keeps its fresh record. */
export function restoreEvent(point: Point, saved: SavedEvent | undefined): void {
  if (!point.event || !saved) return;
  const triple = (v: unknown): v is unknown[] => Array.isArray(v) && v.length === 3;
  if (
    !STATES.includes(saved.s) ||
    !triple(saved.a) ||
    !saved.a.every((b) => typeof b === 'boolean') ||
    !triple(saved.t) ||
    !saved.t.every((t) => t === null || typeof t === 'number') ||
    !triple(saved.w) ||
    !saved.w.every((w) => w === null || isStamp(w))
  )
    return;
  const record: EventRecord = {
    state: saved.s,
    acked: [...saved.a],
    times: saved.t.map((t) => t ?? undefined) as EventRecord['times'],
    stamps: saved.w.map((w) => w ?? undefined) as EventRecord['stamps'],
  };
  point.event = record;
  point.version += 1;
}
