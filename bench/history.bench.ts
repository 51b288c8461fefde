/**
 * History throughput: points per second written to a real influxd (Debian's, started on loopback for the run)
 * through the history writer (disk queue in SQLite, batches of 5,000, ordered replay) against the raw `influx`
 * client writing the same points (already in its own shape) in the same batches, in the same run. Target >= 0.8x.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InfluxDB } from 'influx';
import type { Point } from '../dist/nodes/core/history/points';
import { HistoryWriter } from '../dist/nodes/history/history-writer';
import { InfluxTarget } from '../dist/nodes/history/influx-target';
import { PointQueue } from '../dist/nodes/history/point-queue';
import { haveInfluxd, Influxd } from '../test/support/influxd';
import { BenchResult, higherIsBetter, median } from './harness';

const POINTS = 50_000;
const BATCH = 5000;

function points(round: number, accountOffset: number): Point[] {
  const out: Point[] = [];
  const t0 = Date.UTC(2026, 0, 1) + round * 10_000_000_000;
  for (let i = 0; i < POINTS; i += 1) {
    out.push({
      measurement: 'consumption',
      tags: {
        meterId: `E-${(i % 200) + accountOffset}`,
        accountId: `T${(i % 200) + accountOffset}`,
        utility: 'electricity',
        unit: 'kWh',
        estimated: 'false',
      },
      fields: { delta: 0.25, value: 1000 + i },
      timestamp: t0 + i * 1000,
    });
  }
  return out;
}

export async function run(): Promise<BenchResult[]> {
  if (!haveInfluxd()) {
    console.warn('history bench: influxd not installed (apt-get install influxdb); skipped');
    return [];
  }
  const server = await Influxd.create();
  const dir = mkdtempSync(join(tmpdir(), 'prepay-bench-history-'));
  const raw = new InfluxDB({ host: '127.0.0.1', port: server.port, database: 'bench' });
  await raw.createDatabase('bench');
  const target = new InfluxTarget({
    host: '127.0.0.1',
    port: server.port,
    database: 'bench',
    timeoutMs: 30_000,
  });
  const ours: number[] = [];
  const bare: number[] = [];
  try {
    for (let round = 0; round < 5; round += 1) {
      // Raw client: the same points in batches of 5,000.
      const rawPoints = points(round * 2, 0).map((p) => ({
        measurement: p.measurement,
        tags: p.tags,
        fields: p.fields,
        timestamp: new Date(p.timestamp),
      }));
      let start = process.hrtime.bigint();
      for (let i = 0; i < rawPoints.length; i += BATCH) {
        await raw.writePoints(rawPoints.slice(i, i + BATCH), { precision: 'ms' });
      }
      bare.push(POINTS / (Number(process.hrtime.bigint() - start) / 1e9));
      // Through the writer: each message of 100 points queued on disk, drained in batches of 5,000.
      const queue = new PointQueue(join(dir, `queue-${round}.db`), 10_000_000);
      const writer = new HistoryWriter(queue, target, {
        batchSize: BATCH,
        minBackoffMs: 100,
        maxBackoffMs: 1000,
      });
      const ourPoints = points(round * 2 + 1, 1000);
      start = process.hrtime.bigint();
      // Messages arrive as Node-RED delivers them: asynchronously, so writing overlaps with queueing.
      for (let i = 0; i < ourPoints.length; i += 100) {
        writer.enqueue(ourPoints.slice(i, i + 100));
        if (i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      await writer.drained(120_000);
      ours.push(POINTS / (Number(process.hrtime.bigint() - start) / 1e9));
      writer.close();
    }
  } finally {
    await server.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  return [
    higherIsBetter(
      'history: points written per second (disk queue, batches of 5,000)',
      median(ours),
      'points/s',
      'the influx client writing the same batches',
      median(bare),
      'target >= 0.8x; every point on disk before its message is acknowledged',
    ),
  ];
}
