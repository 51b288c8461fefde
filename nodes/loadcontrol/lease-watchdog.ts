/**
 * The lease watchdog: a small process of its own, started detached by the BACnet client config node, so it
 * outlives Node-RED however Node-RED ends (SIGKILL, out of memory, power to the container cut but not the host).
 *
 *   node lease-watchdog.js <lease file>
 *
 * Every quarter of the lease (at most every second) it reads the lease file and the heartbeat's time. While the
 * heartbeat is fresh it only watches. When the heartbeat is older than the lease, Node-RED is gone: it writes
 * NULL at each outstanding command's priority (relinquish), retrying failures with backoff, and drops what it
 * relinquished from the file. It exits when the file holds nothing more to guard, or when another live process
 * is the watchdog of the same file. It never writes a value other than NULL.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { BacnetClient } from './bacnet-client';
import { heartbeatAt, leaseFile, leasePaths, livePid, type LeaseEntry } from './lease-file';

const GIVE_UP_MS = 24 * 3600_000;

function log(text: string): void {
  process.stdout.write(`${new Date().toISOString()} lease-watchdog ${process.pid}: ${text}\n`);
}

async function main(leasePath: string): Promise<void> {
  const base = leasePath.replace(/-lease\.json$/, '');
  const paths = leasePaths(base);
  const other = livePid(paths.pid);
  if (other !== undefined && other !== process.pid) {
    log(`watchdog ${other} already guards ${leasePath}: exiting`);
    return;
  }
  writeFileSync(paths.pid, `${process.pid}\n`);
  const file = leaseFile(leasePath);
  let client: BacnetClient | undefined;
  /** When the heartbeat was first seen stale (the give-up time counts from there, not from the watchdog's start). */
  let staleSince: number | undefined;
  const backoff = new Map<string, { attempts: number; nextAt: number }>();
  try {
    for (;;) {
      const doc = file.load().value;
      const entries = doc?.entries ?? [];
      if (entries.length === 0) {
        log('nothing to guard: exiting');
        return;
      }
      const leaseMs = doc!.leaseMs;
      const beat = heartbeatAt(paths.heartbeat) ?? 0;
      const stale = Date.now() - beat > leaseMs;
      if (!stale) staleSince = undefined;
      if (stale) {
        staleSince ??= Date.now();
        if (Date.now() - staleSince > GIVE_UP_MS) {
          log(
            `giving up after ${GIVE_UP_MS / 3600_000} h: ${entries.length} command(s) could not be relinquished`,
          );
          return;
        }
        client ??= await BacnetClient.open({
          bindAddress: doc!.bindAddress,
          port: 0,
          apduTimeoutMs: doc!.apduTimeoutMs,
          retries: doc!.retries,
        });
        const done = new Set<LeaseEntry>();
        for (const entry of entries) {
          const id = `${entry.owner}/${entry.key}`;
          const wait = backoff.get(id);
          if (wait && wait.nextAt > Date.now()) continue;
          try {
            await client.writeProperty(
              { host: entry.host, port: entry.port },
              { objectType: entry.objectType, instance: entry.instance, property: entry.property },
              null,
              entry.priority,
            );
            done.add(entry);
            log(
              `relinquished ${id} (priority ${entry.priority}): heartbeat ${Math.round((Date.now() - beat) / 1000)} s old`,
            );
          } catch (error) {
            const attempts = (wait?.attempts ?? 0) + 1;
            backoff.set(id, { attempts, nextAt: Date.now() + Math.min(60_000, 1000 * 2 ** attempts) });
            log(`relinquish of ${id} failed (${(error as Error).message}); attempt ${attempts}`);
          }
        }
        if (done.size > 0) {
          // Read again before writing: only the entries relinquished go, whatever else changed meanwhile.
          const now = file.load().value;
          if (now && Date.now() - (heartbeatAt(paths.heartbeat) ?? 0) > now.leaseMs) {
            const gone = new Set([...done].map((e) => `${e.owner}/${e.key}/${e.since}`));
            now.entries = now.entries.filter((e) => !gone.has(`${e.owner}/${e.key}/${e.since}`));
            file.writeText(JSON.stringify(now, null, 1));
          }
        }
      }
      const every = Math.max(100, Math.min(1000, Math.floor(leaseMs / 4)));
      await new Promise((resolve) => setTimeout(resolve, every));
    }
  } finally {
    await client?.close();
    try {
      if (readFileSync(paths.pid, 'utf8').trim() === String(process.pid)) rmSync(paths.pid, { force: true });
    } catch {
      // already gone
    }
  }
}

if (require.main === module) {
  const leasePath = process.argv[2];
  if (!leasePath) {
    log('usage: lease-watchdog <lease file>');
    process.exit(2);
  }
  main(leasePath).then(
    () => process.exit(0),
    (error: Error) => {
      log(`stopped: ${error.stack ?? error.message}`);
      process.exit(1);
    },
  );
}
