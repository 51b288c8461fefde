/**
 * The clock every node of one Node-RED runtime shares. Normally the wall clock. `settings.prepay.clock`
 * (an object, for tests) replaces it; `settings.prepay.speed` (a number, for demonstrations and the
 * reference site) makes building time run that many times faster from `settings.prepay.origin` (epoch ms
 * or ISO 8601, default: when the runtime started; give it when restarts must continue building time), the
 * same for every node.
 */
import { ScaledClock, SystemClock, type Clock } from '../core/clock';

interface PrepaySettings {
  clock?: Clock;
  speed?: number;
  origin?: number | string;
}

const shared = new WeakMap<object, Clock>();

export function runtimeClock(settings: unknown): Clock {
  const prepay = (settings as { prepay?: PrepaySettings } | undefined)?.prepay;
  if (prepay?.clock) return prepay.clock;
  const speed = Number(prepay?.speed ?? 1);
  if (!prepay || !(speed > 0) || speed === 1) return new SystemClock();
  let clock = shared.get(prepay);
  if (!clock) {
    const origin =
      typeof prepay.origin === 'string' ? Date.parse(prepay.origin) : Number(prepay.origin ?? Date.now());
    const start = Number.isFinite(origin) ? origin : Date.now();
    // Anchored at the origin itself: building time equals the origin when the wall clock did, so a restarted
    // runtime (and any other process given the same origin) continues the same building time.
    clock = new ScaledClock(start, speed, start);
    shared.set(prepay, clock);
  }
  return clock;
}

/**
 * Real-world time for checks against timestamps made outside the building (a payment provider signs with
 * its wall clock): the wall clock even when building time runs faster (`speed`), or the clock that
 * `settings.prepay.clock` injects (tests stand it in for real time).
 */
export function wallClock(settings: unknown): Clock {
  const prepay = (settings as { prepay?: PrepaySettings } | undefined)?.prepay;
  return prepay?.clock ?? new SystemClock();
}
