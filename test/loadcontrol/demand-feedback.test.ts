/**
 * Demand limiting hearing back and carrying on: the cutoff's answers to its limit requests (a held or refused
 * step relieves nothing, the next step goes in, the window report says why), the demand windows and target from
 * a tariff document, units flagged medical or critical left alone (vacancy setback too, unless allowed), and
 * the steps in force carried over a restart with lapsed leases respected.
 */
import assert from 'node:assert/strict';
import type { DesiredCommand } from '../../dist/nodes/core/loadcontrol/command-shapes';
import { DemandController, type ShedStep } from '../../dist/nodes/core/loadcontrol/demand';
import { demandFromTariff } from '../../dist/nodes/core/loadcontrol/demand-tariff';
import { parseShedTable } from '../../dist/nodes/core/loadcontrol/demand-tables';
import { parseHvacMap } from '../../dist/nodes/core/loadcontrol/hvac-map';
import { readLimitAnswer } from '../../dist/nodes/core/loadcontrol/limit-answer';
import { parseProtectedUnits } from '../../dist/nodes/core/loadcontrol/protected-units';
import { VacancyRule } from '../../dist/nodes/core/loadcontrol/vacancy';
import {
  DemandRunner,
  readRunnerSnapshot,
  type LimitMessage,
  type RunnerSnapshot,
} from '../../dist/nodes/loadcontrol/demand-runner';

const MIN = 60_000;
const T0 = Date.parse('2026-06-01T09:00:00Z');

function limitStep(id: string, reliefKw: number): ShedStep {
  return { id, action: { kind: 'limit', account: id, limitW: 5000 }, reliefKw, minHoldMs: 10 * MIN };
}

/** A cutoff answer as prepay-cutoff sends it on output 2. */
function answer(
  outcome: 'applied' | 'held' | 'refused',
  target: { accountId?: string; meterId?: string },
  limitW: number,
  text: string,
  by = 'load control',
): Record<string, unknown> {
  const meterId = target.meterId ?? `${target.accountId}-E`;
  return {
    ...target,
    outcome,
    limitW,
    reason: 'demand limiting',
    by,
    ts: T0,
    policy: 'default',
    cutoff: { id: 'c1', name: 'cutoff' },
    ...(outcome === 'refused' ? { error: `${meterId}: ${text}` } : {}),
    meters: [{ meterId, outcome, text }],
  };
}

describe('demand limiting: the cutoff answers', function () {
  function rig() {
    const c = new DemandController({
      window: { intervalMs: 15 * MIN },
      targetKw: 100,
      responseMs: 5 * MIN,
      steps: [limitStep('A', 20), limitStep('B', 20), limitStep('C', 20)],
    });
    let t = T0;
    let kWh = 0;
    c.reading(t, kWh);
    return {
      c,
      minute(kw: number) {
        t += MIN;
        kWh += kw / 60;
        return c.reading(t, kWh);
      },
      get t() {
        return t;
      },
    };
  }

  it('counts a held step at no relief and sheds the next step in the same evaluation', function () {
    const r = rig();
    // 115 kW from the first minute: 15 kW over, A alone (20 kW) covers it.
    assert.deepEqual(
      r.minute(115).decisions.map((d) => d.step),
      ['A'],
    );
    // The cutoff holds A (friendly-credit hours): within A's response time the old code still counted its
    // 20 kW and shed nothing; now B goes in at once.
    const update = r.c.answer('A', 'held', 'A-E: friendly-credit hours', r.t);
    assert.deepEqual(
      update.decisions.map((d) => [d.action, d.step]),
      [['shed', 'B']],
    );
    assert.deepEqual(r.c.inForce(), ['A', 'B'], 'a held limit stays asked for: the cutoff applies it later');
    // B is applied: nothing more.
    assert.deepEqual(r.c.answer('B', 'applied', 'applied', r.t).decisions, []);
  });

  it('takes a refused step out of force, does not shed it again in the window, and reports why', function () {
    const r = rig();
    r.minute(115);
    const update = r.c.answer('A', 'refused', 'A-E: the relay cannot limit power', r.t);
    assert.deepEqual(
      update.decisions.map((d) => d.step),
      ['B'],
    );
    assert.deepEqual(r.c.inForce(), ['B']);
    // Over again later in the window: A is passed over with the cutoff's reason, C goes in.
    r.c.targetKw = 60;
    const again = r.minute(115);
    assert.ok(again.skipped.some((s) => s.step === 'A' && /refused by the cutoff/.test(s.reason)));
    assert.ok(again.decisions.some((d) => d.step === 'C'));
    for (let i = 0; i < 12; i += 1) r.minute(50);
    const report = r.minute(50).reports[0]!;
    assert.deepEqual(report.refused, [
      { step: 'A', outcome: 'refused', reason: 'A-E: the relay cannot limit power', at: T0 + MIN },
    ]);
    assert.match(report.reason, /the cutoff refused "A" \(A-E: the relay cannot limit power\)/);
  });

  it('reports the relief in force without the held steps', function () {
    const r = rig();
    r.minute(115);
    r.c.answer('A', 'held', 'held by policy', r.t);
    for (let i = 0; i < 13; i += 1) r.minute(80);
    const report = r.minute(80).reports[0]!;
    assert.equal(report.reliefKw, 20, 'B only: A was held');
    assert.equal(report.refused[0]!.outcome, 'held');
  });

  it('reads the answer prepay-cutoff sends, with its reason', function () {
    const read = readLimitAnswer(answer('held', { accountId: 'T1' }, 4000, 'friendly-credit hours'));
    assert.deepEqual(read, {
      accountId: 'T1',
      outcome: 'held',
      limitW: 4000,
      by: 'load control',
      reason: 'T1-E: friendly-credit hours',
    });
    assert.throws(() => readLimitAnswer({ outcome: 'maybe' }), /outcome: must be one of/);
    assert.throws(() => readLimitAnswer({ outcome: 'held', by: 'x' }), /meterId/);
  });
});

describe('demand limiting: the runner hears the cutoff', function () {
  function runner(extra: { limitMinutes?: number } = {}) {
    const limits: LimitMessage[] = [];
    const commands: DesiredCommand[] = [];
    const reports: Array<{ topic: string; payload: unknown }> = [];
    let saves = 0;
    const r = new DemandRunner({
      demand: {
        window: { intervalMs: 15 * MIN },
        targetKw: 100,
        steps: parseShedTable(
          'step,kind,target,value,reliefKw,minHoldMinutes\n' +
            'T1,power-limit,T1/E-1,3000,30,5\n' +
            'chw,bacnet,analog-value:1,10,30,5\n',
          1,
          9,
        ),
        responseMs: 5 * MIN,
      },
      priceRules: [],
      siteMeters: new Set(),
      by: 'load control',
      limitMinutes: extra.limitMinutes ?? 20,
      sendLimit: (l) => limits.push(l),
      sendCommand: (c) => commands.push(c),
      sendReport: (topic, payload) => reports.push({ topic, payload }),
      onStateChange: () => (saves += 1),
    });
    let kWh = 0;
    const read = (minute: number, kw: number): void => {
      kWh += kw / 60;
      r.meterMessage(
        {
          meterId: 'M',
          utility: 'electricity',
          value: kWh,
          unit: 'kWh',
          ts: T0 + minute * MIN,
          quality: 'good',
        },
        T0 + minute * MIN,
      );
    };
    return { r, limits, commands, reports, read, saves: () => saves };
  }

  it('matches the answer to its step, sheds the next, and says the step relieves nothing', function () {
    const x = runner();
    x.read(0, 0);
    x.read(1, 125);
    assert.deepEqual(x.r.inForce(), ['T1']);
    assert.equal(x.commands.length, 0);
    // Someone else's answer, or one for another limit, changes nothing.
    assert.equal(
      x.r.limitAnswer(answer('refused', { meterId: 'E-1' }, 3000, 'no', 'operator'), T0 + MIN),
      false,
    );
    assert.equal(x.r.limitAnswer(answer('refused', { meterId: 'E-1' }, 2000, 'no'), T0 + MIN), false);
    assert.equal(
      x.r.limitAnswer(answer('refused', { meterId: 'E-1' }, 3000, 'the relay cannot limit power'), T0 + MIN),
      true,
    );
    assert.deepEqual(x.r.inForce(), ['chw']);
    assert.deepEqual(
      x.commands.map((c) => [c.key, c.value]),
      [['demand:chw', 10]],
    );
    const refused = x.reports.find(
      (r) => r.topic === 'demand-decision' && (r.payload as { action: string }).action === 'refused',
    )!.payload as { step: string; reliefKw: number; reason: string };
    assert.equal(refused.step, 'T1');
    assert.equal(refused.reliefKw, 0);
    assert.match(refused.reason, /E-1: the relay cannot limit power/);
    // A refused limit is not renewed.
    const sent = x.limits.length;
    x.r.tick(T0 + 15 * MIN);
    assert.equal(x.limits.length, sent);
  });

  it('carries the steps in force over a restart, and drops those whose lease lapsed', function () {
    const x = runner();
    x.read(0, 0);
    x.read(1, 160);
    assert.deepEqual(x.r.inForce(), ['T1', 'chw']);
    assert.ok(x.saves() > 0, 'saved when a step was shed');
    const saved: RunnerSnapshot = readRunnerSnapshot(JSON.parse(JSON.stringify(x.r.snapshot(T0 + 2 * MIN))));

    // Back 3 minutes later: both still in force, nothing restored at once, the BEMS write asserted again.
    const y = runner();
    const commands = y.r.resume(saved, T0 + 5 * MIN);
    assert.deepEqual(y.r.inForce(), ['T1', 'chw']);
    assert.deepEqual(
      commands.map((c) => [c.key, c.value]),
      [['demand:chw', 10]],
    );
    assert.deepEqual(y.limits, [], 'the limit still runs at the cutoff: renewed when due, not re-sent');
    y.r.tick(T0 + 11 * MIN);
    assert.equal(y.limits.length, 1, 'renewed at half its lease from when it was last sent');
    // Low demand right after the restart: the minimum hold (5 min from when it was shed) still counts, and
    // steps come back one at a time, last shed first.
    y.read(6, 0);
    y.read(7, 10);
    assert.deepEqual(y.r.inForce(), ['T1']);

    // Back after the limit's 20-minute lease: the limit has lapsed at the cutoff, and the node was away longer
    // than the lease, so the BEMS write was relinquished too.
    const z = runner();
    assert.deepEqual(z.r.resume(saved, T0 + 30 * MIN), []);
    assert.deepEqual(z.r.inForce(), []);
    const state = z.reports.find((r) => r.topic === 'demand-state')!.payload as {
      dropped: Array<{ step: string; reason: string }>;
    };
    assert.deepEqual(
      state.dropped.map((d) => d.step),
      ['T1', 'chw'],
    );
    assert.match(state.dropped[0]!.reason, /lapsed at the cutoff at 2026-06-01T09:21:00.000Z/);
  });

  it('keeps a held step held across a restart, reports a renewal held again once, and an apply after it', function () {
    const x = runner();
    x.read(0, 0);
    x.read(1, 125);
    x.r.limitAnswer(answer('held', { meterId: 'E-1' }, 3000, 'friendly-credit hours'), T0 + MIN);
    const saved = readRunnerSnapshot(JSON.parse(JSON.stringify(x.r.snapshot(T0 + MIN))));
    assert.deepEqual(saved.controller!.active[0]!.held, {
      reason: 'E-1: friendly-credit hours',
      at: T0 + MIN,
    });
    const decisions = () =>
      x.reports
        .filter((r) => r.topic === 'demand-decision')
        .map((r) => r.payload as { action: string; step: string; reliefKw: number });
    const before = decisions().length;
    // The renewal is answered held again: nothing new.
    x.r.limitAnswer(answer('held', { meterId: 'E-1' }, 3000, 'friendly-credit hours'), T0 + 11 * MIN);
    assert.equal(decisions().length, before);
    // Applied at last: its relief counts again, and is reported (for the savings evidence).
    x.r.limitAnswer(answer('applied', { meterId: 'E-1' }, 3000, 'applied'), T0 + 12 * MIN);
    assert.deepEqual(
      decisions()
        .slice(before)
        .map((d) => [d.action, d.step, d.reliefKw]),
      [['applied', 'T1', 30]],
    );
    // Applied again at the next renewal: nothing new.
    x.r.limitAnswer(answer('applied', { meterId: 'E-1' }, 3000, 'applied'), T0 + 22 * MIN);
    assert.equal(decisions().length, before + 1);
  });

  it('takes the demand window and target from a tariff document, keeping its own when there is no demand charge', function () {
    const x = runner();
    const doc = {
      name: 'site',
      currency: 'GBP',
      energy: { type: 'flat', rate: '0.20' },
      demand: { rate: '12', intervalMinutes: 30 },
    };
    const taken = x.r.tariffDocument({ tariff: doc, targetKw: 80 }, T0);
    assert.equal(taken.intervalMinutes, 30);
    assert.deepEqual(x.r.demandNow(), { intervalMinutes: 30, targetKw: 80 });
    // 30-minute windows: 90 kW for 15 minutes then 60 kW is 75 kW over the half hour, under 80 kW: a 15-minute
    // window (the node's own) would have ended at 90 kW.
    x.read(0, 0);
    for (let m = 1; m <= 30; m += 1) x.read(m, m <= 15 ? 90 : 60);
    const windows = x.reports
      .filter((r) => r.topic === 'demand-window')
      .map((r) => r.payload as { end: number });
    assert.equal(windows.length, 1);
    assert.equal(windows[0]!.end - (windows[0] as { start: number } & { end: number }).start, 30 * MIN);
    assert.throws(
      () => x.r.tariffDocument({ currency: 'GBP', name: 'flat', energy: { type: 'flat', rate: '1' } }, T0),
      /tariff "flat" has no demand charge/,
    );
    assert.deepEqual(x.r.demandNow(), { intervalMinutes: 30, targetKw: 80 }, 'unchanged by the refused one');
    // The document survives a restart with the state.
    const y = runner();
    y.r.resume(readRunnerSnapshot(JSON.parse(JSON.stringify(x.r.snapshot(T0 + 31 * MIN)))), T0 + 32 * MIN);
    assert.deepEqual(y.r.demandNow(), { intervalMinutes: 30, targetKw: 80 });
  });

  it('reads the tariff demand charge exactly, and names a document with faults', function () {
    const demand = demandFromTariff(
      JSON.stringify({
        currency: 'GBP',
        energy: {
          type: 'tou',
          rates: { peak: '0.30', offpeak: '0.10' },
          default: 'offpeak',
          schedule: [{ days: ['weekday'], from: '08:00', to: '20:00', period: 'peak' }],
        },
        demand: { rate: '10', intervalMinutes: 15, periods: ['peak'] },
      }),
    );
    assert.equal(demand.intervalMinutes, 15);
    assert.deepEqual(demand.periods, ['peak']);
    assert.equal(demand.targetKw, undefined);
    assert.equal(demand.window.charged!(Date.parse('2026-06-01T09:00:00Z')), true);
    assert.equal(demand.window.charged!(Date.parse('2026-06-01T21:00:00Z')), false);
    assert.throws(() => demandFromTariff({ currency: 'XXX', energy: {} }), /is not valid: currency/);
    assert.throws(() => demandFromTariff('{'), /not JSON/);
    assert.throws(
      () =>
        demandFromTariff({ tariff: { currency: 'GBP', energy: { type: 'flat', rate: '1' } }, targetKw: -1 }),
      /targetKw/,
    );
  });
});

describe('demand limiting: protected units', function () {
  it('reads the table, naming the row and column of a mistake', function () {
    const units = parseProtectedUnits(
      'account,meter,flag,vacancySetback\nT1,,medical,\nT2,E-2,critical,yes\nT2,E-3,critical,yes\n',
    );
    assert.deepEqual(
      [...units.values()].map((u) => [u.account, u.flag, u.meters, u.vacancySetback]),
      [
        ['T1', 'medical', [], false],
        ['T2', 'critical', ['E-2', 'E-3'], true],
      ],
    );
    const bad = (row: string): string => {
      try {
        parseProtectedUnits(`account,meter,flag,vacancySetback\n${row}\n`);
      } catch (error) {
        return (error as Error).message;
      }
      return 'accepted';
    };
    assert.equal(bad('T1,,vip,'), 'protected units line 2, flag: "vip" is not medical or critical');
    assert.equal(bad(',,medical,'), 'protected units line 2, account: is required');
    assert.equal(
      bad('T1,,medical,maybe'),
      'protected units line 2, vacancySetback: "maybe" is not yes or no',
    );
    assert.match(bad('T1,,medical,\nT1,,critical,'), /line 3, flag: account T1 is flagged medical on line 2/);
    assert.throws(() => parseProtectedUnits('account,meter\nT1,E'), /line 1, flag: missing from the header/);
  });

  it('never limits or sets back a flagged unit for demand, and sheds the next step instead', function () {
    const limits: LimitMessage[] = [];
    const commands: DesiredCommand[] = [];
    const rows = parseHvacMap('account,object,unoccupied\nT3,analog-value:1,28\n', 1, 9);
    const steps = parseShedTable(
      'step,kind,target,value,reliefKw\n' +
        'by meter,power-limit,T9/E-2,3000,30\n' +
        'by account,power-limit,T1,3000,30\n' +
        'T3 zone,bacnet,analog-value:1,27,30\n' +
        'free,power-limit,T4,3000,30\n',
      1,
      9,
    );
    // The node gives a BEMS step on a unit's object that unit's account.
    steps[2]!.action = { ...steps[2]!.action, account: 'T3' } as ShedStep['action'];
    const r = new DemandRunner({
      demand: { window: { intervalMs: 15 * MIN }, targetKw: 100, steps },
      priceRules: [],
      siteMeters: new Set(),
      by: 'load control',
      limitMinutes: 20,
      protectedUnits: parseProtectedUnits('account,meter,flag\nT2,E-2,critical\nT1,,medical\nT3,,critical\n'),
      sendLimit: (l) => limits.push(l),
      sendCommand: (c) => commands.push(c),
      sendReport: () => undefined,
    });
    assert.ok(rows.length === 1);
    let kWh = 0;
    for (const [m, kw] of [
      [0, 0],
      [1, 125],
    ] as const) {
      kWh += kw / 60;
      r.meterMessage(
        { meterId: 'M', utility: 'electricity', value: kWh, unit: 'kWh', ts: T0 + m * MIN, quality: 'good' },
        T0 + m * MIN,
      );
    }
    assert.deepEqual(r.inForce(), ['free']);
    assert.deepEqual(commands, []);
    assert.deepEqual(
      limits.map((l) => l.accountId ?? l.meterId),
      ['T4'],
    );
  });

  it('sets back a flagged vacant unit only when its row allows it, and never for a cut', function () {
    const rows = parseHvacMap(
      'account,object,unoccupied\nMED,analog-value:1,28\nCOLD,analog-value:2,28\nPLAIN,analog-value:3,28\n',
      1,
      9,
    );
    const rule = new VacancyRule(
      rows,
      undefined,
      parseProtectedUnits('account,flag,vacancySetback\nMED,medical,no\nCOLD,critical,yes\n'),
    );
    const closed = (accountId: string) => rule.apply({ kind: 'account', accountId, state: 'closed' });
    const cut = (accountId: string) =>
      rule.apply({
        kind: 'relay',
        accountId,
        meterId: `${accountId}-E`,
        action: 'disconnect',
        forced: false,
      });
    assert.deepEqual(closed('MED'), []);
    assert.deepEqual(cut('MED'), []);
    assert.deepEqual(cut('COLD'), [], 'a cut never sets back a flagged unit');
    assert.deepEqual(
      closed('COLD').map((c) => c.value),
      [28],
    );
    assert.deepEqual(
      closed('PLAIN').map((c) => c.value),
      [28],
    );
    // A unit set back before it was flagged comes back at the next start.
    const later = new VacancyRule(
      rows,
      { accounts: { MED: { credit: 'closed', cut: [], mode: 'setback', why: 'vacant (account closed)' } } },
      parseProtectedUnits('account,flag\nMED,medical\n'),
    );
    assert.deepEqual(later.desired(), []);
    assert.equal(later.modeOfAccount('MED').mode, 'occupied');
  });
});
