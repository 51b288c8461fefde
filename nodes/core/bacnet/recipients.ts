/**
 * The Notification Class's Recipient_List as a BEMS changes it (ASHRAE 135 clauses 12.21.8, 15.1, 15.2): the
 * recipients configured on the device node always come first and stay (only the flow removes them); the ones a
 * BEMS writes or adds over BACnet follow them, are kept in the device's state file and come back after a
 * restart. Each change is all or nothing, as AddListElement and RemoveListElement require.
 */
import { ErrorClass, ErrorCode } from './constants';
import type { PropertyError } from './properties';
import { copy, extend } from '../shapes';

/** A BACnetTime of day: every field specified (a recipient's window). */
export interface TimeOfDay {
  hour: number;
  minute: number;
  second: number;
  hundredths: number;
}

/** One recipient of the notification class (a BACnetDestination on the local network). */
export interface Recipient {
  host: string;
  port: number;
  processId: number;
  confirmed: boolean;
  /** Which transitions it hears: to-offnormal, to-fault, to-normal. */
  transitions: [boolean, boolean, boolean];
  /** Valid days, Monday first (BACnetDaysOfWeek); absent: every day. */
  days?: [boolean, boolean, boolean, boolean, boolean, boolean, boolean];
  /** The window of the day it hears in (inclusive, local time); absent: all day. */
  from?: TimeOfDay;
  to?: TimeOfDay;
}

/** A recipient a BEMS added, with who added it and when (ms), for the audit and the state file. */
export interface AddedRecipient extends Recipient {
  by: string;
  at: number;
}

/** A list element a request carried: a recipient, or why it cannot be one. */
export type ListElement = Recipient | PropertyError;

/** How a change went: applied (what it did, for the log), or refused (element 0: the request as a whole). */
export type ListOutcome =
  | { ok: true; added: Recipient[]; removed: Recipient[] }
  | { ok: false; error: PropertyError; element: number };

/** At most this many recipients may be added over BACnet (the configured ones do not count). */
export const MAX_ADDED_RECIPIENTS = 32;

const ALL_DAY_FROM: TimeOfDay = { hour: 0, minute: 0, second: 0, hundredths: 0 };
const ALL_DAY_TO: TimeOfDay = { hour: 23, minute: 59, second: 59, hundredths: 99 };
const EVERY_DAY = [true, true, true, true, true, true, true] as const;

const NO_SPACE_TO_ADD = { error: [ErrorClass.RESOURCES, ErrorCode.NO_SPACE_TO_ADD_LIST_ELEMENT] } as const;
const NO_SPACE_TO_WRITE = { error: [ErrorClass.RESOURCES, ErrorCode.NO_SPACE_TO_WRITE_PROPERTY] } as const;
const NOT_FOUND = { error: [ErrorClass.SERVICES, ErrorCode.LIST_ELEMENT_NOT_FOUND] } as const;
const DENIED = { error: [ErrorClass.PROPERTY, ErrorCode.WRITE_ACCESS_DENIED] } as const;

function hundredthsOf(t: TimeOfDay): number {
  return ((t.hour * 60 + t.minute) * 60 + t.second) * 100 + t.hundredths;
}

/** The recipient's window as it goes on the wire (defaults filled in). */
export function windowOf(r: Recipient): {
  days: readonly boolean[];
  from: TimeOfDay;
  to: TimeOfDay;
} {
  return { days: r.days ?? EVERY_DAY, from: r.from ?? ALL_DAY_FROM, to: r.to ?? ALL_DAY_TO };
}

/** Whole-element equality, as the list services compare elements (every field of the BACnetDestination). */
export function sameRecipient(a: Recipient, b: Recipient): boolean {
  const wa = windowOf(a);
  const wb = windowOf(b);
  return (
    a.host === b.host &&
    a.port === b.port &&
    a.processId === b.processId &&
    a.confirmed === b.confirmed &&
    a.transitions.every((on, i) => on === b.transitions[i]) &&
    wa.days.every((on, i) => on === wb.days[i]) &&
    hundredthsOf(wa.from) === hundredthsOf(wb.from) &&
    hundredthsOf(wa.to) === hundredthsOf(wb.to)
  );
}

/** "127.0.0.1:47808/5 confirmed to-offnormal,to-normal" for logs. */
export function describeRecipient(r: Recipient): string {
  const names = ['to-offnormal', 'to-fault', 'to-normal'].filter((_, i) => r.transitions[i]);
  return `${r.host}:${r.port}/${r.processId} ${r.confirmed ? 'confirmed' : 'unconfirmed'} ${names.join(',') || 'no transitions'}`;
}

function isError(element: ListElement): element is PropertyError {
  return 'error' in element;
}

export class RecipientList {
  private added: AddedRecipient[];
  /** Moves on every change (the notification class's cached encodings follow it). */
  version = 0;

  constructor(
    /** The device node's recipients: always present, first. */
    readonly configured: readonly Recipient[],
    restored: readonly AddedRecipient[] = [],
  ) {
    // A restored recipient the flow now configures is the flow's: kept once.
    this.added = restored
      .filter((r) => !configured.some((c) => sameRecipient(c, r)))
      .slice(0, MAX_ADDED_RECIPIENTS);
  }

  /** The whole Recipient_List: the configured recipients, then those added over BACnet. */
  all(): Recipient[] {
    return [...this.configured, ...this.added];
  }

  /** The recipients added over BACnet, for the state file. */
  saved(): AddedRecipient[] {
    return this.added.map((r) => copy(r));
  }

  /** Those that hear `transition` at local `weekday` (1 Monday .. 7 Sunday) and time of day. */
  hearing(transition: number, weekday: number, time: TimeOfDay): Recipient[] {
    const now = hundredthsOf(time);
    return this.all().filter((r) => {
      if (!r.transitions[transition]) return false;
      const w = windowOf(r);
      return w.days[weekday - 1] === true && hundredthsOf(w.from) <= now && now <= hundredthsOf(w.to);
    });
  }

  /**
   * WriteProperty of the whole list: the BACnet part becomes the written elements that are not configured ones
   * (a configured recipient the list leaves out stays: only the flow removes it).
   */
  write(elements: readonly ListElement[], by: string, at: number): ListOutcome {
    const checked = this.check(elements);
    if (!checked.ok) return checked;
    const next: AddedRecipient[] = [];
    for (const r of checked.recipients) {
      if (this.configured.some((c) => sameRecipient(c, r)) || next.some((n) => sameRecipient(n, r))) continue;
      const kept = this.added.find((a) => sameRecipient(a, r));
      next.push(kept ?? extend(r, { by, at }));
    }
    if (next.length > MAX_ADDED_RECIPIENTS) return { ok: false, error: NO_SPACE_TO_WRITE, element: 0 };
    const added = next.filter((n) => !this.added.some((a) => sameRecipient(a, n)));
    const removed = this.added.filter((a) => !next.some((n) => sameRecipient(a, n)));
    return this.commit(next, added, removed);
  }

  /** AddListElement: elements already listed are left as they are (not an error). */
  add(elements: readonly ListElement[], by: string, at: number): ListOutcome {
    const checked = this.check(elements);
    if (!checked.ok) return checked;
    const next = [...this.added];
    const added: Recipient[] = [];
    for (const [i, r] of checked.recipients.entries()) {
      if (this.all().some((c) => sameRecipient(c, r)) || next.some((n) => sameRecipient(n, r))) continue;
      if (next.length >= MAX_ADDED_RECIPIENTS) return { ok: false, error: NO_SPACE_TO_ADD, element: i + 1 };
      next.push(extend(r, { by, at }));
      added.push(r);
    }
    return this.commit(next, added, []);
  }

  /** RemoveListElement: every element must be listed, and none may be a configured one. */
  remove(elements: readonly ListElement[]): ListOutcome {
    const checked = this.check(elements);
    if (!checked.ok) return checked;
    const removed: Recipient[] = [];
    for (const [i, r] of checked.recipients.entries()) {
      if (this.configured.some((c) => sameRecipient(c, r)))
        return { ok: false, error: DENIED, element: i + 1 };
      const found = this.added.find((a) => sameRecipient(a, r));
      if (!found) return { ok: false, error: NOT_FOUND, element: i + 1 };
      if (!removed.includes(found)) removed.push(found);
    }
    return this.commit(
      this.added.filter((a) => !removed.includes(a)),
      [],
      removed,
    );
  }

  private check(
    elements: readonly ListElement[],
  ): { ok: true; recipients: Recipient[] } | { ok: false; error: PropertyError; element: number } {
    const recipients: Recipient[] = [];
    for (const [i, element] of elements.entries()) {
      if (isError(element)) return { ok: false, error: element, element: i + 1 };
      recipients.push(element);
    }
    return { ok: true, recipients };
  }

  private commit(next: AddedRecipient[], added: Recipient[], removed: Recipient[]): ListOutcome {
    if (added.length > 0 || removed.length > 0 || next.length !== this.added.length) {
      this.added = next;
      this.version += 1;
    }
    return { ok: true, added, removed };
  }
}

/** The recipients of a state file, each checked (a hand-edited or damaged entry is left out). */
export function readAddedRecipients(value: unknown): AddedRecipient[] {
  if (!Array.isArray(value)) return [];
  const out: AddedRecipient[] = [];
  const bools = (v: unknown, n: number): v is boolean[] =>
    Array.isArray(v) && v.length === n && v.every((b) => typeof b === 'boolean');
  const time = (v: unknown): v is TimeOfDay => {
    const t = v as TimeOfDay;
    return (
      typeof t === 'object' &&
      t !== null &&
      [t.hour, t.minute, t.second, t.hundredths].every((n) => Number.isInteger(n)) &&
      t.hour < 24 &&
      t.minute < 60 &&
      t.second < 60 &&
      t.hundredths < 100
    );
  };
  for (const entry of value as Array<Partial<AddedRecipient>>) {
    if (
      typeof entry?.host !== 'string' ||
      !Number.isInteger(entry.port) ||
      !Number.isInteger(entry.processId) ||
      typeof entry.confirmed !== 'boolean' ||
      !bools(entry.transitions, 3) ||
      (entry.days !== undefined && !bools(entry.days, 7)) ||
      (entry.from !== undefined && !time(entry.from)) ||
      (entry.to !== undefined && !time(entry.to))
    )
      continue;
    out.push({
      host: entry.host,
      port: entry.port as number,
      processId: entry.processId as number,
      confirmed: entry.confirmed,
      transitions: entry.transitions as [boolean, boolean, boolean],
      ...(entry.days ? { days: entry.days } : {}),
      ...(entry.from ? { from: entry.from } : {}),
      ...(entry.to ? { to: entry.to } : {}),
      by: typeof entry.by === 'string' ? entry.by : 'bacnet',
      at: typeof entry.at === 'number' ? entry.at : 0,
    });
  }
  return out;
}
