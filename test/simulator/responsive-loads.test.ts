/**
 * Simulated loads that answer load control: a meter's load holds under a power limit (and only while it is in
 * force; a limit is never a cut), relay commands as prepay-cutoff sends them in output mode, and the cooling
 * plant's thermal model: a raised zone setpoint lowers the load and restoring it brings a rebound, warmer chilled
 * water and a slower fan save what the model says.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../dist/nodes/core/clock';
import { builtInProfiles } from '../../dist/nodes/meter/profile-registry';
import { HvacPlant } from '../../dist/nodes/simulator/hvac-model';
import { planSite, SimulatedSite } from '../../dist/nodes/simulator/site';
import { catchNode, collect, helper, loadBuiltNode, sleep } from '../support/node-red-helper';

const simulatorNode = loadBuiltNode('simulator/prepay-simulator.js');

const MIN = 60_000;
const H = 60 * MIN;
/** Monday 2026-06-01 00:00 in Kuala Lumpur. */
const START = Date.parse('2026-06-01T00:00:00+08:00');
const ZONE = 'Asia/Kuala_Lumpur';

function site(clock: ManualClock, hvacPlant = true): SimulatedSite {
  const profiles = builtInProfiles();
  const specs = planSite({ tenants: 6, seed: 5, timeZone: ZONE, otherUtilities: false, hvacPlant }, profiles);
  return new SimulatedSite(specs, profiles, clock, { timeZone: ZONE });
}

describe('simulator: loads that answer limits', function () {
  it('a limited meter draws at most its limit, and all its load again once the limit is lifted', function () {
    const clock = new ManualClock(START + 11 * H);
    const s = site(clock);
    const meter = s.meter('E-T0001');
    const free = meter.demandAt(clock.now());
    assert.ok(free > 8, `the shop draws ${free} kW at 11:00`);
    const e0 = meter.consumed();
    s.applyRelayCommand({ meterId: 'E-T0001', action: 'limit', limitW: 8000 });
    assert.equal(meter.powerLimitW, 8000);
    clock.advance(H);
    // An hour at the 8 kW limit (the shop's own load is constant within the hour and above it).
    assert.ok(Math.abs(meter.consumed() - e0 - 8) < 1e-9);
    assert.equal(meter.supplyOn, true);
    s.applyRelayCommand({ meterId: 'E-T0001', action: 'connect' });
    assert.equal(meter.powerLimitW, undefined);
    const e1 = meter.consumed();
    clock.advance(30 * MIN);
    assert.ok(Math.abs(meter.consumed() - e1 - meter.demandAt(clock.now() - MIN) / 2) < 1e-9);
  });

  it('a limit set mid-minute counts what flowed before it at the old rate', function () {
    const clock = new ManualClock(START + 11 * H);
    const s = site(clock);
    const meter = s.meter('E-T0001');
    const kw = meter.demandAt(clock.now());
    const e0 = meter.consumed();
    clock.advance(30_000);
    meter.setPowerLimit(2000);
    clock.advance(30_000);
    assert.ok(Math.abs(meter.consumed() - e0 - (kw / 120 + 2 / 120)) < 1e-9);
  });

  it('a limit is never a cut: 0 W is refused, and disconnect is a relay command of its own', function () {
    const clock = new ManualClock(START + 11 * H);
    const s = site(clock);
    assert.throws(() => s.meter('E-T0001').setPowerLimit(0), /above 0 W/);
    assert.throws(
      () => s.applyRelayCommand({ meterId: 'E-T0001', action: 'limit', limitW: -5 }),
      /above 0 W/,
    );
    assert.throws(() => s.applyRelayCommand({ meterId: 'E-T0001', action: 'limit' }), /limitW: is required/);
    assert.throws(() => s.applyRelayCommand({ meterId: 'E-T0001', action: 'shed' }), /must be connect/);
    s.applyRelayCommand({ meterId: 'E-T0001', action: 'disconnect' });
    assert.equal(s.meter('E-T0001').supplyOn, false);
    s.applyRelayCommand({ meterId: 'E-T0001', action: 'limit', limitW: 3000 });
    assert.equal(s.meter('E-T0001').supplyOn, true);
    // The plant has no relay: it cannot be disconnected.
    assert.throws(() => s.applyRelayCommand({ meterId: 'E-PLANT', action: 'disconnect' }), /no relay/);
  });

  it('a limit survives a restart in the checkpoint', function () {
    const clock = new ManualClock(START + 11 * H);
    const a = site(clock);
    a.meter('E-T0004').setPowerLimit(4500);
    const b = site(clock);
    b.restore(a.checkpoint());
    assert.equal(b.meter('E-T0004').powerLimitW, 4500);
  });

  it('the plant meters come after every tenant meter and leave the tenant site as it was', function () {
    const profiles = builtInProfiles();
    const plain = planSite({ tenants: 6, seed: 5, timeZone: ZONE, otherUtilities: false }, profiles);
    const withPlant = planSite(
      { tenants: 6, seed: 5, timeZone: ZONE, otherUtilities: false, hvacPlant: true },
      profiles,
    );
    assert.deepEqual(
      withPlant.filter((spec) => !spec.load),
      plain,
    );
    const lastUnit = Math.max(
      ...plain.map((spec) => Math.max(spec.unitId, typeof spec.relay === 'object' ? spec.relay.unitId : 0)),
    );
    assert.deepEqual(
      withPlant
        .filter((spec) => spec.load)
        .map((spec) => [spec.meterId, spec.accountId, spec.unitId, spec.relay]),
      [
        ['E-PLANT', 'COMMON', lastUnit + 1, undefined],
        ['C-PLANT', 'COMMON', lastUnit + 2, undefined],
      ],
    );
  });
});

describe('simulator: a cooling plant that answers setpoints', function () {
  /** Electric kW of the plant minute by minute from `from` for `minutes`. */
  function run(plant: HvacPlant, from: number, minutes: number): number[] {
    return Array.from({ length: minutes }, (_, m) => plant.rate(from + m * MIN));
  }
  const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

  it('a raised zone setpoint lowers the load, settling about 8% of the cooling per degree lower; restoring it rebounds', function () {
    const base = new HvacPlant({ timeZone: ZONE });
    const plant = new HvacPlant({ timeZone: ZONE });
    const t = START + 13 * H; // 13:00, a steady office afternoon
    run(plant, t, 1);
    plant.setZoneSetpoint(26);
    const during = run(plant, t + MIN, 119);
    const normal = run(base, t, 120);
    // At first the zone coasts: the chiller delivers nothing and only the fan runs.
    assert.ok(during[0]! < normal[1]! / 2, `first minute ${during[0]} vs ${normal[1]}`);
    // It then comes up to 26 C (exponentially, over the 30-minute recovery time) and holds it on 16% less
    // cooling, the fan unchanged.
    assert.ok(Math.abs(plant.zoneAt(t + 119 * MIN) - 26) < 0.1, `zone ${plant.zoneAt(t + 119 * MIN)}`);
    const fan = 15;
    const expected = (normal[119]! - fan) * 0.84 + fan;
    // Within 2 kW: the zone is still a little short of 26 C, so the chiller still holds back a little.
    assert.ok(Math.abs(during[118]! - expected) < 2, `${during[118]} vs ${expected}`);
    assert.ok(during[118]! < normal[119]! - 5);
    plant.setZoneSetpoint(null);
    const after = run(plant, t + 120 * MIN, 180);
    const again = run(base, t + 120 * MIN, 180);
    // The stored heat comes back out: above the normal load at first (the chiller at full output while the zone
    // is far from its setpoint), the same again within three hours.
    assert.ok(after[0]! > again[0]! + 5, `rebound ${after[0]} vs ${again[0]}`);
    assert.ok(Math.abs(after[179]! - again[179]!) < 1, `${after[179]} vs ${again[179]}`);
    // What the setback saved, it mostly pays back.
    const saved = mean(normal.slice(1)) - mean(during);
    const paid = mean(after) - mean(again);
    assert.ok(saved > 0 && paid > 0 && paid < saved * 1.5, `saved ${saved}, paid back ${paid}`);
  });

  it('warmer chilled water improves the COP 3% a degree; a slower fan uses power with the cube of its speed', function () {
    const base = new HvacPlant({ timeZone: ZONE });
    const warm = new HvacPlant({ timeZone: ZONE });
    const slow = new HvacPlant({ timeZone: ZONE });
    const t = START + 7 * H + 5 * MIN; // 07:05: the office is filling, the fan runs
    warm.setChilledWater(10);
    slow.setFanSpeed(50);
    const b = base.rate(t);
    const fan = 15;
    assert.ok(Math.abs(warm.rate(t) - ((b - fan) / 1.09 + fan)) < 1e-9);
    // Half speed: an eighth of the fan power (the cooling still fits in what half the air carries at 07:05).
    const cooling = base.cooling.rate(t);
    assert.ok(cooling < 150 * 1.2 * 0.5);
    assert.ok(Math.abs(slow.rate(t) - (b - fan + fan / 8)) < 1e-9);
    assert.deepEqual(slow.settings, { zoneSetpoint: 24, chilledWater: 7, fanSpeed: 50 });
  });

  it('the site meters the plant: E-PLANT integrates its electricity, C-PLANT its cooling', function () {
    const clock = new ManualClock(START + 9 * H);
    const s = site(clock);
    const e0 = s.meter('E-PLANT').consumed();
    const c0 = s.meter('C-PLANT').consumed();
    let e = 0;
    let c = 0;
    for (let m = 0; m < 60; m += 1) {
      e += s.hvac!.rate(clock.now() + m * MIN) / 60;
      c += s.hvac!.cooling.rate(clock.now() + m * MIN) / 60;
    }
    clock.advance(H);
    // The registers start high (a meter is rarely new): equal to the last few bits of a 300,000 kWh total.
    assert.ok(Math.abs(s.meter('E-PLANT').consumed() - e0 - e) < 1e-6);
    assert.ok(Math.abs(s.meter('C-PLANT').consumed() - c0 - c) < 1e-6);
    assert.equal(site(clock, false).hvac, undefined);
  });
});

describe('simulator node: relay commands and setpoints as messages', function () {
  it('limits a meter on a relay command, sets the plant on an hvac message, and refuses bad ones through catch', async function () {
    const clock = new ManualClock(START + 11 * H);
    helper.settings({ prepay: { clock } });
    const flow = [
      {
        id: 'sim',
        type: 'prepay-simulator',
        tenants: 6,
        seed: 5,
        port: 0,
        timeZone: ZONE,
        otherUtilities: false,
        hvacPlant: true,
        wires: [['out']],
      },
      { id: 'out', type: 'helper' },
      { id: 'c1', type: 'catch', scope: ['sim'], uncaught: false, wires: [['errors']] },
      { id: 'errors', type: 'helper' },
    ];
    try {
      await helper.load([simulatorNode, catchNode], flow);
      const sim = helper.getNode('sim');
      const out = collect(helper.getNode('out'));
      const errors = collect(helper.getNode('errors'));
      const counter = async (meterId: string): Promise<number> => {
        out.length = 0;
        sim.receive({ topic: 'snapshot' });
        await sleep(50);
        const meters = (
          out.find((m) => m.topic === 'snapshot')!.payload as {
            meters: Array<{ meterId: string; value: number }>;
          }
        ).meters;
        return meters.find((m) => m.meterId === meterId)!.value;
      };
      sim.receive({ topic: 'relay', payload: { meterId: 'E-T0001', action: 'limit', limitW: 8000 } });
      sim.receive({ topic: 'hvac', payload: { zoneSetpoint: 26, fanSpeed: '60' } });
      await sleep(50);
      const before = await counter('E-T0001');
      clock.advance(H);
      assert.ok(Math.abs((await counter('E-T0001')) - before - 8) < 1e-6);
      sim.receive({ topic: 'relay', payload: { meterId: 'E-T0001', action: 'limit', limitW: 0 } });
      sim.receive({ topic: 'hvac', payload: { chilledWater: 'warm' } });
      await sleep(50);
      assert.deepEqual(
        errors.map((m) => (m.error as { message: string }).message.replace(/^\w*Error: /, '')),
        ['power limit must be above 0 W (got 0)', 'chilledWater: must be a number or null'],
      );
    } finally {
      await helper.unload();
      helper.settings({});
    }
  });
});
