/**
 * Override points' priority slots over time. Each write into a slot also records when it is relinquished
 * again (the cutoff relay refuses an override without an expiry, so a BACnet write must have one too), and what
 * the slot in control asks of the cutoff relay becomes one override command per meter.
 */
import type { Utility } from '../messages';
import type { OverrideCommand } from './model-types';
import { OVERRIDE_AUTO, OVERRIDE_FORCE_ON, OVERRIDE_STATE_TEXTS, type Point } from './points';

export class OverrideSlots {
  /** Per point name, when each of its 16 slots is relinquished (null: empty slot). */
  private readonly expiries = new Map<string, Array<number | null>>();

  constructor(private readonly minutes: number) {}

  /** The point's slots after `value` (null: relinquish) is written at `priority` (1..16) at `now`. */
  write(point: Point, priority: number, value: number | null, now: number): Array<number | null> {
    const slots = [...(point.priority as Array<number | null>)];
    slots[priority - 1] = value;
    this.of(point.name)[priority - 1] = value === null ? null : now + this.minutes * 60_000;
    return slots;
  }

  /** Points with a slot whose time is up, and their slots with those relinquished. */
  expire(
    now: number,
    lookup: (name: string) => Point | undefined,
  ): Array<{ point: Point; slots: Array<number | null> }> {
    const out: Array<{ point: Point; slots: Array<number | null> }> = [];
    for (const [name, expiries] of this.expiries) {
      const point = lookup(name);
      if (!point?.priority) continue;
      const slots = [...point.priority];
      let expired = false;
      expiries.forEach((at, i) => {
        if (at !== null && at <= now) {
          slots[i] = null;
          expiries[i] = null;
          expired = true;
        }
      });
      if (expired) out.push({ point, slots });
    }
    return out;
  }

  /** The earliest moment a slot is relinquished, if any. */
  next(): number | undefined {
    let next: number | undefined;
    for (const expiries of this.expiries.values())
      for (const at of expiries) if (at !== null && (next === undefined || at < next)) next = at;
    return next;
  }

  /** The overrides the point's slot in control asks for, one per meter of its account and utility. */
  commands(point: Point, meterIds: readonly string[], by: string, now: number): OverrideCommand[] {
    const accountId = point.accountId as string;
    const utility = point.utility as Utility;
    const slot = point.currentPriority();
    const until = slot === undefined ? undefined : (this.of(point.name)[slot - 1] ?? undefined);
    return meterIds.map((meterId) =>
      point.value === OVERRIDE_AUTO || until === undefined || until <= now
        ? { meterId, accountId, utility, action: 'clear' as const, by }
        : {
            meterId,
            accountId,
            utility,
            action: point.value === OVERRIDE_FORCE_ON ? ('connect' as const) : ('disconnect' as const),
            reason: `BACnet override ${OVERRIDE_STATE_TEXTS[point.value - 1]} at priority ${slot} by ${by}`,
            until,
            by,
          },
    );
  }

  forget(name: string): void {
    this.expiries.delete(name);
  }

  /** For the values snapshot. */
  saved(name: string): Array<number | null> {
    return this.of(name);
  }

  restore(name: string, expiries: Array<number | null>): void {
    this.expiries.set(name, expiries.slice(0, 16));
  }

  private of(name: string): Array<number | null> {
    let expiries = this.expiries.get(name);
    if (!expiries) {
      expiries = new Array<number | null>(16).fill(null);
      this.expiries.set(name, expiries);
    }
    return expiries;
  }
}
