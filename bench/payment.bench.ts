/**
 * Payment webhook throughput, each beside a baseline measured in the same run:
 *
 * - signature checks per second (parse the header, HMAC-SHA256 over "<t>.<body>", constant-time compare,
 *   timestamp window) against raw crypto.createHmac of the same bytes: what verification adds to the HMAC;
 * - deliveries per second over real HTTP into a real Node-RED 4.1 (http in with the raw body -> prepay-payment
 *   -> http response) against a bare flow (http in -> function -> http response) with the same requests, 16 in
 *   flight: what the node costs in a flow;
 * - the whole path to a committed top-up (-> prepay-ledger on SQLite, synchronous=FULL -> http response), against
 *   the same bare flow.
 *
 * Every delivery is signed anew (distinct payments), so the replay guard never short-cuts a check.
 */
import { createHmac } from 'node:crypto';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { signatureHeader, verifySignature } from '../dist/nodes/core/payments/signature';
import { tempUserDir } from '../test/support/node-red-helper';
import { NodeRedProcess } from '../test/support/node-red-process';
import { BenchResult, higherIsBetter, median } from './harness';

const SECRET = 'whsec_bench_0c1d';
const CHECKS = 100_000;
const REQUESTS = 2000;
const IN_FLIGHT = 16;

function body(i: number): string {
  return JSON.stringify({
    type: 'payment.succeeded',
    paymentId: `pi_bench_${i}`,
    accountId: `T${String(i % 100).padStart(4, '0')}`,
    amount: 1000 + (i % 500),
    currency: 'GBP',
    method: 'card',
  });
}

function checksPerSecond(): { ours: number; raw: number } {
  const t = Math.floor(Date.now() / 1000);
  const bodies = Array.from({ length: 1000 }, (_, i) => body(i));
  const headers = bodies.map((b) => signatureHeader(SECRET, t, b));
  const ours: number[] = [];
  const raw: number[] = [];
  let sink = 0;
  for (let round = 0; round < 5; round += 1) {
    let start = process.hrtime.bigint();
    for (let i = 0; i < CHECKS; i += 1) {
      const check = verifySignature({
        header: headers[i % 1000],
        rawBody: bodies[i % 1000] as string,
        secrets: [SECRET],
        nowMs: t * 1000,
        toleranceSeconds: 300,
      });
      if (check.ok) sink += 1;
    }
    ours.push(CHECKS / (Number(process.hrtime.bigint() - start) / 1e9));
    start = process.hrtime.bigint();
    for (let i = 0; i < CHECKS; i += 1) {
      const digest = createHmac('sha256', SECRET)
        .update(`${t}.${bodies[i % 1000] as string}`)
        .digest('hex');
      if (digest.length === 64) sink += 1;
    }
    raw.push(CHECKS / (Number(process.hrtime.bigint() - start) / 1e9));
  }
  if (sink !== 10 * CHECKS) throw new Error('a check failed');
  return { ours: median(ours), raw: median(raw) };
}

function flows(): unknown[] {
  const tab = 'benchtab00000001';
  const httpIn = (id: string, url: string, next: string) => ({
    id,
    type: 'http in',
    z: tab,
    url,
    method: 'post',
    upload: false,
    skipBodyParsing: true,
    wires: [[next]],
  });
  const payment = (id: string, next: string) => ({
    id,
    type: 'prepay-payment',
    z: tab,
    secretFrom: 'env',
    secretEnv: 'BENCH_WEBHOOK_SECRET',
    tolerance: 300,
    referencePrefix: 'pay:',
    amountIn: 'auto',
    currency: 'GBP',
    wires: [[next], ['out']],
  });
  const fn = (id: string, func: string, next = 'out') => ({
    id,
    type: 'function',
    z: tab,
    func,
    outputs: 1,
    libs: [],
    wires: [[next]],
  });
  return [
    { id: tab, type: 'tab', label: 'bench' },
    { id: 'out', type: 'http response', z: tab, statusCode: '', headers: {}, wires: [] },
    // Bare: the same raw body in, a small JSON answer out.
    httpIn('bareIn', '/bare', 'bareFn'),
    fn('bareFn', 'msg.statusCode = 200; msg.payload = { ok: true, bytes: msg.payload.length }; return msg;'),
    // Verified: prepay-payment, then the same answer.
    httpIn('payIn', '/verify', 'pay'),
    payment('pay', 'payFn'),
    fn(
      'payFn',
      'msg.statusCode = 200; msg.payload = { ok: true, reference: msg.payload.reference }; return msg;',
    ),
    // Committed: prepay-payment, the ledger on SQLite, then the answer after the commit.
    httpIn('ledgerIn', '/topup', 'payLedger'),
    payment('payLedger', 'ledger'),
    {
      id: 'ledger',
      type: 'prepay-ledger',
      z: tab,
      store: 'store',
      emergencyCredit: '0',
      emergencyMode: 'off',
      stateOutput: 'change',
      snapshotMinutes: 0,
      maxQueue: 100000,
      timezone: 'UTC',
      wires: [['ledgerFn'], []],
    },
    fn(
      'ledgerFn',
      'if (!msg.res) return null; msg.statusCode = 200; msg.payload = { ok: true, balance: msg.payload.balance }; return msg;',
    ),
    { id: 'store', type: 'prepay-store', backend: 'sqlite', file: 'bench-ledger.db', synchronous: 'FULL' },
    {
      id: 'open',
      type: 'inject',
      z: tab,
      once: true,
      onceDelay: 0.2,
      props: [],
      wires: [['opener']],
    },
    fn(
      'opener',
      "return [Array.from({ length: 100 }, (_, i) => ({ payload: { command: 'open', accountId: 'T' + String(i).padStart(4, '0'), currency: 'GBP', reference: 'open-' + i } }))];",
      'ledger',
    ),
  ];
}

/** Posts `bodies` with at most IN_FLIGHT outstanding; returns requests per second. Every answer must be 200. */
async function load(red: NodeRedProcess, path: string, bodies: string[], sign: boolean): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  async function worker(): Promise<void> {
    while (next < bodies.length) {
      const text = bodies[next++] as string;
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (sign) headers['x-prepay-signature'] = signatureHeader(SECRET, Math.floor(Date.now() / 1000), text);
      const response = await red.request(path, { method: 'POST', headers, body: text });
      if (response.status !== 200) throw new Error(`${path}: ${response.status} ${await response.text()}`);
      await response.arrayBuffer();
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return bodies.length / (Number(process.hrtime.bigint() - start) / 1e9);
}

export async function run(): Promise<BenchResult[]> {
  const checks = checksPerSecond();
  const userDir = tempUserDir();
  mkdirSync(join(userDir, 'node_modules'), { recursive: true });
  symlinkSync(join(__dirname, '..', '..'), join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
  const red = await NodeRedProcess.start({
    userDir,
    flows: flows(),
    env: { BENCH_WEBHOOK_SECRET: SECRET },
  });
  const bare: number[] = [];
  const verified: number[] = [];
  const committed: number[] = [];
  try {
    await new Promise((resolve) => setTimeout(resolve, 1500)); // accounts opened
    let offset = 0;
    const batch = (): string[] => Array.from({ length: REQUESTS }, () => body(offset++));
    await load(red, '/verify', batch(), true); // warm-up
    // Interleaved rounds, so a neighbour's load on the machine falls on every figure alike.
    for (let round = 0; round < 5; round += 1) {
      bare.push(await load(red, '/bare', batch(), true));
      verified.push(await load(red, '/verify', batch(), true));
      committed.push(await load(red, '/topup', batch(), true));
    }
  } finally {
    await red.stop();
  }
  return [
    higherIsBetter(
      'payment: signature checks (parse, HMAC-SHA256, constant-time compare, window)',
      checks.ours,
      'checks/s',
      'raw crypto.createHmac of the same bytes',
      checks.raw,
    ),
    higherIsBetter(
      'payment: webhook deliveries verified through prepay-payment over HTTP (16 in flight)',
      median(verified),
      'requests/s',
      'bare http in -> function -> http response, same requests',
      median(bare),
    ),
    higherIsBetter(
      'payment: webhook to committed top-up (prepay-payment -> ledger on SQLite, FULL)',
      median(committed),
      'requests/s',
      'bare http in -> function -> http response, same requests',
      median(bare),
      'each answered after its posting is committed',
    ),
  ];
}
