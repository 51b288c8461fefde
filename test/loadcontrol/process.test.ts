/**
 * prepay-loadcontrol in a real Node-RED process, with bacserv as the BEMS, read back independently with bacrp:
 * vacant and exhausted units are set back and restored; an operator's release through the admin API (adminAuth
 * on) relinquishes and is recorded with the operator's name; garbage datagrams to the client's port do not stop
 * Node-RED; Node-RED SIGKILLed leaves no command behind after the lease (the watchdog relinquishes them and
 * exits); the next start asserts again what is still wanted, and a clean stop relinquishes everything.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { requireBacnetStack } from '../support/bacnet-stack';
import { sleep, tempUserDir } from '../support/node-red-helper';
import { NodeRedProcess } from '../support/node-red-process';
import { OPERATOR, READER, adminAuth, login } from '../support/reference-site';
import { freeUdpPort } from '../bacnet/support';
import { AO, BO, MSO, eventually, startBems, type Bems } from './bems';

const root = join(__dirname, '..', '..', '..');
const LEASE_S = 3;

function flows(bems: Bems, clientPort: number): unknown[] {
  return [
    { id: 'tab1', type: 'tab', label: 'load control' },
    {
      id: 'bems1',
      type: 'prepay-bacnet-client',
      device: String(bems.device),
      deviceType: 'num',
      address: bems.address,
      addressType: 'str',
      bindAddress: '127.0.0.1',
      port: String(clientPort),
      apduTimeout: '500',
      retries: '1',
      lease: String(LEASE_S),
    },
    {
      id: 'lc1',
      type: 'prepay-loadcontrol',
      z: 'tab1',
      client: 'bems1',
      priority: '10',
      verify: '2',
      table: [
        'account,object,unoccupied,occupied,priority',
        'T1,multi-state-output:1,2,relinquish,',
        'T1,analog-output:1,28,relinquish,',
        'T2,binary-output:1,inactive,active,12',
      ].join('\n'),
      wires: [[]],
    },
    { id: 'in1', type: 'http in', z: 'tab1', url: '/feed', method: 'post', wires: [['lc1', 'ok1']] },
    { id: 'ok1', type: 'http response', z: 'tab1', statusCode: '200', wires: [] },
  ];
}

async function feed(red: NodeRedProcess, payload: Record<string, unknown>): Promise<void> {
  const response = await red.request('/feed', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(payload),
  });
  assert.equal(response.status, 200);
}

const state = (accountId: string, s: string) => ({
  accountId,
  state: s,
  balance: 0,
  available: 0,
  currency: 'GBP',
});
const relay = (accountId: string, action: string) => ({
  meterId: `E-${accountId}`,
  accountId,
  utility: 'electricity',
  action,
  reason: action === 'disconnect' ? 'credit exhausted and grace period over' : 'credit available',
  policy: 'site policy',
  at: Date.now(),
});

function pidOf(userDir: string): number | undefined {
  const path = join(userDir, 'prepay', 'bacnet-client-bems1-watchdog.pid');
  if (!existsSync(path)) return undefined;
  const pid = Number(readFileSync(path, 'utf8').trim());
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

describe('prepay-loadcontrol in Node-RED against bacserv', function () {
  this.timeout(180_000);
  let bems: Bems;
  let red: NodeRedProcess | undefined;
  let userDir: string;
  let clientPort: number;
  const settings = { adminAuth: adminAuth([OPERATOR, READER]) };

  before(async function () {
    requireBacnetStack(this);
    bems = await startBems();
    userDir = tempUserDir();
    mkdirSync(join(userDir, 'node_modules'), { recursive: true });
    symlinkSync(root, join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
    clientPort = await freeUdpPort();
    red = await NodeRedProcess.start({ userDir, flows: flows(bems, clientPort), settings });
  });

  after(async () => {
    await red?.stop();
    const pid = userDir ? pidOf(userDir) : undefined;
    if (pid) process.kill(pid, 'SIGKILL');
    await bems?.stop();
  });

  const slot = async (type: number, priority: number) => (await bems.priorityArray(type))[priority - 1];

  it('sets a vacant unit and an exhausted one back, and restores them on move-in and reconnection', async () => {
    await feed(red!, state('T1', 'ok'));
    await feed(red!, state('T1', 'closed'));
    await eventually(async () => {
      assert.equal(await slot(MSO, 10), '2');
      assert.equal(await slot(AO, 10), '28.000000');
    }, 5000);
    await feed(red!, state('T2', 'exhausted'));
    await feed(red!, relay('T2', 'disconnect'));
    await eventually(async () => assert.equal(await slot(BO, 12), '0'), 5000);
    assert.equal(await bems.presentValue(BO), 'inactive');

    await feed(red!, relay('T2', 'connect'));
    await eventually(async () => assert.equal(await slot(BO, 12), '1'), 5000);
    await feed(red!, state('T1', 'ok'));
    await eventually(async () => {
      assert.equal(await slot(MSO, 10), null);
      assert.equal(await slot(AO, 10), null);
    }, 5000);
    await feed(red!, state('T1', 'closed'));
    await eventually(async () => assert.equal(await slot(MSO, 10), '2'), 5000);
  });

  it('lets an operator release a unit through the admin API, recorded with the operator’s name', async () => {
    const post = (token: string | undefined, body: unknown) =>
      red!.request('/prepay-loadcontrol/lc1/release', {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
    const body = { account: 'T1', action: 'release', reason: 'viewing by a new tenant', minutes: 30 };
    assert.equal((await post(undefined, body)).status, 401);
    assert.equal((await post(await login(red!, READER), body)).status, 403);
    const token = await login(red!, OPERATOR);
    assert.equal((await post(token, { ...body, reason: '' })).status, 400);
    assert.equal((await post(token, { ...body, account: 'T9' })).status, 404);
    const response = await post(token, body);
    const answer = (await response.json()) as {
      outcome: string;
      by: string;
      commands: Array<{ outcome: string }>;
    };
    assert.equal(response.status, 200, JSON.stringify(answer));
    assert.equal(answer.outcome, 'applied');
    assert.equal(answer.by, OPERATOR.username);
    assert.deepEqual(
      answer.commands.map((c) => c.outcome),
      ['released', 'released'],
    );
    assert.equal(await slot(MSO, 10), null);
    assert.equal(await slot(AO, 10), null);
    const log = readFileSync(join(userDir, 'prepay', 'loadcontrol-lc1-operator.jsonl'), 'utf8');
    assert.match(log, /"by":"olivia","account":"T1","action":"release","reason":"viewing by a new tenant"/);
    await sleep(2500); // a verification round: the release holds
    assert.equal(await slot(MSO, 10), null);

    const resumed = await post(token, { account: 'T1', action: 'resume', reason: 'viewing over' });
    assert.equal(resumed.status, 200);
    await eventually(async () => assert.equal(await slot(MSO, 10), '2'), 5000);
  });

  it('survives garbage datagrams to the client’s port', async () => {
    const sender = createSocket('udp4');
    let seed = 99;
    const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 2000; i++) {
      const length = 4 + Math.floor(random() * 40);
      const buf = Buffer.alloc(length);
      for (let j = 0; j < length; j++) buf[j] = Math.floor(random() * 256);
      buf[0] = 0x81;
      buf[1] = 0x0a;
      buf.writeUInt16BE(length, 2);
      if (length > 6) {
        buf[4] = 0x01;
        buf[5] = 0x00;
      }
      await new Promise<void>((resolve) => sender.send(buf, clientPort, '127.0.0.1', () => resolve()));
      if (i % 50 === 49) await sleep(5);
    }
    sender.close();
    await sleep(300);
    assert.equal(red!.child.exitCode, null, 'Node-RED still runs');
    assert.doesNotMatch(red!.log(), /uncaught|RangeError|ERR_OUT_OF_RANGE/i);
    await feed(red!, relay('T2', 'disconnect'));
    await eventually(async () => assert.equal(await slot(BO, 12), '0'), 5000);
  });

  it('leaves no command behind once the lease runs out after a SIGKILL, and asserts the wanted ones at the next start', async () => {
    assert.ok(pidOf(userDir), 'a watchdog guards the commands');
    await red!.kill('SIGKILL');
    const killedAt = Date.now();
    assert.equal(await slot(MSO, 10), '2', 'the commands outlive Node-RED for the lease at most');
    await eventually(
      async () => {
        assert.equal(await slot(MSO, 10), null);
        assert.equal(await slot(AO, 10), null);
        assert.equal(await slot(BO, 12), null);
      },
      LEASE_S * 1000 + 5000,
    );
    const gone = Date.now() - killedAt;
    assert.ok(gone >= LEASE_S * 1000 - 500, `relinquished ${gone} ms after the kill, not before the lease`);
    await eventually(async () => assert.equal(pidOf(userDir), undefined, 'the watchdog exits'), 5000);

    red = await NodeRedProcess.start({ userDir, settings });
    await eventually(async () => {
      assert.equal(await slot(MSO, 10), '2', 'T1 is still vacant: asserted again');
      assert.equal(await slot(BO, 12), '0', 'T2 is still cut');
    }, 8000);
  });

  it('relinquishes everything on a clean stop', async () => {
    await red!.stop();
    red = undefined;
    assert.equal(await slot(MSO, 10), null);
    assert.equal(await slot(AO, 10), null);
    assert.equal(await slot(BO, 12), null);
    const lease = JSON.parse(
      readFileSync(join(userDir, 'prepay', 'bacnet-client-bems1-lease.json'), 'utf8'),
    ) as {
      entries: unknown[];
    };
    assert.deepEqual(lease.entries, []);
    await eventually(async () => assert.equal(pidOf(userDir), undefined, 'the watchdog exits'), 5000);
  });
});
