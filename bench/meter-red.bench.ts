/**
 * The meter reader measured inside a real Node-RED 4.1 process, beside raw modbus-serial in another Node-RED process,
 * reading the same blocks from the same Modbus TCP server (the simulator, a child process on 127.0.0.1 and
 * free ports), in the same run.
 *
 * (a) Poll cycle, 100 and 1,000 SDM630 (1,000: five gateways of 200, one reader and one link each): from the
 *     request that starts a cycle (a "poll" command to every reader) to the last reading delivered to the
 *     next node (a counter node), against a function node looping modbus-serial over the same units and
 *     blocks (one client per gateway, the gateways in parallel) and decoding nothing. The raw loop runs in a
 *     Node-RED process of its own, started alike beside the readers' one: sharing one process, each side's
 *     garbage and its calls through modbus-serial's shared code (optimised for one caller, then the other)
 *     landed in the other's cycles. Rounds alternate which goes first. Billing every 5 minutes, and for 1,000
 *     meters billing every value too.
 * (b) How long a reading takes from its answer to the next node (its time stamp is taken at the answer), and
 *     how long consumption waited for its state write (the readers' stats), billing every value.
 * (c) CPU of the whole Node-RED process (from /proc) for 1,000 meters polled every 15 s on their schedule.
 *     Billing every 5 minutes, building time is set to cross a billing boundary during the run: the CPU
 *     between boundaries and that of the cycle in which every meter bills give the average over a period.
 *     Billing every value, over 45 s. The baseline is the CPU of the raw loop's process for the same requests.
 */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { planBlocks } from '../dist/nodes/core/meter/block-plan';
import { builtInProfiles } from '../dist/nodes/meter/profile-registry';
import { tempUserDir } from '../test/support/node-red-helper';
import { freePort, NodeRedProcess } from '../test/support/node-red-process';
import { METERS_PER_GATEWAY, startSimulator } from './simulator-process';
import { BenchResult, lowerIsBetter, median, percentile } from './harness';

const root = join(__dirname, '..', '..');
const PER_GATEWAY = METERS_PER_GATEWAY;
/** BENCH_METER_RED_ROUNDS: more rounds (for profiling). */
const ROUNDS = Number(process.env.BENCH_METER_RED_ROUNDS) || 30;
/**
 * Unmeasured rounds first: both sides (and the simulator) take about ten cycles to be compiled and warm, a
 * tenth to a half slower till then.
 */
const WARM_ROUNDS = 10;
const CPU_WINDOW_MS = 45_000;
const BILLING_MS = 300_000;
/** When building time crosses a billing boundary, after Node-RED is started (ms). */
const BOUNDARY_AFTER_MS = 80_000;
const TICK_MS = 10; // Linux clock ticks in /proc/<pid>/stat (USER_HZ 100)

type FlowNode = Record<string, unknown>;

/**
 * Counts the readings of a cycle started by /cycle/prepay (global "cycle") and their age (now - the reading's
 * time stamp, taken at its answer); answers the HTTP request with the last one.
 */
const SINK_JS = `module.exports = function (RED) {
  function BenchSink(config) {
    RED.nodes.createNode(this, config);
    const global = this.context().global;
    const now = global.get('now');
    // The cycle being counted, looked up in the global context only when none is (a lookup per reading
    // would weigh on the figure as if it were delivery).
    let b;
    this.on('input', (msg, send, done) => {
      if (!b) b = global.get('cycle');
      if (b) {
        b.got += 1;
        b.lat.push(Date.now() - msg.payload.ts);
        if (b.got === b.expect) {
          global.set('cycle', undefined);
          b.msg.payload = { ms: now() - b.start, latency: b.lat };
          send(b.msg);
          b = undefined;
        }
      }
      done();
    });
  }
  RED.nodes.registerType('bench-sink', BenchSink);
};
`;

function fn(id: string, code: string, wires: string[][], outputs = 1): FlowNode {
  return { id, type: 'function', z: 'tab', func: code, outputs, wires, libs: [] };
}

/** Which Node-RED process: the readers (with the HTTP endpoints that drive their cycles), or the raw loop. */
type Part = 'readers' | 'raw';

/** The raw loop: modbus-serial over the same units and blocks, one client per gateway, in a function node. */
function rawFlow(): FlowNode[] {
  return [
    { id: 'tab', type: 'tab', label: 'bench' },
    { id: 'inRaw', type: 'http in', z: 'tab', url: '/cycle/raw', method: 'post', wires: [['raw']] },
    fn(
      'raw',
      `const ModbusRTU = global.get('ModbusRTU');
const now = global.get('now');
const { ports, units, blocks } = msg.payload;
let clients = context.get('clients');
if (!clients) {
  clients = [];
  for (const port of ports) {
    const client = new ModbusRTU();
    await client.connectTCP('127.0.0.1', { port });
    client.setTimeout(1000);
    clients.push(client);
  }
  context.set('clients', clients);
}
const start = now();
await Promise.all(clients.map(async (client, g) => {
  const count = Math.min(${PER_GATEWAY}, units - g * ${PER_GATEWAY});
  for (let unit = 1; unit <= count; unit += 1) {
    client.setID(unit);
    for (const b of blocks) {
      if (b.function === 4) await client.readInputRegisters(b.address, b.length);
      else await client.readHoldingRegisters(b.address, b.length);
    }
  }
}));
msg.payload = { ms: now() - start };
return msg;`,
      [['out']],
    ),
    { id: 'out', type: 'http response', z: 'tab', statusCode: '', headers: {} },
  ];
}

/** Readers (one per gateway, `meters` in all) and the HTTP endpoints that drive their cycles. */
function readerFlow(ports: number[], meters: number, interval: number, billMinutes: number): FlowNode[] {
  const nodes: FlowNode[] = [{ id: 'tab', type: 'tab', label: 'bench' }];
  const readers: string[] = [];
  ports.forEach((port, g) => {
    const count = Math.min(PER_GATEWAY, meters - g * PER_GATEWAY);
    if (count <= 0) return;
    nodes.push({ id: `link${g}`, type: 'prepay-modbus', kind: 'tcp', host: '127.0.0.1', port: String(port) });
    const table = Array.from({ length: count }, (_, i) => ({
      meterId: `E-${g}-${i + 1}`,
      unitId: i + 1,
      profile: 'eastron-sdm630',
      utility: 'electricity',
      accountId: `T${g}-${i + 1}`,
    }));
    nodes.push({
      id: `meter${g}`,
      type: 'prepay-meter',
      z: 'tab',
      source: 'modbus',
      link: `link${g}`,
      interval: String(interval),
      billMinutes: String(billMinutes),
      table,
      wires: [['isStats'], ['sink'], []],
    });
    readers.push(`meter${g}`);
  });
  nodes.push(
    { id: 'inPrepay', type: 'http in', z: 'tab', url: '/cycle/prepay', method: 'post', wires: [['start']] },
    fn(
      'start',
      `const b = { start: global.get('now')(), expect: ${meters}, got: 0, lat: [], msg };
global.set('cycle', b);
return { topic: 'poll' };`,
      [readers],
    ),
    { id: 'sink', type: 'bench-sink', z: 'tab', wires: [['out']] },
    {
      id: 'isStats',
      type: 'switch',
      z: 'tab',
      property: 'topic',
      propertyType: 'msg',
      rules: [{ t: 'eq', v: 'stats', vt: 'str' }],
      checkall: 'true',
      outputs: 1,
      wires: [['stats']],
    },
    { id: 'inStats', type: 'http in', z: 'tab', url: '/stats', method: 'post', wires: [['askStats']] },
    fn(
      'askStats',
      `global.set('stats', { want: ${readers.length}, got: [], msg });
return { topic: 'stats' };`,
      [readers],
    ),
    fn(
      'stats',
      `const s = global.get('stats');
if (!s || msg.topic !== 'stats') return null;
s.got.push(msg.payload);
if (s.got.length !== s.want) return null;
global.set('stats', undefined);
s.msg.payload = s.got;
return s.msg;`,
      [['out']],
    ),
    { id: 'out', type: 'http response', z: 'tab', statusCode: '', headers: {} },
  );
  return nodes;
}

/**
 * A Node-RED process reading `meters` meters (or, for `raw`, holding the raw loop). With `boundaryAt` (wall
 * ms), building time runs at the wall clock's pace but reaches a 5-minute billing boundary at that moment.
 */
async function startRed(
  part: Part,
  ports: number[],
  meters: number,
  interval: number,
  billMinutes: number,
  boundaryAt?: number,
) {
  const userDir = tempUserDir();
  mkdirSync(join(userDir, 'node_modules'), { recursive: true });
  symlinkSync(root, join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
  // The next node after the readers: a counter of readings (a node of its own, so the figure holds what the
  // reader and Node-RED's delivery cost, not a function node's sandbox per message).
  mkdirSync(join(userDir, 'nodes'), { recursive: true });
  writeFileSync(join(userDir, 'nodes', 'bench-sink.js'), SINK_JS);
  writeFileSync(
    join(userDir, 'nodes', 'bench-sink.html'),
    `<script type="text/javascript">RED.nodes.registerType('bench-sink', { category: 'function', defaults: {}, inputs: 1, outputs: 1 });</script>\n`,
  );
  const port = await freePort();
  const settingsFile = join(userDir, 'settings.js');
  writeFileSync(
    settingsFile,
    `module.exports = ${JSON.stringify(
      {
        uiHost: '127.0.0.1',
        uiPort: port,
        userDir,
        flowFile: 'flows.json',
        credentialSecret: 'prepay-bench-secret',
        logging: { console: { level: 'info', metrics: false, audit: false } },
      },
      null,
      2,
    ).replace(
      /\n}$/,
      `,\n  functionGlobalContext: { ModbusRTU: require(${JSON.stringify(require.resolve('modbus-serial'))}), now: () => performance.now() },\n  ${clockSetting(boundaryAt)}\n}`,
    )};\n`,
  );
  // BENCH_RED_NODE_BIN runs Node-RED with another node binary (a script adding --cpu-prof, to profile it).
  const nodeBin = process.env.BENCH_RED_NODE_BIN;
  return NodeRedProcess.start({
    userDir,
    settingsFile,
    port,
    ...(nodeBin ? { nodeBin } : {}),
    flows: part === 'raw' ? rawFlow() : readerFlow(ports, meters, interval, billMinutes),
  });
}

async function post(red: NodeRedProcess, path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await red.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(120_000),
  });
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as Record<string, unknown>;
}

/** CPU time (ms, user + system) the process has used so far. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface CycleFigures {
  prepay: number[];
  raw: number[];
  latency: number[];
  prepayCpu: number[];
  rawCpu: number[];
  consumptionWaitMaxMs: number;
}

async function cycles(ports: number[], meters: number, billMinutes: number): Promise<CycleFigures> {
  const blocks = planBlocks(builtInProfiles().get('eastron-sdm630')!.values, { maxGap: 64 }).map((b) => ({
    function: b.function,
    address: b.address,
    length: b.length,
  }));
  // Scheduled polls once a day: the cycles here are the "poll" commands. Billing every value, each cycle also
  // writes the meters' state and sends consumption after it.
  const [red, rawRed] = await Promise.all([
    startRed('readers', ports, meters, 86_400, billMinutes),
    startRed('raw', ports, meters, 86_400, billMinutes),
  ]);
  try {
    const rawBody = { ports: ports.slice(0, Math.ceil(meters / PER_GATEWAY)), units: meters, blocks };
    await sleep(1000);
    // Baselines, connections, JIT.
    for (let round = 0; round < WARM_ROUNDS; round += 1) {
      await post(red, '/cycle/prepay', {});
      await post(rawRed, '/cycle/raw', rawBody);
      await sleep(100);
    }
    const figures: CycleFigures = {
      prepay: [],
      raw: [],
      latency: [],
      prepayCpu: [],
      rawCpu: [],
      consumptionWaitMaxMs: 0,
    };
    const measure = async (which: 'prepay' | 'raw'): Promise<void> => {
      const target = which === 'raw' ? rawRed : red;
      const pid = target.child.pid!;
      const cpu = cpuMs(pid);
      const answer = await post(target, `/cycle/${which}`, which === 'raw' ? rawBody : {});
      const used = cpuMs(pid) - cpu;
      figures[which].push(answer.ms as number);
      if (which === 'prepay') {
        figures.prepayCpu.push(used);
        figures.latency.push(...(answer.latency as number[]));
      } else figures.rawCpu.push(used);
      await sleep(300); // consumption, state writes and status of the cycle behind us
    };
    for (let round = 0; round < ROUNDS; round += 1) {
      if (round % 2 === 0) {
        await measure('raw');
        await measure('prepay');
      } else {
        await measure('prepay');
        await measure('raw');
      }
    }
    const stats = (await post(red, '/stats', {})) as unknown as Array<{
      consumptionWait: { maxMs: number };
      consumption: number;
    }>;
    figures.consumptionWaitMaxMs = Math.max(...stats.map((s) => s.consumptionWait.maxMs));
    if (billMinutes === 0 && stats.reduce((n, s) => n + s.consumption, 0) < meters * ROUNDS)
      throw new Error(`consumption missing: ${JSON.stringify(stats)}`);
    return figures;
  } catch (error) {
    throw new Error(
      `${(error as Error).message}\nNode-RED (readers) said:\n${red.log().slice(-3000)}\nNode-RED (raw) said:\n${rawRed.log().slice(-1000)}`,
    );
  } finally {
    await Promise.all([red.stop(), rawRed.stop()]);
  }
}

function clockSetting(boundaryAt: number | undefined): string {
  if (boundaryAt === undefined) return '';
  const clockJs = JSON.stringify(join(root, 'dist', 'nodes', 'core', 'clock.js'));
  const boundary = Math.ceil((Date.now() + 3_600_000) / BILLING_MS) * BILLING_MS;
  return `prepay: { clock: new (require(${clockJs}).ScaledClock)(${boundary}, 1, ${boundaryAt}) },`;
}

interface CpuFigures {
  /** % of a core between billing boundaries. */
  steady: number;
  /** % of a core averaged over a whole billing period (its boundary included); for billing every value, steady. */
  period: number;
  /** CPU ms of the window with the boundary, above the steady rate. */
  boundaryMs: number;
}

/**
 * The Node-RED process's CPU with 1,000 meters polled every 15 s on their schedule. Billing every 5 minutes,
 * building time is set to reach a boundary BOUNDARY_AFTER_MS after the start: a steady window before it, then
 * a window holding the cycle in which every meter bills, and the average over a billing period from the two.
 */
async function scheduledCpu(ports: number[], billMinutes: number): Promise<CpuFigures> {
  const started = Date.now();
  const boundaryAt = billMinutes > 0 ? started + BOUNDARY_AFTER_MS : undefined;
  const red = await startRed('readers', ports, ports.length * PER_GATEWAY, 15, billMinutes, boundaryAt);
  try {
    const pid = red.child.pid!;
    await sleep(started + 20_000 - Date.now()); // a whole cycle and some: baselines set, JIT warm
    let cpu = cpuMs(pid);
    let from = Date.now();
    const steadyEnd = boundaryAt === undefined ? from + CPU_WINDOW_MS : boundaryAt - 2_000;
    await sleep(steadyEnd - Date.now());
    const steadyMs = cpuMs(pid) - cpu;
    const steadyWall = Date.now() - from;
    const steady = (steadyMs / steadyWall) * 100;
    if (boundaryAt === undefined) return { steady, period: steady, boundaryMs: 0 };
    cpu = cpuMs(pid);
    from = Date.now();
    await sleep(boundaryAt + 20_000 - Date.now()); // the 15 s cycle after the boundary, and its writes
    const windowMs = cpuMs(pid) - cpu;
    const windowWall = Date.now() - from;
    const boundaryMs = windowMs - (steadyMs / steadyWall) * windowWall;
    const period = (((steadyMs / steadyWall) * BILLING_MS + boundaryMs) / BILLING_MS) * 100;
    return { steady, period, boundaryMs };
  } finally {
    await red.stop();
  }
}

const fmt = (values: number[], digits = 1): string =>
  values.length ? `${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)}` : '-';

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const sim = await startSimulator(5 * PER_GATEWAY);
  try {
    // BENCH_METER_RED_ONLY=cycles or =cpu runs one part (for profiling).
    const only = process.env.BENCH_METER_RED_ONLY;
    if (only === 'cpu') {
      const five = await scheduledCpu(sim.ports, 5);
      process.stdout.write(`CPU billing every 5 min: ${JSON.stringify(five)}\n`);
      return [];
    }
    // Each round's ratio (raw / ours, measured back to back): their median and range.
    const ratios = (f: CycleFigures): string => {
      const each = f.prepay.map((p, i) => f.raw[i]! / p);
      return `round by round ${median(each).toFixed(2)}x (${fmt(each, 2)})`;
    };
    // BENCH_METER_RED_METERS=100 (with ONLY=cycles) measures the cycles of that many meters only.
    const sizes = process.env.BENCH_METER_RED_METERS ? [Number(process.env.BENCH_METER_RED_METERS)] : [1000];
    for (const meters of only === 'cycles' ? sizes : [100, 1000]) {
      const f = await cycles(sim.ports, meters, 5);
      results.push(
        lowerIsBetter(
          `meter in Node-RED: poll cycle, ${meters.toLocaleString('en-US')} SDM630, first request to last reading delivered`,
          median(f.prepay),
          'ms',
          'raw modbus-serial loop in a Node-RED process of its own, same blocks and server',
          median(f.raw),
          `target >= 0.8x; billing every 5 min; ${ROUNDS} rounds, ${ratios(f)}`,
        ),
      );
    }
    if (only === 'cycles' && process.env.BENCH_METER_RED_METERS) return results;
    // Billing every value: every cycle also writes 1,000 meters' state and sends consumption after it.
    const f = await cycles(sim.ports, 1000, 0);
    results.push(
      lowerIsBetter(
        'meter in Node-RED: poll cycle, 1,000 SDM630, billing every value',
        median(f.prepay),
        'ms',
        'raw modbus-serial loop in a Node-RED process of its own, same blocks and server',
        median(f.raw),
        `${ROUNDS} rounds, ${ratios(f)}`,
      ),
      lowerIsBetter(
        'meter in Node-RED: a reading from its answer to the next node (1,000 meters, billing every value)',
        percentile(f.latency, 99),
        'ms (p99)',
        'target: a few ms',
        5,
        `median ${median(f.latency)} ms, max ${Math.max(...f.latency)} ms; consumption waited at most ${f.consumptionWaitMaxMs} ms for its state write (bound: 1,000 ms before the write starts, a late timer and the write itself come after it)`,
      ),
    );
    const share = (ms: number): number => (ms / 15_000) * 100;
    const rawShare = share(median(f.rawCpu));
    results.push(
      lowerIsBetter(
        'meter in Node-RED: CPU of one 1,000-meter cycle, billing every value, per 15 s',
        share(median(f.prepayCpu)),
        '% of one core',
        'raw modbus-serial loop, same requests, its own Node-RED process',
        rawShare,
        `${median(f.prepayCpu).toFixed(0)} ms CPU per cycle, raw ${median(f.rawCpu).toFixed(0)} ms`,
      ),
    );
    if (only === 'cycles') return results;
    const five = await scheduledCpu(sim.ports, 5);
    const every = await scheduledCpu(sim.ports, 0);
    results.push(
      lowerIsBetter(
        'meter in Node-RED: CPU, 1,000 meters polled every 15 s, billing every 5 minutes (over a billing period)',
        five.period,
        '% of one core',
        'raw modbus-serial loop, same requests, its own Node-RED process',
        rawShare,
        `target < 2%; whole Node-RED process; between boundaries ${five.steady.toFixed(2)}%, the boundary's cycle ${five.boundaryMs.toFixed(0)} ms CPU more`,
      ),
      lowerIsBetter(
        'meter in Node-RED: CPU, 1,000 meters polled every 15 s, billing every value',
        every.period,
        '% of one core',
        'raw modbus-serial loop, same requests, its own Node-RED process',
        rawShare,
        `whole Node-RED process over ${CPU_WINDOW_MS / 1000} s`,
      ),
    );
  } finally {
    sim.child.kill();
  }
  return results;
}
