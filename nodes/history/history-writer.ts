/**
 * Writes points to the time-series database through a disk queue: every point is on disk before the message
 * that carried it is acknowledged, goes out in batches in the order it came, and waits (with backoff) while
 * the database is down or slow. Restarting loses nothing; a full buffer is an error, never a silent drop.
 *
 * One bad point never blocks the rest: when the database refuses the content of a batch (InfluxDB's 400 for a
 * time it cannot store, a point beyond the retention policy...), the batch is split in halves, and halves of
 * halves, until every refused point stands alone. The others are written, in order; each refused point goes to
 * the dead-letter file with the database's reason and is reported ('dead-letter' event). Bisecting needs no
 * reading of the error text, which does not always name the point (a retention refusal only counts them), and
 * costs about 2 log2(n) extra writes per bad point. A server that is down (5xx, no answer) is still retried
 * with backoff, the batch kept whole.
 */
import { EventEmitter } from 'node:events';
import type { Point } from '../core/history/points';
import { DeadLetter, DeadLetterFile, DeadLetterSink } from './dead-letters';
import { PointsRefusedError, type TimeSeriesTarget } from './influx-target';
import { PointQueue, sourceOf } from './point-queue';

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
  /** Points the database refused, moved to the dead-letter file. */
  deadLettered: number;
  lastError?: string;
}

/** The dead-letter file beside a queue file: `history-x.db` -> `history-x-dead-letters.jsonl`. */
export function deadLetterPathFor(queuePath: string): string {
  return `${queuePath.replace(/\.db$/, '')}-dead-letters.jsonl`;
}

export class HistoryWriter extends EventEmitter {
  private busy = false;
  private timer: NodeJS.Timeout | undefined;
  private backoff: number;
  private closed = false;
  private ensured = false;
  private readonly counters = { written: 0, failures: 0, deadLettered: 0 };
  private up = true;
  private lastError: string | undefined;

  constructor(
    readonly queue: PointQueue,
    readonly target: TimeSeriesTarget,
    private readonly options: WriterOptions = { batchSize: 5000, minBackoffMs: 500, maxBackoffMs: 30_000 },
    readonly deadLetters: DeadLetterSink = new DeadLetterFile(deadLetterPathFor(queue.path)),
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

  /**
   * Puts points on disk (all or none) and starts writing; throws QueueFullError when the buffer is full.
   * `source` (the history node's id) is told when one of them ends as a dead letter.
   */
  enqueue(points: Point[], source?: string): void {
    if (points.length === 0) return;
    this.queue.push(points, source);
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

  /**
   * Writes points[from, to); when the database refuses their content, halves the range until each refused
   * point is alone. Returns the refused points (indexes, in order); throws when the database is unavailable.
   */
  private async writeIsolating(
    points: Point[],
    from: number,
    to: number,
  ): Promise<Array<{ index: number; error: PointsRefusedError }>> {
    try {
      await this.target.write(from === 0 && to === points.length ? points : points.slice(from, to));
      return [];
    } catch (error) {
      if (!(error instanceof PointsRefusedError)) throw error;
      if (to - from === 1) return [{ index: from, error }];
      const middle = from + Math.floor((to - from) / 2);
      const first = await this.writeIsolating(points, from, middle);
      const second = await this.writeIsolating(points, middle, to);
      return first.concat(second);
    }
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
        const refused = await this.writeIsolating(batch.points, 0, batch.points.length);
        if (this.closed) return;
        const letters = refused.map(({ index, error }): DeadLetter => ({
          at: new Date().toISOString(),
          status: error.status,
          error: error.reason,
          point: batch.points[index] as Point,
          ...(sourceOf(batch, index) !== undefined ? { source: sourceOf(batch, index) } : {}),
        }));
        // On disk before the points leave the queue: a failure here keeps them queued (retried like an outage).
        this.deadLetters.append(letters);
        this.queue.ack(batch.last, batch.points.length);
        this.counters.written += batch.points.length - letters.length;
        this.counters.deadLettered += letters.length;
        for (const letter of letters) this.emit('dead-letter', letter);
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
