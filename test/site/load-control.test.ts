/**
 * Load control in the reference site, in a real Node-RED running the generated flow: the simulator's BEMS
 * controller is read with bacnet-stack's bacrp (a client this package did not write). A tenant who moves out (the
 * ledger closes the account) has the unit's occupancy mode and zone setpoint set back at priority 10 on the
 * simulated controller, and a demand window predicted over the target sheds the shed table's first step, the
 * chilled-water setpoint, written to the controller.
 */
import assert from 'node:assert/strict';
import { freeUdpPort } from '../bacnet/support';
import { loopbackEnv, requireBacnetStack, runTool } from '../support/bacnet-stack';
import { eventually } from '../loadcontrol/bems';
import { startReferenceSite, type RunningSite } from '../support/reference-site';

type FlowNode = Record<string, unknown> & { id: string; type: string; z?: string; wires?: string[][] };

const VACANT = 'T0007';

describe('load control in the reference site', function () {
  this.timeout(240_000);
  let site: RunningSite | undefined;
  let bemsPort = 0;
  let bemsDevice = 0;

  /** bacrp against the simulator's BEMS controller. */
  async function bacrp(type: string, instance: number, property: string): Promise<string> {
    const own = await freeUdpPort();
    const result = await runTool(
      'bacrp',
      ['--mac', `127.0.0.1:${bemsPort}`, '--dnet', '0', String(bemsDevice), type, String(instance), property],
      loopbackEnv(own, bemsPort),
    );
    return `${result.stdout}${result.stderr}`.trim();
  }

  before(async function () {
    requireBacnetStack(this);
    site = await startReferenceSite({}, (flows) => {
      const nodes = flows as FlowNode[];
      const simulator = nodes.find((n) => n.type === 'prepay-simulator')!;
      assert.equal(simulator.bems, true, 'the reference site runs the simulated BEMS controller');
      bemsPort = Number(simulator.bemsPort);
      bemsDevice = Number(simulator.bemsDevice);
      const loadcontrol = nodes.find((n) => n.type === 'prepay-loadcontrol')!;
      const ledger = nodes.find((n) => n.type === 'prepay-ledger')!;
      // Any demand is over this target: the first window predicted over it sheds the first step.
      Object.assign(loadcontrol, { targetKw: '1', marginKw: '0', windowMinutes: '5', checkSeconds: '2' });
      // The decisions to the log, and the tenant of unit 7 moving out once the accounts are open.
      loadcontrol.wires![2]!.push('test-decisions');
      nodes.push(
        {
          id: 'test-decisions',
          type: 'function',
          z: loadcontrol.z,
          name: 'decisions to the log',
          func: "if (msg.topic === 'demand-decision') node.warn('demand decision: ' + msg.payload.action + ' ' + msg.payload.step);\nreturn null;",
          outputs: 1,
          wires: [[]],
        },
        {
          id: 'test-move-out',
          type: 'inject',
          z: ledger.z,
          name: `${VACANT} moves out`,
          props: [{ p: 'payload' }],
          once: true,
          onceDelay: '6',
          repeat: '',
          payload: JSON.stringify({ command: 'close', accountId: VACANT, reference: `close-${VACANT}` }),
          payloadType: 'json',
          wires: [[ledger.id]],
        },
      );
    });
  });
  after(async () => site?.stop());

  it("sets a vacant unit's HVAC back on the simulated controller, at the table's priority", async () => {
    const n = Number(VACANT.slice(1));
    await eventually(
      async () => assert.equal(await bacrp('multi-state-value', n, 'present-value'), '2'),
      60_000,
      1000,
    );
    const slots = await bacrp('multi-state-value', n, 'priority-array');
    assert.match(slots, /^\{Null,Null,Null,Null,Null,Null,Null,Null,Null,2,Null,Null,Null,Null,Null,Null\}$/);
    assert.equal(await bacrp('analog-value', n, 'present-value'), '28.000000');
    // An occupied unit is left to the controller's own default.
    assert.equal(await bacrp('multi-state-value', n + 1, 'present-value'), '1');
    assert.match(await bacrp('multi-state-value', n + 1, 'priority-array'), /^\{(Null,){15}Null\}$/);
  });

  it('sheds the first step of a demand window predicted over its target: the chilled-water setpoint', async () => {
    await site!.red.waitFor(/demand decision: shed chilled water 10 C/, 150_000);
    await eventually(
      async () => assert.equal(await bacrp('analog-output', 1, 'present-value'), '10.000000'),
      20_000,
      1000,
    );
    const slots = await bacrp('analog-output', 1, 'priority-array');
    assert.match(slots, /^\{(Null,){9}10\.000000,(Null,){5}Null\}$/);
    assert.equal(await bacrp('analog-output', 1, 'relinquish-default'), '7.000000');
  });
});
