/**
 * The building's override router, as the site generator writes it into the reference site and the
 * building example: an override from a flow (a BEMS write) reaches the cutoff node of the meter's gateway,
 * and one for a meter no cutoff node drives is refused with an answer, never dropped without a word.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { collect, helper, sleep, startServer, stopServer, type NodeModule } from '../support/node-red-helper';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const switchNode = require('@node-red/nodes/core/function/10-switch.js') as NodeModule;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const functionNode = require('@node-red/nodes/core/function/10-function.js') as NodeModule;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const catchNode = require('@node-red/nodes/core/common/25-catch.js') as NodeModule;

const root = join(__dirname, '..', '..', '..');

interface FlowNode {
  id: string;
  type: string;
  name?: string;
  wires?: string[][];
  table?: Array<{ meterId: string; relay: string; utility: string }>;
  [key: string]: unknown;
}

for (const file of ['flows/reference.json', 'examples/building-in-one-tab.json']) {
  describe(`override routing in ${file}`, function () {
    const flow = JSON.parse(readFileSync(join(root, file), 'utf8')) as FlowNode[];
    const byId = new Map(flow.map((n) => [n.id, n]));
    const router = flow.find((n) => n.type === 'switch' && n.name === 'to its gateway')!;

    before(startServer);
    after(stopServer);
    afterEach(() => helper.unload());

    it('sends each override to the cutoff node whose table has the meter, and answers the rest', async function () {
      // The router and what it feeds, its wires to cutoff nodes replaced by test nodes standing in for them.
      const outputs = router.wires!.map((wire) => byId.get(wire[0]!));
      const cutoffs = outputs.filter((n) => n?.type === 'prepay-cutoff') as FlowNode[];
      const unowned = outputs.find((n) => n !== undefined && n.type !== 'prepay-cutoff');
      assert.ok(cutoffs.length >= 1);
      // Without a tab (x, y and z dropped) the test runtime runs them as a flow of their own.
      const { z: _z1, x: _x1, y: _y1, ...routerNode } = router;
      const nodes: unknown[] = [
        {
          ...routerNode,
          wires: outputs.map((n) =>
            n?.type === 'prepay-cutoff' ? [`gateway-${cutoffs.indexOf(n)}`] : [n?.id ?? ''],
          ),
        },
        ...cutoffs.map((_, i) => ({ id: `gateway-${i}`, type: 'helper' })),
        { id: 'answers', type: 'helper' },
        { id: 'errors', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
        { id: 'caught', type: 'helper' },
      ];
      if (unowned) {
        const { z: _z2, x: _x2, y: _y2, ...unownedNode } = unowned;
        nodes.push({ ...unownedNode, wires: [['answers']] });
      }
      await helper.load([switchNode, functionNode, catchNode], nodes);
      const received = cutoffs.map((_, i) => collect(helper.getNode(`gateway-${i}`)));
      const answers = collect(helper.getNode('answers'));
      const caught = collect(helper.getNode('caught'));
      const override = (meterId: string) => ({
        topic: 'override',
        payload: { meterId, action: 'disconnect', reason: 'BEMS write', minutes: 60, by: 'bacnet:10.0.0.9' },
      });
      // The last relay meter of each gateway's cutoff table.
      const relayMeters = cutoffs.map((cutoff) => cutoff.table!.at(-1)!.meterId);
      for (const meterId of relayMeters) helper.getNode(router.id).receive(override(meterId));
      helper.getNode(router.id).receive(override('W-T0001')); // a water meter: no relay, no cutoff node
      helper.getNode(router.id).receive(override('E-NOPE'));
      await sleep(300);
      relayMeters.forEach((meterId, i) =>
        assert.deepEqual(
          received[i]!.map((m) => (m.payload as { meterId: string }).meterId),
          [meterId],
          `gateway ${i + 1}'s cutoff node gets ${meterId}`,
        ),
      );
      assert.deepEqual(
        answers.map((m) => [m.topic, (m.payload as { outcome: string; error: string }).outcome]),
        [
          ['override', 'refused'],
          ['override', 'refused'],
        ],
      );
      assert.match(
        String((answers[0]!.payload as { text: string }).text),
        /^override refused: no cutoff node drives meter "W-T0001"/,
      );
      assert.equal(caught.length, 2);
    });
  });
}
