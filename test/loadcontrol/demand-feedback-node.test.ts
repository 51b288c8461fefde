/**
 * prepay-loadcontrol inside Node-RED hearing back and carrying on: the cutoff's refusal wired back from
 * prepay-cutoff's second output (the next step, a BEMS setpoint on bacserv, goes in at once), the steps in force
 * carried over a redeploy (the setpoint asserted again, the limit renewed on its lease, nothing restored at
 * once) and dropped after a stop longer than the lease, the demand window from a tariff message, and a wrong
 * protected units table named at deploy.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../dist/nodes/core/clock';
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
import { AO, bemsClientConfig, eventually, bemsForSuite, type Bems } from './bems';

const clientNode = loadBuiltNode('loadcontrol/prepay-bacnet-client.js');
const loadControlNode = loadBuiltNode('loadcontrol/prepay-loadcontrol.js');
const cutoffNode = loadBuiltNode('cutoff/prepay-cutoff.js');

const MIN = 60_000;
const START = Date.parse('2026-06-01T10:00:00Z');
type Msg = Record<string, unknown> & { payload: Record<string, unknown>; error?: { message: string } };

const SHED =
  'step,kind,target,value,reliefKw,minHoldMinutes\nlimit T1,power-limit,T1/E-1,3000,30,10\nchw,bacnet,analog-output:1,10,30,10\n';

function loadControl(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'lc',
    type: 'prepay-loadcontrol',
    client: 'bems',
    priority: '10',
    verify: '0',
    table: 'account,object,unoccupied,occupied,priority\n',
    targetKw: '100',
    windowMinutes: '15',
    siteMeters: 'SITE',
    shedTable: SHED,
    limitMinutes: '20',
    checkSeconds: '60',
    wires: [['outcomes'], ['limits'], ['reports']],
    ...extra,
  };
}

const helpers = ['outcomes', 'limits', 'reports', 'caught'].map((id) => ({ id, type: 'helper' }));
const catcher = { id: 'c1', type: 'catch', scope: ['lc'], uncaught: false, wires: [['caught']] };

function reading(kWh: number, at: number): Record<string, unknown> {
  return {
    payload: { meterId: 'SITE', utility: 'electricity', value: kWh, unit: 'kWh', ts: at, quality: 'good' },
  };
}

describe('prepay-loadcontrol: cutoff answers, restarts, tariffs and protected units', function () {
  this.timeout(60_000);
  let bems: Bems;

  bemsForSuite((started) => (bems = started));
  afterEach(async () => {
    await helper.unload();
    await stopServer();
    helper.settings({});
  });

  it('hears the cutoff refuse a limit and sheds the next step at once', async () => {
    const clock = new ManualClock(START);
    helper.settings({ userDir: tempUserDir(), prepay: { clock } });
    await startServer();
    await helper.load(
      [clientNode, loadControlNode, cutoffNode, catchNode],
      [
        bemsClientConfig(bems),
        { ...loadControl(), wires: [['outcomes'], ['cutoff'], ['reports']] },
        {
          id: 'cutoff',
          type: 'prepay-cutoff',
          mode: 'output',
          table: [
            {
              meterId: 'E-1',
              unitId: '1',
              profile: 'eastron-sdm120',
              utility: 'electricity',
              accountId: 'T1',
              relay: '',
            },
          ],
          graceMinutes: '0',
          nightsFrom: '',
          nightsTo: '',
          weekends: false,
          minOnMinutes: '0',
          minOffSeconds: '0',
          reconnectAbove: '0',
          checkSeconds: '60',
          verifySeconds: '0',
          timeZone: 'UTC',
          // A switch-only relay: every limit is refused.
          canLimit: false,
          wires: [['relays'], ['lc', 'answers']],
        },
        { id: 'relays', type: 'helper' },
        { id: 'answers', type: 'helper' },
        ...helpers,
        { ...catcher, scope: ['lc', 'cutoff'] },
      ],
    );
    const reports = collect(helper.getNode('reports')) as Msg[];
    const caught = collect(helper.getNode('caught')) as Msg[];
    const answers = collect(helper.getNode('answers')) as Msg[];
    const lc = helper.getNode('lc');
    helper.getNode('cutoff').receive({
      payload: {
        accountId: 'T1',
        state: 'ok',
        available: 10_000,
        balance: 10_000,
        currency: 'GBP',
        changedAt: START,
      },
    });
    await sleep(100);
    lc.receive(reading(0, START));
    clock.advance(MIN);
    // One reading 25 kW over: the limit alone would cover it; the cutoff refuses it, the setpoint goes in.
    lc.receive(reading(125 / 60, START + MIN));
    await eventually(async () => assert.equal((await bems.priorityArray(AO))[9], '10.000000'), 5000);
    const decisions = reports.filter((m) => m.topic === 'demand-decision').map((m) => m.payload);
    assert.deepEqual(
      decisions.map((d) => [d.action, d.step, d.reliefKw]),
      [
        ['shed', 'limit T1', 30],
        ['refused', 'limit T1', 0],
        ['shed', 'chw', 30],
      ],
    );
    assert.match(String(decisions[1]!.reason), /cannot limit power/);
    assert.equal(answers[0]!.payload.outcome, 'refused');
    // The cutoff sends its refusal to Catch too; the controller took it without an error.
    assert.deepEqual(
      caught.filter((m) => (m.error as unknown as { source: { id: string } }).source.id === 'lc'),
      [],
    );
  });

  it('carries the steps in force over a redeploy, and drops them after a stop longer than the lease', async () => {
    const clock = new ManualClock(START);
    const userDir = tempUserDir();
    helper.settings({ userDir, prepay: { clock } });
    await startServer();
    const nodes = [clientNode, loadControlNode, catchNode];
    const flow = [bemsClientConfig(bems), loadControl(), ...helpers, catcher];
    await helper.load(nodes, flow);
    let lc = helper.getNode('lc');
    lc.receive(reading(0, START));
    clock.advance(MIN);
    lc.receive(reading(160 / 60, START + MIN));
    await eventually(async () => assert.equal((await bems.priorityArray(AO))[9], '10.000000'), 5000);
    await helper.unload();
    assert.equal((await bems.priorityArray(AO))[9], null, 'relinquished on close');

    // Back 3 minutes later: both steps still in force, the setpoint asserted again, nothing restored.
    clock.advance(3 * MIN);
    await helper.load(nodes, flow);
    let reports = collect(helper.getNode('reports')) as Msg[];
    let limits = collect(helper.getNode('limits')) as Msg[];
    lc = helper.getNode('lc');
    await eventually(async () => assert.equal((await bems.priorityArray(AO))[9], '10.000000'), 5000);
    await eventually(async () => assert.ok(reports.some((m) => m.topic === 'demand-state')), 2000);
    const state = reports.find((m) => m.topic === 'demand-state')!.payload;
    assert.deepEqual(state.inForce, ['limit T1', 'chw']);
    // The limit was sent at minute 1 with a 20-minute lease: renewed at minute 11, not before.
    clock.advance(6 * MIN);
    await sleep(50);
    assert.equal(limits.length, 0);
    clock.advance(2 * MIN);
    await eventually(async () => assert.equal(limits.length, 1), 2000);
    assert.deepEqual([limits[0]!.payload.meterId, limits[0]!.payload.limitW], ['E-1', 3000]);
    await helper.unload();

    // Away for an hour: the limit's lease lapsed at the cutoff, and the setpoint's with it.
    clock.advance(60 * MIN);
    await helper.load(nodes, flow);
    reports = collect(helper.getNode('reports')) as Msg[];
    limits = collect(helper.getNode('limits')) as Msg[];
    await eventually(async () => assert.ok(reports.some((m) => m.topic === 'demand-state')), 2000);
    const after = reports.find((m) => m.topic === 'demand-state')!.payload as {
      inForce: string[];
      dropped: Array<{ step: string; reason: string }>;
    };
    assert.deepEqual(after.inForce, []);
    assert.deepEqual(
      after.dropped.map((d) => d.step),
      ['limit T1', 'chw'],
    );
    await sleep(200);
    assert.equal((await bems.priorityArray(AO))[9], null, 'not asserted again');
  });

  it('takes its demand window from a tariff message, and says when the tariff has no demand charge', async () => {
    helper.settings({ userDir: tempUserDir() });
    await startServer();
    await helper.load(
      [clientNode, loadControlNode, catchNode],
      [bemsClientConfig(bems), loadControl(), ...helpers, catcher],
    );
    const reports = collect(helper.getNode('reports')) as Msg[];
    const caught = collect(helper.getNode('caught')) as Msg[];
    const lc = helper.getNode('lc');
    const tariff = {
      name: 'site',
      currency: 'GBP',
      energy: { type: 'flat', rate: '0.20' },
      demand: { rate: '12', intervalMinutes: 30 },
    };
    lc.receive({ topic: 'tariff', payload: { tariff, targetKw: 90 } });
    await eventually(async () => assert.ok(reports.some((m) => m.topic === 'demand-tariff')), 2000);
    const taken = reports.find((m) => m.topic === 'demand-tariff')!.payload;
    assert.deepEqual(
      [taken.tariff, taken.intervalMinutes, taken.targetKw, taken.targetFrom],
      ['site', 30, 90, 'message'],
    );
    lc.receive({ topic: 'tariff', payload: { ...tariff, demand: undefined } });
    await eventually(async () => assert.equal(caught.length, 1), 2000);
    assert.match(caught[0]!.error!.message, /tariff "site" has no demand charge/);
  });

  it('names a wrong protected units table at deploy', async () => {
    helper.settings({ userDir: tempUserDir() });
    await startServer();
    await helper.load(
      [clientNode, loadControlNode, catchNode],
      [
        bemsClientConfig(bems),
        loadControl({ protectedUnits: 'account,flag\nT1,medical\nT2,vip\n' }),
        ...helpers,
        catcher,
      ],
    );
    const caught = collect(helper.getNode('caught')) as Msg[];
    helper.getNode('lc').receive(reading(0, Date.now()));
    await eventually(async () => assert.equal(caught.length, 1), 2000);
    assert.match(
      caught[0]!.error!.message,
      /^(Error: )?protected units line 3, flag: "vip" is not medical or critical$/,
    );
  });
});
