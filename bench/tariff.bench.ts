/**
 * Tariff engine throughput: charges per second for flat, inclining-block and time-of-use tariffs,
 * each beside the cost of cloning the same consumption message the way Node-RED clones a message
 * for a second wire (RED.util.cloneMessage), measured in the same run. Target: a TOU charge costs
 * no more than 3 message clones.
 */
import { compileTariff } from '../dist/nodes/core/tariff/compile';
import { ConsumptionInput, TariffEngine } from '../dist/nodes/core/tariff/engine';
import { BenchResult, median } from './harness';
import { TNB_A, TNB_C2 } from '../test/support/tariff-fixtures';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { util } = require('@node-red/util') as { util: { cloneMessage<T>(msg: T): T } };

const ACCOUNTS = 2000;
const QUARTER_HOUR = 15 * 60_000;

const TARIFFS = {
  flat: {
    currency: 'GBP',
    priceUnit: 'minor',
    utility: 'electricity',
    timezone: 'Europe/London',
    energy: { type: 'flat', rate: '24.50' },
  },
  block: TNB_A,
  'tou-c2': TNB_C2,
  'tou-london': {
    currency: 'GBP',
    priceUnit: 'minor',
    utility: 'electricity',
    timezone: 'Europe/London',
    holidays: ['2024-12-25', '2024-12-26'],
    energy: {
      type: 'tou',
      rates: { peak: '38.10', day: '27.40', night: '14.20' },
      default: 'night',
      schedule: [
        { days: ['weekday'], from: '16:00', to: '19:00', period: 'peak' },
        { days: ['weekday'], from: '07:00', to: '23:00', period: 'day' },
        { days: ['saturday', 'sunday', 'holiday'], from: '09:00', to: '21:00', period: 'day' },
      ],
    },
    taxes: [{ name: 'VAT', percent: '5' }],
  },
};

/** A consumption message as the meter reader sends it. */
function message(i: number): { payload: Record<string, unknown>; topic: string; _msgid: string } {
  const account = i % ACCOUNTS;
  const to = Date.UTC(2024, 9, 1) + Math.floor(i / ACCOUNTS + 1) * QUARTER_HOUR;
  return {
    _msgid: `m${i}`,
    topic: 'consumption',
    payload: {
      meterId: `E-${account}`,
      accountId: `T${account}`,
      utility: 'electricity',
      value: 12345.678 + i,
      unit: 'kWh',
      ts: to,
      quality: 'good',
      delta: 2.5 + (i % 7) / 10,
      from: to - QUARTER_HOUR,
      to,
      readingId: `E-${account}:${to}`,
    },
  };
}

/** Median time per operation (µs) of `op` over pre-built messages, in rounds of `batch`. */
function microsPerOp(op: (msg: ReturnType<typeof message>) => unknown, rounds = 9, batch = 20_000): number {
  const times: number[] = [];
  let next = 0;
  for (let r = 0; r < rounds; r++) {
    const msgs = Array.from({ length: batch }, () => message(next++));
    const start = process.hrtime.bigint();
    for (const msg of msgs) op(msg);
    times.push(Number(process.hrtime.bigint() - start) / 1e3 / batch);
  }
  return median(times.slice(2)); // the first rounds warm up the JIT
}

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const [name, document] of Object.entries(TARIFFS)) {
    const tariff = compileTariff(document, name);
    const engine = new TariffEngine();
    // Baseline and subject interleaved, on the same messages, in the same process.
    const cloneMicros = microsPerOp((msg) => util.cloneMessage(msg));
    const chargeMicros = microsPerOp((msg) =>
      engine.priceConsumption(tariff, msg.payload as unknown as ConsumptionInput, { now: 0 }),
    );
    const clones = chargeMicros / cloneMicros;
    results.push({
      name: `tariff ${name}: charges per second`,
      value: 1e6 / chargeMicros,
      unit: 'charges/s',
      baseline: 'cloneMessage of the same msg (per s)',
      baselineValue: 1e6 / cloneMicros,
      ratio: cloneMicros / chargeMicros,
      note: `one charge costs ${clones.toFixed(2)} message clones${name.startsWith('tou') ? ' (target <= 3)' : ''}`,
    });
  }
  return results;
}
