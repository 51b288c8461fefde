/**
 * Writes points to the time-series database through a disk queue: every point is on disk before the message
 * that carried it is acknowledged, goes out in batches in the order it came, and waits (with backoff) while
 * the database is down or slow. Restarting loses nothing; a full buffer is an error, never a silent drop.
 */
import { EventEmitter } from 'node:events';
import type { Point } from '../core/history/points';
import type { TimeSeriesTarget } from './influx-target';
import { PointQueue } from './point-queue';

export interface WriterOptions {
  batchSize: number;
  minBackoffMs: number;
  maxBackoffMs: number;
}

export interface WriterStats {
  up: boolean;
  backlog: number;
  written: number;
  failures: number;
  lastError?: string;
}

export class HistoryWriter extends EventEmitter {
  private busy = false;
  private timer: NodeJS.Timeout | undefined;
  private backoff: number;
  private closed = false;
  private ensured = false;
  private readonly counters = { written: 0, failures: 0 };
  private up = true;
  private lastError: string | undefined;

  constructor(
    readonly queue: PointQueue,
    readonly target: TimeSeriesTarget,
    private readonly options: WriterOptions = { batchSize: 5000, minBackoffMs: 500, maxBackoffMs: 30_000 },
  ) {
    super();
    this.backoff = options.minBackoffMs;
    if (queue.size > 0) this.kick();
  }

  stats(): WriterStats {
    const stats: WriterStats = { up: this.up, backlog: this.queue.size, ...this.counters };
    if (this.lastError) stats.lastError = this.lastError;
    return stats;
  }

  /** Puts points on disk (all or none) and starts writing; throws QueueFullError when the buffer is full. */
  enqueue(points: Point[]): void {
    if (points.length === 0) return;
    this.queue.push(points);
    this.kick();
  }

  /** Resolves once everything queued so far is written (or rejects after `timeoutMs`). */
  async drained(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.size > 0) {
      if (Date.now() > deadline)
        throw new Error(`history backlog of ${this.queue.size} points not written in time`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.queue.close();
  }

  private kick(): void {
    if (this.busy || this.timer || this.closed) return;
    this.busy = true;
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    try {
      while (!this.closed) {
        const batch = this.queue.peek(this.options.batchSize);
        if (!batch) break;
        if (!this.ensured) {
          await this.target.ensureDatabase();
          this.ensured = true;
        }
        await this.target.write(batch.points);
        if (this.closed) return;
        this.queue.ack(batch.last, batch.points.length);
        this.counters.written += batch.points.length;
        this.backoff = this.options.minBackoffMs;
        if (!this.up) {
          this.up = true;
          this.emit('state', this.stats());
        }
      }
      this.busy = false;
    } catch (error) {
      this.busy = false;
      if (this.closed) return;
      this.counters.failures += 1;
      this.lastError = (error as Error).message;
      this.ensured = false;
      if (this.up) {
        this.up = false;
        this.emit('state', this.stats());
      }
      const delay = this.backoff;
      this.backoff = Math.min(this.backoff * 2, this.options.maxBackoffMs);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.kick();
      }, delay);
      this.timer.unref?.();
    }
  }
}
