/**
 * BACnet exporter: ReadPropertyMultiple requests answered per second (20 random objects x present-value and
 * status-flags, 16 requests in flight) from our device serving 2,000 accounts (18,001 objects), and the server's
 * CPU per request; Who-Is to I-Am latency; the whole object list read in one segmented transfer; heap per object.
 * Baseline in the same run, with the same client (@bacnet-js/client): a bare @bacnet-js/client responder answering
 * from a prebuilt array of the same objects. Each server runs in its own process so its CPU time is its own.
 *
 * Each phase gets a fresh client with a long APDU timeout: @bacnet-js/client 3.3.2's request manager, when it
 * sweeps timed-out requests, also drops the pending request that reuses a swept one's invoke id, and that request
 * then never settles. Above about 50 requests per APDU timeout a long run would stall on that, whichever server.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import BACnetClient from '@bacnet-js/client';
import { freeUdpPort } from '../test/bacnet/support';
import { BenchResult, higherIsBetter, lowerIsBetter, median, percentile } from './harness';

const ACCOUNTS = 2000;
const IN_FLIGHT = 16;
const SECONDS = 4;

interface Ready {
  ready: true;
  objects: number;
  bytes: number;
  list: Array<{ type: number; instance: number }>;
}

interface Server {
  child: ChildProcess;
  port: number;
  ready: Ready;
  cpu(run: () => Promise<void>): Promise<number>;
  stop(): Promise<void>;
}

async function startServer(mode: 'ours' | 'bare'): Promise<Server> {
  const port = await freeUdpPort();
  const child = fork(join(__dirname, 'bacnet-server.js'), [mode, String(port), String(ACCOUNTS)], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<Ready>((resolve, reject) => {
    child.once('message', (message: Ready) => resolve(message));
    child.once('exit', (code) => reject(new Error(`bench server (${mode}) exited with ${code}`)));
  });
  return {
    child,
    port,
    ready,
    async cpu(run) {
      child.send('cpu-start');
      await run();
      const answer = new Promise<{ cpuMicros: number }>((resolve) => child.once('message', resolve));
      child.send('cpu-stop');
      return (await answer).cpuMicros;
    },
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send('exit');
      await exited;
    },
  };
}

function pick<T>(list: readonly T[], n: number, seed: { v: number }): T[] {
  const out: T[] = [];
  for (let i = 0; i < n; i++) {
    seed.v = (seed.v * 1103515245 + 12345) & 0x7fffffff;
    out.push(list[1 + (seed.v % (list.length - 1))] as T);
  }
  return out;
}

/** RPM requests completed per second with `IN_FLIGHT` outstanding, for `seconds`. */
async function rpmRate(client: BACnetClient, server: Server, seconds: number): Promise<number> {
  const address = { address: `127.0.0.1:${server.port}` };
  const seed = { v: 42 };
  let done = 0;
  let failed = 0;
  const end = Date.now() + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (Date.now() < end) {
      const objects = pick(server.ready.list, 20, seed);
      try {
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
        done += 1;
      } catch {
        failed += 1;
      }
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  if (failed > done / 100) throw new Error(`bacnet bench: ${failed} of ${done + failed} requests failed`);
  return done / elapsed;
}

/** Who-Is (sent to the device) to its I-Am, one at a time, in ms. */
async function whoIsLatencies(client: BACnetClient, server: Server, count: number): Promise<number[]> {
  const address = { address: `127.0.0.1:${server.port}` };
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const heard = new Promise<void>((resolve) => {
      const handler = (): void => {
        client.off('iAm', handler);
        resolve();
      };
      client.on('iAm', handler);
    });
    const start = process.hrtime.bigint();
    client.whoIs(address);
    await heard;
    out.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return out;
}

async function objectListWhole(client: BACnetClient, server: Server): Promise<number> {
  const start = process.hrtime.bigint();
  const result = await client.readProperty(
    { address: `127.0.0.1:${server.port}` },
    { type: 8, instance: 4120 },
    76,
  );
  if (result.values.length !== server.ready.objects) throw new Error('object list incomplete');
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** The same list element by element (what a BEMS does with a device that cannot segment), 16 in flight. */
async function objectListByIndex(client: BACnetClient, server: Server): Promise<number> {
  const address = { address: `127.0.0.1:${server.port}` };
  let next = 1;
  const start = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    while (next <= server.ready.objects) {
      const index = next++;
      await client.readProperty(address, { type: 8, instance: 4120 }, 76, { arrayIndex: index });
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** A fresh client for one phase (see above), closed after it. */
async function withClient<T>(phase: (client: BACnetClient) => Promise<T>): Promise<T> {
  const client = new BACnetClient({ port: await freeUdpPort(), interface: '127.0.0.1', apduTimeout: 60_000 });
  client.on('error', () => undefined);
  await new Promise<void>((resolve) => client.once('listening', () => resolve()));
  try {
    return await phase(client);
  } finally {
    client.close();
  }
}

export async function run(): Promise<BenchResult[]> {
  const oursServer = await startServer('ours');
  const bareServer = await startServer('bare');
  try {
    // Warm both up (JIT, caches), then alternate measured rounds so drift hits both alike.
    await withClient((client) => rpmRate(client, oursServer, 1));
    await withClient((client) => rpmRate(client, bareServer, 1));
    const rates = { ours: [] as number[], bare: [] as number[] };
    const cpu = { ours: [] as number[], bare: [] as number[] };
    for (let round = 0; round < 3; round++) {
      for (const [name, server] of [
        ['ours', oursServer],
        ['bare', bareServer],
      ] as const) {
        let rate = 0;
        const micros = await server.cpu(async () => {
          rate = await withClient((client) => rpmRate(client, server, SECONDS));
        });
        rates[name].push(rate);
        cpu[name].push(micros / (rate * SECONDS));
      }
    }
    // Interleaved, so that neither side has the client warmer than the other.
    const whoIs = { ours: [] as number[], bare: [] as number[] };
    await withClient(async (client) => {
      await whoIsLatencies(client, oursServer, 50);
      await whoIsLatencies(client, bareServer, 50);
      for (let i = 0; i < 300; i++) {
        whoIs.ours.push(...(await whoIsLatencies(client, oursServer, 1)));
        whoIs.bare.push(...(await whoIsLatencies(client, bareServer, 1)));
      }
    });
    const whole: number[] = [];
    for (let i = 0; i < 5; i++) whole.push(await withClient((client) => objectListWhole(client, oursServer)));
    const byIndex = await withClient((client) => objectListByIndex(client, oursServer));
    const objects = oursServer.ready.objects;
    return [
      higherIsBetter(
        `bacnet: RPM (20 objects x 2 properties, ${IN_FLIGHT} in flight) answered, ${ACCOUNTS.toLocaleString('en-US')} accounts (${objects.toLocaleString('en-US')} objects)`,
        median(rates.ours),
        'requests/s',
        'bare @bacnet-js/client responder, prebuilt array',
        median(rates.bare),
        'the same client for both; both servers in their own process',
      ),
      lowerIsBetter(
        'bacnet: server CPU per RPM (20 objects x 2 properties)',
        median(cpu.ours),
        'µs',
        'bare @bacnet-js/client responder, prebuilt array',
        median(cpu.bare),
        'field notes: a minimal @bacnet-js device took 111 µs',
      ),
      lowerIsBetter(
        'bacnet: Who-Is -> I-Am latency, p50',
        percentile(whoIs.ours, 50),
        'ms',
        'bare @bacnet-js/client responder',
        percentile(whoIs.bare, 50),
        `p99 ${percentile(whoIs.ours, 99).toFixed(2)} ms (bare ${percentile(whoIs.bare, 99).toFixed(2)} ms)`,
      ),
      lowerIsBetter(
        `bacnet: whole object-list (${objects.toLocaleString('en-US')} entries) in one segmented read`,
        median(whole),
        'ms',
        `the same list element by element (${IN_FLIGHT} in flight)`,
        byIndex,
        `${Math.ceil((objects * 5) / 1471)} segments of 1476 octets; the bare responder cannot segment at all`,
      ),
      lowerIsBetter(
        'bacnet: heap per object (model, names, values, instance registry)',
        oursServer.ready.bytes / objects,
        'bytes',
        'bare responder: prebuilt array of the same values',
        bareServer.ready.bytes / bareServer.ready.objects,
        'after GC, before any read (encodings are cached per object as they are read)',
      ),
    ];
  } finally {
    await oursServer.stop();
    await bareServer.stop();
  }
}
