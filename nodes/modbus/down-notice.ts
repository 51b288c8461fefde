/**
 * What a link that cannot connect says in the log: a gateway that is off for an hour fails a reconnect
 * attempt every 30 s, and a warning per attempt buries everything else. The first failure is said at once,
 * then one reminder per period with the attempts counted since, and the reconnection once it comes.
 */
export class DownNotice {
  /** When the link went down (undefined: it is up). */
  private since: number | undefined;
  private attempts = 0;
  private lastSaid = 0;
  private attemptsSaid = 0;

  constructor(
    private readonly everyMs = 600_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The link dropped or an attempt to connect failed: the warning to give, or undefined to stay quiet. */
  down(name: string, reason: string): string | undefined {
    const now = this.now();
    this.attempts += 1;
    if (this.since === undefined) {
      this.since = now;
      this.lastSaid = now;
      this.attemptsSaid = this.attempts;
      return `link ${name} down: ${reason} (reconnecting in the background; said again every ${minutes(this.everyMs)} while it stays down)`;
    }
    if (now - this.lastSaid < this.everyMs) return undefined;
    const failed = this.attempts - this.attemptsSaid;
    this.lastSaid = now;
    this.attemptsSaid = this.attempts;
    return `link ${name} still down after ${minutes(now - this.since)}: ${reason} (${failed} more failed attempt${failed === 1 ? '' : 's'} since last said)`;
  }

  /** The link connected: what to log (after an outage, how long it lasted). */
  up(name: string): string {
    if (this.since === undefined) return `link ${name} connected`;
    const text = `link ${name} connected again after ${minutes(this.now() - this.since)} (${this.attempts} failed attempt${this.attempts === 1 ? '' : 's'})`;
    this.since = undefined;
    this.attempts = 0;
    this.attemptsSaid = 0;
    return text;
  }
}

function minutes(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  return `${Math.round(ms / 60_000)} min`;
}
