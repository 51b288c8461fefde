/**
 * Time as a dependency. Everything that asks "what time is it" or waits for a moment (local
 * midnight, a grace period, a poll) takes a Clock, so tests and the simulator can run days of
 * building time in seconds and still exercise the same code.
 */

export type TimerHandle = { readonly id: number };

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `fn` once the clock reaches now() + ms. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The wall clock. Long waits are chained in slices because Node caps a timer at about 24.8 days. */
export class SystemClock implements Clock {
  private nextId = 1;
  private readonly timers = new Map<number, NodeJS.Timeout>();

  now(): number {
    return Date.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = { id: this.nextId++ };
    const due = Date.now() + Math.max(0, ms);
    const arm = (): void => {
      const remaining = due - Date.now();
      const timer = setTimeout(
        () => {
          if (Date.now() < due) return arm();
          this.timers.delete(handle.id);
          fn();
        },
        Math.min(Math.max(remaining, 0), 2_000_000_000),
      );
      this.timers.set(handle.id, timer);
    };
    arm();
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    const timer = this.timers.get(handle.id);
    if (timer) clearTimeout(timer);
    this.timers.delete(handle.id);
  }
}

interface ManualTimer {
  readonly handle: TimerHandle;
  readonly due: number;
  readonly fn: () => void;
}

/** A clock that only moves when told to: `advance` fires every due timer in time order. */
export class ManualClock implements Clock {
  private current: number;
  private nextId = 1;
  private timers: ManualTimer[] = [];

  constructor(start: number | Date) {
    this.current = typeof start === 'number' ? start : start.getTime();
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = { id: this.nextId++ };
    this.timers.push({ handle, due: this.current + Math.max(0, ms), fn });
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((timer) => timer.handle.id !== handle.id);
  }

  /** Moves time forward by `ms`, firing timers (including ones they set) at their due times. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const next = this.timers
        .filter((timer) => timer.due <= target)
        .sort((a, b) => a.due - b.due || a.handle.id - b.handle.id)[0];
      if (!next) break;
      this.timers = this.timers.filter((timer) => timer !== next);
      this.current = Math.max(this.current, next.due);
      next.fn();
    }
    this.current = target;
  }

  pendingTimers(): number {
    return this.timers.length;
  }
}

/**
 * Building time that runs `speed` times faster than the wall clock from `origin`: the simulator and
 * the reference site use it to show a week of billing in minutes.
 */
export class ScaledClock implements Clock {
  private readonly inner = new SystemClock();

  /**
   * Building time is `origin` when the wall clock reads `wallAnchor` (default: now). Two processes given the
   * same origin and anchor agree on building time, and a restarted process carries on where it was.
   */
  constructor(
    private readonly origin: number,
    private readonly speed: number,
    private readonly wallStart: number = Date.now(),
  ) {
    if (!(speed > 0)) throw new RangeError('clock speed must be positive');
  }

  now(): number {
    return this.origin + Math.floor((Date.now() - this.wallStart) * this.speed);
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.inner.setTimeout(fn, ms / this.speed);
  }

  clearTimeout(handle: TimerHandle): void {
    this.inner.clearTimeout(handle);
  }
}
