/**
 * BACnet server CPU per request, our device against bacnet-stack's `bacserv` (a complete C BACnet/IP device) on
 * the same machine: ReadProperty (present-value of a random object) and ReadPropertyMultiple (20 random objects x
 * present-value and status-flags), with 16 requests in flight and with one. Our device serves 2,000 accounts
 * (18,000 objects); bacserv its own objects (the value, input and output objects of its object list). The same
 * client (@bacnet-js/client, in this process) drives both; each server's CPU is read from /proc for its process
 * (user + system, in clock ticks), so both are measured alike. Rounds alternate between the two servers.
 * Skipped (no figures) when the bacnet-stack tools are not found.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import BACnetClient from '@bacnet-js/client';
import { freeUdpPort } from '../test/bacnet/support';
import { BACNET_STACK_BIN } from '../test/support/bacnet-stack';
import { BenchResult, lowerIsBetter, median } from './harness';

const ACCOUNTS = Number(process.env.BACNET_BENCH_ACCOUNTS || 2000);
const SECONDS = 3;
const ROUNDS = 3;
/** Clock ticks per second of /proc/<pid>/stat (CLK_TCK, 100 on Linux). */
const TICKS = 100;
/** Object types with a present value and status flags (analog, binary and multi-state inputs, outputs, values). */
const VALUE_TYPES = new Set([0, 1, 2, 3, 4, 5, 13, 14, 19]);

interface Target {
  name: string;
  child: ChildProcess;
  port: number;
  device: number;
  objects: Array<{ type: number; instance: number }>;
  stop(): Promise<void>;
}

/** User + system CPU of a process so far, in µs. */
function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS;
}

function stopper(child: ChildProcess, signal: () => void): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      signal();
    });
}

async function startOurs(): Promise<Target> {
  const port = await freeUdpPort();
  const child = fork(join(__dirname, 'bacnet-server.js'), ['ours', String(port), String(ACCOUNTS)], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<{ list: Array<{ type: number; instance: number }> }>((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return {
    name: 'ours',
    child,
    port,
    device: 4120,
    objects: ready.list.filter((o) => VALUE_TYPES.has(o.type)),
    stop: stopper(child, () => child.send('exit')),
  };
}

async function startBacserv(bin: string, client: BACnetClient): Promise<Target> {
  const port = await freeUdpPort();
  const device = 260_001;
  const child = spawn(join(bin, 'bacserv'), [String(device)], {
    env: { ...process.env, BACNET_IFACE: 'lo', BACNET_IP_PORT: String(port) },
    stdio: 'ignore',
  });
  const address = { address: `127.0.0.1:${port}` };
  let list: Array<{ type: number; instance: number }> = [];
  for (let attempt = 0; attempt < 50 && list.length === 0; attempt++) {
    try {
      const read = await client.readProperty(address, { type: 8, instance: device }, 76);
      list = read.values.map((v) => v.value as { type: number; instance: number });
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  if (list.length === 0) throw new Error('bacserv did not answer');
  return {
    name: 'bacserv',
    child,
    port,
    device,
    objects: list.filter((o) => VALUE_TYPES.has(o.type)),
    stop: stopper(child, () => child.kill('SIGTERM')),
  };
}

function picker(
  list: ReadonlyArray<{ type: number; instance: number }>,
): () => { type: number; instance: number } {
  let seed = 42;
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return list[seed % list.length] as { type: number; instance: number };
  };
}

type Kind = 'rp' | 'rpm';

/** Requests of `kind` answered for SECONDS with `inFlight` outstanding; the server's CPU µs per request. */
async function measure(client: BACnetClient, target: Target, kind: Kind, inFlight: number): Promise<number> {
  const address = { address: `127.0.0.1:${target.port}` };
  const next = picker(target.objects);
  let done = 0;
  let failed = 0;
  const end = Date.now() + SECONDS * 1000;
  const worker = async (): Promise<void> => {
    while (Date.now() < end) {
      try {
        if (kind === 'rp') {
          const result = await client.readProperty(address, next(), 85);
          if (result.values.length !== 1) throw new Error('no value');
        } else {
          const objects = Array.from({ length: 20 }, next);
          const result = await client.readPropertyMultiple(
            address,
            objects.map((objectId) => ({
              objectId,
              properties: [
                { id: 85, index: 0xffffffff },
                { id: 111, index: 0xffffffff },
              ],
            })),
          );
          if (result.values.length !== 20) throw new Error('short answer');
        }
        done += 1;
      } catch {
        failed += 1;
      }
    }
  };
  const pid = target.child.pid as number;
  const before = cpuMicros(pid);
  await Promise.all(Array.from({ length: inFlight }, worker));
  const used = cpuMicros(pid) - before;
  if (failed > done / 100) throw new Error(`${target.name}: ${failed} of ${done + failed} requests failed`);
  return used / done;
}

async function newClient(): Promise<BACnetClient> {
  const client = new BACnetClient({ port: await freeUdpPort(), interface: '127.0.0.1', apduTimeout: 60_000 });
  client.on('error', () => undefined);
  await new Promise<void>((resolve) => client.once('listening', () => resolve()));
  return client;
}

export async function run(): Promise<BenchResult[]> {
  const bin = BACNET_STACK_BIN;
  if (!bin) {
    process.stdout.write('bacserv.bench: bacnet-stack tools not found (BACNET_STACK_BIN), skipped\n');
    return [];
  }
  const setup = await newClient();
  const ours = await startOurs();
  const bacserv = await startBacserv(bin, setup).finally(() => setup.close());
  const results: BenchResult[] = [];
  try {
    for (const [kind, inFlight] of [
      ['rp', 16],
      ['rp', 1],
      ['rpm', 16],
      ['rpm', 1],
    ] as const) {
      const per = { ours: [] as number[], bacserv: [] as number[] };
      // A fresh client per phase (see bacnet.bench.ts); a warm-up second for each server first.
      for (const target of [ours, bacserv]) {
        const client = await newClient();
        try {
          await measure(client, target, kind, inFlight);
        } finally {
          client.close();
        }
      }
      for (let round = 0; round < ROUNDS; round++)
        for (const target of [ours, bacserv]) {
          const client = await newClient();
          try {
            per[target.name as 'ours' | 'bacserv'].push(await measure(client, target, kind, inFlight));
          } finally {
            client.close();
          }
        }
      const label = kind === 'rp' ? 'ReadProperty (present-value)' : 'RPM (20 objects x 2 properties)';
      const target = kind === 'rp' ? 1.15 : 1.3;
      const ratio = median(per.ours) / median(per.bacserv);
      results.push(
        lowerIsBetter(
          `bacnet: server CPU per ${label}, ${inFlight} in flight`,
          median(per.ours),
          'µs',
          "bacnet-stack's bacserv (C), same client",
          median(per.bacserv),
          `ours/bacserv ${ratio.toFixed(2)} (target <= ${target}); rounds ours ${per.ours
            .map((v) => v.toFixed(0))
            .join('/')}, bacserv ${per.bacserv.map((v) => v.toFixed(0)).join('/')}`,
        ),
      );
    }
  } finally {
    await ours.stop();
    await bacserv.stop();
  }
  return results;
}
