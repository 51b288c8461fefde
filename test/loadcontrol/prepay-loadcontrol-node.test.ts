/**
 * prepay-loadcontrol and prepay-bacnet-client inside Node-RED (node-red-node-test-helper), against bacserv:
 * command outcomes on the output, bad input and a BEMS that does not answer reaching Catch nodes (done(err)),
 * configuration mistakes named (the table's line and column, a bad address) with a red ring, and the editor's
 * table check.
 */
import assert from 'node:assert/strict';
import {
  catchNode,
  collect,
  helper,
  loadBuiltNode,
  startServer,
  stopServer,
  tempUserDir,
  type TestNode,
} from '../support/node-red-helper';
import { freeUdpPort } from '../bacnet/support';
import { AO, bemsClientConfig, eventually, bemsForSuite, type Bems } from './bems';

const clientNode = loadBuiltNode('loadcontrol/prepay-bacnet-client.js');
const loadControlNode = loadBuiltNode('loadcontrol/prepay-loadcontrol.js');

function flow(address: string, device: number, table: string): unknown[] {
  return [
    bemsClientConfig({ device, address }, { apduTimeout: '300', retries: '0', lease: '60' }),
    {
      id: 'lc',
      type: 'prepay-loadcontrol',
      client: 'bems',
      priority: '10',
      verify: '0',
      table,
      wires: [['out']],
    },
    { id: 'out', type: 'helper' },
    { id: 'c1', type: 'catch', scope: ['lc'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  ];
}

const TABLE = 'account,object,unoccupied,occupied\nT1,analog-output:1,28,relinquish\n';
type Msg = Record<string, unknown> & { payload: Record<string, unknown>; error?: { message: string } };

function lastStatus(node: TestNode): { fill?: string; shape?: string; text?: string } {
  const calls: Array<{ args: unknown[] }> = [];
  node.on('call:status', (call) => calls.push(call));
  return new Proxy(
    {},
    { get: (_t, key: string) => (calls.at(-1)?.args[0] as Record<string, string> | undefined)?.[key] },
  );
}

describe('prepay-loadcontrol node', function () {
  this.timeout(30_000);
  let bems: Bems;

  bemsForSuite((started) => (bems = started));
  beforeEach(async () => {
    helper.settings({ userDir: tempUserDir() });
    await startServer();
  });
  afterEach(async () => {
    await helper.unload();
    await stopServer();
    helper.settings({});
  });

  it('sends what became of each command, and relinquishes on close', async () => {
    await helper.load([clientNode, loadControlNode, catchNode], flow(bems.address, bems.device, TABLE));
    const out = collect(helper.getNode('out')) as Msg[];
    const caught = collect(helper.getNode('caught')) as Msg[];
    const lc = helper.getNode('lc');
    const status = lastStatus(lc);
    lc.receive({ payload: { accountId: 'T1', state: 'closed' } });
    await eventually(async () => assert.equal(out.length, 1), 5000);
    assert.equal(out[0]!.topic, 'loadcontrol');
    assert.deepEqual(
      {
        account: out[0]!.payload.account,
        outcome: out[0]!.payload.outcome,
        value: out[0]!.payload.value,
        priority: out[0]!.payload.priority,
      },
      { account: 'T1', outcome: 'landed', value: 28, priority: 10 },
    );
    assert.match(String(out[0]!.payload.reason), /^T1 vacant \(account closed\)$/);
    await eventually(async () => assert.equal(status.text, '1 set back, 0 restored'), 2000);
    assert.equal(status.fill, 'green');
    lc.receive({ payload: { accountId: 'T1', state: 'bankrupt' } });
    await eventually(async () => assert.equal(caught.length, 1), 2000);
    assert.match(caught[0]!.error!.message, /state: must be one of/);
    assert.equal((await bems.priorityArray(AO))[9], '28.000000');
    await helper.unload();
    assert.equal((await bems.priorityArray(AO))[9], null, 'relinquished on close');
  });

  it('reports a BEMS that does not answer to Catch and shows a red ring, retrying', async () => {
    const silent = await freeUdpPort();
    await helper.load([clientNode, loadControlNode, catchNode], flow(`127.0.0.1:${silent}`, 77, TABLE));
    const caught = collect(helper.getNode('caught')) as Msg[];
    const lc = helper.getNode('lc');
    const status = lastStatus(lc);
    lc.receive({ payload: { accountId: 'T1', state: 'closed' } });
    await eventually(async () => assert.equal(caught.length, 1), 5000);
    assert.match(
      caught[0]!.error!.message,
      /77\/analog-output:1 at priority 10: no answer from 127\.0\.0\.1:\d+ .*\(retrying\)/,
    );
    await eventually(async () => assert.equal(status.fill, 'red'), 2000);
    assert.match(String(status.text), /BEMS not answering/);
  });

  it('names configuration mistakes: the table line and column, a bad address', async () => {
    await helper.load(
      [clientNode, loadControlNode, catchNode],
      flow(bems.address, bems.device, 'account,object,unoccupied\nT1,analog-output:1,warm\n'),
    );
    const caught = collect(helper.getNode('caught')) as Msg[];
    helper.getNode('lc').receive({ payload: { accountId: 'T1', state: 'closed' } });
    await eventually(async () => assert.equal(caught.length, 1), 2000);
    assert.match(
      caught[0]!.error!.message,
      /^(Error: )?table: line 2, column unoccupied: "warm" is not a plain decimal number$/,
    );
    await helper.unload();

    await helper.load([clientNode, loadControlNode, catchNode], flow('bems.example:47808', 1, TABLE));
    const again = collect(helper.getNode('caught')) as Msg[];
    helper.getNode('lc').receive({ payload: { accountId: 'T1', state: 'closed' } });
    await eventually(async () => assert.equal(again.length, 1), 2000);
    assert.match(again[0]!.error!.message, /address: "bems\.example:47808" is not an IPv4 address/);
  });

  it('checks a table for the editor, naming the line at fault', async () => {
    await helper.load([clientNode, loadControlNode, catchNode], flow(bems.address, bems.device, TABLE));
    const ok = await helper
      .request()
      .post('/prepay-loadcontrol/check-table')
      .send({ table: TABLE, priority: 10 })
      .expect(200);
    assert.deepEqual(ok.body, { ok: true, rows: 1, accounts: 1 });
    const bad = await helper
      .request()
      .post('/prepay-loadcontrol/check-table')
      .send({ table: 'account,object,unoccupied,priority\nT1,analog-output:1,3,2\n' })
      .expect(400);
    assert.equal((bad.body as { line: number }).line, 2);
  });
});
