/**
 * The reference site dashboard's function nodes, as the generator writes them into flows/reference.json, run
 * in the test runtime: alarm times on the site's wall clock (Kuala Lumpur), supplies off counted from the relay
 * states the cutoff nodes restore at start, a tenant without a forecast yet shown as such, not blank, and load
 * control's demand windows, shed steps in force and last command outcomes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { collect, helper, sleep, startServer, stopServer, type NodeModule } from '../support/node-red-helper';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const functionNode = require('@node-red/nodes/core/function/10-function.js') as NodeModule;

const root = join(__dirname, '..', '..', '..');
const flow = JSON.parse(readFileSync(join(root, 'flows', 'reference.json'), 'utf8')) as Array<
  Record<string, unknown> & { id: string; type: string; name?: string; wires?: string[][] }
>;

/** The named function node alone, its outputs to test nodes out0, out1... */
async function load(name: string): Promise<{ id: string; outputs: Array<Array<Record<string, unknown>>> }> {
  const node = flow.find((n) => n.type === 'function' && n.name === name)!;
  const { z: _z, x: _x, y: _y, ...rest } = node;
  const outs = node.wires!.map((_, i) => ({ id: `out${i}`, type: 'helper' }));
  await helper.load([functionNode], [{ ...rest, wires: outs.map((o) => [o.id]) }, ...outs]);
  return { id: node.id, outputs: outs.map((o) => collect(helper.getNode(o.id))) };
}

describe('reference site dashboard boards', function () {
  this.timeout(20_000);
  before(startServer);
  after(stopServer);
  afterEach(() => helper.unload());

  it('shows alarm times on the site clock (Asia/Kuala_Lumpur, UTC+8), not in UTC', async function () {
    const { id, outputs } = await load('active alarms');
    helper.getNode(id).receive({
      payload: {
        meterId: 'E-T0007',
        accountId: 'T0007',
        type: 'relay-fault',
        alarm: true,
        text: 'welded',
        ts: Date.UTC(2026, 11, 6, 3, 30),
      },
    });
    helper.getNode(id).receive({
      payload: {
        accountId: 'T0008',
        state: 'low',
        available: 4200,
        currency: 'MYR',
        changedAt: Date.UTC(2026, 11, 5, 17, 5),
      },
    });
    await sleep(2300);
    // Made in the function node's own context: read back as plain JSON.
    const list = JSON.parse(JSON.stringify(outputs[0]!.at(-1)!.payload)) as Array<{
      at: string;
      source: string;
    }>;
    assert.deepEqual(
      list.map((a) => [a.source, a.at]),
      [
        ['E-T0007', '2026-12-06 11:30'],
        ['T0008', '2026-12-06 01:05'],
      ],
    );
  });

  it('counts a supply off from a restored relay state, and says "learning" where the forecast has no estimate yet', async function () {
    const { id, outputs } = await load('tenant board');
    const state = (accountId: string, daysLeft?: number) => ({
      payload: {
        accountId,
        balance: 5000,
        available: 5000,
        currency: 'MYR',
        state: 'ok',
        changedAt: 0,
        ...(daysLeft === undefined ? {} : { daysLeft }),
      },
    });
    helper.getNode(id).receive(state('T0001', 12.34));
    helper.getNode(id).receive(state('T0002'));
    // After a restart the cutoff node says what each relay was last commanded.
    for (const [meterId, accountId, action] of [
      ['E-T0001', 'T0001', 'connect'],
      ['E-T0002', 'T0002', 'disconnect'],
      ['E-T0003', 'T0003', 'disconnect'],
    ])
      helper.getNode(id).receive({
        topic: meterId,
        payload: { meterId, accountId, utility: 'electricity', action, restored: true },
      });
    await sleep(2300);
    const rows = JSON.parse(JSON.stringify(outputs[0]!.at(-1)!.payload)) as Array<{
      account: string;
      daysLeft: string;
      supply: string;
    }>;
    assert.deepEqual(
      rows.map((r) => [r.account, r.daysLeft, r.supply]),
      [
        ['T0001', '12.3', 'on'],
        ['T0002', 'learning', 'OFF'],
        ['T0003', '', 'OFF'],
      ],
    );
    assert.match(String(outputs[1]!.at(-1)!.payload), /3 tenants: .*; 2 supplies off$/);
  });
  it('charts each demand window against its target, lists the steps in force and the last outcome per command', async function () {
    const { id, outputs } = await load('load control');
    const end = Date.UTC(2026, 11, 7, 4, 30);
    helper.getNode(id).receive({
      topic: 'demand-window',
      payload: { start: end - 1_800_000, end, targetKw: 1600, actualKw: 1623.44, peakPredictedKw: 1702.06 },
    });
    const decision = (action: string, step: string, at: number) => ({
      topic: 'demand-decision',
      payload: { at, action, step, index: 0, reason: 'predicted over the target' },
    });
    helper.getNode(id).receive(decision('shed', 'chilled water 10 C', end - 600_000));
    helper.getNode(id).receive(decision('shed', 'AHU fan 70 %', end - 300_000));
    helper.getNode(id).receive(decision('restore', 'AHU fan 70 %', end));
    const event = (value: number | null, outcome: string, at: number) => ({
      topic: 'loadcontrol',
      payload: {
        key: 'demand:chilled water 10 C',
        target: '412100/analog-output:1',
        priority: 10,
        value,
        outcome,
        reason: 'demand limiting',
        text: 'read back',
        attempts: 1,
        at,
      },
    });
    helper.getNode(id).receive(event(10, 'landed', end - 590_000));
    helper.getNode(id).receive(event(null, 'released', end));
    await sleep(200);
    assert.deepEqual(
      outputs[0]!.map((m) => [m.topic, (m.payload as { x: number; y: number }).y]),
      [
        ['actual kW', 1623.4],
        ['predicted peak kW', 1702.1],
        ['target kW', 1600],
      ],
    );
    assert.deepEqual(
      outputs[1]!.map((m) => m.payload),
      [
        'chilled water 10 C (last: shed chilled water 10 C at 12-07 12:20)',
        'chilled water 10 C, AHU fan 70 % (last: shed AHU fan 70 % at 12-07 12:25)',
        'chilled water 10 C (last: restore AHU fan 70 % at 12-07 12:30)',
      ],
    );
    const rows = JSON.parse(JSON.stringify(outputs[2]!.at(-1)!.payload)) as Array<Record<string, unknown>>;
    assert.deepEqual(rows, [
      {
        at: '12-07 12:30',
        target: '412100/analog-output:1',
        priority: 10,
        value: 'relinquish',
        outcome: 'released',
        reason: 'demand limiting',
        text: 'read back',
      },
    ]);
  });
});
