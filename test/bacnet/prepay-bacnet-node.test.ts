/**
 * prepay-bacnet and prepay-bacnet-device inside Node-RED (node-red-node-test-helper), read and written by a BACnet
 * client on loopback: messages of the ledger, meter reader and cutoff relay become points; a BEMS override write
 * goes to a real prepay-cutoff (output-only mode), whose relay command comes back as the supply point; bad input
 * reaches a Catch node naming the field; the EDE export and the device's figures on the admin API.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ObjectType, PropertyId as P } from '../../dist/nodes/core/bacnet/constants';
import {
  catchNode,
  collect,
  helper,
  loadBuiltNode,
  startServer,
  stopServer,
  tempUserDir,
  type TestNode,
} from '../support/node-red-helper';
import { parseRecipients } from '../../dist/nodes/bacnet/device-config';
import { freeUdpPort, nextEvent, sleep, testClient, type TestClient } from './support';

const deviceNode = loadBuiltNode('bacnet/prepay-bacnet-device.js');
const bacnetNode = loadBuiltNode('bacnet/prepay-bacnet.js');
const cutoffNode = loadBuiltNode('cutoff/prepay-cutoff.js');

type Msg = Record<string, unknown> & { payload: Record<string, unknown> };

const ARRAY_ALL = 0xffffffff;
const IMMEDIATE = {
  graceMinutes: '0',
  nightsFrom: '',
  nightsTo: '',
  weekends: false,
  minOnMinutes: '0',
  minOffSeconds: '0',
  checkSeconds: '1',
  verifySeconds: '0',
  timeZone: 'Europe/London',
  policyName: 'test immediate',
};

export function bacnetFlow(
  port: number,
  extra: Record<string, unknown> = {},
): Array<Record<string, unknown>> {
  return [
    {
      id: 'dev',
      type: 'prepay-bacnet-device',
      deviceInstance: '4120',
      deviceInstanceType: 'num',
      deviceName: 'prepay-node-test',
      port: String(port),
      portType: 'num',
      address: '127.0.0.1',
      timeZone: 'Europe/London',
      overrides: true,
      overrideMinutes: '60',
      ...extra,
    },
    { id: 'bac', type: 'prepay-bacnet', device: 'dev', covMoney: '0.5', wires: [['cutoff']] },
    {
      id: 'cutoff',
      type: 'prepay-cutoff',
      mode: 'output',
      table: [
        {
          meterId: 'E-T0412',
          unitId: 1,
          profile: 'eastron-sdm630',
          utility: 'electricity',
          accountId: 'T0412',
          relay: '',
        },
      ],
      ...IMMEDIATE,
      wires: [
        ['commands', 'bac'],
        ['alarms', 'bac'],
      ],
    },
    { id: 'commands', type: 'helper' },
    { id: 'alarms', type: 'helper' },
    { id: 'c1', type: 'catch', scope: ['bac'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  ];
}

const state = (accountId: string, s: string, pence: number, extra: Record<string, unknown> = {}) => ({
  payload: {
    accountId,
    state: s,
    balance: pence,
    available: pence,
    currency: 'GBP',
    changedAt: Date.now(),
    ...extra,
  },
});

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

/** Retries an async check until it passes or `ms` runs out. */
async function eventually(check: () => Promise<void>, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(25);
    }
  }
}

/** Reads present values by object name through the device's object list. */
async function byName(
  peer: TestClient,
  port: number,
): Promise<Map<string, { type: number; instance: number }>> {
  const address = { address: `127.0.0.1:${port}` };
  const list = await peer.client.readProperty(
    address,
    { type: ObjectType.DEVICE, instance: 4120 },
    P.OBJECT_LIST,
  );
  // The points only: not the device (8), its notification class (15) nor its network port (56).
  const ids = list.values
    .map((v) => v.value as { type: number; instance: number })
    .filter((id) => id.type !== 8 && id.type !== 15 && id.type !== 56);
  if (ids.length === 0) return new Map();
  const names = await peer.client.readPropertyMultiple(
    address,
    ids.map((objectId) => ({ objectId, properties: [{ id: P.OBJECT_NAME, index: ARRAY_ALL }] })),
  );
  return new Map(names.values.map((o) => [o.values[0]!.value[0]!.value as string, o.objectId]));
}

describe('prepay-bacnet node in Node-RED', function () {
  this.timeout(30_000);
  let port: number;
  let peer: TestClient;
  let userDir: string;

  beforeEach(async () => {
    userDir = tempUserDir();
    helper.settings({ userDir });
    await startServer();
    port = await freeUdpPort();
    peer = await testClient(port);
  });

  afterEach(async () => {
    peer.close();
    await helper.unload();
    await stopServer();
    helper.settings({});
  });

  async function load(extra: Record<string, unknown> = {}): Promise<{ bac: TestNode; cutoff: TestNode }> {
    await helper.load([deviceNode, bacnetNode, cutoffNode, catchNode], bacnetFlow(port, extra));
    await until(
      () => (helper.getNode('dev') as unknown as { host?: { state: string } }).host?.state === 'up',
    );
    return { bac: helper.getNode('bac'), cutoff: helper.getNode('cutoff') };
  }

  it('turns ledger, meter and cutoff messages into points a BACnet client reads back', async () => {
    const { bac } = await load();
    const caught = collect(helper.getNode('caught'));
    bac.receive(state('T0412', 'low', 1234, { daysLeft: 2.5 }));
    bac.receive({
      payload: [
        {
          meterId: 'E-T0412',
          accountId: 'T0412',
          utility: 'electricity',
          unit: 'kWh',
          value: 8123.4,
          delta: 1.25,
          from: Date.now() - 60_000,
          to: Date.now(),
          readingId: 'E-T0412:1',
          quality: 'good',
          ts: Date.now(),
        },
        {
          meterId: 'W-T0412',
          accountId: 'T0412',
          utility: 'water',
          unit: 'm3',
          value: 42.125,
          ts: Date.now(),
          quality: 'good',
        },
      ],
    });
    bac.receive({
      payload: {
        meterId: 'W-T0412',
        accountId: 'T0412',
        utility: 'water',
        type: 'comm-loss',
        alarm: true,
        ts: Date.now(),
        text: 'communication lost: 3 failed polls',
      },
    });
    await sleep(50);
    assert.deepEqual(caught, []);
    const ids = await byName(peer, port);
    assert.deepEqual([...ids.keys()].sort(), [
      'E-T0412.Register',
      'T0412.Alarm',
      'T0412.Available',
      'T0412.Balance',
      'T0412.CreditState',
      'T0412.DaysLeft',
      'T0412.Electricity.ConsumptionToday',
      'T0412.Electricity.Override',
      'T0412.Water.Override',
      'W-T0412.Register',
    ]);
    const names = [
      'T0412.Balance',
      'T0412.CreditState',
      'T0412.DaysLeft',
      'T0412.Electricity.ConsumptionToday',
      'W-T0412.Register',
      'T0412.Alarm',
    ];
    const read = await peer.client.readPropertyMultiple(
      { address: `127.0.0.1:${port}` },
      names.map((name) => ({
        objectId: ids.get(name)!,
        properties: [
          { id: P.PRESENT_VALUE, index: ARRAY_ALL },
          { id: P.STATUS_FLAGS, index: ARRAY_ALL },
          { id: P.RELIABILITY, index: ARRAY_ALL },
        ],
      })),
    );
    const values = read.values.map((o) => o.values.map((v) => v.value[0]!.value));
    assert.deepEqual(values, [
      [Math.fround(12.34), { value: [0], bitsUsed: 4 }, 0],
      [2, { value: [1], bitsUsed: 4 }, 0], // low credit: in alarm (intrinsic reporting)
      [2.5, { value: [0], bitsUsed: 4 }, 0],
      [1.25, { value: [0], bitsUsed: 4 }, 0],
      [Math.fround(42.125), { value: [3], bitsUsed: 4 }, 12], // in-alarm + fault, communication-failure
      [1, { value: [1], bitsUsed: 4 }, 0], // the account's alarm active: in alarm
    ]);
  });

  it('sends a BEMS override write to prepay-cutoff, whose relay command comes back as the supply point', async () => {
    const { bac, cutoff } = await load();
    const commands = collect(helper.getNode('commands')) as Msg[];
    bac.receive(state('T0412', 'ok', 5000));
    cutoff.receive(state('T0412', 'ok', 5000));
    bac.receive({
      payload: {
        meterId: 'E-T0412',
        accountId: 'T0412',
        utility: 'electricity',
        unit: 'kWh',
        value: 10,
        ts: Date.now(),
        quality: 'good',
      },
    });
    await until(() => commands.some((m) => m.payload.action === 'connect'));
    const address = { address: `127.0.0.1:${port}` };
    const ids = await byName(peer, port);
    const supply = ids.get('T0412.Electricity.Supply');
    assert.ok(supply, 'the first relay command created the supply point');
    // A read-only point refuses the write.
    await assert.rejects(
      peer.client.writeProperty(
        address,
        ids.get('T0412.Balance')!,
        P.PRESENT_VALUE,
        [{ type: 4, value: 100 }],
        { priority: 8 },
      ),
      /BacnetError - Class:2 - Code:40/,
    );
    // Force off at priority 8: the cutoff disconnects, and says why.
    await peer.client.writeProperty(
      address,
      ids.get('T0412.Electricity.Override')!,
      P.PRESENT_VALUE,
      [{ type: 2, value: 3 }],
      { priority: 8 },
    );
    await until(() => commands.some((m) => m.payload.action === 'disconnect'));
    // The priority array reaches the disk at once (other values may wait up to 30 s): a restart right after
    // shows the BEMS the override its relay still obeys.
    const saved = (): { p?: Array<number | null> } | undefined => {
      const file = join(userDir, 'prepay', 'bacnet-device-4120-values.json');
      if (!existsSync(file)) return undefined;
      const values = JSON.parse(readFileSync(file, 'utf8')) as {
        points: Record<string, { p?: Array<number | null> }>;
      };
      return values.points['T0412.Electricity.Override'];
    };
    await until(() => saved()?.p?.[7] === 3, 1000);
    const off = commands.find((m) => m.payload.action === 'disconnect')!;
    assert.equal(off.payload.meterId, 'E-T0412');
    assert.match(
      String(off.payload.reason),
      /override by bacnet:127\.0\.0\.1:\d+ until .*BACnet override force off at priority 8/,
    );
    const pv = async () =>
      (await peer.client.readProperty(address, supply, P.PRESENT_VALUE)).values[0]?.value;
    await eventually(async () => assert.equal(await pv(), 0, 'the relay command came back: not supplied'));
    // Relinquish: the override is cleared and the policy (credit ok) reconnects.
    await peer.client.writeProperty(
      address,
      ids.get('T0412.Electricity.Override')!,
      P.PRESENT_VALUE,
      [{ type: 0, value: null }],
      { priority: 8 },
    );
    await until(() => commands.filter((m) => m.payload.action === 'connect').length >= 2);
    await eventually(async () => assert.equal(await pv(), 1));
  });

  it('fails bad input to a Catch node, naming the field, and applies nothing of a bad batch', async () => {
    const { bac } = await load();
    const caught = collect(helper.getNode('caught')) as Array<{ error: { message: string } }>;
    bac.receive(state('T1', 'ok', 12.5));
    bac.receive({ payload: { accountId: 'T1', state: 'ok', balance: 1, available: 1, currency: 'ZZZ' } });
    bac.receive({ payload: { meterId: 'E1', type: 'door-open' } });
    bac.receive({
      payload: [
        state('T2', 'ok', 100).payload,
        { meterId: 'E2', utility: 'electricity', value: 'x', quality: 'good', unit: 'kWh' },
      ],
    });
    bac.receive({ topic: 'retire', payload: {} });
    bac.receive({ payload: 'hello' });
    await until(() => caught.length === 6);
    assert.deepEqual(
      caught.map((m) => m.error.message.replace(/^Error: /, '').replace(/ \(got.*$/, '')),
      [
        'balance: must be a whole number of minor units (pence, cents)',
        'currency: must be an ISO 4217 code such as "GBP"',
        'type: "door-open" is not a meter event (comm-loss, comm-restored, suspect, rollover, replaced, rebaselined, stale, first-reading); another event needs "alarm": true or false',
        'payload[1].value: must be a number',
        'accountId: or meterId is required to retire objects',
        'payload: must be an account state, consumption, reading, meter event, relay command or cutoff alarm',
      ],
    );
    assert.equal((await byName(peer, port)).size, 0, 'nothing of the bad batch was applied');
  });

  it('serves the EDE export and the device figures on the admin API; retire removes objects', async () => {
    const { bac } = await load();
    bac.receive(state('T0412', 'ok', 100));
    bac.receive(state('T0413', 'ok', 100));
    await sleep(50);
    const ede = await helper.request().get('/prepay-bacnet-device/dev/ede.csv').expect(200);
    const rows = ede.text.split('\r\n').filter((l) => /^T04/.test(l));
    assert.equal(rows.length, 8);
    assert.ok(
      rows.includes(
        'T0412.Balance;4120;T0412.Balance;2;1;T0412 balance in GBP (major units);;;;N;Y;;;;95;T0412;',
      ),
    );
    // The event-capable points name their notification class in the last column.
    assert.ok(
      rows.some((row) => /^T0412\.CreditState;.*;T0412;1$/.test(row)),
      rows.join('\n'),
    );
    const texts = await helper.request().get('/prepay-bacnet-device/dev/ede-state-texts.csv').expect(200);
    assert.match(texts.text, /^1;ok;low;emergency;exhausted;closed\r$/m);
    const status = (await helper.request().get('/prepay-bacnet-device/dev/status').expect(200))
      .body as Record<string, unknown>;
    assert.equal(status.state, 'up');
    assert.equal(status.objects, 11, 'eight points, the device, its network port and its notification class');
    assert.equal(status.port, port);
    await helper.request().get('/prepay-bacnet-device/nope/ede.csv').expect(404);
    const revision = status.databaseRevision as number;
    bac.receive({ topic: 'retire', payload: { accountId: 'T0413' } });
    await sleep(50);
    const after = (await helper.request().get('/prepay-bacnet-device/dev/status').expect(200)).body as Record<
      string,
      unknown
    >;
    assert.equal(after.objects, 7);
    assert.equal(after.databaseRevision, revision + 1);
  });

  it('sends alarms as BACnet events to the recipients set on the device, which its notification class lists', async () => {
    await load({ recipients: `127.0.0.1:${peer.port}/5\n127.0.0.1:${port + 1}/6 confirmed` });
    const heard = nextEvent<{
      payload: { processId: number; toState: number; eventObjectId: { type: number } };
    }>(peer.client, 'eventNotify');
    const { bac } = { bac: helper.getNode('bac') };
    bac.receive(state('T0412', 'exhausted', 0));
    const { payload } = await heard;
    assert.equal(payload.processId, 5);
    assert.equal(payload.toState, 2, 'offnormal');
    assert.equal(payload.eventObjectId.type, ObjectType.MULTI_STATE_VALUE);
    const address = { address: `127.0.0.1:${port}` };
    const nc = { type: 15, instance: 1 };
    const priority = await peer.client.readProperty(address, nc, P.PRIORITY);
    assert.deepEqual(
      priority.values.map((v) => v.value),
      [100, 80, 200],
    );
    // The library reads each BACnetDestination as its elements in a row: days, from, to, the recipient's
    // address, the process, confirmed, the transitions.
    const list = await peer.client.readProperty(address, nc, P.RECIPIENT_LIST);
    const items = list.values as unknown as Array<{ type: number; value: unknown }>;
    assert.deepEqual(
      items.filter((v) => v.type === 2).map((v) => v.value),
      [5, 6],
    );
    assert.deepEqual(
      items.filter((v) => v.type === 1).map((v) => v.value),
      [false, true],
    );
    const macs = items
      .filter((v) => v.type === 118)
      .map((v) => [...((v.value as Array<{ value: Buffer }>)[1]?.value ?? [])]);
    assert.deepEqual(macs, [
      [127, 0, 0, 1, peer.port >> 8, peer.port & 0xff],
      [127, 0, 0, 1, (port + 1) >> 8, (port + 1) & 0xff],
    ]);
  });

  it('refuses alarm recipients it cannot read, naming the entry', function () {
    assert.deepEqual(parseRecipients('10.0.0.5\n10.0.0.6:47809/12 confirmed, 10.0.0.7/3 unconfirmed'), [
      { host: '10.0.0.5', port: 47808, processId: 1, confirmed: false, transitions: [true, true, true] },
      { host: '10.0.0.6', port: 47809, processId: 12, confirmed: true, transitions: [true, true, true] },
      { host: '10.0.0.7', port: 47808, processId: 3, confirmed: false, transitions: [true, true, true] },
    ]);
    assert.throws(() => parseRecipients('bems.local'), /alarm recipient "bems.local" must be/);
    assert.throws(() => parseRecipients('10.0.0.300'), /alarm recipient "10.0.0.300"/);
    assert.throws(() => parseRecipients('10.0.0.5:0'), /bad port/);
  });

  it('shows a red status when the port is taken, and keeps Node-RED running', async () => {
    const blocker = createSocket('udp4');
    await new Promise<void>((resolve) => blocker.bind(port, '127.0.0.1', () => resolve()));
    try {
      await helper.load([deviceNode, bacnetNode, cutoffNode, catchNode], bacnetFlow(port));
      const bac = helper.getNode('bac');
      const statuses: Array<{ fill?: string; text?: string }> = [];
      bac.on('call:status', (call) => statuses.push(call.args[0] as { fill?: string; text?: string }));
      await until(() => statuses.some((s) => s.fill === 'red'));
      assert.match(String(statuses.find((s) => s.fill === 'red')?.text), /cannot bind 127\.0\.0\.1:\d+/);
    } finally {
      blocker.close();
    }
  });
});
