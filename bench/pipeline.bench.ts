/**
 * Readings per second through the whole prepayment chain inside one real Node-RED 4.1:
 *
 *   readings -> prepay-meter (messages source, billed on every reading) -> prepay-tariff (TOU) ->
 *   prepay-ledger (SQLite, synchronous=FULL) -> prepay-cutoff (commands only) and prepay-bacnet (a BACnet/IP
 *   device on loopback)
 *
 * against the same flow shape built from no-op function nodes (`return msg;`), wired the same way, in the
 * same process, in interleaved rounds (so a neighbour's load on the machine falls on both alike). Target:
 * at least 0.5x.
 *
 * A round starts with one HTTP request: a function node sends N readings (200 meters of 200 accounts, each
 * reading 15 s of building time after that meter's last), and the answer comes when the last of them has
 * been committed by the ledger (or, in the no-op flow, reached the end). So the figure counts readings
 * delivered, deltas computed and saved, priced, posted durably and exposed as BACnet points. Afterwards a
 * BACnet client reads one account's balance from the device and it must equal the ledger's.
 */
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ObjectType, PropertyId as P } from '../dist/nodes/core/bacnet/constants';
import { SqliteLedgerStore } from '../dist/nodes/store/sqlite-ledger-store';
import { freeUdpPort, sleep, testClient } from '../test/bacnet/support';
import { tempUserDir } from '../test/support/node-red-helper';
import { NodeRedProcess } from '../test/support/node-red-process';
import { BenchResult, higherIsBetter, median } from './harness';

const METERS = 200;
const READINGS = 4000;
const ROUNDS = 5;
const tab = 'pipelinetab00001';
const ARRAY_ALL = 0xffffffff;

const accountOf = (i: number): string => `T${String(i + 1).padStart(4, '0')}`;

/**
 * The source: N readings continuing each meter's sequence (kept in the node's context), and a control
 * message telling the sink how many results make the round complete. The first reading of a meter only
 * sets its baseline, so the prepay chain expects one result fewer per new meter.
 */
function sourceCode(firstReadingCounts: boolean): string {
  return [
    'const n = Number(msg.payload.n);',
    `const meters = ${METERS};`,
    "const base = context.get('base') || Date.now() - 86400000;",
    "context.set('base', base);",
    "let k = context.get('k') || 0;",
    'const readings = [];',
    'let expected = 0;',
    'for (let i = 0; i < n; i += 1, k += 1) {',
    '  const m = k % meters;',
    '  const seq = Math.floor(k / meters);',
    "  const meterId = 'E-T' + String(m + 1).padStart(4, '0');",
    `  if (seq > 0 || ${firstReadingCounts}) expected += 1;`,
    '  readings.push({ topic: meterId, payload: { meterId, value: 1000 + seq * 0.25 + m, ts: base + seq * 15000 } });',
    '}',
    "context.set('k', k);",
    'return [readings, { control: true, expected, res: msg.res, req: msg.req }];',
  ].join('\n');
}

/** The sink answers the round's request once `expected` results have arrived since it started. */
const SINK = [
  "let count = context.get('count') || 0;",
  'if (msg.control) {',
  "  context.set('target', count + msg.expected);",
  "  context.set('res', msg.res);",
  "  context.set('req', msg.req);",
  '} else {',
  '  count += 1;',
  "  context.set('count', count);",
  '}',
  "const target = context.get('target');",
  'if (target !== undefined && count >= target) {',
  "  context.set('target', undefined);",
  "  node.send({ res: context.get('res'), req: context.get('req'), statusCode: 200, payload: { count } });",
  '}',
  'return null;',
].join('\n');

const TARIFFS = {
  'tenant-tou': {
    name: 'Tenant time-of-use electricity',
    currency: 'MYR',
    utility: 'electricity',
    timezone: 'Asia/Kuala_Lumpur',
    energy: {
      type: 'tou',
      rates: { peak: '0.365', offpeak: '0.224' },
      default: 'offpeak',
      schedule: [
        { days: ['weekday', 'saturday', 'sunday', 'holiday'], from: '08:00', to: '22:00', period: 'peak' },
      ],
    },
    carbon: { kgPerUnit: '0.585' },
  },
};

const meterTable = Array.from({ length: METERS }, (_, i) => ({
  meterId: `E-${accountOf(i)}`,
  unitId: i + 1,
  profile: 'eastron-sdm630',
  utility: 'electricity',
  accountId: accountOf(i),
  relay: '',
}));

function fn(id: string, func: string, wires: string[][], outputs = 1): Record<string, unknown> {
  return { id, type: 'function', z: tab, func, outputs, libs: [], wires };
}

function driver(prefix: string, url: string, firstReadingCounts: boolean, first: string): unknown[] {
  return [
    {
      id: `${prefix}In`,
      type: 'http in',
      z: tab,
      url,
      method: 'post',
      upload: false,
      wires: [[`${prefix}Source`]],
    },
    fn(`${prefix}Source`, sourceCode(firstReadingCounts), [[first], [`${prefix}Sink`]], 2),
    fn(`${prefix}Sink`, SINK, [[`${prefix}Out`]]),
    { id: `${prefix}Out`, type: 'http response', z: tab, statusCode: '', headers: {}, wires: [] },
  ];
}

function flows(bacnetPort: number): unknown[] {
  return [
    { id: tab, type: 'tab', label: 'pipeline bench' },
    // The prepay chain.
    ...driver('p', '/run/prepay', false, 'pMeter'),
    {
      id: 'pMeter',
      type: 'prepay-meter',
      z: tab,
      source: 'messages',
      link: '',
      interval: 15,
      table: meterTable,
      profiles: '',
      commLossPolls: 3,
      commLossMinutes: 1440,
      sliceMinutes: 30,
      billMinutes: 0,
      wires: [['pTariff'], ['pBacnet'], []],
    },
    {
      id: 'pTariff',
      type: 'prepay-tariff',
      z: tab,
      tariffs: JSON.stringify(TARIFFS),
      defaultTariff: 'tenant-tou',
      mapping: '[]',
      select: 'tariff',
      selectType: 'msg',
      calendar: true,
      persist: true,
      wires: [['pLedger']],
    },
    { id: 'pStore', type: 'prepay-store', backend: 'sqlite', file: 'bench-pipeline.db', synchronous: 'FULL' },
    {
      id: 'pLedger',
      type: 'prepay-ledger',
      z: tab,
      store: 'pStore',
      lowThreshold: '5000',
      lowHysteresis: '1000',
      emergencyCredit: '0',
      emergencyMode: 'off',
      stateOutput: 'posting',
      snapshotMinutes: 0,
      maxQueue: 100000,
      timezone: 'Asia/Kuala_Lumpur',
      wires: [['pSink'], ['pCutoff', 'pBacnet']],
    },
    {
      id: 'pCutoff',
      type: 'prepay-cutoff',
      z: tab,
      mode: 'output',
      link: '',
      store: '',
      table: meterTable,
      profiles: '',
      relayModuleProfile: 'relay-module-8ch',
      policyName: 'bench',
      graceMinutes: 60,
      reconnectAbove: 0,
      timeZone: 'Asia/Kuala_Lumpur',
      nightsFrom: '18:00',
      nightsTo: '08:00',
      weekends: true,
      holidays: '',
      neverDisconnect: 'water',
      minOnMinutes: 0,
      minOffSeconds: 10,
      emergency: 'connect',
      limitW: 1000,
      canLimit: false,
      maxStateAgeMinutes: 30,
      checkSeconds: 30,
      verifySeconds: 0,
      wires: [['pBacnet'], ['pBacnet']],
    },
    {
      id: 'pDevice',
      type: 'prepay-bacnet-device',
      deviceInstance: '4190',
      deviceInstanceType: 'num',
      deviceName: 'prepay-pipeline-bench',
      description: 'pipeline benchmark',
      location: '',
      vendorId: 0,
      port: String(bacnetPort),
      portType: 'num',
      address: '127.0.0.1',
      broadcast: '',
      bbmd: '',
      bbmdTtl: 300,
      timeZone: 'Asia/Kuala_Lumpur',
      overrides: true,
      overrideMinutes: 240,
    },
    {
      id: 'pBacnet',
      type: 'prepay-bacnet',
      z: tab,
      device: 'pDevice',
      covMoney: '1',
      covConsumption: '1',
      covRegister: '1',
      covDays: '0.5',
      wires: [[]],
    },
    // The same shape in no-op function nodes.
    ...driver('b', '/run/bare', true, 'bMeter'),
    fn('bMeter', 'return msg;', [['bTariff'], ['bBacnet'], []], 3),
    fn('bTariff', 'return msg;', [['bLedger']]),
    fn('bLedger', 'return [msg, msg];', [['bSink'], ['bCutoff', 'bBacnet']], 2),
    fn('bCutoff', 'return null;', [['bBacnet'], ['bBacnet']], 2),
    fn('bBacnet', 'return null;', [[]]),
    // Accounts, opened and given credit enough for every round.
    { id: 'open', type: 'inject', z: tab, once: true, onceDelay: 0.2, props: [], wires: [['opener']] },
    fn(
      'opener',
      [
        'const out = [];',
        `for (let i = 0; i < ${METERS}; i += 1) {`,
        "  const accountId = 'T' + String(i + 1).padStart(4, '0');",
        "  out.push({ payload: { command: 'open', accountId, currency: 'MYR', reference: 'open-' + accountId } });",
        "  out.push({ payload: { command: 'topup', accountId, amount: 10000000, currency: 'MYR', reference: 'credit-' + accountId } });",
        '}',
        'return [out];',
      ].join('\n'),
      [['pLedger']],
    ),
  ];
}

async function round(red: NodeRedProcess, path: string, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  const response = await red.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ n }),
    signal: AbortSignal.timeout(120_000),
  });
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  await response.json();
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** Every account's balance as a BACnet client reads it (present-value of T0001.Balance..., currency units). */
async function bacnetBalances(port: number): Promise<Map<string, number>> {
  const peer = await testClient(port);
  const address = { address: `127.0.0.1:${port}` };
  try {
    const list = await peer.client.readProperty(
      address,
      { type: ObjectType.DEVICE, instance: 4190 },
      P.OBJECT_LIST,
    );
    const ids = list.values
      .map((v) => v.value as { type: number; instance: number })
      .filter((id) => id.type === ObjectType.ANALOG_VALUE);
    const balances = new Map<string, number>();
    for (let i = 0; i < ids.length; i += 50) {
      const read = await peer.client.readPropertyMultiple(
        address,
        ids.slice(i, i + 50).map((objectId) => ({
          objectId,
          properties: [
            { id: P.OBJECT_NAME, index: ARRAY_ALL },
            { id: P.PRESENT_VALUE, index: ARRAY_ALL },
          ],
        })),
      );
      for (const o of read.values) {
        const name = o.values[0]!.value[0]!.value as string;
        if (name.endsWith('.Balance'))
          balances.set(name.slice(0, -'.Balance'.length), o.values[1]!.value[0]!.value as number);
      }
    }
    return balances;
  } finally {
    peer.close();
  }
}

/** Every account's balance (minor units) and the number of charges, from the ledger's SQLite file. */
async function ledgerFigures(file: string): Promise<{ balances: Map<string, bigint>; charges: number }> {
  const store = new SqliteLedgerStore({ path: file });
  await store.init();
  try {
    const balances = new Map<string, bigint>();
    let charges = 0;
    for (const account of await store.listAccounts()) {
      balances.set(account.id, account.balance);
      for (const entry of await store.entriesOf(account.id)) if (entry.kind === 'charge') charges += 1;
    }
    return { balances, charges };
  } finally {
    await store.close();
  }
}

export async function run(): Promise<BenchResult[]> {
  const userDir = tempUserDir();
  mkdirSync(join(userDir, 'node_modules'), { recursive: true });
  symlinkSync(join(__dirname, '..', '..'), join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
  const bacnetPort = await freeUdpPort();
  const red = await NodeRedProcess.start({ userDir, flows: flows(bacnetPort) });
  const bare: number[] = [];
  const prepay: number[] = [];
  let points: Map<string, number>;
  try {
    await sleep(2000); // accounts opened and credited
    await round(red, '/run/prepay', READINGS); // warm-up (and every meter's baseline reading)
    await round(red, '/run/bare', READINGS);
    for (let r = 0; r < ROUNDS; r += 1) {
      bare.push(await round(red, '/run/bare', READINGS));
      prepay.push(await round(red, '/run/prepay', READINGS));
    }
    points = await bacnetBalances(bacnetPort);
  } catch (error) {
    throw new Error(`${(error as Error).message}\nNode-RED said:\n${red.log().slice(-4000)}`);
  } finally {
    await red.stop();
  }
  // What the chain did: every reading after a meter's first was charged once, and the BEMS reads the ledger.
  const ledger = await ledgerFigures(join(userDir, 'bench-pipeline.db'));
  const expectedCharges = (ROUNDS + 1) * READINGS - METERS;
  if (ledger.charges !== expectedCharges)
    throw new Error(`the ledger holds ${ledger.charges} charges, ${expectedCharges} readings were billable`);
  for (const [account, minor] of ledger.balances) {
    const point = points.get(account);
    if (point === undefined || Math.round(point * 100) !== Number(minor))
      throw new Error(`BACnet reads ${account}.Balance ${point}, the ledger holds ${minor} sen`);
  }
  rmSync(userDir, { recursive: true, force: true });
  return [
    higherIsBetter(
      'pipeline: readings through meter -> tariff (TOU) -> ledger (SQLite, FULL) -> cutoff + BACnet',
      median(prepay),
      'readings/s',
      'the same flow shape of no-op function nodes',
      median(bare),
      `target >= 0.5x; ${METERS} meters, ${READINGS} readings a round, each committed before the round ends; ${ledger.charges} charges posted, all ${points.size} BACnet balances = ledger`,
    ),
  ];
}
