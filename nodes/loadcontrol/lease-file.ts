/**
 * The lease file: every command this Node-RED has outstanding on the BEMS, on disk before the command is sent
 * (atomic write: temporary file, fsync, rename), so that whatever becomes of Node-RED someone knows what to
 * relinquish. Beside it a heartbeat file, touched while Node-RED runs: the watchdog (lease-watchdog.ts)
 * relinquishes the file's commands when the heartbeat stops for the lease.
 */
import { existsSync, readFileSync, utimesSync, writeFileSync, statSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { StateFile } from '../shared/state-file';

/** One outstanding command: enough to relinquish it from another process. */
export interface LeaseEntry {
  /** The node that commands it. */
  owner: string;
  key: string;
  host: string;
  port: number;
  device: number;
  objectType: number;
  instance: number;
  property: number;
  priority: number;
  value: number | boolean;
  /** When it was first written (epoch ms). */
  since: number;
}

export interface LeaseDocument {
  version: 1;
  leaseMs: number;
  bindAddress: string;
  apduTimeoutMs: number;
  retries: number;
  entries: LeaseEntry[];
}

export interface LeasePaths {
  lease: string;
  heartbeat: string;
  pid: string;
  log: string;
}

export function leasePaths(base: string): LeasePaths {
  return {
    lease: `${base}-lease.json`,
    heartbeat: `${base}-heartbeat`,
    pid: `${base}-watchdog.pid`,
    log: `${base}-watchdog.log`,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const num = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** Reads a lease document, keeping every entry that is whole (a torn or hand-edited entry is dropped). */
export function readLeaseDocument(value: unknown): LeaseDocument {
  if (!isObject(value) || value.version !== 1) throw new Error('not a lease document (version 1)');
  const entries: LeaseEntry[] = [];
  for (const e of Array.isArray(value.entries) ? value.entries : []) {
    if (!isObject(e)) continue;
    if (typeof e.owner !== 'string' || typeof e.key !== 'string' || typeof e.host !== 'string') continue;
    if (![e.port, e.device, e.objectType, e.instance, e.property, e.priority, e.since].every(num)) continue;
    if (typeof e.value !== 'number' && typeof e.value !== 'boolean') continue;
    entries.push(e as unknown as LeaseEntry);
  }
  return {
    version: 1,
    leaseMs: num(value.leaseMs) ? value.leaseMs : 300_000,
    bindAddress: typeof value.bindAddress === 'string' ? value.bindAddress : '0.0.0.0',
    apduTimeoutMs: num(value.apduTimeoutMs) ? value.apduTimeoutMs : 3000,
    retries: num(value.retries) ? value.retries : 3,
    entries,
  };
}

export function leaseFile(path: string): StateFile<LeaseDocument> {
  return new StateFile(path, readLeaseDocument, 0);
}

/** Marks Node-RED alive now. */
export function touchHeartbeat(path: string, now = new Date()): void {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${process.pid}\n`);
  }
  utimesSync(path, now, now);
}

/** When Node-RED last said it was alive (epoch ms), or undefined when it never did. */
export function heartbeatAt(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** The watchdog's pid, when the pid file names a live process. */
export function livePid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}
