/**
 * Cutoff latency: from the ledger posting that exhausts an account to the relay coil opening on the simulator,
 * through the whole path (ledger commit on SQLite, account state, cutoff policy, shared Modbus queue, coil write
 * and read-back), for 1 account and for 1,000 accounts exhausted at once (five gateways of 200 meters, relay
 * modules of 8 coils). Baseline in the same run: bare modbus-serial coil writes to the same simulator (one,
 * and 1,000 over five connections), timed from the start to each write's answer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ModbusRTU from 'modbus-serial';
import { SystemClock } from '../dist/nodes/core/clock';
import { CutoffController } from '../dist/nodes/core/cutoff/controller';
import { DEFAULT_POLICY, type CutoffPolicy } from '../dist/nodes/core/cutoff/policy';
import { Ledger } from '../dist/nodes/core/ledger/ledger';
import { readRequest } from '../dist/nodes/core/ledger/requests';
import { RelayDriver, relayTarget } from '../dist/nodes/cutoff/relay-driver';
import { builtInProfiles } from '../dist/nodes/meter/profile-registry';
import { ModbusLink } from '../dist/nodes/modbus/modbus-link';
import { ModbusSerialTransport } from '../dist/nodes/modbus/transport';
import { SimRelay } from '../dist/nodes/simulator/simulated-meter';
import { planSite, siteMeterTable, SimulatedSite } from '../dist/nodes/simulator/site';
import { SqliteLedgerStore } from '../dist/nodes/store/sqlite-ledger-store';
import { BenchResult, lowerIsBetter, percentile } from './harness';

const POLICY: CutoffPolicy = {
  ...DEFAULT_POLICY,
  name: 'bench',
  graceMs: 0,
  friendly: { timeZone: 'UTC', weekends: false, holidays: [] },
  minOnMs: 0,
  minOffMs: 0,
};

async function cutoffLatencies(accounts: number): Promise<number[]> {
  const profiles = builtInProfiles();
  const specs = planSite(
    { tenants: accounts, otherUtilities: false, electricityProfiles: ['eastron-sdm630'] },
    profiles,
  );
  const site = new SimulatedSite(specs, profiles, new SystemClock());
  const ports = await site.start();
  const dir = mkdtempSync(join(tmpdir(), 'prepay-bench-cutoff-'));
  const store = new SqliteLedgerStore({ path: join(dir, 'ledger.db'), synchronous: 'FULL' });
  await store.init();
  const links = ports.map((port) => {
    const endpoint = { kind: 'tcp' as const, host: '127.0.0.1', port };
    return new ModbusLink(endpoint, new ModbusSerialTransport(endpoint), { timeoutMs: 2000 });
  });
  await Promise.all(links.map((link) => link.open()));
  const drivers = links.map((link) => new RelayDriver(link, { attempts: 3, retryDelayMs: 200 }));
  const controller = new CutoffController(POLICY);
  const rows = siteMeterTable(specs);
  const where = new Map(specs.map((spec) => [spec.meterId, spec.gateway]));
  const targets = new Map(rows.map((row) => [row.meterId, relayTarget(row, profiles, 'relay-module-8ch')!]));
  for (const row of rows)
    controller.addMeter({
      meterId: row.meterId,
      accountId: row.accountId!,
      utility: row.utility,
      canLimit: false,
    });
  const posted = new Map<string, bigint>();
  const opened = new Map<string, bigint>();
  const latencies: number[] = [];
  let armed = false;
  const actuate = async (meterId: string, action: string): Promise<void> => {
    const result = await drivers[where.get(meterId)!]!.actuate(
      targets.get(meterId)!,
      action !== 'disconnect',
    );
    if (!result.confirmed) throw new Error(`bench: relay of ${meterId} did not confirm`);
    controller.commanded(meterId, action as 'connect' | 'disconnect', Date.now());
    if (action === 'disconnect') {
      const at = opened.get(meterId) ?? process.hrtime.bigint();
      latencies.push(Number(at - posted.get(meterId)!) / 1e6);
    }
  };
  const pending: Array<Promise<void>> = [];
  const ledger = new Ledger(store, {
    clock: new SystemClock(),
    onState: (state) => {
      if (!armed) return;
      for (const outcome of controller.accountState(state, Date.now())) {
        if (outcome.command) pending.push(actuate(outcome.meterId, outcome.command.action));
      }
    },
  });
  // The moment the simulated coil opens, seen from inside the simulator.
  for (const spec of specs) {
    const relay = site.meter(spec.meterId).supplySwitch as SimRelay;
    const set = relay.set.bind(relay);
    relay.set = (on: boolean) => {
      set(on);
      if (!on) opened.set(spec.meterId, process.hrtime.bigint());
    };
  }
  try {
    for (const row of rows) {
      await ledger.execute(
        readRequest('open', {
          command: 'open',
          reference: `open-${row.accountId}`,
          accountId: row.accountId,
          currency: 'GBP',
        }),
      );
      await ledger.execute(
        readRequest('topup', {
          command: 'topup',
          reference: `pay-${row.accountId}`,
          accountId: row.accountId,
          amount: 500,
        }),
      );
      const state = {
        accountId: row.accountId!,
        balance: 500,
        available: 500,
        currency: 'GBP',
        state: 'ok' as const,
        changedAt: Date.now(),
      };
      for (const outcome of controller.accountState(state, Date.now()))
        if (outcome.command) await actuate(outcome.meterId, outcome.command.action);
    }
    armed = true;
    // Every account exhausted at once: one charge each, all submitted together.
    const charges = rows.map((row, i) => {
      posted.set(row.meterId, process.hrtime.bigint());
      return ledger.execute(
        readRequest('charge', {
          readingId: `R-${i}`,
          accountId: row.accountId,
          meterId: row.meterId,
          amount: 10_000_000,
          currency: 'GBP',
          breakdown: [],
          to: Date.now(),
        }),
      );
    });
    await Promise.all(charges);
    while (latencies.length < rows.length) {
      await Promise.all(pending.splice(0));
      if (latencies.length < rows.length) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    ledger.close();
    await store.close();
    await Promise.all(links.map((link) => link.close()));
    await site.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return latencies;
}

async function bareWrites(count: number): Promise<number[]> {
  const profiles = builtInProfiles();
  const specs = planSite(
    { tenants: count, otherUtilities: false, electricityProfiles: ['eastron-sdm630'] },
    profiles,
  );
  const site = new SimulatedSite(specs, profiles, new SystemClock());
  const ports = await site.start();
  const rows = siteMeterTable(specs);
  const clients = await Promise.all(
    ports.map(async (port) => {
      const client = new ModbusRTU();
      await client.connectTCP('127.0.0.1', { port });
      client.setTimeout(2000);
      return client;
    }),
  );
  const latencies: number[] = [];
  try {
    const start = process.hrtime.bigint();
    await Promise.all(
      clients.map(async (client, gateway) => {
        for (const row of rows.filter(
          (r) => specs.find((s) => s.meterId === r.meterId)!.gateway === gateway,
        )) {
          client.setID(row.relay!.unitId!);
          await client.writeCoil(row.relay!.channel! - 1, false);
          latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
        }
      }),
    );
  } finally {
    for (const client of clients) client.close(() => undefined);
    await site.stop();
  }
  return latencies;
}

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  // One account: repeated to get a distribution.
  const one: number[] = [];
  const oneBare: number[] = [];
  for (let i = 0; i < 15; i += 1) {
    one.push(...(await cutoffLatencies(1)));
    oneBare.push(...(await bareWrites(1)));
  }
  results.push(
    lowerIsBetter(
      'cutoff: posting that exhausts 1 account -> coil open, p50',
      percentile(one, 50),
      'ms',
      'bare modbus-serial coil write, p50',
      percentile(oneBare, 50),
      `p99 ${percentile(one, 99).toFixed(1)} ms (bare ${percentile(oneBare, 99).toFixed(1)} ms); includes the SQLite commit (fsync) and the read-back`,
    ),
  );
  const many = await cutoffLatencies(1000);
  const manyBare = await bareWrites(1000);
  results.push(
    lowerIsBetter(
      'cutoff: 1,000 accounts exhausted at once -> coils open, p50',
      percentile(many, 50),
      'ms',
      'bare coil writes, 5 connections, p50',
      percentile(manyBare, 50),
      `p99 ${percentile(many, 99).toFixed(0)} ms (bare ${percentile(manyBare, 99).toFixed(0)} ms); every write read back`,
    ),
  );
  return results;
}
