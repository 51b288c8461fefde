/**
 * A store node's checkpoints: one at start, queued on the log at once so that a verify sent before
 * it is written waits for it (it waits in turn for the store to be ready; it is also when a ledger
 * that has just been given a key switches to sealed entries), then one every few hours on the
 * runtime clock. A checkpoint that cannot be written (database unreachable, file not writable) is
 * tried again within five minutes. An account that fails its check is said loudly: the checkpoint
 * keeps its previous record.
 */
import { Clock, TimerHandle } from '../core/clock';
import { CheckpointReport, writeCheckpoint } from '../core/ledger/integrity';
import { LedgerStore } from '../core/ledger/store';

const RETRY_MS = 5 * 60_000;

export interface CheckpointListener {
  written(report: CheckpointReport): void;
  failed(error: Error): void;
}

export class CheckpointSchedule {
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly store: LedgerStore,
    private readonly clock: Clock,
    private readonly everyMs: number,
    private readonly listener: CheckpointListener,
  ) {}

  start(): void {
    this.running = this.run().finally(() => {
      this.running = undefined;
    });
  }

  /** Stops the schedule; resolves once a checkpoint in progress has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private arm(ms: number): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.running = this.run().finally(() => {
        this.running = undefined;
      });
    }, ms);
  }

  private async run(): Promise<void> {
    try {
      // The store's calls wait for it to connect and migrate (ResilientStore).
      const report = await writeCheckpoint(this.store, this.clock.now());
      this.listener.written(report);
      this.arm(this.everyMs);
    } catch (error) {
      if (this.stopped) return;
      this.listener.failed(error as Error);
      this.arm(Math.min(this.everyMs, RETRY_MS));
    }
  }
}
