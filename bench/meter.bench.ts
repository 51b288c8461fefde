/**
 * Meter reading, each figure beside a baseline measured in the same run. The simulator runs in a child
 * process (npm run simulate), so the figures are the reader's alone.
 *
 * (a) Requests per meter per cycle for an SDM630 with its fifteen values: our merged blocks against
 *     reading each value on its own (target >= 5x fewer).
 * (b) Poll-cycle time for 200 simulated SDM630 meters on one link: the whole reader path (shared queue,
 *     decoding, scaling, delta engine, message building) against a bare modbus-serial loop reading the
 *     same blocks and decoding nothing (target >= 0.8x the raw rate). The naive per-value loop is shown too.
 * (c) CPU per 1,000 meters (five gateways of 200) polled every 15 s: CPU time of one full cycle through the
 *     reader path as a share of one core over 15 s, beside the bare loop's.
 */
import ModbusRTU from 'modbus-serial';
import { DeltaEngine } from '../dist/nodes/core/meter/delta-engine';
import { planBlocks, planPerValue, type ReadBlock } from '../dist/nodes/core/meter/block-plan';
import { MeterPoller } from '../dist/nodes/meter/meter-poller';
import { builtInProfiles } from '../dist/nodes/meter/profile-registry';
import { meterInfo } from '../dist/nodes/meter/meter-config';
import { ModbusLink } from '../dist/nodes/modbus/modbus-link';
import { ModbusSerialTransport } from '../dist/nodes/modbus/transport';
import { startSimulator } from './simulator-process';
import { BenchResult, lowerIsBetter, median } from './harness';

const profile = builtInProfiles().get('eastron-sdm630')!;

async function rawCycle(client: ModbusRTU, units: number, blocks: ReadBlock[]): Promise<void> {
  for (let unit = 1; unit <= units; unit += 1) {
    client.setID(unit);
    for (const block of blocks) {
      if (block.function === 4) await client.readInputRegisters(block.address, block.length);
      else await client.readHoldingRegisters(block.address, block.length);
    }
  }
}

async function rawClient(port: number): Promise<ModbusRTU> {
  const client = new ModbusRTU();
  await client.connectTCP('127.0.0.1', { port });
  client.setTimeout(1000);
  return client;
}

function linkTo(port: number): ModbusLink {
  const endpoint = { kind: 'tcp' as const, host: '127.0.0.1', port };
  return new ModbusLink(endpoint, new ModbusSerialTransport(endpoint), { timeoutMs: 1000 });
}

const infos = new Map<string, ReturnType<typeof meterInfo>>();
function infoOf(gateway: number, unit: number): ReturnType<typeof meterInfo> {
  const key = `${gateway}/${unit}`;
  let info = infos.get(key);
  if (!info) {
    // The node builds these once, from its meter table.
    info = meterInfo(
      {
        meterId: `E-${gateway}-${unit}`,
        unitId: unit,
        profile: profile.id,
        utility: 'electricity',
        accountId: `T${unit}`,
      },
      profile,
    );
    infos.set(key, info);
  }
  return info;
}

/** One cycle through the reader path: poll, delta engine, the messages the node would send. */
async function readerCycle(
  link: ModbusLink,
  poller: MeterPoller,
  engine: DeltaEngine,
  units: number,
  gateway: number,
  t: number,
): Promise<number> {
  let messages = 0;
  for (let unit = 1; unit <= units; unit += 1) {
    const result = await poller.poll(link, unit, profile);
    const info = infoOf(gateway, unit);
    const outcome = engine.reading(info, result.counter!, t);
    const reading = { topic: info.meterId, payload: { ...outcome.reading, values: result.values } };
    messages += outcome.consumptions.length + (reading ? 1 : 0) + outcome.events.length;
  }
  return messages;
}

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const merged = planBlocks(profile.values, { maxGap: 64 }).length;
  const perValue = planPerValue(profile.values).length;
  results.push(
    lowerIsBetter(
      'meter: Modbus requests per SDM630 per cycle',
      merged,
      'requests',
      `one request per value (${perValue} values)`,
      perValue,
      'target >= 5x fewer',
    ),
  );

  // (b) 200 meters on one link.
  const sim = await startSimulator(200);
  try {
    const port = sim.ports[0]!;
    const blocks = planBlocks(profile.values, { maxGap: 64 });
    const raw = await rawClient(port);
    const link = linkTo(port);
    await link.open();
    const poller = new MeterPoller({ maxGap: 64 });
    const engine = new DeltaEngine();
    const rawTimes: number[] = [];
    const ourTimes: number[] = [];
    const naiveTimes: number[] = [];
    let t = Date.now();
    await readerCycle(link, poller, engine, 200, 0, t); // baselines set, JIT warm
    await rawCycle(raw, 200, blocks);
    // Alternating order (raw first, then ours first) so neither side always runs on a warmer machine.
    for (let round = 0; round < 12; round += 1) {
      const measureRaw = async (): Promise<void> => {
        const start = process.hrtime.bigint();
        await rawCycle(raw, 200, blocks);
        rawTimes.push(Number(process.hrtime.bigint() - start) / 1e6);
      };
      const measureOurs = async (): Promise<void> => {
        t += 15_000;
        const start = process.hrtime.bigint();
        await readerCycle(link, poller, engine, 200, 0, t);
        ourTimes.push(Number(process.hrtime.bigint() - start) / 1e6);
      };
      if (round % 2 === 0) {
        await measureRaw();
        await measureOurs();
      } else {
        await measureOurs();
        await measureRaw();
      }
      if (round < 2) {
        const start = process.hrtime.bigint();
        await rawCycle(raw, 200, planPerValue(profile.values));
        naiveTimes.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
    }
    raw.close(() => undefined);
    await link.close();
    results.push(
      lowerIsBetter(
        'meter: poll cycle, 200 SDM630 on one link (whole reader path)',
        median(ourTimes),
        'ms',
        'bare modbus-serial loop, same blocks, no decoding',
        median(rawTimes),
        `target >= 0.8x; reading value by value: ${median(naiveTimes).toFixed(0)} ms`,
      ),
    );
  } finally {
    sim.child.kill();
  }

  // (c) 1,000 meters on five gateways, one cycle, CPU time.
  const big = await startSimulator(1000);
  try {
    const links = big.ports.map(linkTo);
    await Promise.all(links.map((link) => link.open()));
    const raws = await Promise.all(big.ports.map(rawClient));
    const poller = new MeterPoller({ maxGap: 64 });
    const engine = new DeltaEngine();
    const blocks = planBlocks(profile.values, { maxGap: 64 });
    let t = Date.now();
    const cycle = () => Promise.all(links.map((link, g) => readerCycle(link, poller, engine, 200, g, t)));
    await cycle();
    const ours: number[] = [];
    const bare: number[] = [];
    for (let round = 0; round < 3; round += 1) {
      t += 15_000;
      let cpu = process.cpuUsage();
      await cycle();
      let used = process.cpuUsage(cpu);
      ours.push((used.user + used.system) / 1000);
      cpu = process.cpuUsage();
      await Promise.all(raws.map((client) => rawCycle(client, 200, blocks)));
      used = process.cpuUsage(cpu);
      bare.push((used.user + used.system) / 1000);
    }
    for (const client of raws) client.close(() => undefined);
    await Promise.all(links.map((link) => link.close()));
    const share = (ms: number): number => (ms / 15_000) * 100;
    results.push(
      lowerIsBetter(
        'meter: CPU for 1,000 meters polled every 15 s',
        share(median(ours)),
        '% of one core',
        'bare modbus-serial loop, same requests',
        share(median(bare)),
        `${median(ours).toFixed(0)} ms CPU per cycle`,
      ),
    );
  } finally {
    big.child.kill();
  }
  return results;
}
