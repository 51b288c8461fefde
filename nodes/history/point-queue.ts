/**
 * A bounded first-in first-out queue of points on disk (SQLite, WAL): what waits for InfluxDB survives a
 * restart and a crash, and is written in the order it came. Full is an error for the caller, never a drop.
 * One row holds the points of one message (one insert per message); the rows written by this process are also
 * kept in memory, so the writer does not read back and parse what it has just stored.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Point } from '../core/history/points';

export class QueueFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueFullError';
  }
}

interface Row {
  seq: number;
  points: Point[];
  /** Who queued them (a history node's id), known for rows this process queued. */
  source?: string;
}

/** The oldest points waiting, the sequence number that acknowledges them, and who queued them. */
export interface QueuedBatch {
  points: Point[];
  /**
   * Who queued the points, per message this process queued: the index after the message's last point and its
   * source (none for a batch of an earlier run's messages, read from disk). Kept per message, not per point: it
   * is only read for a refused point.
   */
  sources: Array<{ until: number; source?: string }>;
  last: number;
}

/** Who queued point `index` of a batch, when this process did. */
export function sourceOf(batch: QueuedBatch, index: number): string | undefined {
  return batch.sources.find((range) => index < range.until)?.source;
}

export class PointQueue {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly takeFromDisk: Database.Statement;
  private readonly remove: Database.Statement;
  private count: number;
  /** Rows left from an earlier run end here; they are read from disk. */
  private readonly diskUntil: number;
  private acked = 0;
  private readonly memory: Row[] = [];

  constructor(
    readonly path: string,
    readonly capacity: number,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a committed message survives a process crash; only a power cut may lose the last ones.
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS batches (seq INTEGER PRIMARY KEY AUTOINCREMENT, size INTEGER NOT NULL, points TEXT NOT NULL)',
    );
    this.insert = this.db.prepare('INSERT INTO batches (size, points) VALUES (?, ?)');
    this.takeFromDisk = this.db.prepare(
      'SELECT seq, points FROM batches WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?',
    );
    this.remove = this.db.prepare('DELETE FROM batches WHERE seq <= ?');
    const stats = this.db
      .prepare('SELECT COALESCE(SUM(size), 0) AS n, COALESCE(MAX(seq), 0) AS last FROM batches')
      .get() as {
      n: number;
      last: number;
    };
    this.count = stats.n;
    this.diskUntil = stats.last;
  }

  get size(): number {
    return this.count;
  }

  /** Appends the points of one message (one transaction); throws QueueFullError when they do not fit. */
  push(points: Point[], source?: string): void {
    if (this.count + points.length > this.capacity)
      throw new QueueFullError(
        `history buffer full (${this.count} of ${this.capacity} points waiting): ${points.length} point(s) refused`,
      );
    const seq = Number(this.insert.run(points.length, JSON.stringify(points)).lastInsertRowid);
    this.memory.push({ seq, points, source });
    this.count += points.length;
  }

  /** The oldest points, about `limit` of them (whole messages), with the sequence number to acknowledge them by. */
  peek(limit: number): QueuedBatch | undefined {
    const points: Point[] = [];
    const sources: QueuedBatch['sources'] = [];
    let last = this.acked;
    if (last < this.diskUntil) {
      const rows = this.takeFromDisk.all(last, this.diskUntil, Math.max(1, limit)) as Array<{
        seq: number;
        points: string;
      }>;
      for (const row of rows) {
        if (points.length >= limit) break;
        points.push(...(JSON.parse(row.points) as Point[]));
        last = row.seq;
      }
      // An earlier run's rows that were all acknowledged (deleted) leave nothing to read: move on.
      if (rows.length === 0) this.acked = this.diskUntil;
      else return { points, sources, last };
    }
    for (const row of this.memory) {
      if (points.length >= limit) break;
      points.push(...row.points);
      sources.push({ until: points.length, source: row.source });
      last = row.seq;
    }
    return points.length > 0 ? { points, sources, last } : undefined;
  }

  /** Removes everything up to and including `last` (it was written). */
  ack(last: number, howMany: number): void {
    this.remove.run(last);
    this.acked = Math.max(this.acked, last);
    while (this.memory.length > 0 && this.memory[0]!.seq <= last) this.memory.shift();
    this.count = Math.max(0, this.count - howMany);
  }

  close(): void {
    this.db.close();
  }
}
