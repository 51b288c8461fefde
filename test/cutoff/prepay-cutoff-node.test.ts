/**
 * The cutoff relay inside Node-RED, driving real relays over Modbus TCP: the simulator's relay-module coils and
 * a meter's built-in relay register, and coils on an independent server (pymodbus) checked with mbpoll; a relay
 * that refuses to switch; a relay switched behind the node's back; every command and override in the audit log;
 * bad input to Catch; holding on a stale account state.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { builtInProfiles } from '../../dist/nodes/meter/profile-registry';
import { meterTableRecord } from '../../dist/nodes/core/meter/meter-table';
import { planSite, siteMeterTable, SimulatedSite } from '../../dist/nodes/simulator/site';
import { SimulatedRelayModule } from '../../dist/nodes/simulator/simulated-meter';
import { SqliteLedgerStore } from '../../dist/nodes/store/sqlite-ledger-store';
import { SystemClock } from '../../dist/nodes/core/clock';
import {
  catchNode,
  collect,
  helper,
  loadBuiltNode,
  sleep,
  startServer,
  stopServer,
  tempUserDir,
} from '../support/node-red-helper';
import { haveMbpoll, havePymodbus, mbpoll, PymodbusServer, requireTool } from '../support/modbus-peers';

const modbusNode = loadBuiltNode('modbus/prepay-modbus.js');
const cutoffNode = loadBuiltNode('cutoff/prepay-cutoff.js');
const storeNode = loadBuiltNode('store/prepay-store.js');
const meterNode = loadBuiltNode('meter/prepay-meter.js');
const profiles = builtInProfiles();

type Msg = Record<string, unknown> & { payload: Record<string, unknown> };

const OUTPUTS = [
  { id: 'commands', type: 'helper' },
  { id: 'alarms', type: 'helper' },
  { id: 'c1', type: 'catch', scope: ['cutoff'], uncaught: false, wires: [['caught']] },
  { id: 'caught', type: 'helper' },
];

/** A policy that acts at once: no grace, no friendly windows, no minimum times. */
const IMMEDIATE = {
  graceMinutes: '0',
  nightsFrom: '',
  nightsTo: '',
  weekends: false,
  minOnMinutes: '0',
  minOffSeconds: '0',
  reconnectAbove: '100',
  checkSeconds: '1',
  verifySeconds: '0',
  timeZone: 'Europe/London',
  policyName: 'test immediate',
};

function flow(
  port: number,
  table: unknown[],
  extra: Record<string, unknown> = {},
): Array<Record<string, unknown>> {
  return [
    {
      id: 'link',
      type: 'prepay-modbus',
      kind: 'tcp',
      host: '127.0.0.1',
      port: String(port),
      timeout: '300',
      retries: '0',
    },
    { id: 'store', type: 'prepay-store', backend: 'sqlite', file: 'audit.db', synchronous: 'FULL' },
    {
      id: 'cutoff',
      type: 'prepay-cutoff',
      mode: 'modbus',
      link: 'link',
      store: 'store',
      table,
      ...IMMEDIATE,
      wires: [['commands'], ['alarms']],
      ...extra,
    },
    ...OUTPUTS,
  ];
}

const state = (accountId: string, s: string, available: number) => ({
  payload: { accountId, state: s, available, balance: available, currency: 'GBP', changedAt: Date.now() },
});

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}

describe('prepay-cutoff node driving the simulator relays', function () {
  this.timeout(60_000);
  let userDir: string;
  let site: SimulatedSite;
  let port: number;
  let table: Array<Record<string, string | number>>;

  beforeEach(async () => {
    userDir = tempUserDir();
    const specs = planSite(
      {
        tenants: 3,
        seed: 5,
        otherUtilities: false,
        electricityProfiles: ['eastron-sdm630', 'hiking-dds238-2'],
      },
      profiles,
    );
    site = new SimulatedSite(specs, profiles, new SystemClock());
    [port] = (await site.start()) as [number];
    table = siteMeterTable(specs).map(meterTableRecord);
    helper.settings({ userDir });
    await startServer();
  });

  afterEach(async () => {
    await helper.unload();
    await stopServer();
    helper.settings({});
    await site.stop();
  });

  it('disconnects on exhaustion and reconnects after a top-up, through a module coil and a built-in relay, with read-back and audit', async () => {
    await helper.load([modbusNode, storeNode, cutoffNode, catchNode], flow(port, table));
    const commands = collect(helper.getNode('commands')) as Msg[];
    const caught = collect(helper.getNode('caught'));
    const cutoff = helper.getNode('cutoff');
    const moduleMeter = table.find((r) => String(r.relay).includes('/'))!;
    const builtinMeter = table.find((r) => r.relay === 'builtin')!;
    for (const row of [moduleMeter, builtinMeter]) cutoff.receive(state(String(row.accountId), 'ok', 5000));
    await until(() => commands.length >= 2); // first commands: connect (the node never commanded them before)
    for (const row of [moduleMeter, builtinMeter])
      cutoff.receive(state(String(row.accountId), 'exhausted', 0));
    await until(() => commands.filter((m) => m.payload.action === 'disconnect').length === 2);
    assert.equal(site.meter(String(moduleMeter.meterId)).supplyOn, false, 'the module coil really opened');
    assert.equal(site.meter(String(builtinMeter.meterId)).supplyOn, false, 'the meter relay really opened');
    const off = commands.find(
      (m) => m.payload.action === 'disconnect' && m.payload.meterId === builtinMeter.meterId,
    )!;
    assert.equal(off.payload.confirmed, true);
    assert.match(String(off.payload.relay), /register 26/);
    assert.equal(off.payload.reason, 'credit exhausted and grace period over');
    // A small top-up is not enough (reconnect above 100), a real one is.
    cutoff.receive(state(String(moduleMeter.accountId), 'low', 50));
    await sleep(300);
    assert.equal(site.meter(String(moduleMeter.meterId)).supplyOn, false);
    cutoff.receive(state(String(moduleMeter.accountId), 'ok', 2000));
    await until(() => site.meter(String(moduleMeter.meterId)).supplyOn);
    assert.deepEqual(caught, []);
    await helper.unload();
    const store = new SqliteLedgerStore({ path: join(userDir, 'audit.db') });
    await store.init();
    try {
      const log = await store.auditLog({ meterId: String(moduleMeter.meterId) });
      assert.deepEqual(
        log.map((r) => r.action),
        ['connect', 'disconnect', 'connect'],
      );
      assert.ok(log.every((r) => r.policy === 'test immediate' && r.kind === 'command'));
    } finally {
      await store.close();
    }
  });

  it('raises an alarm when a relay refuses to switch, and keeps the supply commanded state honest', async () => {
    await helper.load([modbusNode, storeNode, cutoffNode, catchNode], flow(port, table));
    const commands = collect(helper.getNode('commands')) as Msg[];
    const alarms = collect(helper.getNode('alarms')) as Msg[];
    const cutoff = helper.getNode('cutoff');
    const row = table.find((r) => String(r.relay).includes('/'))!;
    cutoff.receive(state(String(row.accountId), 'ok', 5000));
    await until(() => commands.some((m) => m.payload.meterId === row.meterId));
    const module = site.relayModules[0] as InstanceType<typeof SimulatedRelayModule>;
    const channel = Number(String(row.relay).split('/')[1]);
    module.channels[channel - 1]!.stuck = true; // welded contacts
    cutoff.receive(state(String(row.accountId), 'exhausted', 0));
    await until(() => alarms.some((m) => m.payload.type === 'relay-not-confirming'), 8000);
    const alarm = alarms.find((m) => m.payload.type === 'relay-not-confirming')!;
    assert.equal(alarm.payload.meterId, row.meterId);
    assert.match(String(alarm.payload.text), /did not confirm "disconnect" after 3 attempts: read back on/);
    assert.ok(
      !commands.some((m) => m.payload.meterId === row.meterId && m.payload.action === 'disconnect'),
      'no disconnect reported as done',
    );
    cutoff.receive({ topic: 'status', payload: {} });
    await until(() => commands.some((m) => m.topic === 'status'));
    const status = commands.find((m) => m.topic === 'status')!.payload as {
      meters: Array<{ meterId: string; commanded: string }>;
    };
    assert.equal(
      status.meters.find((m) => m.meterId === row.meterId)!.commanded,
      'connect',
      'still known as connected',
    );
  });

  it('reports a relay switched behind its back as a fault once read-back disagrees for more than 5 s', async function () {
    this.timeout(30_000);
    await helper.load([modbusNode, storeNode, cutoffNode, catchNode], flow(port, table));
    const commands = collect(helper.getNode('commands')) as Msg[];
    const alarms = collect(helper.getNode('alarms')) as Msg[];
    const cutoff = helper.getNode('cutoff');
    const row = table.find((r) => r.relay === 'builtin')!;
    cutoff.receive(state(String(row.accountId), 'ok', 5000));
    await until(() => commands.some((m) => m.payload.meterId === row.meterId));
    site.meter(String(row.meterId)).relay!.set(false); // someone opened it by hand
    cutoff.receive({ topic: 'verify', payload: {} });
    await sleep(5200);
    cutoff.receive({ topic: 'verify', payload: {} });
    await until(() => alarms.some((m) => m.payload.type === 'relay-fault'));
    assert.match(
      String(alarms.find((m) => m.payload.type === 'relay-fault')!.payload.text),
      /reads off but was commanded connect/,
    );
  });

  it('never cuts a meter the reader reports in comm loss or estimated, and cuts once it reads true again', async () => {
    await helper.load([modbusNode, storeNode, cutoffNode, catchNode], flow(port, table));
    const commands = collect(helper.getNode('commands')) as Msg[];
    const cutoff = helper.getNode('cutoff');
    const row = table.find((r) => r.relay === 'builtin')!;
    const meterId = String(row.meterId);
    cutoff.receive(state(String(row.accountId), 'ok', 5000));
    await until(() => commands.some((m) => m.payload.meterId === meterId));
    // What the meter reader sends: a comm-loss event (output 3).
    cutoff.receive({
      topic: 'comm-loss',
      payload: {
        meterId,
        utility: 'electricity',
        type: 'comm-loss',
        alarm: true,
        ts: Date.now(),
        text: 'lost',
      },
    });
    cutoff.receive(state(String(row.accountId), 'exhausted', 0));
    await sleep(1500);
    assert.ok(!commands.some((m) => m.payload.action === 'disconnect'), 'not cut in comm loss');
    // Back, but the first consumption after the gap is an estimated slice (output 1).
    cutoff.receive({
      topic: 'comm-restored',
      payload: {
        meterId,
        utility: 'electricity',
        type: 'comm-restored',
        alarm: false,
        ts: Date.now(),
        text: 'back',
      },
    });
    cutoff.receive({
      payload: {
        meterId,
        utility: 'electricity',
        value: 1,
        unit: 'kWh',
        ts: 1,
        quality: 'good',
        delta: 0.5,
        from: 0,
        to: 1,
        readingId: `${meterId}:1`,
        estimated: true,
      },
    });
    await sleep(1500);
    assert.ok(!commands.some((m) => m.payload.action === 'disconnect'), 'not cut on an estimate');
    cutoff.receive({
      payload: {
        meterId,
        utility: 'electricity',
        value: 2,
        unit: 'kWh',
        ts: 2,
        quality: 'good',
        delta: 1,
        from: 1,
        to: 2,
        readingId: `${meterId}:2`,
      },
    });
    await until(() => commands.some((m) => m.payload.action === 'disconnect'));
    assert.equal(site.meter(meterId).supplyOn, false);
  });

  it('refuses bad input with the field at fault: malformed state, override without reason or expiry, unknown meter', async () => {
    await helper.load([modbusNode, storeNode, cutoffNode, catchNode], flow(port, table));
    const caught = collect(helper.getNode('caught'));
    const cutoff = helper.getNode('cutoff');
    const meterId = String(table[0]!.meterId);
    cutoff.receive({ payload: { accountId: 'T0001', state: 'broke', available: 0 } });
    cutoff.receive({ payload: { accountId: 'T0001', state: 'ok' } });
    cutoff.receive({ topic: 'override', payload: { meterId, action: 'connect', minutes: 60 } });
    cutoff.receive({
      topic: 'override',
      payload: { meterId, action: 'connect', reason: 'medical equipment' },
    });
    cutoff.receive({
      topic: 'override',
      payload: { meterId: 'E-NOPE', action: 'connect', reason: 'medical equipment', minutes: 60 },
    });
    cutoff.receive({
      topic: 'override',
      payload: { meterId, action: 'connect', reason: 'medical equipment', minutes: 60 * 24 * 60 },
    });
    await sleep(200);
    const messages = caught.map((m) => (m.error as { message: string }).message.replace(/^Error: /, ''));
    assert.deepEqual(messages, [
      'state: must be one of ok, low, emergency, exhausted, closed (got "broke")',
      'available: must be a number (minor units)',
      'reason: is required: every override is audited with its reason',
      'until: an override needs an expiry: "until" (a time) or "minutes"',
      'meterId: unknown meter "E-NOPE"',
      'until: is more than 31 days away: renew overrides instead',
    ]);
  });

  it('obeys an override, audited with its reason and who gave it', async () => {
    await helper.load([modbusNode, storeNode, cutoffNode, catchNode], flow(port, table));
    const commands = collect(helper.getNode('commands')) as Msg[];
    const alarms = collect(helper.getNode('alarms')) as Msg[];
    const cutoff = helper.getNode('cutoff');
    const row = table.find((r) => r.relay === 'builtin')!;
    cutoff.receive(state(String(row.accountId), 'exhausted', 0));
    await until(() => commands.some((m) => m.payload.action === 'disconnect'));
    cutoff.receive({
      topic: 'override',
      payload: {
        meterId: row.meterId,
        action: 'connect',
        reason: 'medical equipment in the unit',
        minutes: 30,
        by: 'duty manager',
      },
    });
    await until(() => site.meter(String(row.meterId)).supplyOn);
    // The command message follows the relay's read-back, a round trip after the coil switched.
    await until(() => commands.some((m) => m.payload.action === 'connect'));
    const on = commands[commands.length - 1]!;
    assert.match(String(on.payload.reason), /override by duty manager .*medical equipment/);
    await helper.unload();
    const store = new SqliteLedgerStore({ path: join(userDir, 'audit.db') });
    await store.init();
    try {
      const log = await store.auditLog({ meterId: String(row.meterId) });
      const override = log.find((r) => r.kind === 'override')!;
      assert.equal(override.actor, 'duty manager');
      assert.equal(override.reason, 'medical equipment in the unit');
    } finally {
      await store.close();
    }
    assert.ok(!alarms.some((m) => m.payload.alarm === true));
  });

  it('answers every override on its second output: applied with what the relay did, or refused with the reason', async () => {
    const water = {
      meterId: 'W-T0001',
      unitId: 60,
      profile: 'pulse-counter',
      utility: 'water',
      accountId: 'T0001',
      relay: '',
    };
    await helper.load(
      [modbusNode, storeNode, cutoffNode, catchNode],
      [
        ...flow(port, table).map((n) => (n.id === 'c1' ? { ...n, scope: ['cutoff', 'out-only'] } : n)),
        {
          id: 'out-only',
          type: 'prepay-cutoff',
          mode: 'output',
          store: 'store',
          table: [water],
          ...IMMEDIATE,
          wires: [[], ['out-answers']],
        },
        { id: 'out-answers', type: 'helper' },
      ],
    );
    const alarms = collect(helper.getNode('alarms')) as Msg[];
    const commands = collect(helper.getNode('commands')) as Msg[];
    const caught = collect(helper.getNode('caught'));
    const waterAnswers = collect(helper.getNode('out-answers')) as Msg[];
    const cutoff = helper.getNode('cutoff');
    const row = table.find((r) => r.relay === 'builtin')!;
    cutoff.receive(state(String(row.accountId), 'ok', 5000));
    await until(() =>
      commands.some((m) => m.payload.meterId === row.meterId && m.payload.confirmed === true),
    );
    const answers = () => alarms.filter((m) => m.topic === 'override').map((m) => m.payload.answer);
    cutoff.receive({
      topic: 'override',
      payload: { meterId: 'E-NOPE', action: 'disconnect', reason: 'testing', minutes: 30, by: 'bems' },
    });
    cutoff.receive({
      topic: 'override',
      payload: { meterId: row.meterId, action: 'disconnect', reason: 'fire drill', minutes: 30, by: 'bems' },
    });
    await until(() => answers().length === 2);
    const [unknown, applied] = answers() as Array<
      Record<string, unknown> & { relay: Record<string, unknown> }
    >;
    assert.deepEqual([unknown!.outcome, unknown!.error], ['refused', 'meterId: unknown meter "E-NOPE"']);
    assert.equal(applied!.outcome, 'applied');
    const event = alarms.find((m) => m.topic === 'override' && m.payload.outcome === 'applied')!.payload;
    assert.deepEqual(
      [event.type, event.alarm, event.accountId, 'action' in event],
      ['override', false, row.accountId, false],
    );
    assert.equal(applied!.by, 'bems');
    assert.deepEqual([applied!.relay.action, applied!.relay.confirmed], ['disconnect', true]);
    assert.match(
      String(event.text),
      /override "disconnect" by bems applied: relay at .* confirmed "disconnect"/,
    );
    assert.equal(site.meter(String(row.meterId)).supplyOn, false);
    // Water is never disconnected by this policy: an override may not do it either.
    helper.getNode('out-only').receive({
      topic: 'override',
      payload: { meterId: 'W-T0001', action: 'disconnect', reason: 'leak', minutes: 30 },
    });
    await until(() => waterAnswers.length === 1);
    assert.deepEqual(
      [waterAnswers[0]!.payload.outcome, (waterAnswers[0]!.payload.answer as { error: string }).error],
      ['refused', 'action: policy "test immediate" never disconnects water'],
    );
    await until(() => caught.length === 2);
    assert.deepEqual(
      caught.map((m) => (m.error as { message: string }).message.replace(/^Error: /, '')),
      ['meterId: unknown meter "E-NOPE"', 'action: policy "test immediate" never disconnects water'],
    );
    await helper.unload();
    const store = new SqliteLedgerStore({ path: join(userDir, 'audit.db') });
    await store.init();
    try {
      const log = await store.auditLog();
      assert.deepEqual(
        log
          .filter((r) => r.meterId !== row.meterId || r.action === 'disconnect')
          .map((r) => [r.kind, r.meterId, r.action, r.actor]),
        [
          ['override', row.meterId, 'disconnect', 'bems'],
          ['command', row.meterId, 'disconnect', 'bems'],
        ],
      );
    } finally {
      await store.close();
    }
  });

  it('takes overrides on the admin API from whoever the admin API lets in, answering each with its outcome', async () => {
    const water = {
      meterId: 'W-T0001',
      unitId: 60,
      profile: 'pulse-counter',
      utility: 'water',
      accountId: 'T0001',
      relay: '',
    };
    await helper.load(
      [modbusNode, storeNode, cutoffNode, meterNode, catchNode],
      [
        ...flow(port, table),
        {
          id: 'unaudited',
          type: 'prepay-cutoff',
          mode: 'output',
          table: [water],
          ...IMMEDIATE,
          wires: [[], []],
        },
        { id: 'reader', type: 'prepay-meter', source: 'messages', table: [], wires: [[], [], []] },
      ],
    );
    // A meter reader knows the gas meter from its readings; no cutoff node drives it.
    helper
      .getNode('reader')
      .receive({ payload: { meterId: 'G-T0002', value: 10, utility: 'gas', unit: 'm3' } });
    const commands = collect(helper.getNode('commands')) as Msg[];
    const cutoff = helper.getNode('cutoff');
    const row = table.find((r) => r.relay === 'builtin')!;
    cutoff.receive(state(String(row.accountId), 'exhausted', 0));
    await until(() =>
      commands.some((m) => m.payload.meterId === row.meterId && m.payload.action === 'disconnect'),
    );
    type Answer = Record<string, unknown> & {
      relay: Record<string, unknown>;
      audit: Record<string, unknown>;
    };
    const post = async (body: Record<string, unknown>, status: number): Promise<Answer> =>
      (await helper.request().post('/prepay-cutoff/override').send(body).expect(status)).body as Answer;
    const base = { action: 'connect', reason: 'medical equipment in the unit', minutes: 60, by: 'mallory' };
    const unknown = await post({ ...base, meterId: 'E-NOPE' }, 404);
    assert.deepEqual([unknown.outcome, unknown.code], ['refused', 'unknown-meter']);
    assert.match(String(unknown.error), /^unknown meter "E-NOPE"/);
    const gas = await post({ ...base, meterId: 'G-T0002' }, 409);
    assert.deepEqual([gas.outcome, gas.code], ['refused', 'not-owned']);
    assert.match(String(gas.error), /no cutoff node owns meter "G-T0002"/);
    const unaudited = await post({ ...base, meterId: 'W-T0001' }, 409);
    assert.match(String(unaudited.error), /has no supply audit log/);
    const invalid = await post({ meterId: row.meterId, action: 'connect', minutes: 60 }, 400);
    assert.deepEqual([invalid.code, invalid.field], ['invalid', 'reason']);
    const applied = await post({ ...base, meterId: row.meterId }, 200);
    assert.equal(applied.outcome, 'applied');
    // Recorded as whoever the admin API let in (here: no adminAuth), never what the body claims.
    assert.equal(applied.by, 'unauthenticated (adminAuth off)');
    assert.equal(applied.audit.actor, 'unauthenticated (adminAuth off)');
    assert.deepEqual([applied.relay.action, applied.relay.confirmed], ['connect', true]);
    assert.equal(site.meter(String(row.meterId)).supplyOn, true);
    const cleared = await post({ meterId: row.meterId, action: 'clear' }, 200);
    assert.equal(cleared.action, 'clear');
    // The policy has the relay again: credit exhausted, so it goes off.
    assert.deepEqual([cleared.relay.action, cleared.relay.confirmed], ['disconnect', true]);
    await helper.unload();
    const store = new SqliteLedgerStore({ path: join(userDir, 'audit.db') });
    await store.init();
    try {
      const log = await store.auditLog({ meterId: String(row.meterId) });
      const override = log.find((r) => r.kind === 'override')!;
      assert.equal(override.reference, (applied.audit as { reference: string }).reference);
      const command = log.find((r) => r.reference === applied.relay.auditReference)!;
      assert.deepEqual(
        [command.kind, command.action, command.actor],
        ['command', 'connect', 'unauthenticated (adminAuth off)'],
      );
      assert.match(
        command.reason,
        /^override by unauthenticated \(adminAuth off\) until .*: medical equipment in the unit$/,
      );
      assert.equal(log.find((r) => r.kind === 'override-cleared')!.actor, 'unauthenticated (adminAuth off)');
    } finally {
      await store.close();
    }
  });

  it('holds the relay and raises an alarm when account states stop coming, even after the grace period', async () => {
    // Building time 600 times faster: a minute is 0.1 s.
    await helper.unload();
    await stopServer();
    helper.settings({ userDir, prepay: { speed: 600 } });
    await startServer();
    await helper.load(
      [modbusNode, storeNode, cutoffNode, catchNode],
      flow(port, table, { graceMinutes: '5', maxStateAgeMinutes: '2', checkSeconds: '10' }),
    );
    const commands = collect(helper.getNode('commands')) as Msg[];
    const alarms = collect(helper.getNode('alarms')) as Msg[];
    const cutoff = helper.getNode('cutoff');
    const row = table.find((r) => r.relay === 'builtin')!;
    cutoff.receive(state(String(row.accountId), 'ok', 5000));
    await until(() => commands.some((m) => m.payload.meterId === row.meterId));
    cutoff.receive({
      payload: {
        accountId: row.accountId,
        state: 'exhausted',
        available: 0,
        balance: 0,
        currency: 'GBP',
        changedAt: Date.now(),
      },
    });
    await sleep(1500); // 15 building minutes: grace (5) over, but the last state is 15 minutes old
    const stale = alarms.filter((m) => m.payload.type === 'policy' && m.payload.alarm === true);
    assert.ok(
      stale.some(
        (m) =>
          m.payload.meterId === row.meterId && /min old .* holding the relay/.test(String(m.payload.text)),
      ),
      JSON.stringify(alarms.map((m) => m.payload.text)),
    );
    assert.ok(!commands.some((m) => m.payload.action === 'disconnect'), 'never cut on a stale state');
    assert.equal(site.meter(String(row.meterId)).supplyOn, true);
  });
});

describe('prepay-cutoff node against an independent Modbus server (pymodbus coils)', function () {
  this.timeout(30_000);

  it('opens the coil on the server, as mbpoll reads it back', async function () {
    requireTool(this, havePymodbus(), 'pymodbus', 'python3-pymodbus');
    requireTool(this, haveMbpoll(), 'mbpoll', 'mbpoll');
    const server = await PymodbusServer.start({ units: { '20': { co: { '0': [1, 1, 1, 1, 1, 1, 1, 1] } } } });
    const userDir = tempUserDir();
    helper.settings({ userDir });
    await startServer();
    try {
      const table = [
        {
          meterId: 'E-9',
          unitId: 9,
          profile: 'eastron-sdm630',
          utility: 'electricity',
          accountId: 'T9',
          relay: '20/3',
        },
      ];
      await helper.load([modbusNode, storeNode, cutoffNode, catchNode], flow(server.port, table));
      const commands = collect(helper.getNode('commands')) as Msg[];
      helper.getNode('cutoff').receive(state('T9', 'exhausted', 0));
      await until(() => commands.some((m) => m.payload.action === 'disconnect'));
      assert.equal(commands.find((m) => m.payload.action === 'disconnect')!.payload.confirmed, true);
      assert.deepEqual(
        await mbpoll(['-p', String(server.port), '-a', '20', '-t', '0', '-r', '0', '-c', '8', '127.0.0.1']),
        [1, 1, 0, 1, 1, 1, 1, 1],
      );
    } finally {
      await helper.unload();
      await stopServer();
      helper.settings({});
      await server.stop();
    }
  });
});

describe('prepay-cutoff node in output-only mode', function () {
  this.timeout(30_000);

  it('emits relay commands, limiting power on emergency credit when the actuators can', async () => {
    const userDir = tempUserDir();
    helper.settings({ userDir });
    await startServer();
    try {
      const table = [
        {
          meterId: 'E-5',
          unitId: 5,
          profile: 'eastron-sdm630',
          utility: 'electricity',
          accountId: 'T5',
          relay: '',
        },
      ];
      await helper.load(
        [cutoffNode, catchNode],
        [
          {
            id: 'cutoff',
            type: 'prepay-cutoff',
            mode: 'output',
            table,
            ...IMMEDIATE,
            emergency: 'limit',
            limitW: '2000',
            canLimit: true,
            wires: [['commands'], ['alarms']],
          },
          ...OUTPUTS,
        ],
      );
      const commands = collect(helper.getNode('commands')) as Msg[];
      const cutoff = helper.getNode('cutoff');
      cutoff.receive(state('T5', 'emergency', 200));
      cutoff.receive(state('T5', 'exhausted', 0));
      cutoff.receive(state('T5', 'ok', 5000));
      await sleep(200);
      assert.deepEqual(
        commands.map((m) => [m.payload.action, m.payload.limitW]),
        [
          ['limit', 2000],
          ['disconnect', undefined],
          ['connect', undefined],
        ],
      );
    } finally {
      await helper.unload();
      await stopServer();
      helper.settings({});
    }
  });

  it('limits a tenant on a load-control request where the policy wants it on, answers each request, audits it and keeps it across a restart', async () => {
    const userDir = tempUserDir();
    helper.settings({ userDir });
    await startServer();
    const row = (n: number, utility = 'electricity') => ({
      meterId: `E-${n}`,
      unitId: n,
      profile: 'eastron-sdm630',
      utility,
      accountId: `T${n}`,
      relay: '',
    });
    const flow = [
      { id: 'store', type: 'prepay-store', backend: 'sqlite', file: 'audit.db', synchronous: 'FULL' },
      {
        id: 'cutoff',
        type: 'prepay-cutoff',
        mode: 'output',
        store: 'store',
        table: [row(5), row(6), row(7, 'water')],
        ...IMMEDIATE,
        emergency: 'limit',
        limitW: '1500',
        canLimit: true,
        wires: [['commands'], ['alarms']],
      },
      ...OUTPUTS,
    ];
    const limit = (payload: Record<string, unknown>) => ({
      topic: 'limit',
      payload: { by: 'demand limiting', reason: 'window over target', ...payload },
    });
    try {
      await helper.load([storeNode, cutoffNode, catchNode], flow);
      let commands = collect(helper.getNode('commands')) as Msg[];
      let alarms = collect(helper.getNode('alarms')) as Msg[];
      const caught = collect(helper.getNode('caught')) as Msg[];
      let cutoff = helper.getNode('cutoff');
      const answers = (): Array<Record<string, unknown>> =>
        alarms.filter((m) => m.topic === 'limit').map((m) => m.payload);
      cutoff.receive(state('T5', 'ok', 5000));
      cutoff.receive(state('T6', 'exhausted', 0));
      cutoff.receive(state('T7', 'ok', 5000));
      await until(() => commands.length === 3);
      cutoff.receive(limit({ meterId: 'E-5', limitW: 3000 }));
      await until(() => answers().length === 1);
      assert.deepEqual(
        [commands[3]?.payload.action, commands[3]?.payload.limitW, commands[3]?.payload.by],
        ['limit', 3000, 'demand limiting'],
      );
      assert.equal(answers()[0]!.outcome, 'applied');
      // The policy's own decision wins: an exhausted tenant stays off; water is never limited; unknown meters
      // and bad requests are refused to Catch.
      cutoff.receive(limit({ accountId: 'T6', limitW: 3000 }));
      cutoff.receive(limit({ meterId: 'E-7', limitW: 3000 }));
      cutoff.receive(limit({ meterId: 'E-99', limitW: 3000 }));
      cutoff.receive(limit({ meterId: 'E-5', limitW: 0 }));
      await until(() => answers().length === 4 && caught.length === 3);
      assert.deepEqual(
        answers()
          .map((a) => `${String(a.meterId ?? a.accountId)} ${String(a.outcome)}`)
          .sort(),
        ['E-5 applied', 'E-7 refused', 'E-99 refused', 'T6 held'],
      );
      assert.match(
        String(answers().find((a) => a.meterId === 'E-7')!.error),
        /never limits or disconnects water/,
      );
      assert.ok(
        caught.some((m) =>
          /limitW: must be a power in W above 0/.test(String((m.error as { message?: string })?.message)),
        ),
        'the invalid request reaches Catch',
      );
      assert.equal(commands.length, 4, 'no command for the held, refused or invalid requests');
      // A top-up brings the exhausted tenant back: at the limit asked for, not at full power.
      cutoff.receive(state('T6', 'ok', 5000));
      await until(() => commands.length === 5);
      assert.deepEqual(
        [commands[4]!.payload.meterId, commands[4]!.payload.action, commands[4]!.payload.limitW],
        ['E-6', 'limit', 3000],
      );
      // Emergency credit: the policy's own limit wins.
      cutoff.receive(state('T5', 'emergency', 100));
      await until(() => commands.length === 6);
      assert.deepEqual([commands[5]!.payload.action, commands[5]!.payload.limitW], ['limit', 1500]);
      cutoff.receive(state('T5', 'ok', 5000));
      await until(() => commands.length === 7);
      assert.deepEqual([commands[6]!.payload.action, commands[6]!.payload.limitW], ['limit', 3000]);

      // Node-RED restarts: the limits are still in force (the window they protect goes on).
      await helper.unload();
      await helper.load([storeNode, cutoffNode, catchNode], flow);
      commands = collect(helper.getNode('commands')) as Msg[];
      alarms = collect(helper.getNode('alarms')) as Msg[];
      cutoff = helper.getNode('cutoff');
      await until(() => commands.length === 3);
      assert.deepEqual(
        commands.map((m) => [m.payload.meterId, m.payload.action, m.payload.limitW, m.payload.restored]),
        [
          ['E-5', 'limit', 3000, true],
          ['E-6', 'limit', 3000, true],
          ['E-7', 'connect', undefined, true],
        ],
      );
      cutoff.receive(state('T5', 'ok', 5000));
      cutoff.receive(state('T6', 'ok', 5000));
      await sleep(200);
      assert.equal(commands.length, 3, 'still limited as before the restart: nothing to command');
      // Released: back to what the policy wants.
      cutoff.receive(limit({ accountId: 'T5', limitW: null, reason: 'window over' }));
      await until(() => answers().length === 1 && commands.length === 4);
      assert.deepEqual([commands[3]!.payload.action, answers()[0]!.outcome], ['connect', 'released']);
      await helper.unload();
      const store = new SqliteLedgerStore({ path: join(userDir, 'audit.db') });
      await store.init();
      try {
        const log = await store.auditLog({ meterId: 'E-5' });
        const limited = log.filter(
          (r) => r.kind === 'command' && r.action === 'limit' && r.actor === 'demand limiting',
        );
        assert.equal(limited.length, 2);
        assert.equal((limited[0]!.detail as Record<string, unknown>).limitW, 3000);
        assert.ok(
          log.some((r) => r.kind === 'command' && r.action === 'connect' && r.actor === 'demand limiting'),
        );
      } finally {
        await store.close();
      }
    } finally {
      await helper.unload();
      await stopServer();
      helper.settings({});
    }
  });

  it('says at start what each relay was last commanded (restored, not a new command), so a restart shows the relays as they are', async () => {
    const userDir = tempUserDir();
    helper.settings({ userDir });
    await startServer();
    const row = (n: number) => ({
      meterId: `E-${n}`,
      unitId: n,
      profile: 'eastron-sdm630',
      utility: 'electricity',
      accountId: `T${n}`,
      relay: '',
    });
    const flow = [
      {
        id: 'cutoff',
        type: 'prepay-cutoff',
        mode: 'output',
        table: [row(5), row(6), row(7)],
        ...IMMEDIATE,
        wires: [['commands'], ['alarms']],
      },
      ...OUTPUTS,
    ];
    try {
      await helper.load([cutoffNode, catchNode], flow);
      let commands = collect(helper.getNode('commands')) as Msg[];
      assert.equal(commands.length, 0, 'nothing commanded yet: nothing to say');
      helper.getNode('cutoff').receive(state('T5', 'exhausted', 0));
      helper.getNode('cutoff').receive(state('T6', 'ok', 5000));
      await sleep(200);
      assert.deepEqual(
        commands.map((m) => [m.payload.meterId, m.payload.action, m.payload.restored]),
        [
          ['E-5', 'disconnect', undefined],
          ['E-6', 'connect', undefined],
        ],
      );
      const at = commands[0]!.payload.at;
      await helper.unload();
      // Node-RED starts again: the relays are as they were commanded.
      await helper.load([cutoffNode, catchNode], flow);
      commands = collect(helper.getNode('commands')) as Msg[];
      await sleep(200);
      assert.deepEqual(
        commands.map((m) => [
          m.topic,
          m.payload.meterId,
          m.payload.accountId,
          m.payload.action,
          m.payload.at,
          m.payload.restored,
        ]),
        [
          ['E-5', 'E-5', 'T5', 'disconnect', at, true],
          ['E-6', 'E-6', 'T6', 'connect', commands[1]?.payload.at, true],
        ],
      );
    } finally {
      await helper.unload();
      await stopServer();
      helper.settings({});
    }
  });
});
