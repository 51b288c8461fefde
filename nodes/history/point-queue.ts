/**
 * A bounded first-in first-out queue of points on disk (SQLite, WAL): what waits for InfluxDB survives a
 * restart and a crash, and is written in the order it came. Full is an error for the caller, never a drop.
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

export class PointQueue {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly take: Database.Statement;
  private readonly remove: Database.Statement;
  private count: number;

  constructor(
    path: string,
    readonly capacity: number,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a committed point survives a process crash; only a power cut may lose the last ones.
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS points (seq INTEGER PRIMARY KEY AUTOINCREMENT, point TEXT NOT NULL)',
    );
    this.insert = this.db.prepare('INSERT INTO points (point) VALUES (?)');
    this.take = this.db.prepare('SELECT seq, point FROM points ORDER BY seq LIMIT ?');
    this.remove = this.db.prepare('DELETE FROM points WHERE seq <= ?');
    this.count = (this.db.prepare('SELECT COUNT(*) AS n FROM points').get() as { n: number }).n;
  }

  get size(): number {
    return this.count;
  }

  /** Appends all the points or none (one transaction); throws QueueFullError when they do not fit. */
  push(points: Point[]): void {
    if (this.count + points.length > this.capacity)
      throw new QueueFullError(
        `history buffer full (${this.count} of ${this.capacity} points waiting): ${points.length} point(s) refused`,
      );
    this.db.transaction(() => {
      for (const point of points) this.insert.run(JSON.stringify(point));
    })();
    this.count += points.length;
  }

  /** The oldest points, up to `limit`, with the sequence number to acknowledge them by. */
  peek(limit: number): { points: Point[]; last: number } | undefined {
    const rows = this.take.all(limit) as Array<{ seq: number; point: string }>;
    if (rows.length === 0) return undefined;
    return { points: rows.map((row) => JSON.parse(row.point) as Point), last: rows[rows.length - 1]!.seq };
  }

  /** Removes everything up to and including `last` (they were written). */
  ack(last: number, howMany: number): void {
    this.remove.run(last);
    this.count = Math.max(0, this.count - howMany);
  }

  close(): void {
    this.db.close();
  }
}
