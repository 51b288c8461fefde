/**
 * Warnings about refused deliveries, at most one a minute. Refusals are normal traffic on a public endpoint
 * (scanners, forgeries, a provider with a wrong secret): each one is answered and counted, but a flood of
 * them must not bury the log, so the next warning says how many more there were.
 */
export class RefusalLog {
  private lastWarnAt = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(
    private readonly warn: (text: string) => void,
    private readonly intervalMs = 60_000,
  ) {}

  refused(text: string, nowMs: number): void {
    if (nowMs - this.lastWarnAt < this.intervalMs) {
      this.suppressed += 1;
      return;
    }
    const more = this.suppressed > 0 ? ` (and ${this.suppressed} more refused since the last warning)` : '';
    this.suppressed = 0;
    this.lastWarnAt = nowMs;
    this.warn(`${text}${more}`);
  }
}
