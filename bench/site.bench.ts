/**
 * The whole site at scale: the reference site's flow written for 4,000 tenant units with an electricity and
 * a water meter each (8,000 meters on 40 simulated Modbus TCP gateways of 200), polled every 15 s, in a real
 * Node-RED process: CPU share of one core and resident memory in the steady state, beside a bare Node-RED
 * process (an empty flow) measured the same way in the same run. Targets: under 25% of one core and under
 * 300 MB. Node-RED runs with a 160 MB V8 heap limit, as the README recommends for a site this size; one run
 * shows the memory with V8's default heap sizing (which on a large machine lets garbage pile up).
 *
 * The simulator runs in its own process, so the figures are Node-RED's alone. Billing every 5 minutes (the
 * reference site's setting), then billing every poll (every 15 s reading posted to the ledger), which also
 * checks that every one of the 8,000 meters was read, priced and posted.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteLedgerStore } from '../dist/nodes/store/sqlite-ledger-store';
import { freePortRange, NodeRedProcess } from '../test/support/node-red-process';
import { BenchResult, lowerIsBetter } from './harness';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const root = join(__dirname, '..', '..');
const TENANTS = 4000;
const SETTLE_MS = 15_000;
/** The V8 heap limit a site this size runs with (`node --max-old-space-size=160`, see the README). */
const HEAP_MB = 160;

const WINDOW_MS = 60_000;
/**
 * Billed every 5 minutes, the site bills in bursts: every meter crosses the boundary within one poll cycle
 * after it, so a minute's CPU depends on whether a boundary falls in it. The CPU of that run is measured over
 * one whole billing period, after the first boundary (which also creates each meter's consumption points).
 */
const BILLING_PERIOD_MS = 300_000;

interface FlowNode {
  id: string;
  type: string;
  port?: number;
  billMinutes?: number;
  [key: string]: unknown;
}

/** utime + stime of a process, in ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks of 10 ms
}

function memory(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

async function startSimulator(base: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      join(root, 'dist', 'nodes', 'simulator', 'cli.js'),
      ...['--tenants', String(TENANTS), '--port', String(base), '--seed', '7'],
      ...['--water-every', '1', '--cooling-every', '1000000', '--meters-per-gateway', '200'],
      ...['--time-zone', 'Asia/Kuala_Lumpur', '--csv', '/dev/null'],
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('simulating')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`simulator exited ${code}`)));
  });
  return child;
}

interface Measured {
  /** From "Started flows" until every account is open and every relay confirmed and audited. */
  startupS: number;
  cpuShare: number;
  /** The busiest 10 s of the window. */
  peakShare: number;
  windowS: number;
  rssMb: number;
  peakMb: number;
  heapMb: number;
  /** Charges posted per second during the measurement window. */
  postedPerS: number;
  userDir: string;
  log: string;
}

/** Accounts opened and relays confirmed so far, read from the site's SQLite ledger (WAL: readers welcome). */
function progress(userDir: string): { accounts: number; relays: number } {
  const file = join(userDir, 'prepay-ledger.db');
  if (!existsSync(file)) return { accounts: 0, relays: 0 };
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const one = (sql: string): number => {
      try {
        return Number((db.prepare(sql).get() as { n: number }).n);
      } catch {
        return 0; // not migrated yet
      }
    };
    return {
      accounts: one('SELECT COUNT(*) AS n FROM accounts'),
      relays: one("SELECT COUNT(DISTINCT meter_id) AS n FROM supply_audit WHERE kind = 'command'"),
    };
  } finally {
    db.close();
  }
}

/** Charges the ledger posted between two wall-clock times (the site runs on the wall clock here). */
function charges(userDir: string, from: number, to: number): number {
  const file = join(userDir, 'prepay-ledger.db');
  if (!existsSync(file)) return 0;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const row = db
      .prepare("SELECT COUNT(*) AS n FROM entries WHERE kind = 'charge' AND posted_at >= ? AND posted_at < ?")
      .get(from, to) as { n: number };
    return Number(row.n);
  } finally {
    db.close();
  }
}

async function measure(
  flows: unknown[],
  expect: { accounts: number; relays: number },
  heapMb?: number,
  billingPeriodMs?: number,
): Promise<Measured> {
  const userDir = mkdtempSync(join(tmpdir(), 'prepay-bench-site-'));
  mkdirSync(join(userDir, 'node_modules'), { recursive: true });
  symlinkSync(root, join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
  const red = await NodeRedProcess.start({
    userDir,
    flows,
    startTimeoutMs: 120_000,
    env: heapMb ? { NODE_OPTIONS: `--max-old-space-size=${heapMb}` } : {},
  });
  try {
    const pid = red.child.pid!;
    const started = performance.now();
    // Steady state: the start-up work (opening accounts, taking every relay in hand) is over.
    for (;;) {
      const now = progress(userDir);
      if (now.accounts >= expect.accounts && now.relays >= expect.relays) break;
      if (performance.now() - started > 300_000)
        throw new Error(`site not steady after 300 s: ${JSON.stringify(now)} of ${JSON.stringify(expect)}`);
      await sleep(1000);
    }
    const startupS = (performance.now() - started) / 1000;
    await sleep(SETTLE_MS);
    if (billingPeriodMs) {
      const firstBoundary = Math.ceil(Date.now() / billingPeriodMs) * billingPeriodMs;
      await sleep(firstBoundary + SETTLE_MS + 30_000 - Date.now());
    }
    const windowMs = billingPeriodMs ?? WINDOW_MS;
    const cpu0 = cpuMs(pid);
    const t0 = performance.now();
    const from = Date.now();
    // CPU per 10 s, for the busiest stretch (the billing burst).
    let peakShare = 0;
    for (let last = cpu0, lastT = t0; performance.now() - t0 < windowMs;) {
      await sleep(Math.min(10_000, windowMs - (performance.now() - t0)));
      const cpu = cpuMs(pid);
      const now = performance.now();
      peakShare = Math.max(peakShare, (cpu - last) / (now - lastT));
      last = cpu;
      lastT = now;
    }
    const cpuShare = (cpuMs(pid) - cpu0) / (performance.now() - t0);
    const postedPerS = charges(userDir, from, Date.now()) / (windowMs / 1000);
    const diagnostics = (await (await red.request('/diagnostics')).json()) as {
      nodejs?: { memoryUsage?: { heapUsed?: number } };
    };
    const heapUsedMb = (diagnostics.nodejs?.memoryUsage?.heapUsed ?? 0) / 2 ** 20;
    return {
      startupS,
      cpuShare,
      peakShare,
      windowS: windowMs / 1000,
      heapMb: heapUsedMb,
      postedPerS,
      ...memory(pid),
      userDir,
      log: red.log(),
    };
  } finally {
    await red.stop();
  }
}

export async function run(): Promise<BenchResult[]> {
  const base = await freePortRange(40);
  const file = join(mkdtempSync(join(tmpdir(), 'prepay-bench-flow-')), 'site.json');
  execFileSync(process.execPath, [
    join(root, 'scripts', 'reference-site.mjs'),
    ...['--tenants', String(TENANTS), '--water-every', '1', '--cooling-every', '1000000', '--no-gas'],
    ...['--first-port', String(base), '--out', file],
  ]);
  // The simulator runs outside Node-RED; everything else is the reference site's flow, scaled.
  const site = (JSON.parse(readFileSync(file, 'utf8')) as FlowNode[]).filter(
    (n) => n.type !== 'prepay-simulator',
  );
  const meters = site.filter((n) => n.type === 'prepay-meter');
  const meterCount = meters.reduce((sum, n) => sum + (n.table as unknown[]).length, 0);
  const relays = site
    .filter((n) => n.type === 'prepay-cutoff')
    .reduce((sum, n) => sum + (n.table as unknown[]).length, 0);
  const expect = { accounts: TENANTS, relays };
  const bare = [{ id: 'bench-tab', type: 'tab', label: 'bare' }];

  const simulator = await startSimulator(base);
  try {
    const baseline = await measure(bare, { accounts: 0, relays: 0 }, HEAP_MB);
    const fiveMinutes = await measure(site, expect, HEAP_MB, BILLING_PERIOD_MS);
    const v8Default = await measure(site, expect);
    for (const meter of meters) meter.billMinutes = 0;
    const everyPoll = await measure(site, expect, HEAP_MB);

    // Every meter was read, priced and posted in the every-poll run; none lost communication.
    const store = new SqliteLedgerStore({ path: join(everyPoll.userDir, 'prepay-ledger.db') });
    await store.init();
    const billed = new Set<string>();
    for (const account of await store.listAccounts())
      for (const entry of await store.entriesOf(account.id))
        if (entry.kind === 'charge') billed.add(String(entry.meta.meterId));
    await store.close();
    const lost = [fiveMinutes, v8Default, everyPoll].map(
      (m) => (m.log.match(/communication lost/g) ?? []).length,
    );
    for (const m of [baseline, fiveMinutes, v8Default, everyPoll])
      rmSync(m.userDir, { recursive: true, force: true });

    const check = `${everyPoll.postedPerS.toFixed(0)} charges posted/s (one per poll would be ${(meterCount / 15).toFixed(0)}/s); ${billed.size} of ${meterCount} meters billed; ${lost.join('/')} comm-loss alarms`;
    const pct = (share: number): number => share * 100;
    return [
      lowerIsBetter(
        `site: ${meterCount.toLocaleString('en-US')} meters polled every 15 s, billed every 5 min: CPU`,
        pct(fiveMinutes.cpuShare),
        '% of one core',
        'bare Node-RED, empty flow',
        pct(baseline.cpuShare),
        `target < 25%; one billing period (${fiveMinutes.windowS.toFixed(0)} s) after the first, busiest 10 s ${pct(fiveMinutes.peakShare).toFixed(0)}%; steady ${fiveMinutes.startupS.toFixed(0)} s after deploy (all accounts open, all relays confirmed); ${fiveMinutes.postedPerS.toFixed(1)} charges posted/s`,
      ),
      lowerIsBetter(
        `site: ${meterCount.toLocaleString('en-US')} meters, billed every 5 min: resident memory`,
        fiveMinutes.rssMb,
        'MB',
        'bare Node-RED, empty flow',
        baseline.rssMb,
        `target < 300 MB; heap limit ${HEAP_MB} MB, JS heap in use ${fiveMinutes.heapMb.toFixed(0)} MB, peak RSS ${fiveMinutes.peakMb.toFixed(0)} MB`,
      ),
      lowerIsBetter(
        `site: ${meterCount.toLocaleString('en-US')} meters, billed every 5 min: resident memory, V8 default heap sizing`,
        v8Default.rssMb,
        'MB',
        'bare Node-RED, empty flow',
        baseline.rssMb,
        `JS heap in use ${v8Default.heapMb.toFixed(0)} MB (mostly garbage V8 has not collected yet), peak RSS ${v8Default.peakMb.toFixed(0)} MB, CPU ${pct(v8Default.cpuShare).toFixed(1)}%`,
      ),
      lowerIsBetter(
        `site: ${meterCount.toLocaleString('en-US')} meters, billed every poll: CPU`,
        pct(everyPoll.cpuShare),
        '% of one core',
        'bare Node-RED, empty flow',
        pct(baseline.cpuShare),
        check,
      ),
      lowerIsBetter(
        `site: ${meterCount.toLocaleString('en-US')} meters, billed every poll: resident memory`,
        everyPoll.rssMb,
        'MB',
        'bare Node-RED, empty flow',
        baseline.rssMb,
        `heap limit ${HEAP_MB} MB, JS heap in use ${everyPoll.heapMb.toFixed(0)} MB, peak RSS ${everyPoll.peakMb.toFixed(0)} MB`,
      ),
    ];
  } finally {
    simulator.kill();
  }
}
