/**
 * An append-only log of operator actions for nodes without a store of their own (the meter reader's
 * rebaselines): one JSON line per action, on disk (fsync) before the action takes effect, so an action is
 * never without its record.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export function appendOperatorLog(path: string, record: Record<string, unknown>): void {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'a');
  try {
    writeSync(fd, `${JSON.stringify(record)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
