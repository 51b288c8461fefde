/**
 * How a BEMS subscribes to the device's alarms, over real UDP on loopback: bacnet-stack's bacwp writes the
 * Notification Class's whole Recipient_List and bacrp reads it back; AddListElement and RemoveListElement (as
 * BEMS front-ends add themselves) come as exact octets from a raw socket that then hears, or no longer hears, the
 * EventNotifications; bad encodings get the right Error or Reject, and truncated requests never crash the device.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../dist/nodes/core/clock';
import { PropertyId as P } from '../../dist/nodes/core/bacnet/constants';
import type { ModelChange, ModelInput, PointModel } from '../../dist/nodes/core/bacnet/model';
import { BacnetDeviceServer } from '../../dist/nodes/bacnet/device-server';
import { loopbackEnv, requireBacnetStack, runTool } from '../support/bacnet-stack';
import {
  ADD_LIST_ELEMENT,
  REMOVE_LIST_ELEMENT,
  destination,
  listRequest,
  rawPeer,
  serviceOf,
  type RawPeer,
} from './list-support';
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

const T0 = Date.UTC(2024, 9, 1, 9); // Tuesday 10:00 in London (BST)

interface EventNotifyContent {
  payload: { processId: number; toState: number };
}

/** bacnet-stack's text form of a BACnetDestination to 127.0.0.1:`port`, every day, all day. */
function asciiDestination(port: number, processId: number, confirmed = false): string {
  const hex = (n: number): string => n.toString(16).padStart(2, '0');
  return (
    `(ValidDays=[1,2,3,4,5,6,7];FromTime=0:00:00.0;ToTime=23:59:59.99;` +
    `Recipient=Address(net=0,mac=7f:00:00:01:${hex(port >> 8)}:${hex(port & 0xff)});` +
    `ProcessIdentifier=${processId};ConfirmedNotify=${confirmed};Transitions=[to-offnormal,to-fault,to-normal])`
  );
}

/** The process identifier of an UnconfirmedEventNotification (its first parameter, [0]). */
function processOf(datagram: Buffer): number {
  const apdu = datagram.subarray(6);
  const length = (apdu[2] as number) & 0x07;
  let n = 0;
  for (let i = 0; i < length; i++) n = n * 256 + (apdu[3 + i] as number);
  return n;
}

const isEvent = (d: Buffer): boolean => {
  const { pduType, service } = serviceOf(d);
  return pduType === 1 && service === 3;
};

describe('bacnet alarm recipients written by a BEMS', function () {
  this.timeout(30_000);
  let clock: ManualClock;
  let model: PointModel;
  let server: BacnetDeviceServer;
  let port: number;
  let configured: TestClient;
  let env: NodeJS.ProcessEnv;
  let audit: string[];
  let balance: number;

  before(function () {
    requireBacnetStack(this);
  });

  async function startDevice(recipientWrites: boolean): Promise<void> {
    port = await freeUdpPort();
    configured = await testClient(port);
    clock = new ManualClock(T0);
    model = modelOn(clock, {
      recipientWrites,
      notificationClass: {
        priority: [100, 80, 200],
        ackRequired: [true, true, false],
        recipients: [
          {
            host: '127.0.0.1',
            port: configured.port,
            processId: 7,
            confirmed: false,
            transitions: [true, true, true],
          },
        ],
      },
    });
    balance = 1200;
    apply(account('T0001', balance));
    server = new BacnetDeviceServer(model, { port, address: '127.0.0.1' });
    audit = [];
    server.on('recipients', (by: string, text: string) => audit.push(`${by}: ${text}`));
    await server.start();
    env = loopbackEnv(await freeUdpPort(), port);
  }

  afterEach(async function () {
    await server?.stop();
    configured?.close();
  });

  function apply(input: ModelInput): ModelChange {
    const change = model.apply(input);
    server?.notify(change.changed, change.events);
    return change;
  }

  /** Credit goes low and back: a to-offnormal and a to-normal transition, each notified. */
  async function alarmAndBack(): Promise<void> {
    balance += 1;
    apply(account('T0001', 100, 'low'));
    await sleep(150);
    apply(account('T0001', balance));
    await sleep(150);
  }

  async function bacrp(property: number): Promise<string> {
    const r = await runTool(
      'bacrp',
      ['--mac', `127.0.0.1:${port}`, '--dnet', '0', String(DEVICE.instance), '15', '1', String(property)],
      env,
    );
    return (r.stdout + r.stderr).trim();
  }

  async function bacwp(...values: string[]): Promise<string> {
    const r = await runTool(
      'bacwp',
      [
        '--mac',
        `127.0.0.1:${port}`,
        '--dnet',
        '0',
        String(DEVICE.instance),
        'notification-class',
        '1',
        'recipient-list',
        '0',
        '-1',
        ...values,
      ],
      env,
    );
    return (r.stdout + r.stderr).trim();
  }

  it('takes a whole Recipient_List written by bacwp: the BEMS it names hears the alarms, the flow recipient stays', async function () {
    await startDevice(true);
    const bems = await testClient(port);
    try {
      const written = await bacwp('-1', asciiDestination(bems.port, 5));
      assert.doesNotMatch(written, /error|reject|abort/i, written);
      const list = await bacrp(P.RECIPIENT_LIST);
      assert.match(list, /ProcessIdentifier=7/, list);
      assert.match(list, /ProcessIdentifier=5/, list);
      assert.ok(list.indexOf('ProcessIdentifier=7') < list.indexOf('ProcessIdentifier=5'), 'the flow first');
      assert.equal(audit.length, 1);
      assert.match(
        audit[0] ?? '',
        new RegExp(`^bacnet:127\\.0\\.0\\.1:\\d+: added 127\\.0\\.0\\.1:${bems.port}/5`),
      );

      const heard = nextEvent<EventNotifyContent>(bems.client, 'eventNotify');
      const heardConfigured = nextEvent<EventNotifyContent>(configured.client, 'eventNotify');
      apply(account('T0001', 100, 'low'));
      assert.equal((await heard).payload.processId, 5);
      assert.equal((await heardConfigured).payload.processId, 7);

      // A list that leaves out both: the BEMS goes, the flow's recipient stays (only the flow removes it).
      const other = await freeUdpPort();
      assert.doesNotMatch(await bacwp('-1', asciiDestination(other, 11)), /error/i);
      const after = await bacrp(P.RECIPIENT_LIST);
      assert.match(after, /ProcessIdentifier=7/, after);
      assert.match(after, /ProcessIdentifier=11/, after);
      assert.doesNotMatch(after, /ProcessIdentifier=5\b/, after);
      let late = false;
      bems.client.on('eventNotify', () => (late = true));
      const back = nextEvent<EventNotifyContent>(configured.client, 'eventNotify');
      apply(account('T0001', 5000));
      assert.equal((await back).payload.toState, 0);
      await sleep(200);
      assert.equal(late, false, 'a removed BEMS hears nothing more');
    } finally {
      bems.close();
    }
  });

  it('refuses what is not a BACnetDestination it can reach, with the error bacwp prints', async function () {
    await startDevice(true);
    assert.match(await bacwp('2', '5'), /invalid-data-type/i);
    const device = asciiDestination(47808, 3).replace(
      /Recipient=Address\([^)]*\)/,
      'Recipient=Device(type=8,instance=15)',
    );
    assert.match(await bacwp('-1', device), /optional-functionality-not-supported/i);
    const remote = asciiDestination(47808, 3).replace('net=0', 'net=5');
    assert.match(await bacwp('-1', remote), /optional-functionality-not-supported/i);
    assert.equal(model.events.recipients.all().length, 1, 'nothing changed');
    assert.deepEqual(audit, []);
  });

  it('adds and removes recipients element by element (AddListElement, RemoveListElement), all or nothing', async function () {
    await startDevice(true);
    const bems: RawPeer = await rawPeer();
    try {
      const me = destination({ port: bems.port, processId: 9 });
      assert.deepEqual(await bems.ask(listRequest(ADD_LIST_ELEMENT, 1, [me]), port), { kind: 'ack' });
      assert.deepEqual(
        await bems.ask(listRequest(ADD_LIST_ELEMENT, 2, [me]), port),
        { kind: 'ack' },
        'again',
      );
      assert.equal(model.events.recipients.all().length, 2, 'listed once');
      assert.match(await bacrp(P.RECIPIENT_LIST), /ProcessIdentifier=9/);

      const event = bems.next(2000, isEvent);
      apply(account('T0001', 100, 'low'));
      assert.equal(processOf(await event), 9);
      apply(account('T0001', 5000));
      await sleep(200);

      // Errors name the first failed element; nothing changes.
      const stranger = destination({ port: 1, processId: 1 });
      const flow = destination({ port: configured.port, processId: 7 });
      assert.deepEqual(await bems.ask(listRequest(REMOVE_LIST_ELEMENT, 3, [me, stranger]), port), {
        kind: 'error',
        errorClass: 5,
        code: 81, // list-element-not-found
        element: 2,
      });
      assert.deepEqual(await bems.ask(listRequest(REMOVE_LIST_ELEMENT, 4, [flow]), port), {
        kind: 'error',
        errorClass: 2,
        code: 40, // write-access-denied: the flow's recipient
        element: 1,
      });
      const shortMac = destination({ port: 1, processId: 2, mac: [127, 0, 0, 1] });
      assert.deepEqual(await bems.ask(listRequest(ADD_LIST_ELEMENT, 5, [stranger, shortMac]), port), {
        kind: 'error',
        errorClass: 2,
        code: 37, // value-out-of-range
        element: 2,
      });
      assert.deepEqual(await bems.ask(listRequest(ADD_LIST_ELEMENT, 6, [[0x21, 0x05]]), port), {
        kind: 'error',
        errorClass: 2,
        code: 9, // invalid-data-type
        element: 1,
      });
      assert.deepEqual(await bems.ask(listRequest(ADD_LIST_ELEMENT, 7, [me], { index: 1 }), port), {
        kind: 'error',
        errorClass: 2,
        code: 50, // property-is-not-an-array
        element: 0,
      });
      assert.deepEqual(
        await bems.ask(
          listRequest(ADD_LIST_ELEMENT, 8, [me], { type: 8, instance: DEVICE.instance, property: 76 }),
          port,
        ),
        { kind: 'error', errorClass: 2, code: 40, element: 0 },
      );
      assert.deepEqual(await bems.ask(listRequest(ADD_LIST_ELEMENT, 9, [me], { instance: 2 }), port), {
        kind: 'error',
        errorClass: 1,
        code: 31, // unknown-object
        element: 0,
      });
      assert.equal(model.events.recipients.all().length, 2, 'nothing changed');

      // A recipient for Sundays only hears nothing on a Tuesday.
      const sundays = await rawPeer();
      try {
        const sunday = destination({
          port: sundays.port,
          processId: 4,
          days: [false, false, false, false, false, false, true],
        });
        assert.deepEqual(await bems.ask(listRequest(ADD_LIST_ELEMENT, 10, [sunday]), port), { kind: 'ack' });
        assert.match(await bacrp(P.RECIPIENT_LIST), /ValidDays=\[7\]/);
        // Removed: no more notifications to the BEMS.
        assert.deepEqual(await bems.ask(listRequest(REMOVE_LIST_ELEMENT, 11, [me]), port), { kind: 'ack' });
        const before = bems.heard.filter(isEvent).length;
        await alarmAndBack();
        assert.equal(bems.heard.filter(isEvent).length, before);
        assert.equal(sundays.heard.filter(isEvent).length, 0);
      } finally {
        sundays.close();
      }
      assert.equal(audit.length, 3, audit.join('\n'));
      assert.match(audit[2] ?? '', new RegExp(`removed 127\\.0\\.0\\.1:${bems.port}/9`));
    } finally {
      bems.close();
    }
  });

  it('rejects every truncation of a request, and keeps answering', async function () {
    await startDevice(true);
    const bems = await rawPeer();
    try {
      const whole = listRequest(ADD_LIST_ELEMENT, 20, [destination({ port: bems.port, processId: 9 })]);
      // From the service's first parameter to one octet short of the end.
      for (let end = 10; end < whole.length; end++) {
        const cut = Buffer.from(whole.subarray(0, end));
        cut.writeUInt16BE(end, 2);
        const answer = await bems.ask(cut, port);
        assert.equal(answer.kind, 'reject', `cut at ${end}: ${JSON.stringify(answer)}`);
      }
      assert.equal(model.events.recipients.all().length, 1);
      assert.match(await bacrp(P.OBJECT_NAME), /prepay-test\.Alarms/);
    } finally {
      bems.close();
    }
  });

  it('answers 3,000 corrupted list requests with an ack, an error or a reject, never a throw', async function () {
    await startDevice(true);
    const bems = await rawPeer();
    try {
      const whole = listRequest(ADD_LIST_ELEMENT, 30, [
        destination({ port: bems.port, processId: 9 }),
        destination({ port: bems.port, processId: 10, days: [true, false, true, false, true, false, true] }),
      ]);
      let seed = 20_241_001;
      const random = (n: number): number => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed % n;
      };
      const services = [ADD_LIST_ELEMENT, REMOVE_LIST_ELEMENT, 15];
      for (let i = 0; i < 3000; i++) {
        // The frame and the request's header stay sound: every octet of the service's parameters may change.
        const bad = Buffer.from(whole);
        bad[9] = services[i % 3] as number;
        for (let flips = 1 + random(3); flips > 0; flips--) bad[10 + random(bad.length - 10)] = random(256);
        bems.socket.send(bad, port, '127.0.0.1');
        // Small bursts: loopback drops datagrams beyond the socket's buffer, and every one should arrive.
        if (i % 20 === 19) await sleep(5);
      }
      await sleep(300);
      const stats = server.stats();
      assert.ok(stats.received >= 2990, `${stats.received} of 3000 arrived`);
      assert.equal(stats.malformed, 0, 'nothing thrown while handling them');
      assert.ok(stats.rejected + stats.errors > 0, JSON.stringify(stats));
      // Whatever was accepted is a sound list, read back whole by bacrp.
      assert.ok(model.events.recipients.all().length <= 33);
      assert.match(await bacrp(P.RECIPIENT_LIST), /ProcessIdentifier=7/);
    } finally {
      bems.close();
    }
  });

  it('refuses every change when the device does not allow BEMS subscriptions', async function () {
    await startDevice(false);
    const bems = await rawPeer();
    try {
      assert.match(await bacwp('-1', asciiDestination(bems.port, 5)), /write-access-denied/i);
      assert.deepEqual(
        await bems.ask(
          listRequest(ADD_LIST_ELEMENT, 1, [destination({ port: bems.port, processId: 9 })]),
          port,
        ),
        { kind: 'error', errorClass: 2, code: 40, element: 0 },
      );
      assert.equal(model.events.recipients.all().length, 1);
    } finally {
      bems.close();
    }
  });
});
