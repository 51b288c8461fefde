/**
 * The dead-letter file of a history server: points the database refused for their content (a time it cannot
 * store, a point beyond the retention policy, a field type conflict), one JSON object per line with the
 * database's reason, so they are kept for a person to look at while the points after them flow on. A line is on
 * disk (fsync) before the point leaves the disk queue.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Point } from '../core/history/points';

export interface DeadLetter {
  /** When the database refused it (ISO 8601, wall clock). */
  at: string;
  /** The HTTP status and the database's own words. */
  status: number;
  error: string;
  point: Point;
  /** The id of the history node that queued it, when this process queued it. */
  source?: string;
}

export interface DeadLetterSink {
  readonly path: string;
  /** Appends the letters durably; throws when they could not be written (the points then stay queued). */
  append(letters: DeadLetter[]): void;
}

export class DeadLetterFile implements DeadLetterSink {
  constructor(readonly path: string) {}

  append(letters: DeadLetter[]): void {
    if (letters.length === 0) return;
    mkdirSync(dirname(this.path), { recursive: true });
    const fd = openSync(this.path, 'a');
    try {
      writeSync(fd, letters.map((letter) => `${JSON.stringify(letter)}\n`).join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** "consumption accountId=T1 meterId=E-T1 at 2026-11-02T01:00:00.000Z": enough to find the point. */
export function describePoint(point: Point): string {
  const tags = Object.entries(point.tags)
    .map(([key, value]) => `${key}=${value}`)
    .join(' ');
  const date = new Date(point.timestamp);
  const at = Number.isFinite(date.getTime()) ? date.toISOString() : String(point.timestamp);
  return `${point.measurement}${tags ? ` ${tags}` : ''} at ${at}`;
}

/** What a person reads in the log and a Catch node: the point, the database's reason, where it went. */
export function deadLetterText(letter: DeadLetter, path: string): string {
  return (
    `InfluxDB refused a point (${letter.status}: ${letter.error}): ${describePoint(letter.point)}, ` +
    `fields ${JSON.stringify(letter.point.fields)}; kept in ${path}, the other points were written`
  );
}
