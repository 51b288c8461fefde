/**
 * Alarms as BACnet events, over real UDP on loopback: intrinsic reporting on the credit state, the account alarm,
 * the meter registers (comm loss, suspect values) and the supplies (relay faults), notified to the Notification
 * Class's recipients (a second @bacnet-js/client decoding them, confirmed ones acknowledged), and read,
 * summarised and acknowledged by bacnet-stack's bacge, bacackalarm and bacrp, the independent side.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../dist/nodes/core/clock';
import { ObjectType, PropertyId as P } from '../../dist/nodes/core/bacnet/constants';
import type { Recipient, WallStamp } from '../../dist/nodes/core/bacnet/events';
import type { ModelChange, ModelInput, PointModel } from '../../dist/nodes/core/bacnet/model';
import { BacnetDeviceServer } from '../../dist/nodes/bacnet/device-server';
import { loopbackEnv, requireBacnetStack, runTool } from '../support/bacnet-stack';
import {
  DEVICE,
  account,
  freeUdpPort,
  modelOn,
  nextEvent,
  sleep,
  testClient,
  type TestClient,
} from './support';

const T0 = Date.UTC(2024, 9, 1, 9); // 10:00 in London (BST)

interface EventNotifyContent {
  header: { sender: { address: string } };
  invokeId?: number;
  service: number;
  payload: {
    processId: number;
    initiatingObjectId: { type: number; instance: number };
    eventObjectId: { type: number; instance: number };
    timeStamp: { type: number; value: Date };
    notificationClass: number;
    priority: number;
    eventType: number;
    messageText?: string;
    notifyType: number;
    ackRequired?: boolean;
    fromState?: number;
    toState: number;
  };
}

/** A stamp as bacackalarm takes it: 2024/10/01-10:00:00.00. */
function ascii(stamp: WallStamp): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${stamp.year}/${two(stamp.month)}/${two(stamp.day)}-${two(stamp.hour)}:${two(stamp.minute)}:${two(stamp.second)}.${two(stamp.hundredths)}`;
}

describe('bacnet alarms as events', function () {
  this.timeout(30_000);
  let clock: ManualClock;
  let model: PointModel;
  let server: BacnetDeviceServer;
  let port: number;
  let plain: TestClient;
  let confirming: TestClient;
  let silent: TestClient;
  let env: NodeJS.ProcessEnv;

  before(function () {
    requireBacnetStack(this);
  });

  beforeEach(async function () {
    port = await freeUdpPort();
    plain = await testClient(port);
    confirming = await testClient(port);
    silent = await testClient(port);
    // The confirming BEMS acknowledges every confirmed notification; the silent one never does.
    confirming.client.on('eventNotify', (content: unknown) => {
      const c = content as EventNotifyContent;
      if (c.invokeId !== undefined)
        confirming.client.simpleAckResponse(c.header.sender as never, c.service, c.invokeId);
    });
    const recipients: Recipient[] = [
      {
        host: '127.0.0.1',
        port: plain.port,
        processId: 7,
        confirmed: false,
        transitions: [true, true, true],
      },
      {
        host: '127.0.0.1',
        port: confirming.port,
        processId: 8,
        confirmed: true,
        transitions: [true, true, false],
      },
      {
        host: '127.0.0.1',
        port: silent.port,
        processId: 9,
        confirmed: true,
        transitions: [false, true, false],
      },
    ];
    clock = new ManualClock(T0);
    model = modelOn(clock, {
      device: { ...DEVICE, apduTimeoutMs: 300, apduRetries: 1 },
      notificationClass: { priority: [100, 80, 200], ackRequired: [true, true, false], recipients },
    });
    apply(account('T0001', 1200));
    apply({
      kind: 'reading',
      meterId: 'E-T0001',
      accountId: 'T0001',
      utility: 'electricity',
      unit: 'kWh',
      value: 100,
      quality: 'good',
    });
    server = new BacnetDeviceServer(model, { port, address: '127.0.0.1' });
    await server.start();
    env = loopbackEnv(await freeUdpPort(), port);
  });

  afterEach(async function () {
    await server?.stop();
    for (const c of [plain, confirming, silent]) c?.close();
  });

  /** What DeviceHost does with a message: apply it, then notify what changed and the event transitions. */
  function apply(input: ModelInput): ModelChange {
    const change = model.apply(input);
    server?.notify(change.changed, change.events);
    return change;
  }

  function creditState(): { type: number; instance: number } {
    const point = model.point('T0001.CreditState');
    assert.ok(point);
    return { type: point.type, instance: point.instance };
  }

  function bacrp(object: { type: number; instance: number }, property: number): Promise<string> {
    return runTool(
      'bacrp',
      [
        '--mac',
        `127.0.0.1:${port}`,
        '--dnet',
        '0',
        String(DEVICE.instance),
        String(object.type),
        String(object.instance),
        String(property),
      ],
      env,
    ).then((r) => (r.stdout + r.stderr).trim());
  }

  it('notifies low credit as an alarm, unconfirmed and confirmed, with the transition and its stamp', async function () {
    const heard = nextEvent<EventNotifyContent>(plain.client, 'eventNotify');
    const heardConfirmed = nextEvent<EventNotifyContent>(confirming.client, 'eventNotify');
    apply(account('T0001', 150, 'low'));
    const { payload } = await heard;
    assert.equal(payload.processId, 7);
    assert.deepEqual(payload.initiatingObjectId, { type: ObjectType.DEVICE, instance: DEVICE.instance });
    assert.deepEqual(payload.eventObjectId, creditState());
    assert.equal(payload.notificationClass, 1);
    assert.equal(payload.priority, 100);
    assert.equal(payload.eventType, 1, 'change-of-state');
    assert.equal(payload.notifyType, 0, 'alarm');
    assert.equal(payload.ackRequired, true);
    assert.equal(payload.fromState, 0, 'from normal');
    assert.equal(payload.toState, 2, 'to offnormal');
    assert.match(payload.messageText ?? '', /T0001\.CreditState to-offnormal/);
    // The local wall clock of the transition (London, summer time).
    const stamp = payload.timeStamp.value;
    assert.deepEqual(
      [stamp.getFullYear(), stamp.getMonth() + 1, stamp.getDate(), stamp.getHours(), stamp.getMinutes()],
      [2024, 10, 1, 10, 0],
    );
    const confirmed = await heardConfirmed;
    assert.equal(confirmed.payload.processId, 8);
    assert.ok(confirmed.invokeId !== undefined, 'a confirmed request');
    await sleep(200);
    assert.equal(server.stats().eventNotifications, 2, 'the silent recipient hears no to-offnormal');
    assert.equal(server.stats().eventFailures, 0);

    assert.match(await bacrp(creditState(), P.EVENT_STATE), /offnormal/i);
    assert.match(await bacrp(creditState(), P.ACKED_TRANSITIONS), /\{\s*false\s*,\s*true\s*,\s*true\s*\}/i);
    assert.match(
      await bacrp(creditState(), P.STATUS_FLAGS),
      /\{\s*true\s*,\s*false\s*,\s*false\s*,\s*false\s*\}/i,
    );
  });

  /** bacge's rows: device, object type, instance (it prints nothing else of use). */
  async function bacge(): Promise<Array<[number, number]>> {
    const { stdout } = await runTool('bacge', [String(DEVICE.instance)], env);
    const rows: Array<[number, number]> = [];
    for (const line of stdout.split('\n')) {
      const match = /^(\d+)\s+(\d+)\s+(\d+)\s+\S+/.exec(line);
      if (match && Number(match[1]) === DEVICE.instance) rows.push([Number(match[2]), Number(match[3])]);
    }
    return rows;
  }

  it('bacge lists what is in alarm; bacackalarm acknowledges it (a wrong stamp is refused); the BEMS hears so', async function () {
    apply(account('T0001', 0, 'exhausted'));
    const object = creditState();
    assert.deepEqual(
      await bacge(),
      [[object.type, object.instance]],
      'found by a broadcast Who-Is, then listed',
    );
    const stamp = model.point('T0001.CreditState')?.event?.stamps[0];
    assert.ok(stamp);
    const args = (at: string): string[] => [
      String(DEVICE.instance),
      '1',
      String(object.type),
      String(object.instance),
      '2', // offnormal
      at,
      'operator',
      ascii(stamp),
      '--mac',
      `127.0.0.1:${port}`,
    ];
    // bacackalarm prints nothing either way: the device's answers are counted instead.
    await runTool('bacackalarm', args('2024/10/01-09:00:00.00'), env);
    assert.equal(server.stats().errors, 1, 'refused: not the time of the transition');
    assert.match(await bacrp(object, P.ACKED_TRANSITIONS), /\{\s*false\s*,\s*true\s*,\s*true\s*\}/i);
    const ackHeard = nextEvent<EventNotifyContent>(
      plain.client,
      'eventNotify',
      2000,
      (c) => c.payload.notifyType === 2,
    );
    await runTool('bacackalarm', args(ascii(stamp)), env);
    const ack = await ackHeard;
    assert.deepEqual(ack.payload.eventObjectId, object);
    assert.equal(ack.payload.toState, 2);
    assert.equal(server.stats().errors, 1);
    assert.match(await bacrp(object, P.ACKED_TRANSITIONS), /\{\s*true\s*,\s*true\s*,\s*true\s*\}/i);
    // Acknowledged but still in alarm: still listed; back to normal (needing no acknowledgement): gone.
    assert.deepEqual(await bacge(), [[object.type, object.instance]]);
    const normal = nextEvent<EventNotifyContent>(
      plain.client,
      'eventNotify',
      2000,
      (c) => c.payload.toState === 0,
    );
    apply(account('T0001', 5000, 'ok'));
    const back = await normal;
    assert.equal(back.payload.fromState, 2);
    assert.equal(back.payload.ackRequired, false);
    assert.equal(back.payload.priority, 200);
    assert.deepEqual(await bacge(), []);
  });

  it('reports comm loss and relay faults as faults (change-of-reliability); a silent recipient counts as failed', async function () {
    const register = model.point('E-T0001.Register');
    assert.ok(register);
    const fault = nextEvent<EventNotifyContent>(
      plain.client,
      'eventNotify',
      2000,
      (c) =>
        c.payload.eventObjectId.instance === register.instance &&
        c.payload.eventObjectId.type === register.type,
    );
    const silentHeard = nextEvent<EventNotifyContent>(
      silent.client,
      'eventNotify',
      2000,
      (c) => c.payload.toState === 1,
    );
    // The meter reader's comm-loss event: the register's reliability and the account's alarm.
    apply({
      kind: 'meter-event',
      meterId: 'E-T0001',
      accountId: 'T0001',
      utility: 'electricity',
      type: 'comm-loss',
      alarm: true,
      text: 'no answer for 5 polls',
    });
    const { payload } = await fault;
    assert.equal(payload.eventType, 19, 'change-of-reliability');
    assert.equal(payload.toState, 1, 'fault');
    assert.equal(payload.priority, 80);
    await silentHeard;
    assert.match(await bacrp(register, P.EVENT_STATE), /fault/i);
    // The account's alarm point goes into alarm with it (change-of-state).
    const alarm = model.point('T0001.Alarm');
    assert.ok(alarm);
    assert.match(await bacrp(alarm, P.EVENT_STATE), /offnormal/i);
    const listed = await bacge();
    assert.ok(
      listed.some(([t, i]) => t === register.type && i === register.instance),
      JSON.stringify(listed),
    );
    assert.ok(
      listed.some(([t, i]) => t === alarm.type && i === alarm.instance),
      JSON.stringify(listed),
    );
    // The silent BEMS never acknowledges: sent again once (APDU retries 1), then counted as failed.
    await sleep(900);
    assert.ok(server.stats().eventFailures >= 1, JSON.stringify(server.stats()));

    // A relay that does not confirm: the supply point's fault.
    apply({
      kind: 'relay',
      meterId: 'E-T0001',
      accountId: 'T0001',
      utility: 'electricity',
      action: 'connect',
    });
    const supply = model.point('T0001.Electricity.Supply');
    assert.ok(supply);
    const relay = nextEvent<EventNotifyContent>(
      plain.client,
      'eventNotify',
      2000,
      (c) =>
        c.payload.eventObjectId.instance === supply.instance && c.payload.eventObjectId.type === supply.type,
    );
    apply({
      kind: 'cutoff-alarm',
      meterId: 'E-T0001',
      accountId: 'T0001',
      type: 'relay-not-confirming',
      alarm: true,
      text: 'relay did not confirm',
    });
    assert.equal((await relay).payload.toState, 1);
  });

  it('answers GetAlarmSummary and GetEventInformation as @bacnet-js/client decodes them', async function () {
    apply(account('T0001', 150, 'low'));
    const object = creditState();
    const receiver = { address: `127.0.0.1:${port}` };
    const summary = await plain.client.getAlarmSummary(receiver);
    assert.deepEqual(
      summary.map((a) => [a.objectId.type, a.objectId.instance, a.alarmState]),
      [[object.type, object.instance, 2]],
    );
    const information = await plain.client.getEventInformation(receiver);
    assert.equal(information.length, 1);
    const [event] = information;
    assert.deepEqual(event?.objectId, object);
    assert.equal(event?.eventState, 2);
    // The library's bit strings count from the least significant bit: to-fault and to-normal acknowledged.
    assert.deepEqual(event?.acknowledgedTransitions, { value: [0b110], bitsUsed: 3 });
    assert.deepEqual(event?.eventPriorities, [100, 80, 200]);
    assert.equal(event?.notifyType, 0);
  });
});
