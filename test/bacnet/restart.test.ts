/**
 * Stable objects across restarts and redeploys, in a real Node-RED process (test/support/node-red-process.ts):
 * accounts and meters fed over HTTP become objects; after a clean restart, a full redeploy and a SIGKILL the
 * device serves the same names with the same instance numbers (and, after a clean stop, the same values) before
 * any new message arrives, and objects added later get new numbers, never old ones.
 */
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ObjectType, PropertyId as P } from '../../dist/nodes/core/bacnet/constants';
import { tempUserDir } from '../support/node-red-helper';
import { NodeRedProcess } from '../support/node-red-process';
import { freeUdpPort, sleep, testClient, type TestClient } from './support';

const root = join(__dirname, '..', '..', '..');
const ARRAY_ALL = 0xffffffff;

function flows(port: number, label = 'bacnet'): unknown[] {
  return [
    { id: 'tab1', type: 'tab', label },
    {
      id: 'dev1',
      type: 'prepay-bacnet-device',
      deviceInstance: '7001',
      deviceInstanceType: 'num',
      deviceName: 'prepay-restart',
      port: String(port),
      portType: 'num',
      address: '127.0.0.1',
      timeZone: 'Europe/London',
      overrides: true,
      overrideMinutes: '60',
    },
    { id: 'in1', type: 'http in', z: 'tab1', url: '/feed', method: 'post', wires: [['bac1', 'ok1']] },
    { id: 'bac1', type: 'prepay-bacnet', z: 'tab1', name: label, device: 'dev1', wires: [[]] },
    { id: 'ok1', type: 'http response', z: 'tab1', statusCode: '200', wires: [] },
  ];
}

function messages(ids: string[]): unknown[] {
  return ids.flatMap((id, i) => [
    {
      accountId: id,
      state: 'ok',
      balance: 1000 + i,
      available: 1000 + i,
      currency: 'GBP',
      changedAt: Date.now(),
    },
    {
      meterId: `E-${id}`,
      accountId: id,
      utility: 'electricity',
      unit: 'kWh',
      value: 100 + i,
      delta: '0.5',
      to: Date.now(),
      readingId: `E-${id}:1`,
    },
    {
      meterId: `E-${id}`,
      accountId: id,
      utility: 'electricity',
      action: 'connect',
      reason: 'credit ok',
      policy: 'p',
    },
  ]);
}

async function feed(red: NodeRedProcess, ids: string[]): Promise<void> {
  const response = await red.request('/feed', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(messages(ids)),
  });
  assert.equal(response.status, 200);
}

/** name -> "type:instance" for every object, and the database revision, as a BEMS reads them. */
async function objects(
  peer: TestClient,
  port: number,
): Promise<{ map: Map<string, string>; revision: number; balances: number[] }> {
  const address = { address: `127.0.0.1:${port}` };
  const device = { type: ObjectType.DEVICE, instance: 7001 };
  const list = await peer.client.readProperty(address, device, P.OBJECT_LIST);
  // The points only: not the device (8), its notification class (15) nor its network port (56).
  const ids = list.values
    .map((v) => v.value as { type: number; instance: number })
    .filter((id) => id.type !== 8 && id.type !== 15 && id.type !== 56);
  const map = new Map<string, string>();
  const balances: number[] = [];
  for (let i = 0; i < ids.length; i += 50) {
    const chunk = ids.slice(i, i + 50);
    const read = await peer.client.readPropertyMultiple(
      address,
      chunk.map((objectId) => ({
        objectId,
        properties: [
          { id: P.OBJECT_NAME, index: ARRAY_ALL },
          { id: P.PRESENT_VALUE, index: ARRAY_ALL },
        ],
      })),
    );
    for (const o of read.values) {
      const name = o.values[0]!.value[0]!.value as string;
      map.set(name, `${o.objectId.type}:${o.objectId.instance}`);
      if (name.endsWith('.Balance')) balances.push(o.values[1]!.value[0]!.value as number);
    }
  }
  const revision = (await peer.client.readProperty(address, device, P.DATABASE_REVISION)).values[0]!
    .value as number;
  return { map, revision, balances };
}

async function waitForDevice(peer: TestClient, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      await peer.client.readProperty(
        { address: `127.0.0.1:${port}` },
        { type: 8, instance: 7001 },
        P.OBJECT_NAME,
      );
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error('the device did not come up');
}

describe('bacnet objects across Node-RED restarts and redeploys', function () {
  this.timeout(180_000);

  it('keeps every name and instance through a restart, a full redeploy and a SIGKILL', async () => {
    const userDir = tempUserDir();
    mkdirSync(join(userDir, 'node_modules'), { recursive: true });
    symlinkSync(root, join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
    const port = await freeUdpPort();
    const peer = await testClient(port, 2000);
    const accounts = Array.from({ length: 40 }, (_, i) => `T${String(i + 1).padStart(4, '0')}`);
    let red = await NodeRedProcess.start({ userDir, flows: flows(port) });
    try {
      await waitForDevice(peer, port);
      await feed(red, accounts);
      await sleep(300);
      const first = await objects(peer, port);
      assert.equal(first.map.size, 40 * 8, 'eight objects per tenant with one electricity meter');
      assert.equal(first.map.get('T0001.Balance'), '2:1');
      await red.stop();

      // 1. A clean restart: the same objects, numbers and values, before any message arrives.
      red = await NodeRedProcess.start({ userDir });
      await waitForDevice(peer, port);
      const restarted = await objects(peer, port);
      assert.deepEqual([...restarted.map].sort(), [...first.map].sort());
      assert.deepEqual(restarted.balances, first.balances);
      assert.equal(restarted.revision, first.revision);

      // 2. A full redeploy of a changed flow, then the same tenants in another order and one new tenant.
      const response = await red.request('/flows', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
        body: JSON.stringify(flows(port, 'bacnet renamed')),
      });
      assert.equal(response.status, 204);
      await sleep(500);
      await waitForDevice(peer, port);
      await feed(red, [...accounts].reverse().concat(['T0041']));
      await sleep(300);
      const redeployed = await objects(peer, port);
      for (const [name, id] of first.map) assert.equal(redeployed.map.get(name), id, name);
      assert.equal(
        redeployed.map.get('T0041.Balance'),
        '2:121',
        'a new tenant gets new numbers (three analog values per tenant)',
      );
      assert.equal(redeployed.revision, first.revision + 1);

      // 3. Killed without a chance to save more: the numbers were on disk already.
      await sleep(500);
      await red.kill('SIGKILL');
      red = await NodeRedProcess.start({ userDir });
      await waitForDevice(peer, port);
      const killed = await objects(peer, port);
      assert.deepEqual([...killed.map].sort(), [...redeployed.map].sort());
    } finally {
      peer.close();
      await red.stop();
    }
  });
});
