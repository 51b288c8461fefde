/**
 * The savings evidence fed by load control: prepay-loadcontrol's setbacks and demand steps attributed per unit
 * and local day (hours set back, steps shed, hours in force, the relief they were expected to give), exactly,
 * across midnight and the clocks changing, counted once when sent again, and kept across a restart.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  attributeActions,
  readLoadControlAction,
  type LoadControlAction,
} from '../../dist/nodes/core/loadcontrol/savings-actions';
import { TimeZone } from '../../dist/nodes/core/tariff/zone';
import { SavingsRecorder } from '../../dist/nodes/loadcontrol/savings-recorder';

const H = 3_600_000;
const london = TimeZone.get('Europe/London');

describe('savings: load control actions per day', function () {
  it('splits a setback over local days, exactly, across the clocks going back', function () {
    // London goes back on 2026-10-25 (a 25-hour day). Set back from 20:00 local on the 24th (19:00 UTC) to
    // 06:00 local on the 26th (06:00 UTC): 4 h on the 24th, 25 h on the 25th, 6 h on the 26th.
    const actions: LoadControlAction[] = [
      {
        kind: 'setback',
        account: 'T1',
        mode: 'setback',
        at: Date.parse('2026-10-24T19:00:00Z'),
        why: 'vacant',
      },
      {
        kind: 'setback',
        account: 'T1',
        mode: 'occupied',
        at: Date.parse('2026-10-26T06:00:00Z'),
        why: 'moved in',
      },
    ];
    const days = attributeActions(
      actions,
      london,
      ['2026-10-24', '2026-10-25', '2026-10-26'],
      Date.parse('2026-11-01'),
    );
    assert.deepEqual(
      [...days.values()].map((d) => d.setbackMs / H),
      [4, 25, 6],
    );
  });

  it('counts a step in force and its expected relief until held, refused or restored; open ones up to now', function () {
    const t = Date.parse('2026-06-01T10:00:00Z');
    const actions: LoadControlAction[] = [
      { kind: 'step', account: 'T1', step: 'A', action: 'shed', at: t, reliefW: 2500 },
      { kind: 'step', account: 'T1', step: 'A', action: 'held', at: t + H / 2, reliefW: 0 },
      { kind: 'step', account: 'T1', step: 'A', action: 'restore', at: t + 2 * H, reliefW: 2500 },
      { kind: 'step', account: 'T1', step: 'B', action: 'shed', at: t + H, reliefW: 1000 },
    ];
    const day = attributeActions(actions, london, ['2026-06-01'], t + 3 * H).get('2026-06-01')!;
    assert.equal(day.shed, 2);
    assert.equal(day.notApplied, 1);
    assert.equal(day.stepMs, 2 * H + 2 * H, 'A for 2 h, B from its shed to now');
    // A relieved 2.5 kW for half an hour (then held), B 1 kW for 2 h: 1.25 + 2 kWh, in W·ms.
    assert.equal(day.reliefWms, 2500n * BigInt(H / 2) + 1000n * BigInt(2 * H));
    // Applied an hour after the hold: A relieves again from then to its restore (half an hour more).
    const applied = attributeActions(
      [
        ...actions,
        { kind: 'step', account: 'T1', step: 'A', action: 'applied', at: t + 1.5 * H, reliefW: 2500 },
      ],
      london,
      ['2026-06-01'],
      t + 3 * H,
    ).get('2026-06-01')!;
    assert.equal(applied.reliefWms, 2500n * BigInt(H) + 1000n * BigInt(2 * H));
  });

  it('reads prepay-loadcontrol reports and leaves the rest', function () {
    assert.deepEqual(
      readLoadControlAction('demand-decision', {
        at: 5,
        action: 'shed',
        step: 'T1',
        account: 'T1',
        meter: 'E-1',
        reliefKw: 2.5,
        index: 0,
        reason: 'x',
      }),
      { kind: 'step', account: 'T1', meter: 'E-1', step: 'T1', action: 'shed', at: 5, reliefW: 2500 },
    );
    assert.equal(readLoadControlAction('demand-decision', { at: 5, action: 'shed', step: 'chw' }), undefined);
    assert.equal(readLoadControlAction('demand-window', {}), undefined);
    assert.throws(() => readLoadControlAction('setback', { at: 5, account: 'T1', mode: 'off' }), /mode/);
  });
});

describe('savings: the recorder fed by load control', function () {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'savings-actions-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const make = () =>
    new SavingsRecorder({
      directory: dir,
      timeZone: 'Europe/London',
      units: [
        { unit: 'T1', meters: ['E-1'], schedule: 'Mon-Fri 08:00-18:00' },
        { unit: 'Shop 2', meters: ['E-2'], schedule: 'daily 10:00-22:00', accounts: ['T2'] },
      ],
      debounceMs: 0,
    });

  it('attributes setbacks and steps per unit and day, counts a resent action once, and keeps them on disk', function () {
    const recorder = make();
    const at = Date.parse('2026-06-01T17:00:00Z'); // 18:00 local
    const setback = { topic: 'setback', payload: { account: 'T2', mode: 'setback', at, why: 'vacant' } };
    const first = recorder.recordAction(readLoadControlAction(setback.topic, setback.payload)!);
    assert.deepEqual(first, { counted: true, unit: 'Shop 2', dates: ['2026-06-01'] });
    const again = recorder.recordAction(readLoadControlAction(setback.topic, setback.payload)!);
    assert.equal(again.counted, false);
    assert.equal((again as { duplicate?: boolean }).duplicate, true);
    recorder.recordAction({
      kind: 'setback',
      account: 'T2',
      mode: 'occupied',
      at: at + 14 * H,
      why: 'moved in',
    });
    // A limit named by its meter is the meter's unit.
    recorder.recordAction({
      kind: 'step',
      account: 'X',
      meter: 'E-1',
      step: 'lim',
      action: 'shed',
      at,
      reliefW: 3000,
    });
    recorder.recordAction({
      kind: 'step',
      account: 'X',
      meter: 'E-1',
      step: 'lim',
      action: 'restore',
      at: at + H,
      reliefW: 3000,
    });
    assert.equal(
      recorder.recordAction({ kind: 'setback', account: 'NOBODY', mode: 'setback', at, why: '' }).counted,
      false,
    );
    recorder.close();

    const reopened = make();
    const shop = reopened.report('Shop 2', '2026-06-01', '2026-06-02', at + 20 * H);
    assert.deepEqual(
      shop.days.map((d) => d.loadControl?.setbackHours),
      [6, 8],
      '6 h to local midnight, 8 h the next morning',
    );
    assert.equal(shop.months[0]!.loadControl!.setbackHours, 14);
    const office = reopened.report('T1', '2026-06-01', '2026-06-01', at + 20 * H);
    assert.deepEqual(office.days[0]!.loadControl, {
      setbackHours: 0,
      shedSteps: 1,
      notApplied: 0,
      stepHours: 1,
      estimatedReliefKWh: 3,
    });
    const csv = reopened.csv(office).split('\n');
    assert.match(csv[0]!, /,setback_hours,shed_steps,not_applied_steps,step_hours,estimated_relief_kwh$/);
    assert.match(csv[1]!, /,0\.000,1,0,1\.000,3\.000$/);
    reopened.close();
  });

  it('leaves the report as it was for a unit load control never acted on', function () {
    const recorder = make();
    const report = recorder.report('T1', '2026-06-01', '2026-06-01');
    assert.equal(report.days[0]!.loadControl, undefined);
    assert.doesNotMatch(recorder.csv(report), /setback_hours/);
    recorder.close();
  });
});
