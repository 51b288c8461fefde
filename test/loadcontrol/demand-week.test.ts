/**
 * Demand limiting on the simulator over a building week: the controller reads the site's electricity meters
 * (24 tenants and the cooling plant) every minute of building time, and its decisions are carried out on the
 * simulated site as they would be in a building: tenant power limits as relay commands, setpoints on the plant.
 * Every demand window stays under the target where the sheddable load allows; with a target the sheddable load
 * cannot reach, the shortfall is reported, exactly, for every window over it. A medical tenant is never limited,
 * no tenant is limited in friendly-credit hours, and no decision is ever a disconnect.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../dist/nodes/core/clock';
import { DEFAULT_POLICY, inFriendlyWindow, type CutoffPolicy } from '../../dist/nodes/core/cutoff/policy';
import {
  DemandController,
  type DemandDecision,
  type ShedStep,
  type WindowReport,
} from '../../dist/nodes/core/loadcontrol/demand';
import { cutoffProtections, type UnitFacts } from '../../dist/nodes/core/loadcontrol/demand-protection';
import { builtInProfiles } from '../../dist/nodes/meter/profile-registry';
import { planSite, SimulatedSite, type SimMeterSpec } from '../../dist/nodes/simulator/site';

const MIN = 60_000;
const ZONE = 'Asia/Kuala_Lumpur';
/** Monday 2026-06-01 00:00 local: a building week, Monday to Sunday. */
const START = Date.parse('2026-06-01T00:00:00+08:00');
const WEEK_MINUTES = 7 * 24 * 60;
const WINDOW_MS = 15 * MIN;
const MEDICAL = 'T0013';
const SWITCH_ONLY = 'T0022';

const policy: CutoffPolicy = {
  ...DEFAULT_POLICY,
  name: 'site policy',
  friendly: { timeZone: ZONE, nights: { from: 22 * 60, to: 7 * 60 }, weekends: true, holidays: [] },
};

const BMS = { device: 260001, objectType: 2 /* analog value */ };

function buildSite(clock: ManualClock): SimulatedSite {
  const profiles = builtInProfiles();
  const specs = planSite(
    { tenants: 24, seed: 3, timeZone: ZONE, otherUtilities: false, hvacPlant: true },
    profiles,
  );
  return new SimulatedSite(specs, profiles, clock, { timeZone: ZONE });
}

/** The shed order: the medical shop first (to show it is passed over), the plant's setpoints, then tenants. */
function shedSteps(specs: SimMeterSpec[]): ShedStep[] {
  const steps: ShedStep[] = [];
  const limit = (spec: SimMeterSpec): ShedStep => ({
    id: `limit ${spec.accountId}`,
    // Limited to 40% of its peak; counted on conservatively at 45% of the peak in relief.
    action: {
      kind: 'limit',
      account: spec.accountId,
      meter: spec.meterId,
      limitW: Math.round(spec.peak * 400),
    },
    reliefKw: spec.peak * 0.45,
    minHoldMs: 15 * MIN,
  });
  const tenants = specs.filter((spec) => spec.utility === 'electricity' && !spec.load);
  const medical = tenants.find((spec) => spec.accountId === MEDICAL)!;
  steps.push(limit(medical));
  steps.push({
    id: 'chilled water +3 C',
    action: { kind: 'command', key: 'demand:chw', target: { ...BMS, instance: 1 }, value: 10, priority: 9 },
    reliefKw: 3,
    minHoldMs: 15 * MIN,
  });
  steps.push({
    id: 'AHU fan 60%',
    action: { kind: 'command', key: 'demand:fan', target: { ...BMS, instance: 2 }, value: 60, priority: 9 },
    reliefKw: 8,
    minHoldMs: 15 * MIN,
    maxHoldMs: 60 * MIN,
    restMs: 30 * MIN,
  });
  steps.push({
    id: 'zone setpoint +2 C',
    action: { kind: 'command', key: 'demand:zone', target: { ...BMS, instance: 3 }, value: 26, priority: 9 },
    reliefKw: 6,
    restoreKw: 30,
    minHoldMs: 30 * MIN,
    maxHoldMs: 120 * MIN,
    restMs: 60 * MIN,
  });
  for (const kind of ['shop', 'restaurant'] as const)
    for (const spec of tenants) if (spec.kind === kind && spec !== medical) steps.push(limit(spec));
  return steps;
}

function units(specs: SimMeterSpec[]): Map<string, UnitFacts> {
  const map = new Map<string, UnitFacts>();
  for (const spec of specs)
    if (spec.utility === 'electricity' && !spec.load)
      map.set(spec.accountId, {
        utility: 'electricity',
        canLimit: spec.accountId !== SWITCH_ONLY,
        ...(spec.accountId === MEDICAL ? { medical: true } : {}),
      });
  return map;
}

interface WeekRun {
  /** Per 15-minute window: the site's demand from the meters' own totals, kW. */
  windows: Array<{ start: number; kw: number }>;
  reports: WindowReport[];
  decisions: DemandDecision[];
  /** Minutes some tenant was limited inside friendly-credit hours. */
  limitedInFriendlyHours: string[];
  relaySwitches: number;
  /** Why steps were passed over, once each. */
  skipped: Set<string>;
}

/** A week of the site, minute by minute; with a target, the controller acts on the site. */
function week(targetKw?: number): WeekRun {
  const clock = new ManualClock(START);
  const site = buildSite(clock);
  const electricity = [...site.meters.values()].filter((meter) => meter.profile.utility === 'electricity');
  const total = (): number => electricity.reduce((sum, meter) => sum + meter.consumed(), 0);
  const controller =
    targetKw === undefined
      ? undefined
      : new DemandController({
          window: { intervalMs: WINDOW_MS },
          targetKw,
          steps: shedSteps(site.specs),
          protections: cutoffProtections(policy, units(site.specs)),
        });
  const plant = site.hvac!;
  const run: WeekRun = {
    windows: [],
    reports: [],
    decisions: [],
    limitedInFriendlyHours: [],
    relaySwitches: 0,
    skipped: new Set(),
  };
  let windowStartKwh = total();
  controller?.reading(clock.now(), windowStartKwh);
  for (let minute = 1; minute <= WEEK_MINUTES; minute += 1) {
    clock.advance(MIN);
    const now = clock.now();
    const kWh = total();
    if (minute % 15 === 0) {
      run.windows.push({ start: now - WINDOW_MS, kw: ((kWh - windowStartKwh) * 3_600_000) / WINDOW_MS });
      windowStartKwh = kWh;
    }
    if (!controller) continue;
    const update = controller.reading(now, kWh);
    run.reports.push(...update.reports);
    for (const skip of update.skipped)
      run.skipped.add(`${skip.step}: ${skip.reason.replace(/ until .*/, '')}`);
    for (const decision of update.decisions) {
      run.decisions.push(decision);
      if (decision.limit) {
        const limitW = decision.limit.limitW;
        site.applyRelayCommand(
          limitW === null
            ? { meterId: decision.limit.meter!, action: 'connect' }
            : { meterId: decision.limit.meter!, action: 'limit', limitW },
        );
      } else if (decision.command) {
        const value = decision.command.value as number | null;
        if (decision.command.key === 'demand:chw') plant.setChilledWater(value);
        else if (decision.command.key === 'demand:fan') plant.setFanSpeed(value);
        else if (decision.command.key === 'demand:zone') plant.setZoneSetpoint(value);
      }
    }
    if (inFriendlyWindow(policy.friendly, now))
      for (const meter of electricity)
        if (meter.powerLimitW !== undefined)
          run.limitedInFriendlyHours.push(`${new Date(now).toISOString()} ${meter.meterId}`);
  }
  for (const meter of site.meters.values()) run.relaySwitches += meter.relay?.switches ?? 0;
  for (const module of site.relayModules)
    for (const relay of module.channels) run.relaySwitches += relay.switches;
  return run;
}

describe('demand limiting on the simulator over a building week', function () {
  this.timeout(120_000);
  let baseline: WeekRun;
  before(function () {
    baseline = week();
  });

  /** What every run must show whatever the target: nobody protected touched, never a cut. */
  function assertSafe(run: WeekRun): void {
    const limited = run.decisions.filter((d) => d.limit).map((d) => d.limit!);
    assert.ok(limited.length > 0);
    assert.equal(limited.filter((l) => l.account === MEDICAL || l.account === SWITCH_ONLY).length, 0);
    for (const l of limited) assert.ok(l.limitW === null || l.limitW > 0, `limit ${l.limitW} W is a cut`);
    assert.deepEqual(run.limitedInFriendlyHours, []);
    // They were asked for (first in the shed order) and passed over, saying why.
    assert.ok(run.skipped.has(`limit ${MEDICAL}: account ${MEDICAL} is flagged medical`));
    assert.ok(
      run.skipped.has(`limit ${SWITCH_ONLY}: the relay of account ${SWITCH_ONLY} cannot limit power`),
    );
    // No relay of the site switched all week: limits only.
    assert.equal(run.relaySwitches, 0);
    // The zone setpoint is never held more than its two hours.
    let since: number | undefined;
    for (const d of run.decisions.filter((x) => x.step === 'zone setpoint +2 C')) {
      if (d.action === 'shed') since = d.at;
      else {
        assert.ok(d.at - since! <= 120 * MIN);
        since = undefined;
      }
    }
  }

  /** Every report matches the meters' own window demand, and says a shortfall exactly where there is one. */
  function assertReports(run: WeekRun, target: number): void {
    // Every window, each reported as the reading at its end arrives.
    assert.equal(run.reports.length, run.windows.length);
    run.reports.forEach((report, i) => {
      const window = run.windows[i]!;
      assert.equal(report.start, window.start);
      assert.equal(report.coverage, 1);
      assert.equal(report.targetKw, target);
      assert.ok(Math.abs(report.actualKw - window.kw) < 1e-6, `${report.actualKw} vs ${window.kw}`);
      const shortfall = Math.max(0, window.kw - target);
      assert.ok(Math.abs(report.shortfallKw - shortfall) < 1e-6, `${report.shortfallKw} vs ${shortfall}`);
      // Over the target only where every step that could be shed was in force.
      if (report.shortfallKw > 0) {
        assert.equal(report.exhausted, true, `${new Date(report.start).toISOString()}: ${report.reason}`);
        assert.match(report.reason, /the sheddable load was not enough/);
      }
    });
  }

  it('keeps every demand window under a target the sheddable load can reach', function () {
    const target = 340;
    // Uncontrolled, the site peaks at about 413 kW and is over 340 kW in 180 windows of the week.
    const overUncontrolled = baseline.windows.filter((w) => w.kw > target);
    assert.ok(overUncontrolled.length >= 150, `${overUncontrolled.length} windows over uncontrolled`);
    const run = week(target);
    const over = run.windows
      .filter((w) => w.kw > target)
      .map((w) => `${new Date(w.start).toISOString()} ${w.kw.toFixed(1)} kW`);
    assert.deepEqual(over, []);
    assertReports(run, target);
    assert.equal(run.reports.filter((r) => r.shortfallKw > 0).length, 0);
    assertSafe(run);
    // Both kinds of step were used, and everything shed came back.
    assert.ok(run.decisions.some((d) => d.command && d.action === 'shed'));
    assert.ok(run.decisions.some((d) => d.limit && d.action === 'shed'));
    const balance = new Map<string, number>();
    for (const d of run.decisions)
      balance.set(d.step, (balance.get(d.step) ?? 0) + (d.action === 'shed' ? 1 : -1));
    assert.deepEqual(
      [...balance.values()].filter((n) => n !== 0),
      [],
    );
  });

  it('reports the shortfall exactly for every window a lower target cannot be reached in', function () {
    const target = 250;
    const run = week(target);
    const over = run.windows.filter((w) => w.kw > target);
    assert.ok(over.length > 100, `${over.length} windows over`);
    assertReports(run, target);
    // Weekends are friendly-credit days: no tenant may be limited, only the plant helps, and the shortfall shows.
    const weekendShortfalls = run.reports.filter(
      (r) =>
        r.shortfallKw > 0 && inFriendlyWindow(policy.friendly, r.start) && r.start >= START + 5 * 1440 * MIN,
    );
    assert.ok(weekendShortfalls.length > 0);
    assert.ok(run.skipped.has(`limit T0001: friendly-credit hours of policy "site policy"`));
    // The controller still did what it could: every peak window is lower than uncontrolled.
    const peakWeekday = Math.max(...run.windows.slice(0, 5 * 96).map((w) => w.kw));
    const peakBaseline = Math.max(...baseline.windows.slice(0, 5 * 96).map((w) => w.kw));
    assert.ok(peakWeekday < peakBaseline - 80, `${peakWeekday} vs ${peakBaseline}`);
    assertSafe(run);
  });
});
