/**
 * The Node-RED side of the lease: keeps the lease file in step with the commands outstanding (written before a
 * command is sent, cleared after its relinquish is confirmed), touches the heartbeat, and keeps a watchdog
 * process running while there is anything to guard.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  leaseFile,
  leasePaths,
  livePid,
  touchHeartbeat,
  type LeaseDocument,
  type LeaseEntry,
  type LeasePaths,
} from './lease-file';
import type { StateFile } from '../shared/state-file';

export interface LeaseSettings {
  leaseMs: number;
  bindAddress: string;
  apduTimeoutMs: number;
  retries: number;
}

export class LeaseBook {
  readonly paths: LeasePaths;
  private readonly file: StateFile<LeaseDocument>;
  private readonly entries = new Map<string, LeaseEntry>();
  /** What the file held at start: commands a previous run left behind, by owner. */
  readonly leftovers = new Map<string, LeaseEntry[]>();
  private heartbeat: NodeJS.Timeout | undefined;
  /** Told about watchdog starts and file problems. */
  onNotice: ((text: string) => void) | undefined;
  /** Set when the lease file could not be read whole at start. */
  readonly loadProblem: string | undefined;

  constructor(
    base: string,
    private readonly settings: LeaseSettings,
  ) {
    this.paths = leasePaths(base);
    this.file = leaseFile(this.paths.lease);
    const loaded = this.file.load();
    this.loadProblem = loaded.problem;
    for (const entry of loaded.value?.entries ?? []) {
      const list = this.leftovers.get(entry.owner);
      if (list) list.push(entry);
      else this.leftovers.set(entry.owner, [entry]);
      // Still outstanding until relinquished or asserted again.
      this.entries.set(LeaseBook.id(entry.owner, entry.key), entry);
    }
  }

  private static id(owner: string, key: string): string {
    return `${owner}\u0000${key}`;
  }

  /** Starts the heartbeat (and the watchdog when there is something to guard). */
  start(): void {
    touchHeartbeat(this.paths.heartbeat);
    const every = Math.max(250, Math.min(5000, Math.floor(this.settings.leaseMs / 4)));
    this.heartbeat = setInterval(() => {
      try {
        touchHeartbeat(this.paths.heartbeat);
        this.ensureWatchdog();
      } catch (error) {
        this.onNotice?.(`lease heartbeat: ${(error as Error).message}`);
      }
    }, every);
    this.heartbeat.unref();
    this.ensureWatchdog();
  }

  /** Stops the heartbeat: from then on the watchdog counts the lease down. */
  stop(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  /** Records a command as outstanding, on disk, before it is sent. */
  hold(entry: LeaseEntry): void {
    const id = LeaseBook.id(entry.owner, entry.key);
    const known = this.entries.get(id);
    if (
      known &&
      known.value === entry.value &&
      known.priority === entry.priority &&
      known.host === entry.host &&
      known.port === entry.port
    )
      return;
    this.entries.set(id, known ? { ...entry, since: known.since } : entry);
    this.write();
    this.ensureWatchdog();
  }

  /** Forgets a command once its relinquish is confirmed. */
  release(owner: string, key: string): void {
    if (this.entries.delete(LeaseBook.id(owner, key))) this.write();
  }

  /** Entries held for an owner (leftovers included until dealt with). */
  held(owner: string): LeaseEntry[] {
    return [...this.entries.values()].filter((e) => e.owner === owner);
  }

  owners(): Set<string> {
    return new Set([...this.entries.values()].map((e) => e.owner));
  }

  get size(): number {
    return this.entries.size;
  }

  private write(): void {
    const doc: LeaseDocument = { version: 1, ...this.settings, entries: [...this.entries.values()] };
    this.file.writeText(JSON.stringify(doc, null, 1));
  }

  /** Starts the watchdog when commands are outstanding and none runs. */
  ensureWatchdog(): void {
    if (this.entries.size === 0 || livePid(this.paths.pid) !== undefined) return;
    const log = openSync(this.paths.log, 'a');
    try {
      const child = spawn(process.execPath, [join(__dirname, 'lease-watchdog.js'), this.paths.lease], {
        detached: true,
        stdio: ['ignore', log, log],
      });
      child.on('error', (error) => this.onNotice?.(`lease watchdog did not start: ${error.message}`));
      child.unref();
      // Written here, not only by the watchdog, so the next heartbeat does not start a second one.
      if (child.pid !== undefined) writeFileSync(this.paths.pid, `${child.pid}\n`);
      this.onNotice?.(`lease watchdog started (pid ${child.pid}) for ${this.entries.size} command(s)`);
    } finally {
      closeSync(log);
    }
  }
}
