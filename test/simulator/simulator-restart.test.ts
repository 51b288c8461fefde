/**
 * The simulated meters behave like real ones across a restart of Node-RED: a site restored from a checkpoint
 * shows, at every later moment, exactly the registers (to the last bit) of a site that ran on, whenever and
 * however often either was read, relays switched included; and the prepay-simulator node continues its
 * registers after a redeploy instead of starting again from the first readings.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../dist/nodes/core/clock';
import { builtInProfiles } from '../../dist/nodes/meter/profile-registry';
import { planSite, SimulatedSite } from '../../dist/nodes/simulator/site';
import { loadBuiltNode, helper, sleep, tempUserDir, collect } from '../support/node-red-helper';

const simulatorNode = loadBuiltNode('simulator/prepay-simulator.js');
const START = Date.parse('2026-06-01T06:00:00+08:00');

function site(clock: ManualClock): SimulatedSite {
  const profiles = builtInProfiles();
  const specs = planSite(
    { tenants: 12, seed: 7, timeZone: 'Asia/Kuala_Lumpur', gasForRestaurants: true },
    profiles,
  );
  return new SimulatedSite(specs, profiles, clock, { timeZone: 'Asia/Kuala_Lumpur', ports: [0] });
}

function counters(s: SimulatedSite): Map<string, number> {
  return new Map([...s.meters].map(([id, meter]) => [id, meter.counterValue()]));
}

describe('simulator: registers across a restart', function () {
  it('a site restored from a checkpoint shows exactly the registers of one that ran on', function () {
    const clockA = new ManualClock(START);
    const a = site(clockA);
    // A reads its meters at odd moments and switches a relay; the checkpoint is taken mid-minute.
    let rnd = 17;
    const next = (): number => (rnd = (rnd * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 200; i++) {
      clockA.advance(Math.floor(next() * 90_000));
      if (i % 3 === 0) counters(a);
      if (i === 50) a.relayModules[0]?.channels[0]?.set(false);
      if (i === 120) a.relayModules[0]?.channels[0]?.set(true);
    }
    const checkpoint = JSON.parse(JSON.stringify(a.checkpoint())) as ReturnType<SimulatedSite['checkpoint']>;
    const atCheckpoint = counters(a);
    // A second site, restored later (Node-RED was down for 3 hours), read far less often.
    const later = clockA.now() + 3 * 3_600_000;
    const clockB = new ManualClock(later);
    const b = site(clockB);
    b.restore(checkpoint);
    clockA.advance(later - clockA.now());
    for (let step = 0; step < 50; step++) {
      const jump = 60_000 * step + 13_337 * (step % 5);
      clockA.advance(jump);
      clockB.advance(jump);
      if (step % 7 === 0) counters(a); // only A is read in between
      if (step === 20) {
        a.meter('E-T0002').relay?.set(false);
        b.meter('E-T0002').relay?.set(false);
      }
      if (step % 10 === 9) assert.deepEqual(counters(b), counters(a), `step ${step}`);
    }
    // And the registers moved on from the checkpoint (it is no frozen copy).
    const end = counters(b);
    assert.ok(
      [...end].filter(([id, value]) => value > (atCheckpoint.get(id) as number)).length > end.size / 2,
    );
  });

  it('the node continues its registers after a redeploy, as if the meters had run on', async function () {
    const userDir = tempUserDir();
    const clock = new ManualClock(START);
    helper.settings({ userDir, prepay: { clock } });
    const flow = [
      {
        id: 'sim',
        type: 'prepay-simulator',
        tenants: 6,
        port: 0,
        timeZone: 'Asia/Kuala_Lumpur',
        wires: [['out']],
      },
      { id: 'out', type: 'helper' },
    ];
    try {
      await helper.load(simulatorNode, flow);
      clock.advance(6 * 3_600_000);
      let out = collect(helper.getNode('out'));
      helper.getNode('sim').receive({ topic: 'snapshot' });
      await sleep(100);
      const before = (
        out.find((m) => m.topic === 'snapshot')?.payload as {
          meters: Array<{ meterId: string; value: number }>;
        }
      ).meters;
      await helper.unload();
      clock.advance(2 * 3_600_000); // Node-RED down for two building hours
      await helper.load(simulatorNode, flow);
      out = collect(helper.getNode('out'));
      helper.getNode('sim').receive({ topic: 'snapshot' });
      await sleep(100);
      const after = (
        out.find((m) => m.topic === 'snapshot')?.payload as {
          meters: Array<{ meterId: string; value: number }>;
        }
      ).meters;
      assert.equal(after.length, before.length);
      let moved = 0;
      for (const meter of after) {
        const earlier = before.find((m) => m.meterId === meter.meterId)!;
        assert.ok(
          meter.value >= earlier.value,
          `${meter.meterId} went back from ${earlier.value} to ${meter.value}`,
        );
        if (meter.value > earlier.value) moved += 1;
      }
      assert.ok(
        moved > after.length / 2,
        `the meters turned while Node-RED was down (${moved} of ${after.length})`,
      );
    } finally {
      await helper.unload();
      helper.settings({});
    }
  });
});

describe('simulator: partial devices and the register log', function () {
  it('a partial device serves its counter only; the log has every counter value served, as decoded', function () {
    const clock = new ManualClock(START);
    const s = site(clock);
    const seen: Array<[string, number, number]> = [];
    for (const meter of s.meters.values())
      meter.onCounterRead = (id, at, value) => seen.push([id, at, value]);
    const meter = s.meter('E-T0001');
    const counter = meter.profile.counter!;
    const other = meter.profile.values.find((v) => v !== counter && v.function === counter.function)!;
    meter.partialDevice = true;
    assert.equal(meter.readRegisters(other.function as 3 | 4, other.address, other.length), 2);
    clock.advance(3_600_000);
    const words = meter.readRegisters(counter.function as 3 | 4, counter.address, counter.length);
    assert.ok(Array.isArray(words));
    assert.deepEqual(
      seen.map(([id, at]) => [id, at]),
      [['E-T0001', START + 3_600_000]],
    );
    assert.ok(
      Math.abs((seen[0]?.[2] ?? 0) - meter.counterValue()) < 0.01,
      'the value as a reader decodes it',
    );
    meter.partialDevice = false;
    assert.ok(Array.isArray(meter.readRegisters(other.function as 3 | 4, other.address, other.length)));
  });
});
