/**
 * A JSON document kept on disk for a node (tariff block positions, rounding residues...). Writes
 * are debounced, atomic (temporary file, fsync, rename) and keep the previous good copy as `.bak`,
 * so a crash mid-write leaves either the old or the new state, never half of one.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

export interface LoadResult<T> {
  value: T | undefined;
  /** Set when the main file could not be used; says what happened. */
  problem?: string;
}

export class StateFile<T> {
  private timer: NodeJS.Timeout | undefined;
  private pending: (() => T) | undefined;
  private due = 0;

  constructor(
    readonly path: string,
    private readonly parse: (value: unknown) => T,
    private readonly debounceMs = 1000,
  ) {}

  /** Reads the state; falls back to the `.bak` copy when the main file is unreadable. */
  load(): LoadResult<T> {
    if (!existsSync(this.path)) {
      // A crash between the two renames of a write leaves only the previous copy.
      if (!existsSync(`${this.path}.bak`)) return { value: undefined };
      try {
        return { value: this.parse(JSON.parse(readFileSync(`${this.path}.bak`, 'utf8'))) };
      } catch (error) {
        return {
          value: undefined,
          problem: `state file ${this.path}.bak is unreadable (${(error as Error).message})`,
        };
      }
    }
    try {
      return { value: this.parse(JSON.parse(readFileSync(this.path, 'utf8'))) };
    } catch (error) {
      const problem = `state file ${this.path} is unreadable (${(error as Error).message})`;
      try {
        return {
          value: this.parse(JSON.parse(readFileSync(`${this.path}.bak`, 'utf8'))),
          problem: `${problem}; restored the previous copy`,
        };
      } catch {
        return { value: undefined, problem: `${problem}; no usable previous copy` };
      }
    }
  }

  /**
   * Schedules a write of whatever `snapshot` returns when the debounce period ends, or within `withinMs`
   * when that is sooner (a change that matters more than the others brings the pending write forward).
   */
  save(snapshot: () => T, withinMs = this.debounceMs): void {
    this.pending = snapshot;
    const due = Date.now() + withinMs;
    if (this.timer && this.due <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.due = due;
    this.timer = setTimeout(() => this.flushLater(), withinMs);
    this.timer.unref?.();
  }

  /** Told when a scheduled write fails (a full disk): the write is tried again later, nothing thrown. */
  onWriteError: ((error: Error) => void) | undefined;

  /** Told after a pending state was written (fsynced and in place): what its snapshot held is durable. */
  onWritten: (() => void) | undefined;

  private flushLater(): void {
    const snapshot = this.pending;
    try {
      this.flush();
    } catch (error) {
      // A timer must not throw (it would end the process): keep the state pending and try again.
      if (snapshot && !this.pending) this.save(snapshot, Math.max(this.debounceMs, 5_000));
      this.onWriteError?.(error as Error);
    }
  }

  /** Writes any pending state now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const snapshot = this.pending;
    this.pending = undefined;
    if (!snapshot) return;
    this.writeText(stringify(snapshot()));
    this.onWritten?.();
  }

  /** Writes `text` (a JSON document) now, atomically, in place of any pending state. */
  writeText(text: string): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
    mkdirSync(dirname(this.path), { recursive: true });
    const temporary = `${this.path}.tmp`;
    const fd = openSync(temporary, 'w');
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (existsSync(this.path)) renameSync(this.path, `${this.path}.bak`);
    renameSync(temporary, this.path);
  }
}

/** The JSON.stringify replacer of state files: bigints (running totals) as decimal strings; readers accept both. */
export function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** A replacer makes JSON.stringify several times slower on large documents: used only when a bigint is there. */
export function stringify(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return JSON.stringify(value, bigintAsString);
  }
}
