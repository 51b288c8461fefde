/**
 * The checkpoint log as an append-only JSON-lines file (see core/ledger/checkpoint.ts for the
 * lines): read as a stream, appended one line at a time with fsync (and the directory synced when
 * the file is created), readable by its owner only. A line torn by a crash was never acknowledged:
 * it is cut off before the next line is written.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, stat, truncate } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import {
  AccountCheckpoint,
  Checkpoint,
  CheckpointLog,
  CheckpointLogChecker,
  checkpointLine,
  LOG_GENESIS,
  LogReading,
} from '../core/ledger/checkpoint';
import { Keyring } from '../core/ledger/seal';

const NO_LOG: LogReading = { exists: false, lines: 0, tailSeal: LOG_GENESIS, problems: [] };

function missing(error: unknown): boolean {
  return (error as { code?: string }).code === 'ENOENT';
}

/**
 * Appends and reads in progress by file: two store nodes naming one file must not interleave their
 * lines, and a read waits for a line being written.
 */
const queues = new Map<string, Promise<unknown>>();

export class CheckpointFile implements CheckpointLog {
  readonly location: string;

  constructor(location: string) {
    this.location = resolve(location);
  }

  /** Reads the log once the appends queued before have finished (the start checkpoint, say). */
  read(keyring: Keyring): Promise<LogReading> {
    return this.queued(async () => {
      const size = await this.size();
      if (size === undefined) return NO_LOG;
      return this.check(keyring, await this.completeLength(size));
    });
  }

  append(
    keyring: Keyring,
    build: (reading: LogReading) => Promise<{ at: number; accounts: AccountCheckpoint[] }>,
  ): Promise<Checkpoint> {
    return this.queued(() => this.appendNow(keyring, build));
  }

  private queued<T>(task: () => Promise<T>): Promise<T> {
    const run = (queues.get(this.location) ?? Promise.resolve()).then(task);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    queues.set(this.location, settled);
    void settled.then(() => {
      if (queues.get(this.location) === settled) queues.delete(this.location);
    });
    return run;
  }

  private async appendNow(
    keyring: Keyring,
    build: (reading: LogReading) => Promise<{ at: number; accounts: AccountCheckpoint[] }>,
  ): Promise<Checkpoint> {
    const size = await this.size();
    let reading = NO_LOG;
    if (size !== undefined) {
      const complete = await this.completeLength(size);
      if (complete < size) await truncate(this.location, complete);
      reading = await this.check(keyring, complete);
    }
    const draft = await build(reading);
    const line = reading.lines + 1;
    const text = checkpointLine(keyring, line, draft.at, reading.tailSeal, draft.accounts);
    await mkdir(dirname(this.location), { recursive: true });
    const file = await open(this.location, 'a', 0o600);
    try {
      await file.write(`${text}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    if (size === undefined) await this.syncDirectory();
    return {
      line,
      at: draft.at,
      keyId: keyring.current?.id,
      accounts: new Map(draft.accounts.map((a) => [a.accountId, a])),
      seal: text.slice(-66, -2),
    };
  }

  private async size(): Promise<number | undefined> {
    try {
      return (await stat(this.location)).size;
    } catch (error) {
      if (missing(error)) return undefined;
      throw error;
    }
  }

  /** Bytes up to and including the last newline (what follows it is a torn write). */
  private async completeLength(size: number): Promise<number> {
    const file = await open(this.location, 'r');
    try {
      const chunk = Buffer.alloc(64 * 1024);
      let end = size;
      while (end > 0) {
        const start = Math.max(0, end - chunk.length);
        const { bytesRead } = await file.read(chunk, 0, end - start, start);
        const newline = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
        if (newline >= 0) return start + newline + 1;
        end = start;
      }
      return 0;
    } finally {
      await file.close();
    }
  }

  private async check(keyring: Keyring, length: number): Promise<LogReading> {
    const checker = new CheckpointLogChecker(keyring, this.location);
    if (length > 0) {
      const lines = createInterface({
        input: createReadStream(this.location, { encoding: 'utf8', start: 0, end: length - 1 }),
        crlfDelay: Infinity,
      });
      for await (const line of lines) checker.add(line);
    }
    return checker.result();
  }

  private async syncDirectory(): Promise<void> {
    // The new file's name must survive a power cut too (not possible on every platform).
    try {
      const directory = await open(dirname(this.location), 'r');
      try {
        await directory.sync();
      } finally {
        await directory.close();
      }
    } catch {
      // Windows cannot open a directory for syncing; the file's own fsync is what it offers.
    }
  }
}
