/**
 * The glue of prepay-loadcontrol's demand limiting and price rules, without Node-RED: the shed and price rule
 * tables (every mistake named by line and column), the site meter summing the meter reader's registers, and the
 * runner turning readings and signals into limit requests (renewed at half their lease) and BEMS writes.
 */
import assert from 'node:assert/strict';
import type { DesiredCommand } from '../../dist/nodes/core/loadcontrol/command-shapes';
import { parsePriceRuleTable, parseShedTable } from '../../dist/nodes/core/loadcontrol/demand-tables';
import { SiteMeter } from '../../dist/nodes/core/loadcontrol/site-meter';
import { readDemandConfig, readSignal } from '../../dist/nodes/loadcontrol/demand-config';
import { DemandRunner, type LimitMessage } from '../../dist/nodes/loadcontrol/demand-runner';

const MIN = 60_000;
const T0 = Date.parse('2026-06-01T10:00:00Z');

describe('demand limiting tables', () => {
  it('reads the shed table in order, and names the line and column of every mistake', () => {
    const steps = parseShedTable(
      'step,kind,target,value,reliefKw,minHoldMinutes,maxHoldMinutes\n' +
        'chw,bacnet,analog-value:1,10,3,15,\n' +
        'T1,power-limit,T1/E-1,4000,5,10,60\n',
      260001,
      9,
    );
    assert.deepEqual(
      steps.map((s) => [s.id, s.action.kind, s.reliefKw, s.minHoldMs, s.maxHoldMs]),
      [
        ['chw', 'command', 3, 15 * MIN, undefined],
        ['T1', 'limit', 5, 10 * MIN, 60 * MIN],
      ],
    );
    assert.deepEqual(steps[1]!.action, { kind: 'limit', account: 'T1', meter: 'E-1', limitW: 4000 });
    const bad = (row: string): string => {
      try {
        parseShedTable(`step,kind,target,value,reliefKw\n${row}\n`, 1, 9);
      } catch (error) {
        return (error as Error).message;
      }
      return 'accepted';
    };
    assert.match(bad('T1,power-limit,T1,0,5'), /line 2, value: .*never cuts/);
    assert.match(bad('T1,relay,T1,10,5'), /line 2, kind/);
    assert.match(bad('T1,power-limit,T1,100,0'), /line 2, reliefKw/);
    assert.match(bad('x,bacnet,nonsense,1,1'), /line 2, target/);
  });

  it('reads price rules with thresholds in the quote unit and offsets with their sign', () => {
    const config = readDemandConfig(
      {
        priceRules:
          'rule,signal,threshold,object,normal,beforeMinutes,before,during,min,max,maxMinutes\n' +
          'zone,price,0.40,analog-value:3,24,30,-2,+2,20,27,120\n',
        currency: 'GBP',
      },
      260001,
      9,
    );
    const rule = config.options.priceRules[0]!;
    // 0.40 GBP is 40 minor units; sub-minor units keep the tariff engine's precision.
    assert.ok(rule.priceAtLeast! > 0n);
    assert.deepEqual(
      [rule.before, rule.during, rule.min, rule.max],
      [{ offset: -2, minutes: 30 }, { offset: 2 }, 20, 27],
    );
    assert.throws(
      () =>
        parsePriceRuleTable(
          'rule,signal,threshold,object,normal,maxMinutes\nr,wind,1,analog-value:1,1,10\n',
          1,
          9,
          () => 0n,
        ),
      /line 2, signal/,
    );
    assert.throws(() => readDemandConfig({ targetKw: '100' }, 1, 9), /a demand target needs shed steps/);
  });
});

describe('site meter', () => {
  it('sums the registers per poll cycle, counting each meter from its first reading and across a replacement', () => {
    const site = new SiteMeter(new Set(['A', 'B']));
    assert.equal(site.reading('A', T0, 1000), undefined);
    assert.deepEqual(site.reading('B', T0 + 1000, 5000), { at: T0 + 1000, kWh: 0 });
    assert.equal(site.reading('C', T0 + 2000, 7), undefined, 'not a site meter');
    site.reading('A', T0 + MIN, 1002);
    assert.deepEqual(site.reading('B', T0 + MIN, 5003), { at: T0 + MIN, kWh: 5 });
    // B replaced (register starts again): nothing lost, no step.
    site.reading('A', T0 + 2 * MIN, 1004);
    assert.deepEqual(site.reading('B', T0 + 2 * MIN, 1), { at: T0 + 2 * MIN, kWh: 7 });
    // A silent: B read again closes the cycle.
    site.reading('B', T0 + 3 * MIN, 2);
    assert.deepEqual(site.reading('B', T0 + 4 * MIN, 3), { at: T0 + 4 * MIN, kWh: 9 });
    assert.deepEqual(
      SiteMeter.energyOf({
        meterId: 'A',
        utility: 'electricity',
        value: 1500,
        unit: 'Wh',
        ts: T0,
        quality: 'good',
      }),
      { meterId: 'A', at: T0, kWh: 1.5 },
    );
    assert.equal(
      SiteMeter.energyOf({ meterId: 'W', utility: 'water', value: 1, unit: 'm3', ts: T0 }),
      undefined,
    );
    assert.equal(
      SiteMeter.energyOf({ meterId: 'A', value: 1, unit: 'kWh', ts: T0, estimated: true }),
      undefined,
    );
  });
});

describe('demand runner', () => {
  it('sheds and restores through limit requests and BEMS writes, renewing limits at half their lease', () => {
    const limits: LimitMessage[] = [];
    const commands: DesiredCommand[] = [];
    const reports: string[] = [];
    const runner = new DemandRunner({
      demand: {
        window: { intervalMs: 15 * MIN },
        targetKw: 100,
        steps: parseShedTable(
          'step,kind,target,value,reliefKw,minHoldMinutes\nchw,bacnet,analog-value:1,10,10,5\nT1,power-limit,T1/E-1,3000,60,5\n',
          1,
          9,
        ),
      },
      priceRules: [],
      siteMeters: new Set(),
      by: 'load control',
      limitMinutes: 20,
      sendLimit: (l) => limits.push(l),
      sendCommand: (c) => commands.push(c),
      sendReport: (topic) => reports.push(topic),
    });
    let kWh = 0;
    const read = (minute: number, kw: number): void => {
      kWh += kw / 60;
      runner.meterMessage(
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
    read(0, 0);
    read(1, 160);
    assert.deepEqual(runner.inForce(), ['chw', 'T1']);
    assert.deepEqual(
      commands.map((c) => [c.key, c.value]),
      [['demand:chw', 10]],
    );
    assert.deepEqual(
      limits.map((l) => [l.meterId, l.limitW, l.by, l.minutes]),
      [['E-1', 3000, 'load control', 20]],
    );
    runner.tick(T0 + 12 * MIN);
    assert.equal(limits.length, 2, 'renewed at half its lease');
    for (let minute = 2; minute <= 40; minute += 1) read(minute, 30);
    assert.deepEqual(runner.inForce(), []);
    assert.deepEqual(commands.at(-1)?.value, null, 'BEMS write released');
    assert.deepEqual(limits.at(-1)?.limitW, null, 'limit released');
    assert.ok(reports.includes('demand-window'));
  });

  it('moves a price rule with the tariff price signal: pre-cool before the high period, set back in it, release after', () => {
    const config = readDemandConfig(
      {
        priceRules:
          'rule,signal,threshold,object,normal,beforeMinutes,before,during,min,max,maxMinutes\n' +
          'zone,price,0.40,analog-value:3,24,30,-2,+2,20,27,120\n',
      },
      1,
      9,
    );
    const commands: DesiredCommand[] = [];
    const runner = new DemandRunner({
      ...config.options,
      by: 'load control',
      sendLimit: () => undefined,
      sendCommand: (c) => commands.push(c),
      sendReport: () => undefined,
    });
    const from = T0 + 60 * MIN;
    const signal = readSignal(
      'price',
      {
        prices: [
          { from, to: from + 60 * MIN, rate: '0.45' },
          { from: from + 60 * MIN, to: from + 120 * MIN, rate: '0.20' },
        ],
      },
      config.prices,
      T0,
    );
    runner.priceSignal(signal.kind, signal.signal, T0);
    assert.equal(commands.length, 0, 'idle: nothing written');
    runner.tick(from - 30 * MIN);
    runner.tick(from - 10 * MIN);
    runner.tick(from);
    runner.tick(from + 60 * MIN);
    assert.deepEqual(
      commands.map((c) => c.value),
      [22, 26, null],
    );
  });
});
