/**
 * A share of the process's time for durable state writes (write, fsync, rename), shared by every node that
 * uses the same budget. A meter reader must have a meter's new baseline on disk before it sends the
 * consumption computed from it; writing once per batch costs a couple of milliseconds, which is nothing for
 * one node and most of the event loop when the 40 meter readers of an 8,000-meter site all cross a billing
 * boundary at once. With the budget each write is followed by a pause nine times its length (for a tenth),
 * across all the nodes, and consumption produced meanwhile waits and goes with the next write: a lone node
 * writes as often as it batches, many nodes write in bigger groups, and a slow disk spaces writes further.
 */
export class WriteBudget {
  private nextAllowed = 0;

  constructor(
    /** The share of time writes may take (0-1). */
    private readonly share: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** How long (ms) before the next write may start; 0 when it may start now. */
  waitMs(): number {
    return Math.max(0, this.nextAllowed - this.now());
  }

  /** Runs `write` and charges its duration to the budget. */
  spend<T>(write: () => T): T {
    const start = this.now();
    try {
      return write();
    } finally {
      const end = this.now();
      this.nextAllowed = Math.max(this.nextAllowed, end) + (end - start) * (1 / this.share - 1);
    }
  }
}

/** The meter readers' state writes: at most a tenth of the process's time. */
export const meterStateWrites = new WriteBudget(0.1);
