/**
 * The ledger's periodic work on the injectable clock: a snapshot of every account's state every
 * few minutes (so late subscribers and the BEMS catch up), daily debt recovery shortly after
 * local midnight (each account and date posted once, by reference), and the reconciliation of the
 * day before once its last charges and the meter readers' day summaries have arrived.
 */
import { Clock, TimerHandle } from '../core/clock';
import { Ledger } from '../core/ledger/ledger';
import { localDate, nextLocalMidnight } from '../tariff/calendar-scheduler';
import { TimeZone } from '../core/tariff/zone';
import { AccountState } from '../core/messages';

export class LedgerJobs {
  private snapshotTimer: TimerHandle | undefined;
  private dailyTimer: TimerHandle | undefined;
  private reconcileTimer: TimerHandle | undefined;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly ledger: Ledger,
    private readonly zone: TimeZone,
    private readonly snapshotMs: number,
    private readonly emitSnapshot: (states: AccountState[]) => void,
    private readonly onError: (error: Error) => void,
    private readonly reconcileDay?: (date: string) => Promise<unknown>,
  ) {}

  start(): void {
    if (this.snapshotMs > 0) this.armSnapshot();
    this.armDaily();
    if (this.reconcileDay) this.armReconcile();
  }

  stop(): void {
    this.stopped = true;
    if (this.snapshotTimer) this.clock.clearTimeout(this.snapshotTimer);
    if (this.dailyTimer) this.clock.clearTimeout(this.dailyTimer);
    if (this.reconcileTimer) this.clock.clearTimeout(this.reconcileTimer);
  }

  /**
   * Every account's state now, as the periodic snapshot sends it: once at start, so that what listens to states
   * (the cutoff relays, the BEMS, a dashboard) knows every account at once after a restart instead of holding
   * and alarming until the first snapshot. Nothing when snapshots are off.
   */
  snapshotNow(): void {
    if (this.snapshotMs > 0 && !this.stopped) this.ledger.snapshot().then(this.emitSnapshot, this.onError);
  }

  /** Posts today's debt recovery for every account that has debt and a daily rate. */
  async recoverDebts(date = localDate(this.zone, this.clock.now())): Promise<number> {
    let posted = 0;
    for (const account of await this.ledger.listAccounts()) {
      if (account.status !== 'open' || account.debt <= 0n || account.policy.debtRecoveryPerDay <= 0n)
        continue;
      await this.ledger.execute({
        command: 'debt-recovery',
        reference: `debt-day:${account.id}:${date}`,
        accountId: account.id,
        date,
      });
      posted += 1;
    }
    return posted;
  }

  private armSnapshot(): void {
    this.snapshotTimer = this.clock.setTimeout(() => {
      if (this.stopped) return;
      this.ledger.snapshot().then(this.emitSnapshot, this.onError);
      this.armSnapshot();
    }, this.snapshotMs);
  }

  private armDaily(): void {
    const now = this.clock.now();
    // Five minutes after local midnight: standing charges of the day have been raised by then.
    const due = nextLocalMidnight(this.zone, now) + 5 * 60_000;
    this.dailyTimer = this.clock.setTimeout(() => {
      if (this.stopped) return;
      this.recoverDebts().catch(this.onError);
      this.armDaily();
    }, due - now);
  }

  private armReconcile(): void {
    const now = this.clock.now();
    // Half an hour after local midnight: the day's last charges (billed every few minutes) and the meter
    // readers' day summaries (sent at their midnight) are in by then.
    let due = nextLocalMidnight(this.zone, now) + 30 * 60_000;
    if (due - 86_400_000 > now) due -= 86_400_000;
    this.reconcileTimer = this.clock.setTimeout(() => {
      if (this.stopped) return;
      const yesterday = localDate(this.zone, this.clock.now() - 31 * 60_000 - 86_400_000 / 2);
      this.reconcileDay?.(yesterday).catch(this.onError);
      this.armReconcile();
    }, due - now);
  }
}
