/**
 * Alarm state a BEMS can trust across a restart, in Node-RED (node-red-node-test-helper, one user directory kept
 * between two loads of the flow): a BEMS adds itself to the recipients, hears two alarms and acknowledges one
 * with bacnet-stack's bacackalarm; after the restart bacrp still reads the acknowledged one acknowledged and the
 * other not, bacge and GetAlarmSummary still list both, the BEMS is still a recipient and hears nothing again;
 * a state that changed while the device was down is notified once, as a new transition.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PropertyId as P } from '../../dist/nodes/core/bacnet/constants';
import type { WallStamp } from '../../dist/nodes/core/bacnet/events';
import type { DeviceHost } from '../../dist/nodes/bacnet/device-host';
import { loopbackEnv, requireBacnetStack, runTool } from '../support/bacnet-stack';
import { helper, loadBuiltNode, startServer, stopServer, tempUserDir } from '../support/node-red-helper';
import { ADD_LIST_ELEMENT, destination, listRequest, rawPeer, serviceOf, type RawPeer } from './list-support';
import { freeUdpPort, nextEvent, sleep, testClient, type TestClient } from './support';

const deviceNode = loadBuiltNode('bacnet/prepay-bacnet-device.js');
const bacnetNode = loadBuiltNode('bacnet/prepay-bacnet.js');
const INSTANCE = 4130;

function flow(port: number, recipientPort: number): Array<Record<string, unknown>> {
  return [
    {
      id: 'dev',
      type: 'prepay-bacnet-device',
      deviceInstance: String(INSTANCE),
      deviceInstanceType: 'num',
      deviceName: 'prepay-restart-events',
      port: String(port),
      portType: 'num',
      address: '127.0.0.1',
      timeZone: 'Europe/London',
      recipients: `127.0.0.1:${recipientPort}/5`,
      recipientWrites: true,
    },
    { id: 'bac', type: 'prepay-bacnet', device: 'dev', wires: [[]] },
  ];
}

const state = (accountId: string, s: string, pence: number) => ({
  payload: { accountId, state: s, balance: pence, available: pence, currency: 'GBP', changedAt: Date.now() },
});

/** A stamp as bacackalarm takes it: 2024/10/01-10:00:00.00. */
function ascii(stamp: WallStamp): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${stamp.year}/${two(stamp.month)}/${two(stamp.day)}-${two(stamp.hour)}:${two(stamp.minute)}:${two(stamp.second)}.${two(stamp.hundredths)}`;
}

const isEvent = (d: Buffer): boolean => {
  const { pduType, service } = serviceOf(d);
  return pduType === 1 && service === 3;
};

interface LoggingNode {
  on(event: 'call:log', handler: (call: { args: unknown[] }) => void): void;
}

interface EventNotifyContent {
  payload: { eventObjectId: { type: number; instance: number }; fromState?: number; toState: number };
}

describe('bacnet alarm state across a Node-RED restart', function () {
  this.timeout(60_000);
  let port: number;
  let userDir: string;
  let configured: TestClient;
  let bems: RawPeer;
  let env: NodeJS.ProcessEnv;

  before(function () {
    requireBacnetStack(this);
  });

  beforeEach(async () => {
    userDir = tempUserDir();
    helper.settings({ userDir });
    port = await freeUdpPort();
    configured = await testClient(port);
    bems = await rawPeer();
    env = loopbackEnv(await freeUdpPort(), port);
  });

  afterEach(async () => {
    configured.close();
    bems.close();
    await helper.unload();
    await stopServer();
    helper.settings({});
  });

  async function start(): Promise<DeviceHost> {
    await startServer();
    await helper.load([deviceNode, bacnetNode], flow(port, configured.port));
    const dev = helper.getNode('dev') as unknown as { host?: DeviceHost };
    for (let i = 0; i < 200 && dev.host?.state !== 'up'; i++) await sleep(25);
    assert.equal(dev.host?.state, 'up');
    return dev.host as DeviceHost;
  }

  async function stop(): Promise<void> {
    await helper.unload();
    await stopServer();
  }

  async function bacrp(object: { type: number; instance: number }, property: number): Promise<string> {
    const r = await runTool(
      'bacrp',
      [
        '--mac',
        `127.0.0.1:${port}`,
        '--dnet',
        '0',
        String(INSTANCE),
        String(object.type),
        String(object.instance),
        String(property),
      ],
      env,
    );
    return (r.stdout + r.stderr).trim();
  }

  /** bacge's rows: object type and instance of each object it lists for the device. */
  async function bacge(): Promise<string[]> {
    const { stdout } = await runTool('bacge', [String(INSTANCE)], env);
    const rows: string[] = [];
    for (const line of stdout.split('\n')) {
      const match = /^(\d+)\s+(\d+)\s+(\d+)\s+\S+/.exec(line);
      if (match && Number(match[1]) === INSTANCE) rows.push(`${match[2]}:${match[3]}`);
    }
    return rows.sort();
  }

  /** bacackalarm: the to-offnormal transition of `object` that happened at `stamp`. */
  async function acknowledge(object: { type: number; instance: number }, stamp: WallStamp): Promise<void> {
    await runTool(
      'bacackalarm',
      [
        String(INSTANCE),
        '1',
        String(object.type),
        String(object.instance),
        '2',
        ascii(stamp),
        'operator',
        ascii(stamp),
        '--mac',
        `127.0.0.1:${port}`,
      ],
      env,
    );
  }

  it('keeps acknowledgements, unacknowledged alarms and BEMS-added recipients; reports what changed while down', async () => {
    let host = await start();
    const logs: string[] = [];
    (helper.getNode('dev') as unknown as LoggingNode).on('call:log', (call) =>
      logs.push(String(call.args[0])),
    );
    // The BEMS adds itself (AddListElement), logged with its address; then two tenants' credit goes into alarm.
    const me = destination({ port: bems.port, processId: 9 });
    assert.deepEqual(await bems.ask(listRequest(ADD_LIST_ELEMENT, 1, [me]), port), { kind: 'ack' });
    assert.ok(
      logs.some((line) =>
        line.startsWith(
          `alarm recipients changed by bacnet:127.0.0.1:${bems.port}: added 127.0.0.1:${bems.port}/9 unconfirmed`,
        ),
      ),
      logs.join('\n'),
    );
    const bac = helper.getNode('bac');
    bac.receive(state('T0412', 'exhausted', 0));
    bac.receive(state('T0413', 'low', 150));
    for (let i = 0; i < 100 && bems.heard.filter(isEvent).length < 2; i++) await sleep(20);
    assert.equal(bems.heard.filter(isEvent).length, 2, 'the BEMS hears both alarms');
    const exhausted = host.model.point('T0412.CreditState');
    const low = host.model.point('T0413.CreditState');
    assert.ok(exhausted?.event?.stamps[0] && low);
    const a = { type: exhausted.type, instance: exhausted.instance };
    const b = { type: low.type, instance: low.instance };

    // The BEMS acknowledges T0412's alarm (bacackalarm), not T0413's.
    await acknowledge(a, exhausted.event.stamps[0]);
    assert.match(await bacrp(a, P.ACKED_TRANSITIONS), /\{\s*true\s*,\s*true\s*,\s*true\s*\}/i);
    await stop();

    // 1. Restarted: the same event states, acknowledgements and recipients; nothing notified again.
    const heardBefore = bems.heard.filter(isEvent).length;
    host = await start();
    assert.match(await bacrp(a, P.EVENT_STATE), /offnormal/i);
    assert.match(await bacrp(a, P.ACKED_TRANSITIONS), /\{\s*true\s*,\s*true\s*,\s*true\s*\}/i, 'still acked');
    assert.match(await bacrp(b, P.EVENT_STATE), /offnormal/i);
    assert.match(
      await bacrp(b, P.ACKED_TRANSITIONS),
      /\{\s*false\s*,\s*true\s*,\s*true\s*\}/i,
      'still unacked',
    );
    assert.deepEqual(await bacge(), [`${a.type}:${a.instance}`, `${b.type}:${b.instance}`].sort());
    const summary = await configured.client.getAlarmSummary({ address: `127.0.0.1:${port}` });
    assert.deepEqual(
      summary.map((s) => [s.objectId.instance, s.alarmState, s.acknowledgedTransitions.value[0]]).sort(),
      [
        // The library's bit strings count from the least significant bit.
        [a.instance, 2, 0b111],
        [b.instance, 2, 0b110],
      ].sort(),
    );
    const recipients = await bacrp({ type: 15, instance: 1 }, P.RECIPIENT_LIST);
    assert.match(recipients, /ProcessIdentifier=5/, recipients);
    assert.match(recipients, /ProcessIdentifier=9/, 'the BEMS added over BACnet is back');
    assert.deepEqual(
      host.model.eventsSnapshot().recipients.map((r) => r.processId),
      [9],
    );
    await sleep(300);
    assert.equal(bems.heard.filter(isEvent).length, heardBefore, 'no alarm notified twice');
    await stop();

    // 2. T0413's credit was restored while the device was down (its last values say ok): a new transition.
    const valuesPath = join(userDir, 'prepay', `bacnet-device-${INSTANCE}-values.json`);
    const values = JSON.parse(readFileSync(valuesPath, 'utf8')) as { points: Record<string, { v: number }> };
    assert.equal(values.points['T0413.CreditState']?.v, 2);
    values.points['T0413.CreditState']!.v = 1;
    writeFileSync(valuesPath, JSON.stringify(values));
    const normal = nextEvent<EventNotifyContent>(configured.client, 'eventNotify', 5000);
    host = await start();
    const { payload } = await normal;
    assert.deepEqual(payload.eventObjectId, b);
    assert.equal(payload.fromState, 2);
    assert.equal(payload.toState, 0);
    await sleep(300);
    assert.equal(bems.heard.filter(isEvent).length, heardBefore + 1, 'only that transition, to the BEMS too');
    assert.match(await bacrp(b, P.EVENT_STATE), /normal/i);
    // Back to normal, its alarm still waits for an acknowledgement: listed by bacge, not in the alarm summary.
    assert.deepEqual(await bacge(), [`${a.type}:${a.instance}`, `${b.type}:${b.instance}`].sort());
    const after = await configured.client.getAlarmSummary({ address: `127.0.0.1:${port}` });
    assert.deepEqual(
      after.map((s) => s.objectId.instance),
      [a.instance],
    );
    // Its alarm's stamp is still the one from before both restarts: the BEMS acknowledges it late.
    const lowStamp = host.model.point('T0413.CreditState')?.event?.stamps[0];
    assert.ok(lowStamp);
    await acknowledge(b, lowStamp);
    assert.deepEqual(await bacge(), [`${a.type}:${a.instance}`]);
  });
});
