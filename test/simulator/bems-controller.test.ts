/**
 * The simulator's BEMS controller: a BACnet/IP device with commandable objects, read and written independently
 * with bacnet-stack's bacrp, bacwp and bacwi (as a BEMS operator's workstation would), and commanded by
 * prepay-loadcontrol through prepay-bacnet-client inside Node-RED. Each write lands in its priority slot, a
 * higher priority wins, a relinquish (NULL) hands back to the next slot or the relinquish default, and the
 * present values drive the simulated site's loads: the meters' power changes with them.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { ManualClock } from '../../dist/nodes/core/clock';
import { builtInProfiles } from '../../dist/nodes/meter/profile-registry';
import { SimulatedBemsController } from '../../dist/nodes/simulator/bems-controller';
import { driveSite, siteBemsObjects } from '../../dist/nodes/simulator/bems-site';
import { planSite, SimulatedSite } from '../../dist/nodes/simulator/site';
import { freeUdpPort, sleep } from '../bacnet/support';
import { loopbackEnv, requireBacnetStack, runTool, whoIsDevices } from '../support/bacnet-stack';
import {
  catchNode,
  collect,
  helper,
  loadBuiltNode,
  startServer,
  stopServer,
  tempUserDir,
} from '../support/node-red-helper';
import { eventually } from '../loadcontrol/bems';

const simulatorNode = loadBuiltNode('simulator/prepay-simulator.js');
const clientNode = loadBuiltNode('loadcontrol/prepay-bacnet-client.js');
const loadControlNode = loadBuiltNode('loadcontrol/prepay-loadcontrol.js');

const MIN = 60_000;
const ZONE = 'Asia/Kuala_Lumpur';
/** Monday 2026-06-01 11:00 in Kuala Lumpur: every unit is open. */
const ELEVEN = Date.parse('2026-06-01T11:00:00+08:00');
const DEVICE = 3101;

interface Tools {
  read(object: string, instance: number, property: string): Promise<string>;
  write(object: string, instance: number, priority: number, tag: number, value: string): Promise<string>;
}

function tools(port: number, device = DEVICE): Tools {
  const run = async (name: string, args: string[]): Promise<string> => {
    const own = await freeUdpPort();
    const result = await runTool(
      name,
      ['--mac', `127.0.0.1:${port}`, '--dnet', '0', String(device), ...args],
      loopbackEnv(own, port),
    );
    return (result.stdout + result.stderr).trim();
  };
  return {
    read: (object, instance, property) => run('bacrp', [object, String(instance), property]),
    write: (object, instance, priority, tag, value) =>
      run('bacwp', [object, String(instance), 'present-value', String(priority), '-1', String(tag), value]),
  };
}

/** bacrp's priority array: the 16 slots, null for Null. */
function slots(text: string): Array<string | null> {
  const inner = /\{(.*)\}/s.exec(text)?.[1];
  if (inner === undefined) throw new Error(`not a priority array: ${text}`);
  return inner.split(',').map((v) => (v.trim() === 'Null' ? null : v.trim()));
}

function site(clock: ManualClock): SimulatedSite {
  const profiles = builtInProfiles();
  const specs = planSite(
    { tenants: 4, seed: 5, timeZone: ZONE, otherUtilities: false, hvacPlant: true },
    profiles,
  );
  return new SimulatedSite(specs, profiles, clock, { timeZone: ZONE });
}

describe('simulator: the simulated BEMS controller', function () {
  this.timeout(30_000);

  describe('with bacnet-stack tools', function () {
    let controller: SimulatedBemsController;
    let sim: SimulatedSite;
    let clock: ManualClock;
    let port: number;
    let bac: Tools;

    before(async function () {
      requireBacnetStack(this);
      clock = new ManualClock(ELEVEN);
      sim = site(clock);
      controller = new SimulatedBemsController({
        deviceInstance: DEVICE,
        port: 0,
        objects: siteBemsObjects(sim.units.keys()),
      });
      driveSite(sim, controller);
      port = (await controller.start()).port;
      bac = tools(port);
    });
    after(async () => controller?.stop());

    it('answers Who-Is broadcast on its subnet with its I-Am', async () => {
      const own = await freeUdpPort();
      const result = await runTool('bacwi', ['--timeout', '1500'], loopbackEnv(own, port));
      assert.deepEqual(whoIsDevices(result.stdout), [DEVICE]);
    });

    it('lists its objects and reads them with ReadProperty and ReadPropertyMultiple', async () => {
      const list = await bac.read('device', DEVICE, 'object-list');
      for (const object of [
        '(device, 3101)',
        '(analog-output, 1)',
        '(analog-output, 2)',
        '(analog-value, 0)',
        '(analog-value, 4)',
        '(multi-state-value, 4)',
      ])
        assert.ok(list.includes(object), `${object} in ${list}`);
      assert.equal(await bac.read('analog-output', 1, 'relinquish-default'), '7.000000');
      assert.equal(
        await bac.read('multi-state-value', 2, 'state-text'),
        '{"occupied","unoccupied","standby"}',
      );
      const own = await freeUdpPort();
      const rpm = await runTool(
        'bacrpm',
        ['--mac', `127.0.0.1:${port}`, '--dnet', '0', String(DEVICE), 'analog-value', '3', '85,87,104'],
        loopbackEnv(own, port),
      );
      assert.match(rpm.stdout, /present-value: 24\.000000/);
      assert.match(rpm.stdout, /relinquish-default: 24\.000000/);
    });

    it('writes land at their priority, the higher priority wins, a relinquish hands back, and the meter follows', async () => {
      const meter = sim.meter('E-T0002');
      const unit = sim.units.get('T0002')!;
      const open = meter.demandAt(clock.now());
      assert.ok(open > 1, `unit T0002 draws ${open} kW at 11:00`);
      // Unoccupied at priority 10: the unit's air conditioning sets back, its meter shows it.
      assert.match(await bac.write('multi-state-value', 2, 10, 2, '2'), /Acknowledged/);
      assert.deepEqual(slots(await bac.read('multi-state-value', 2, 'priority-array')), [
        ...Array(9).fill(null),
        '2',
        ...Array(6).fill(null),
      ]);
      assert.equal(await bac.read('multi-state-value', 2, 'present-value'), '2');
      assert.equal(unit.settings.mode, 2);
      const setBack = meter.demandAt(clock.now());
      assert.ok(Math.abs(setBack - open * (0.6 + 0.4 * 0.1)) < 1e-9, `${setBack} kW set back from ${open}`);
      // An operator at priority 8 wins over 10; relinquishing 8 hands back to 10, relinquishing 10 to the default.
      assert.match(await bac.write('multi-state-value', 2, 8, 2, '1'), /Acknowledged/);
      assert.equal(await bac.read('multi-state-value', 2, 'present-value'), '1');
      assert.equal(meter.demandAt(clock.now()), open);
      assert.match(await bac.write('multi-state-value', 2, 8, 0, ''), /Acknowledged/);
      assert.equal(await bac.read('multi-state-value', 2, 'present-value'), '2');
      assert.match(await bac.write('multi-state-value', 2, 10, 0, ''), /Acknowledged/);
      assert.equal(await bac.read('multi-state-value', 2, 'present-value'), '1');
      assert.deepEqual(slots(await bac.read('multi-state-value', 2, 'priority-array')), Array(16).fill(null));
      assert.equal(meter.demandAt(clock.now()), open);
    });

    it('counts what flowed before a write at the old settings, and less from then on', async () => {
      const meter = sim.meter('E-T0003');
      const kw = meter.demandAt(clock.now());
      const e0 = meter.consumed();
      clock.advance(30 * MIN);
      // A 28 C zone setpoint: 32% less air conditioning, 40% of the unit's load.
      assert.match(await bac.write('analog-value', 3, 12, 4, '28'), /Acknowledged/);
      clock.advance(30 * MIN);
      const expected = kw / 2 + (kw * (0.6 + 0.4 * 0.68)) / 2;
      assert.ok(
        Math.abs(meter.consumed() - e0 - expected) < 1e-6,
        `${meter.consumed() - e0} kWh, not ${expected}`,
      );
      assert.match(await bac.write('analog-value', 3, 12, 0, ''), /Acknowledged/);
    });

    it('drives the cooling plant and every unit from the site-wide setpoints', async () => {
      assert.match(await bac.write('analog-output', 1, 10, 4, '10'), /Acknowledged/);
      assert.match(await bac.write('analog-output', 2, 10, 4, '70'), /Acknowledged/);
      assert.equal(sim.hvac!.settings.chilledWater, 10);
      assert.equal(sim.hvac!.settings.fanSpeed, 70);
      for (const unit of sim.units.values()) assert.ok(unit.hvacFactor < 1);
      await bac.write('analog-output', 1, 10, 0, '');
      await bac.write('analog-output', 2, 10, 0, '');
      assert.equal(sim.hvac!.settings.chilledWater, 7);
      for (const unit of sim.units.values()) assert.equal(unit.hvacFactor, 1);
    });

    it('refuses what a commandable object cannot take, with BACnet errors', async () => {
      assert.match(await bac.write('analog-output', 1, 10, 4, '99'), /value-out-of-range/);
      assert.match(await bac.write('multi-state-value', 1, 10, 2, '4'), /value-out-of-range/);
      assert.match(await bac.write('analog-value', 1, 10, 2, '25'), /invalid-data-type/);
      assert.match(await bac.read('analog-value', 999, 'present-value'), /unknown-object/);
      assert.match(await bac.read('analog-value', 1, 'polarity'), /unknown-property/);
      assert.equal(await bac.read('analog-output', 1, 'present-value'), '7.000000');
    });

    it('drops garbage datagrams and keeps answering', async () => {
      const before = controller.counters.dropped;
      const socket = createSocket('udp4');
      const garbage = [
        Buffer.from('not bacnet'),
        Buffer.from([0x81, 0x0a, 0x00, 0x08, 0x01, 0x04, 0x00, 0x05]),
        Buffer.from([0x81, 0x0a, 0x00, 0x0c, 0x01, 0x04, 0x00, 0x05, 0x01, 0x0f, 0x0c, 0xff]),
        Buffer.from([0x81, 0x0a, 0x00, 0x0b, 0x01, 0x04, 0x00, 0x05, 0x01, 0x0c, 0x0c]),
        Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff)),
      ];
      for (const datagram of garbage) socket.send(datagram, port, '127.0.0.1');
      await sleep(300);
      socket.close();
      assert.ok(controller.counters.dropped >= before + 2, `dropped ${controller.counters.dropped - before}`);
      assert.equal(await bac.read('analog-output', 2, 'present-value'), '100.000000');
    });
  });

  describe('commanded by prepay-loadcontrol inside Node-RED', function () {
    let port: number;

    before(async function () {
      requireBacnetStack(this);
      helper.settings({ userDir: tempUserDir() });
      await startServer();
    });
    after(async () => {
      await helper.unload();
      await stopServer();
      helper.settings({});
    });

    it('a vacancy setback lands at its priority, an operator above it wins, relinquish restores, the meter follows', async () => {
      port = await freeUdpPort();
      await helper.load(
        [simulatorNode, clientNode, loadControlNode, catchNode],
        [
          {
            id: 'sim',
            type: 'prepay-simulator',
            tenants: 3,
            port: 0,
            otherUtilities: false,
            timeZone: 'UTC',
            bems: true,
            bemsPort: String(port),
            bemsDevice: String(DEVICE),
            wires: [['sim-out']],
          },
          { id: 'sim-out', type: 'helper' },
          {
            id: 'bems',
            type: 'prepay-bacnet-client',
            device: String(DEVICE),
            address: `127.0.0.1:${port}`,
            bindAddress: '127.0.0.1',
            port: '0',
            apduTimeout: '1000',
            retries: '1',
            lease: '60',
          },
          {
            id: 'lc',
            type: 'prepay-loadcontrol',
            client: 'bems',
            priority: '10',
            verify: '0',
            table: 'account,object,unoccupied,occupied,priority\nT0001,multi-state-value:1,2,relinquish,10\n',
            wires: [['out']],
          },
          { id: 'out', type: 'helper' },
          { id: 'c1', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
          { id: 'caught', type: 'helper' },
        ],
      );
      const simOut = collect(helper.getNode('sim-out')) as Array<{
        topic?: string;
        payload: Record<string, unknown>;
      }>;
      const out = collect(helper.getNode('out')) as Array<{ payload: Record<string, unknown> }>;
      const caught = collect(helper.getNode('caught')) as Array<{ error?: { message: string } }>;
      await eventually(async () => assert.ok(simOut.some((m) => m.topic === 'meters')), 5000);
      const meters = simOut.find((m) => m.topic === 'meters')!.payload;
      assert.deepEqual(
        { ...(meters.bems as Record<string, unknown>), objects: undefined },
        { device: DEVICE, host: '127.0.0.1', port, objects: undefined },
      );
      const bac = tools(port);
      const power = async (): Promise<number> => {
        simOut.length = 0;
        helper.getNode('sim').receive({ topic: 'snapshot' });
        await eventually(async () => assert.ok(simOut.some((m) => Array.isArray(m.payload.meters))), 2000);
        const snapshot = simOut.find((m) => Array.isArray(m.payload.meters))!.payload.meters as Array<{
          meterId: string;
          powerKw: number;
        }>;
        return snapshot.find((m) => m.meterId === 'E-T0001')!.powerKw;
      };
      const occupied = await power();

      helper.getNode('lc').receive({ payload: { accountId: 'T0001', state: 'closed' } });
      await eventually(async () => assert.equal(out.length, 1), 5000);
      assert.equal(out[0]!.payload.outcome, 'landed');
      assert.equal(out[0]!.payload.activePriority, 10);
      assert.equal(slots(await bac.read('multi-state-value', 1, 'priority-array'))[9], '2');
      assert.equal(await bac.read('multi-state-value', 1, 'present-value'), '2');
      const vacant = await power();
      assert.ok(vacant < occupied * 0.7, `vacant ${vacant} kW, occupied ${occupied} kW`);

      // A BEMS operator at priority 8 wins over the setback; relinquishing it hands back to the setback.
      assert.match(await bac.write('multi-state-value', 1, 8, 2, '1'), /Acknowledged/);
      assert.equal(await bac.read('multi-state-value', 1, 'present-value'), '1');
      assert.ok((await power()) > vacant);
      assert.match(await bac.write('multi-state-value', 1, 8, 0, ''), /Acknowledged/);
      assert.equal(await bac.read('multi-state-value', 1, 'present-value'), '2');

      // The tenant moves in: the setback is relinquished, the relinquish default (occupied) governs again.
      helper.getNode('lc').receive({ payload: { accountId: 'T0001', state: 'ok' } });
      await eventually(async () => assert.equal(out.length, 2), 5000);
      assert.equal(out[1]!.payload.outcome, 'released');
      assert.deepEqual(slots(await bac.read('multi-state-value', 1, 'priority-array')), Array(16).fill(null));
      assert.equal(await bac.read('multi-state-value', 1, 'present-value'), '1');
      assert.ok((await power()) > vacant);
      assert.deepEqual(
        caught.map((m) => m.error?.message),
        [],
      );
    });
  });
});
