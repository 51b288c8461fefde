/**
 * Demand limiting, step by step: the window-end prediction, the shed order and how much it sheds, the time a
 * step takes to show, minimum hold, hysteresis, last-shed-first-restored, maximum hold, protections (a
 * protected unit is skipped, and released at once when its protection begins), stale readings, never a cut,
 * the window report with its shortfall, and windows taken from a tariff's demand charge.
 */
import assert from 'node:assert/strict';
import { DEFAULT_POLICY } from '../../dist/nodes/core/cutoff/policy';
import {
  DemandController,
  type DemandSettings,
  type ShedStep,
} from '../../dist/nodes/core/loadcontrol/demand';
import { cutoffProtections, type UnitFacts } from '../../dist/nodes/core/loadcontrol/demand-protection';
import { demandWindowOf, windowStartOf } from '../../dist/nodes/core/loadcontrol/demand-window';
import { compileTariff } from '../../dist/nodes/core/tariff/compile';

const MIN = 60_000;
/** A Monday 09:00 UTC, on a quarter hour. */
const T0 = Date.parse('2026-06-01T09:00:00Z');

function limitStep(id: string, reliefKw: number, extra: Partial<ShedStep> = {}): ShedStep {
  return {
    id,
    action: { kind: 'limit', account: id, limitW: 5000 },
    reliefKw,
    minHoldMs: 10 * MIN,
    ...extra,
  };
}

function commandStep(id: string, reliefKw: number, extra: Partial<ShedStep> = {}): ShedStep {
  return {
    id,
    action: {
      kind: 'command',
      key: `demand:${id}`,
      target: { device: 1234, objectType: 2, instance: 7 },
      value: 9,
      priority: 9,
    },
    reliefKw,
    minHoldMs: 10 * MIN,
    ...extra,
  };
}

/** A controller on 15-minute windows, and a feed of site demand minute by minute from T0. */
function rig(settings: Partial<DemandSettings> & { steps: ShedStep[] }) {
  const controller = new DemandController({
    window: { intervalMs: 15 * MIN },
    targetKw: 100,
    ...settings,
  });
  let t = T0;
  let kWh = 0;
  controller.reading(t, kWh);
  return {
    controller,
    /** One minute more at `kw`. */
    minute(kw: number) {
      t += MIN;
      kWh += kw / 60;
      return controller.reading(t, kWh);
    },
    get t() {
      return t;
    },
  };
}

describe('demand limiting: prediction and shedding', function () {
  it('predicts the window end from the energy so far plus the current rate times the time left', function () {
    const r = rig({ steps: [] });
    r.minute(60);
    r.minute(60);
    const update = r.minute(120);
    const p = update.prediction!;
    // 4 kWh in 3 minutes, then 120 kW for the 12 minutes left: 4 + 24 = 28 kWh over a quarter hour = 112 kW.
    assert.equal(p.windowStart, T0);
    assert.equal(p.windowEnd, T0 + 15 * MIN);
    assert.ok(Math.abs(p.energyKwh - 4) < 1e-9);
    assert.ok(Math.abs(p.rateKw - 120) < 1e-9);
    assert.ok(Math.abs(p.predictedKw - 112) < 1e-9);
  });

  it('sheds in order just enough expected relief to bring the window back under the target', function () {
    const r = rig({
      steps: [limitStep('A', 10), commandStep('B', 15), limitStep('C', 20)],
      responseMs: 2 * MIN,
    });
    for (let i = 0; i < 4; i += 1) assert.deepEqual(r.minute(100).decisions, []);
    // Minute 5 at 116 kW: 8.6 kWh so far, then 116 kW for 10 min: 27.93 kWh = 111.73 kW. The 2.93 kWh too many
    // must come out of the 10 minutes left: 17.6 kW of relief, which A then B give (25 kW), C not needed.
    const update = r.minute(116);
    assert.deepEqual(
      update.decisions.map((d) => [d.action, d.step]),
      [
        ['shed', 'A'],
        ['shed', 'B'],
      ],
    );
    assert.deepEqual(update.decisions[0]!.limit, {
      account: 'A',
      limitW: 5000,
      reason: update.decisions[0]!.reason,
    });
    assert.equal(update.decisions[1]!.command?.value, 9);
    assert.equal(update.decisions[1]!.command?.key, 'demand:B');
    assert.match(update.decisions[0]!.reason, /predicted at 111.7 kW, above 100 kW/);
    // The next reading, still at 116 kW (the steps take two minutes to show), counts their expected effect.
    assert.deepEqual(r.minute(116).decisions, []);
    // Had they shown nothing by then, the prediction goes over again and the next step goes too.
    assert.deepEqual(
      r.minute(116).decisions.map((d) => d.step),
      ['C'],
    );
    assert.deepEqual(r.controller.inForce(), ['A', 'B', 'C']);
  });

  it('aims under the target by the margin', function () {
    const r = rig({ marginKw: 10, steps: [limitStep('A', 10)] });
    const update = r.minute(95);
    assert.deepEqual(
      update.decisions.map((d) => d.step),
      ['A'],
    );
  });

  it('sheds nothing more on stale readings', function () {
    const r = rig({ steps: [limitStep('A', 10)], staleMs: 2 * MIN });
    assert.deepEqual(r.minute(90).decisions, []);
    // The target drops while the readings have stopped: the prediction is over it, but nothing is shed blind.
    r.controller.targetKw = 80;
    const update = r.controller.evaluate(r.t + 3 * MIN);
    assert.deepEqual(update.decisions, []);
    assert.deepEqual(update.skipped, [{ step: '*', reason: 'readings are stale: shedding nothing more' }]);
  });

  it('never cuts: a power limit of 0 W is refused when configured', function () {
    assert.throws(
      () =>
        new DemandController({
          window: { intervalMs: 15 * MIN },
          targetKw: 100,
          steps: [{ ...limitStep('A', 5), action: { kind: 'limit', account: 'A', limitW: 0 } }],
        }),
      /must be above 0 W \(demand limiting never cuts\)/,
    );
  });
});

describe('demand limiting: restoring', function () {
  it('holds a step for its minimum hold, then restores last shed first, one per gap, with hysteresis', function () {
    const r = rig({
      steps: [limitStep('A', 10), limitStep('B', 10), limitStep('C', 10)],
      hysteresisKw: 10,
      restoreGapMs: 2 * MIN,
    });
    // A jump to 130 kW at minute 1 sheds all three (needed: 30 kW x 15/14).
    assert.deepEqual(
      r.minute(130).decisions.map((d) => d.step),
      ['A', 'B', 'C'],
    );
    // The load falls to 70 kW: 70 + 10 = 80 kW stays under 100 - 10, but the hold is 10 minutes.
    const early: string[] = [];
    for (let i = 0; i < 9; i += 1) early.push(...r.minute(70).decisions.map((d) => d.step));
    assert.deepEqual(early, []);
    const restored: Array<[string, number]> = [];
    for (let i = 0; i < 8; i += 1)
      for (const d of r.minute(70).decisions) restored.push([`${d.action} ${d.step}`, (d.at - T0) / MIN]);
    // Restores come back C, B, A: the last shed first, two minutes apart.
    assert.deepEqual(restored, [
      ['restore C', 11],
      ['restore B', 13],
      ['restore A', 15],
    ]);
  });

  it('does not restore while the returning load would not fit under target minus hysteresis', function () {
    const r = rig({
      steps: [limitStep('A', 10, { restoreKw: 25 })],
      hysteresisKw: 10,
    });
    assert.equal(r.minute(120).decisions.length, 1);
    // 70 kW + 25 kW it returns (rebound included) = 95 kW: above the 90 kW ceiling for as long as it lasts.
    for (let i = 0; i < 20; i += 1) assert.deepEqual(r.minute(70).decisions, []);
    // 60 + 25 = 85 kW fits: restored, and the reason says why.
    const update = r.minute(60);
    assert.deepEqual(
      update.decisions.map((d) => `${d.action} ${d.step}`),
      ['restore A'],
    );
    assert.equal(update.decisions[0]!.limit?.limitW, null);
    assert.match(
      update.decisions[0]!.reason,
      /restored: demand 60 kW plus the 25 kW it returns stays under 90 kW/,
    );
  });

  it('releases a setpoint step after its maximum hold even if still over, and rests it before shedding it again', function () {
    const r = rig({ steps: [commandStep('B', 5, { maxHoldMs: 20 * MIN, minHoldMs: 0, restMs: 10 * MIN })] });
    assert.equal(r.minute(150).decisions[0]?.action, 'shed');
    const seen: string[] = [];
    for (let i = 0; i < 35; i += 1) {
      const update = r.minute(150);
      for (const d of update.decisions) {
        seen.push(`${(d.at - T0) / MIN} ${d.action}`);
        if (d.action === 'restore') {
          assert.equal(d.command?.value, null);
          assert.match(d.reason, /maximum hold of 20 min reached/);
        }
      }
      if ((r.t - T0) / MIN === 25) assert.match(update.skipped[0]!.reason, /resting after its maximum hold/);
    }
    assert.deepEqual(seen, ['21 restore', '31 shed']);
  });
});

describe('demand limiting: protections', function () {
  const units = new Map<string, UnitFacts>([
    ['MED', { utility: 'electricity', canLimit: true, medical: true }],
    ['A', { utility: 'electricity', canLimit: true }],
    ['SW', { utility: 'electricity', canLimit: false }],
    ['W', { utility: 'water', canLimit: true }],
    ['EM', { utility: 'electricity', canLimit: true, state: 'emergency' }],
  ]);
  const policy = {
    ...DEFAULT_POLICY,
    friendly: { timeZone: 'UTC', nights: { from: 22 * 60, to: 6 * 60 }, weekends: true, holidays: [] },
  };
  const protections = cutoffProtections(policy, units);

  it('says why each protected unit is left alone', function () {
    const weekday = T0;
    assert.match(protections.refusal('MED', 'limit', weekday)!, /flagged medical/);
    assert.match(protections.refusal('MED', 'command', weekday)!, /flagged medical/);
    assert.match(protections.refusal('SW', 'limit', weekday)!, /cannot limit power/);
    assert.match(protections.refusal('W', 'limit', weekday)!, /never disconnects water/);
    assert.match(protections.refusal('EM', 'limit', weekday)!, /emergency credit/);
    assert.match(protections.refusal('NOBODY', 'limit', weekday)!, /not in the unit list/);
    assert.equal(protections.refusal('A', 'limit', weekday), undefined);
    assert.match(
      protections.refusal('A', 'limit', Date.parse('2026-06-01T23:00:00Z'))!,
      /friendly-credit hours/,
    );
    assert.match(
      protections.refusal('A', 'limit', Date.parse('2026-06-06T12:00:00Z'))!,
      /friendly-credit hours/,
    );
    // A setpoint step on an unprotected unit is not a supply matter: friendly hours do not stop it.
    assert.equal(protections.refusal('A', 'command', Date.parse('2026-06-01T23:00:00Z')), undefined);
  });

  it('skips a protected unit and sheds the next step instead', function () {
    const r = rig({ protections, steps: [limitStep('MED', 30), limitStep('SW', 30), limitStep('A', 30)] });
    const update = r.minute(120);
    assert.deepEqual(
      update.decisions.map((d) => d.step),
      ['A'],
    );
    assert.deepEqual(
      update.skipped.map((s) => s.step),
      ['MED', 'SW'],
    );
  });

  it('releases a limit at once when friendly-credit hours begin, minimum hold or not', function () {
    const start = Date.parse('2026-06-01T21:45:00Z');
    const c = new DemandController({
      window: { intervalMs: 15 * MIN },
      targetKw: 100,
      protections,
      steps: [limitStep('A', 30, { minHoldMs: 60 * MIN })],
    });
    c.reading(start, 0);
    assert.equal(c.reading(start + 5 * MIN, 12.5).decisions[0]?.action, 'shed');
    const at22 = c.reading(start + 15 * MIN, 35);
    assert.deepEqual(
      at22.decisions.map((d) => [d.action, d.step, d.limit?.limitW]),
      [['restore', 'A', null]],
    );
    assert.match(at22.decisions[0]!.reason, /protected now: friendly-credit hours/);
    // And it is not limited again while they last, however high the demand.
    for (let m = 16; m < 60; m += 1) {
      const update = c.reading(start + m * MIN, 35 + (m - 15) * 3);
      assert.deepEqual(update.decisions, []);
    }
  });
});

describe('demand limiting: window reports', function () {
  it('reports actual demand, the peak predicted, and the shortfall exactly when the sheddable load is not enough', function () {
    const r = rig({ steps: [limitStep('A', 10, { minHoldMs: 60 * MIN })] });
    const kws = [150, 150, 150, 140, 140, 140, 140, 140, 140, 140, 140, 140, 140, 140, 140];
    let reports: ReturnType<typeof r.minute>['reports'] = [];
    for (const kw of kws) reports = r.minute(kw).reports;
    assert.equal(reports.length, 1);
    const report = reports[0]!;
    const energy = kws.reduce((a, b) => a + b, 0) / 60;
    assert.equal(report.start, T0);
    assert.equal(report.end, T0 + 15 * MIN);
    assert.ok(Math.abs(report.energyKwh - energy) < 1e-9);
    assert.ok(Math.abs(report.actualKw - energy * 4) < 1e-9);
    assert.ok(Math.abs(report.shortfallKw - (energy * 4 - 100)) < 1e-9);
    assert.equal(report.coverage, 1);
    assert.equal(report.exhausted, true);
    assert.deepEqual(report.shed, ['A']);
    assert.ok(report.peakPredictedKw >= 150 - 1e-9);
    assert.match(report.reason, /the sheddable load was not enough/);
  });

  it('reports no shortfall under the target', function () {
    const r = rig({ steps: [] });
    let reports: ReturnType<typeof r.minute>['reports'] = [];
    for (let i = 0; i < 15; i += 1) reports = r.minute(80).reports;
    assert.equal(reports[0]!.shortfallKw, 0);
    assert.match(reports[0]!.reason, /under the target by 20 kW/);
  });
});

describe('demand limiting: windows of a tariff', function () {
  it('uses the tariff engine interval starts and charges only windows in a demand period', function () {
    const tariff = compileTariff(
      {
        currency: 'GBP',
        timezone: 'Europe/London',
        energy: {
          type: 'tou',
          rates: { peak: '0.30', offpeak: '0.10' },
          default: 'offpeak',
          schedule: [{ days: ['weekday'], from: '08:00', to: '20:00', period: 'peak' }],
        },
        demand: { rate: '10', intervalMinutes: 30, periods: ['peak'] },
      },
      'tou-demand',
    );
    const window = demandWindowOf(tariff)!;
    assert.equal(window.intervalMs, 30 * MIN);
    assert.equal(
      windowStartOf(Date.parse('2026-06-01T09:47:00Z'), window.intervalMs),
      Date.parse('2026-06-01T09:30:00Z'),
    );
    // London is on summer time: 08:00 local is 07:00 UTC.
    assert.equal(window.charged!(Date.parse('2026-06-01T06:30:00Z')), false);
    assert.equal(window.charged!(Date.parse('2026-06-01T07:00:00Z')), true);
    assert.equal(window.charged!(Date.parse('2026-06-01T18:30:00Z')), true);
    assert.equal(window.charged!(Date.parse('2026-06-01T19:00:00Z')), false);
    assert.equal(window.charged!(Date.parse('2026-06-06T12:00:00Z')), false);
    assert.equal(
      demandWindowOf(compileTariff({ currency: 'GBP', energy: { type: 'flat', rate: '1' } }, 'f')),
      undefined,
    );
  });

  it('restores everything when the window is not charged', function () {
    const c = new DemandController({
      window: { intervalMs: 15 * MIN, charged: (start) => start < T0 + 15 * MIN },
      targetKw: 100,
      steps: [limitStep('A', 30, { minHoldMs: 5 * MIN })],
    });
    c.reading(T0, 0);
    assert.equal(c.reading(T0 + MIN, 2).decisions[0]?.action, 'shed');
    let kWh = 2;
    const actions: string[] = [];
    for (let m = 2; m <= 16; m += 1) {
      kWh += 2;
      actions.push(...c.reading(T0 + m * MIN, kWh).decisions.map((d) => `${(d.at - T0) / MIN} ${d.action}`));
    }
    assert.deepEqual(actions, ['15 restore']);
  });
});
