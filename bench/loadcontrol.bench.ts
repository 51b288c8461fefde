/**
 * Load-control reaction time: from the site reading that puts the demand window's prediction over the target to
 * the limit request leaving the controller and to the BEMS write landing on bacnet-stack's `bacserv` (written,
 * read back), through prepay-loadcontrol's own runner and BACnet commander. Baseline, in the same run: the bare
 * write and read-back (present value, then the priority array, as the commander reads back) of the same client
 * against the same bacserv. Skipped (no figures) when the bacnet-stack tools are not found.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseShedTable } from '../dist/nodes/core/loadcontrol/demand-tables';
import { BacnetClient } from '../dist/nodes/loadcontrol/bacnet-client';
import { BacnetCommander } from '../dist/nodes/loadcontrol/bacnet-commander';
import { DemandRunner } from '../dist/nodes/loadcontrol/demand-runner';
import { LeaseBook } from '../dist/nodes/loadcontrol/lease-book';
import { freeUdpPort } from '../test/bacnet/support';
import { BACNET_STACK_BIN } from '../test/support/bacnet-stack';
import { BenchResult, lowerIsBetter, percentile } from './harness';

const ROUNDS = Number(process.env.LOADCONTROL_BENCH_ROUNDS || 60);
const DEVICE = 260_001;
const AO = 1;
const MIN = 60_000;

export async function run(): Promise<BenchResult[]> {
  if (!BACNET_STACK_BIN || !existsSync(join(BACNET_STACK_BIN, 'bacserv'))) {
    process.stdout.write('  loadcontrol: bacnet-stack not found, skipped\n');
    return [];
  }
  const port = await freeUdpPort();
  const server = spawn(join(BACNET_STACK_BIN, 'bacserv'), [String(DEVICE)], {
    env: { ...process.env, BACNET_IFACE: 'lo', BACNET_IP_PORT: String(port) },
    stdio: 'ignore',
  });
  const client = await BacnetClient.open({
    bindAddress: '127.0.0.1',
    port: 0,
    apduTimeoutMs: 1000,
    retries: 2,
  });
  const peer = { host: '127.0.0.1', port };
  const ref = { objectType: AO, instance: 1, property: 85 };
  const lease = new LeaseBook(join(mkdtempSync(join(tmpdir(), 'prepay-bench-')), 'lease'), {
    leaseMs: 600_000,
    bindAddress: '127.0.0.1',
    apduTimeoutMs: 1000,
    retries: 1,
  });
  lease.start();
  const commander = new BacnetCommander({
    owner: 'bench',
    client,
    peer,
    lease,
    verifyEveryMs: 0,
    onEvent: () => undefined,
  });
  commander.start([]);
  try {
    for (let attempt = 0; attempt < 50; attempt += 1) {
      try {
        await client.readProperty(peer, ref);
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const steps = parseShedTable(
      'step,kind,target,value,reliefKw,minHoldMinutes\nchw,bacnet,analog-output:1,10,5,1\nT1,power-limit,T1/E-1,3000,200,1\n',
      DEVICE,
      10,
    );
    const toLimit: number[] = [];
    const toLanded: number[] = [];
    const bare: number[] = [];
    const T0 = Date.parse('2026-06-01T10:00:00Z');
    for (let round = 0; round < ROUNDS; round += 1) {
      // The baseline: write and read back with the same client, nothing else.
      const b0 = performance.now();
      await client.writeProperty(peer, ref, 20 + (round % 5), 10);
      await client.readProperty(peer, ref);
      await client.readProperty(peer, { ...ref, property: 87 });
      bare.push(performance.now() - b0);
      await client.writeProperty(peer, ref, null, 10);

      let limitAt = 0;
      let landed: Promise<unknown> = Promise.resolve();
      const runner = new DemandRunner({
        demand: { window: { intervalMs: 15 * MIN }, targetKw: 100, steps },
        priceRules: [],
        siteMeters: new Set(),
        by: 'bench',
        limitMinutes: 60,
        sendLimit: () => {
          limitAt = performance.now();
        },
        sendCommand: (command) => {
          landed = commander.set(command);
        },
        sendReport: () => undefined,
      });
      const reading = (minute: number, kWh: number): void => {
        runner.meterMessage(
          {
            meterId: 'M',
            utility: 'electricity',
            value: kWh,
            unit: 'kWh',
            ts: T0 + minute * MIN,
            quality: 'good',
          },
          T0 + minute * MIN,
        );
      };
      reading(0, 1000);
      const t0 = performance.now();
      reading(1, 1000 + 300 / 60); // 300 kW: the window is predicted far over 100 kW
      await landed;
      toLanded.push(performance.now() - t0);
      toLimit.push(limitAt - t0);
      await commander.set({
        key: 'demand:chw',
        target: { device: DEVICE, objectType: AO, instance: 1 },
        value: null,
        priority: 10,
        reason: 'bench reset',
      });
    }
    const bareP50 = percentile(bare, 50);
    const bareP99 = percentile(bare, 99);
    return [
      lowerIsBetter(
        'loadcontrol: reading over the prediction to BEMS write landed (p50)',
        percentile(toLanded, 50),
        'ms',
        'bare write + read-back, same client and bacserv (p50)',
        bareP50,
        `${ROUNDS} rounds; p99 ${percentile(toLanded, 99).toFixed(2)} ms vs ${bareP99.toFixed(2)} ms bare`,
      ),
      lowerIsBetter(
        'loadcontrol: reading over the prediction to BEMS write landed (p99)',
        percentile(toLanded, 99),
        'ms',
        'bare write + read-back, same client and bacserv (p99)',
        bareP99,
      ),
      lowerIsBetter(
        'loadcontrol: reading over the prediction to limit request sent (p50)',
        percentile(toLimit, 50),
        'ms',
        'bare write + read-back, same client and bacserv (p50)',
        bareP50,
        `p99 ${percentile(toLimit, 99).toFixed(3)} ms`,
      ),
    ];
  } finally {
    await commander.close(2000).catch(() => undefined);
    lease.stop();
    await client.close();
    server.kill('SIGTERM');
  }
}
