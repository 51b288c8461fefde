/**
 * prepay-savings fed by prepay-loadcontrol inside Node-RED: the load-control node's third output wired to the
 * savings node; a unit set back at its account's closing and restored at a move-in shows its hours set back in
 * the day report beside the energy, and the same report sent again is counted once.
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
import { bemsClientConfig, eventually, bemsForSuite, type Bems } from './bems';

const clientNode = loadBuiltNode('loadcontrol/prepay-bacnet-client.js');
const loadControlNode = loadBuiltNode('loadcontrol/prepay-loadcontrol.js');
const savingsNode = loadBuiltNode('loadcontrol/prepay-savings.js');
const HOUR = 3_600_000;
/** 2026-11-02 08:00 in Kuala Lumpur (UTC+8). */
const START = Date.UTC(2026, 10, 2, 0);
type Msg = Record<string, unknown> & { payload: Record<string, unknown> };

describe('prepay-savings fed by prepay-loadcontrol', function () {
  this.timeout(60_000);
  let bems: Bems;

  bemsForSuite((started) => (bems = started));
  afterEach(async () => {
    await helper.unload();
    await stopServer();
    helper.settings({});
  });

  it('reports the hours each unit was set back beside its energy, counting a resent report once', async () => {
    const clock = new ManualClock(START);
    helper.settings({ userDir: tempUserDir(), prepay: { clock } });
    await startServer();
    await helper.load(
      [clientNode, loadControlNode, savingsNode, catchNode],
      [
        bemsClientConfig(bems),
        {
          id: 'lc',
          type: 'prepay-loadcontrol',
          client: 'bems',
          priority: '10',
          verify: '0',
          table: 'account,object,unoccupied,occupied\nT1,analog-output:1,28,relinquish\n',
          wires: [[], [], ['sav', 'reports']],
        },
        {
          id: 'sav',
          type: 'prepay-savings',
          timeZone: 'Asia/Kuala_Lumpur',
          units: [{ unit: 'Suite 1', meters: 'E-1', schedule: 'Mon-Fri 08:00-18:00', accounts: 'T1' }],
          temperatureUnit: '°C',
          wires: [['days'], []],
        },
        { id: 'reports', type: 'helper' },
        { id: 'days', type: 'helper' },
        { id: 'c1', type: 'catch', scope: ['lc', 'sav'], uncaught: false, wires: [['caught']] },
        { id: 'caught', type: 'helper' },
      ],
    );
    const reports = collect(helper.getNode('reports')) as Msg[];
    const days = collect(helper.getNode('days')) as Msg[];
    const caught = collect(helper.getNode('caught')) as Msg[];
    const lc = helper.getNode('lc');
    const sav = helper.getNode('sav');
    lc.receive({ payload: { accountId: 'T1', state: 'closed' } });
    await eventually(async () => assert.equal(reports.length, 1), 5000);
    assert.equal(reports[0]!.topic, 'setback');
    // The same report again (a resend): counted once.
    sav.receive({ topic: reports[0]!.topic, payload: reports[0]!.payload });
    clock.advance(5 * HOUR + 30 * 60_000);
    lc.receive({ payload: { accountId: 'T1', state: 'ok' } });
    await eventually(async () => assert.equal(reports.length, 2), 5000);
    assert.deepEqual(reports[1]!.payload.mode, 'occupied');
    await sleep(50);
    sav.receive({ topic: 'report', payload: { period: 'day', date: '2026-11-02' } });
    await eventually(async () => assert.equal(days.length, 1), 2000);
    const unit = (days[0]!.payload.units as Array<{ days: Array<Record<string, unknown>> }>)[0]!;
    assert.deepEqual(unit.days[0]!.loadControl, {
      setbackHours: 5.5,
      shedSteps: 0,
      notApplied: 0,
      stepHours: 0,
      estimatedReliefKWh: 0,
    });
    assert.deepEqual(caught, []);
  });
});
