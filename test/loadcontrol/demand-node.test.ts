/**
 * Demand limiting end to end inside Node-RED: prepay-loadcontrol reads a simulated site's electricity meters
 * minute by minute of building time, and its decisions are carried out for real: the tenant limits through
 * prepay-cutoff (its relay commands applied to the simulated meters, whose load follows them) and the BEMS
 * setpoint on bacserv (read back independently with bacrp). Every demand window stays under the target, and as
 * the shops close in the evening everything comes back: the setpoint relinquished, the tenants on full supply.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../dist/nodes/core/clock';
import { builtInProfiles } from '../../dist/nodes/meter/profile-registry';
import { planSite, SimulatedSite } from '../../dist/nodes/simulator/site';
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
import { AO, bemsClientConfig, bemsForSuite, type Bems } from './bems';

const clientNode = loadBuiltNode('loadcontrol/prepay-bacnet-client.js');
const loadControlNode = loadBuiltNode('loadcontrol/prepay-loadcontrol.js');
const cutoffNode = loadBuiltNode('cutoff/prepay-cutoff.js');

const MIN = 60_000;
/** Monday 2026-06-01 19:45 UTC: shops and restaurants at their evening peak, closing over the next two hours. */
const START = Date.parse('2026-06-01T19:45:00Z');
const MINUTES = 150;
const WINDOW_MS = 15 * MIN;
type Msg = Record<string, unknown> & { payload: Record<string, unknown> };

function site(clock: ManualClock): SimulatedSite {
  const profiles = builtInProfiles();
  const specs = planSite(
    { tenants: 8, seed: 5, timeZone: 'UTC', otherUtilities: false, hvacPlant: false },
    profiles,
  );
  return new SimulatedSite(specs, profiles, clock, { timeZone: 'UTC' });
}

/** The site's demand per 15-minute window with nothing controlled, kW. */
function baseline(): number[] {
  const clock = new ManualClock(START);
  const s = site(clock);
  const total = (): number => [...s.meters.values()].reduce((sum, m) => sum + m.consumed(), 0);
  const windows: number[] = [];
  let start = total();
  for (let minute = 1; minute <= MINUTES; minute += 1) {
    clock.advance(MIN);
    if (minute % 15 === 0) {
      windows.push(((total() - start) * 3_600_000) / WINDOW_MS);
      start = total();
    }
  }
  return windows;
}

describe('demand limiting through prepay-cutoff and the BEMS, on the simulator', function () {
  this.timeout(120_000);
  let bems: Bems;

  bemsForSuite((started) => (bems = started));

  it('keeps every window under the target and restores everything once the load falls', async () => {
    const free = baseline();
    const peak = Math.max(...free);
    const targetKw = Math.round(peak * 0.85);
    assert.ok(free.some((kw) => kw > targetKw) && free.some((kw) => kw < targetKw * 0.6));

    const clock = new ManualClock(START);
    const simulated = site(clock);
    const tenants = simulated.specs.filter((spec) => spec.utility === 'electricity');
    const shedTable = [
      'step,kind,target,value,reliefKw,minHoldMinutes',
      'chilled water +3 C,bacnet,analog-output:1,10,1,10',
      ...tenants.map(
        (spec) =>
          `limit ${spec.accountId},power-limit,${spec.accountId}/${spec.meterId},${Math.round(spec.peak * 400)},${(spec.peak * 0.45).toFixed(2)},10`,
      ),
    ].join('\n');
    const userDir = tempUserDir();
    helper.settings({ userDir, prepay: { clock } });
    await startServer();
    try {
      await helper.load(
        [clientNode, loadControlNode, cutoffNode, catchNode],
        [
          bemsClientConfig(bems),
          {
            id: 'lc',
            type: 'prepay-loadcontrol',
            client: 'bems',
            priority: '10',
            verify: '0',
            table: 'account,object,unoccupied,occupied,priority\n',
            targetKw: String(targetKw),
            windowMinutes: '15',
            shedTable,
            checkSeconds: '30',
            wires: [['outcomes'], ['cutoff'], ['reports']],
          },
          {
            id: 'cutoff',
            type: 'prepay-cutoff',
            mode: 'output',
            table: tenants.map((spec) => ({
              meterId: spec.meterId,
              unitId: spec.unitId,
              profile: spec.profile,
              utility: 'electricity',
              accountId: spec.accountId,
              relay: '',
            })),
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
            canLimit: true,
            wires: [['relays'], ['answers']],
          },
          { id: 'outcomes', type: 'helper' },
          { id: 'reports', type: 'helper' },
          { id: 'relays', type: 'helper' },
          { id: 'answers', type: 'helper' },
          { id: 'c1', type: 'catch', scope: ['lc', 'cutoff'], uncaught: false, wires: [['caught']] },
          { id: 'caught', type: 'helper' },
        ],
      );
      const reports = collect(helper.getNode('reports')) as Msg[];
      const relays = collect(helper.getNode('relays')) as Msg[];
      const answers = collect(helper.getNode('answers')) as Msg[];
      const caught = collect(helper.getNode('caught')) as Msg[];
      const lc = helper.getNode('lc');
      const cutoff = helper.getNode('cutoff');
      const states = (): void => {
        for (const spec of tenants)
          cutoff.receive({
            payload: {
              accountId: spec.accountId,
              state: 'ok',
              available: 10_000,
              balance: 10_000,
              currency: 'GBP',
              changedAt: clock.now(),
            },
          });
      };
      states();
      await sleep(100);
      let applied = 0;
      const setpoints: Array<string | null> = [];
      for (let minute = 0; minute <= MINUTES; minute += 1) {
        if (minute > 0) clock.advance(MIN);
        if (minute % 10 === 0) states();
        for (const spec of tenants)
          lc.receive({
            payload: {
              meterId: spec.meterId,
              utility: 'electricity',
              value: simulated.meter(spec.meterId).consumed(),
              unit: 'kWh',
              ts: clock.now(),
              quality: 'good',
            },
          });
        await sleep(20);
        // The relays do as prepay-cutoff commands (the simulator's relay topic).
        for (; applied < relays.length; applied += 1) {
          const command = relays[applied]!.payload;
          simulated.applyRelayCommand({
            meterId: String(command.meterId),
            action: String(command.action),
            ...(typeof command.limitW === 'number' ? { limitW: command.limitW } : {}),
          });
        }
        if (minute === 20) setpoints.push((await bems.priorityArray(AO))[9] ?? null);
      }
      const windows = reports.filter((m) => m.topic === 'demand-window').map((m) => m.payload);
      assert.ok(windows.length >= 9, `${windows.length} window reports`);
      for (const w of windows)
        assert.ok(
          Number(w.actualKw) <= targetKw,
          `window ${new Date(Number(w.start)).toISOString()} at ${Number(w.actualKw).toFixed(1)} kW over ${targetKw} kW`,
        );
      // It had to act: some windows would have been over the target without it.
      assert.ok(free.filter((kw) => kw > targetKw).length >= 2);
      assert.equal(setpoints[0], '10.000000', 'the BEMS setpoint landed on bacserv at priority 10');
      const limits = relays.filter((m) => m.payload.action === 'limit');
      assert.ok(limits.length > 0, 'tenants were limited');
      assert.ok(limits.every((m) => Number(m.payload.limitW) > 0 && m.payload.by !== undefined));
      assert.ok(!relays.some((m) => m.payload.action === 'disconnect'), 'never a cut');
      assert.ok(answers.some((m) => m.topic === 'limit' && m.payload.outcome === 'applied'));
      // Restored as the load fell: the setpoint relinquished, every tenant back on full supply.
      assert.equal((await bems.priorityArray(AO))[9], null, 'relinquished');
      for (const spec of tenants) {
        const last = relays.filter((m) => m.payload.meterId === spec.meterId).at(-1);
        assert.ok(
          !last || last.payload.action === 'connect',
          `${spec.meterId} ends ${String(last?.payload.action)}`,
        );
      }
      assert.deepEqual(
        caught.map((m) => m.error),
        [],
      );
    } finally {
      await helper.unload();
      await stopServer();
      helper.settings({});
    }
  });
});
