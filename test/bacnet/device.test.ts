/**
 * The device on loopback (nodes/bacnet/device-server.ts), spoken to by a second @bacnet-js/client instance on
 * another port, and by raw datagrams where the bytes on the wire are the point: discovery, the object list whole
 * (segmented) and by index, ReadPropertyMultiple with ALL/REQUIRED/OPTIONAL, errors, aborts and rejects, writes
 * refused and overrides accepted, COV notifications, Who-Has, the database revision, and routed requests.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import * as Bacnet from '@bacnet-js/client';
import { ManualClock } from '../../dist/nodes/core/clock';
import { ObjectType, PropertyId as P } from '../../dist/nodes/core/bacnet/constants';
import type { ModelInput, OverrideCommand, PointModel } from '../../dist/nodes/core/bacnet/model';
import { BacnetDeviceServer } from '../../dist/nodes/bacnet/device-server';
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

const ARRAY_ALL = 0xffffffff;
const T0 = Date.UTC(2024, 9, 1, 9);

function populate(model: PointModel, accounts: number): void {
  for (let i = 0; i < accounts; i++) {
    const id = `T${String(i + 1).padStart(4, '0')}`;
    model.apply(account(id, 1000 + i, 'ok', { daysLeft: 10 }));
    const c: ModelInput = {
      kind: 'consumption',
      meterId: `E-${id}`,
      accountId: id,
      utility: 'electricity',
      unit: 'kWh',
      value: 5000 + i,
      delta: '0.5',
      to: T0,
    };
    model.apply(c);
    model.apply({ kind: 'relay', meterId: `E-${id}`, action: 'connect' });
  }
}

/** A raw UDP socket on loopback, for exact bytes. */
async function rawSocket(): Promise<{ socket: Socket; next(ms?: number): Promise<Buffer>; close(): void }> {
  const socket = createSocket('udp4');
  const queue: Buffer[] = [];
  const waiting: Array<(b: Buffer) => void> = [];
  socket.on('message', (m: Buffer) => {
    const w = waiting.shift();
    if (w) w(m);
    else queue.push(m);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return {
    socket,
    next: (ms = 1000) =>
      new Promise((resolve, reject) => {
        const queued = queue.shift();
        if (queued) return resolve(queued);
        const timer = setTimeout(() => reject(new Error('no answer')), ms);
        waiting.push((b) => {
          clearTimeout(timer);
          resolve(b);
        });
      }),
    close: () => socket.close(),
  };
}

/** BVLC Original-Unicast + NPDU (expecting reply) + APDU. */
function frame(apdu: number[], npdu: number[] = [0x01, 0x04]): Buffer {
  const body = [...npdu, ...apdu];
  return Buffer.from([0x81, 0x0a, (body.length + 4) >> 8, (body.length + 4) & 0xff, ...body]);
}

describe('bacnet device on loopback', function () {
  this.timeout(30_000);
  let model: PointModel;
  let server: BacnetDeviceServer;
  let port: number;
  let peer: TestClient;
  let address: { address: string };
  const clock = new ManualClock(T0);
  const device = { type: ObjectType.DEVICE, instance: DEVICE.instance };

  before(async () => {
    model = modelOn(clock);
    populate(model, 2000);
    port = await freeUdpPort();
    server = new BacnetDeviceServer(model, { port, address: '127.0.0.1' });
    await server.start();
    peer = await testClient(port);
    address = { address: `127.0.0.1:${port}` };
  });

  after(async () => {
    peer.close();
    await server.stop();
  });

  it('is discovered by Who-Is from a client on another port, broadcast or direct, within instance ranges', async () => {
    assert.notEqual(peer.port, 47808);
    const heard = nextEvent<{ payload: Record<string, number> }>(peer.client, 'iAm');
    peer.client.whoIs(); // broadcast: our broadcast address carries the device's port
    const iAm = await heard;
    assert.deepEqual(
      { ...iAm.payload, len: undefined },
      { len: undefined, deviceId: DEVICE.instance, maxApdu: 1476, segmentation: 1, vendorId: 0 },
    );
    const direct = nextEvent(peer.client, 'iAm');
    peer.client.whoIs(address, { lowLimit: 4000, highLimit: 4200 });
    await direct;
    const none = nextEvent(peer.client, 'iAm', 400);
    peer.client.whoIs({ lowLimit: 1, highLimit: 4119 });
    await assert.rejects(none, /no iAm/);
  });

  it('reads object-list[0], object-list[i] and the whole list of more than 10,000 objects (segmented)', async () => {
    const list = model.objectList();
    assert.ok(list.length > 10_000, `${list.length} objects`);
    const count = await peer.client.readProperty(address, device, P.OBJECT_LIST, { arrayIndex: 0 });
    assert.deepEqual(count.values, [{ type: 2, value: list.length }]);
    const fifth = await peer.client.readProperty(address, device, P.OBJECT_LIST, { arrayIndex: 5 });
    assert.deepEqual(fifth.values[0]?.value, { type: list[4]!.type, instance: list[4]!.instance });
    await assert.rejects(
      peer.client.readProperty(address, device, P.OBJECT_LIST, { arrayIndex: list.length + 1 }),
      /Class:2 - Code:42/,
    );
    const segmentsBefore = server.stats().segments;
    const whole = await peer.client.readProperty(address, device, P.OBJECT_LIST);
    assert.deepEqual(
      whole.values.map((v) => v.value as { type: number; instance: number }),
      list.map((r) => ({ type: r.type, instance: r.instance })),
    );
    assert.ok(server.stats().segments - segmentsBefore >= Math.ceil((list.length * 5) / 1471));
    // The wildcard device instance 4194303 means this device.
    const name = await peer.client.readProperty(address, { type: 8, instance: 4194303 }, P.OBJECT_NAME);
    assert.equal(name.values[0]?.value, DEVICE.name);
  });

  it('reads every point of an account in one ReadPropertyMultiple, with ALL, REQUIRED and OPTIONAL', async () => {
    const points = model.pointsList().filter((p) => p.accountId === 'T0412');
    assert.deepEqual(points.map((p) => p.name).sort(), [
      'T0412.Alarm',
      'T0412.Available',
      'T0412.Balance',
      'T0412.CreditState',
      'T0412.DaysLeft',
      'T0412.Electricity.ConsumptionToday',
      'T0412.Electricity.Override',
      'T0412.Electricity.Supply',
    ]);
    const result = await peer.client.readPropertyMultiple(
      address,
      points.map((p) => ({
        objectId: { type: p.type, instance: p.instance },
        properties: [
          { id: P.OBJECT_NAME, index: ARRAY_ALL },
          { id: P.PRESENT_VALUE, index: ARRAY_ALL },
          { id: P.STATUS_FLAGS, index: ARRAY_ALL },
        ],
      })),
    );
    const read = new Map(
      result.values.map((o) => [
        o.values[0]!.value[0]!.value as string,
        o.values.map((v) => v.value[0]!.value),
      ]),
    );
    assert.equal(read.get('T0412.Balance')?.[1], Math.fround(14.11)); // 1000 + 411 pence
    assert.equal(read.get('T0412.CreditState')?.[1], 1);
    assert.equal(read.get('T0412.Electricity.Supply')?.[1], 1);
    assert.equal(read.get('T0412.Electricity.ConsumptionToday')?.[1], 0.5);
    assert.equal(read.get('T0412.DaysLeft')?.[1], 10);
    for (const values of read.values()) assert.deepEqual(values[2], { value: [0], bitsUsed: 4 });
    const balance = points.find((p) => p.name === 'T0412.Balance')!;
    const [all] = (
      await peer.client.readPropertyMultiple(address, [
        {
          objectId: { type: balance.type, instance: balance.instance },
          properties: [{ id: P.ALL, index: ARRAY_ALL }],
        },
      ])
    ).values;
    assert.deepEqual(
      all!.values.map((v) => v.id),
      [75, 77, 79, 85, 111, 36, 81, 117, 371, 28, 103, 22],
    );
    const [required, optional] = (
      await peer.client.readPropertyMultiple(address, [
        { objectId: device, properties: [{ id: P.REQUIRED, index: ARRAY_ALL }] },
        { objectId: device, properties: [{ id: P.OPTIONAL, index: ARRAY_ALL }] },
      ])
    ).values;
    assert.equal(required!.values.length, 24);
    assert.deepEqual(
      optional!.values.map((v) => v.id),
      [P.DESCRIPTION, P.LOCATION, P.LOCAL_DATE, P.LOCAL_TIME],
    );
    const services = required!.values.find((v) => v.id === P.PROTOCOL_SERVICES_SUPPORTED)!.value[0]!
      .value as {
      bitsUsed: number;
    };
    assert.equal(services.bitsUsed, 47, 'protocol revision 22');
    // Errors per property and per object, inside a successful answer.
    const [mixed, missing] = (
      await peer.client.readPropertyMultiple(address, [
        {
          objectId: { type: balance.type, instance: balance.instance },
          properties: [
            { id: P.PRIORITY_ARRAY, index: ARRAY_ALL },
            { id: P.PRESENT_VALUE, index: 2 },
          ],
        },
        {
          objectId: { type: ObjectType.ANALOG_VALUE, instance: 999_999 },
          properties: [{ id: P.ALL, index: ARRAY_ALL }],
        },
      ])
    ).values;
    assert.deepEqual(
      mixed!.values.map((v) => v.value[0]!.value),
      [
        { errorClass: 2, errorCode: 32 },
        { errorClass: 2, errorCode: 50 },
      ],
    );
    assert.deepEqual(missing!.values[0]!.value[0]!.value, { errorClass: 1, errorCode: 31 });
  });

  it('answers a repeated ReadPropertyMultiple from its cache until the object changes, for one, two and three properties', async () => {
    const balance = model.point('T0007.Balance')!;
    const objectId = { type: balance.type, instance: balance.instance };
    const read = async (ids: number[]): Promise<unknown[]> => {
      const [result] = (
        await peer.client.readPropertyMultiple(address, [
          { objectId, properties: ids.map((id) => ({ id, index: ARRAY_ALL })) },
        ])
      ).values;
      return result!.values.map((v) => v.value[0]!.value);
    };
    const shapes = [
      [P.PRESENT_VALUE],
      [P.PRESENT_VALUE, P.STATUS_FLAGS],
      [P.OBJECT_NAME, P.PRESENT_VALUE, P.UNITS],
    ];
    const before = [];
    for (const ids of shapes) before.push(await read(ids), await read(ids));
    assert.deepEqual(before[0], [Math.fround(10.06)]);
    assert.deepEqual(before[1], before[0], 'the cached answer is the same');
    assert.deepEqual(before[2], [Math.fround(10.06), { value: [0], bitsUsed: 4 }]);
    assert.deepEqual(before[4], ['T0007.Balance', Math.fround(10.06), 95]);
    model.apply(account('T0007', 2507, 'ok', { daysLeft: 10 }));
    assert.deepEqual(await read(shapes[0]!), [Math.fround(25.07)]);
    assert.deepEqual(await read(shapes[1]!), [Math.fround(25.07), { value: [0], bitsUsed: 4 }]);
    assert.deepEqual(await read(shapes[2]!), ['T0007.Balance', Math.fround(25.07), 95]);
    model.apply(account('T0007', 1006, 'ok', { daysLeft: 10 }));
  });

  it('answers a repeated ReadProperty from its cache until the object changes, by the model or by an event', async () => {
    const balance = model.point('T0008.Balance')!;
    const alarm = model.point('T0008.CreditState')!;
    const read = async (object: { type: number; instance: number }, id: number): Promise<unknown> =>
      (await peer.client.readProperty(address, object, id)).values[0]!.value;
    assert.equal(await read(balance, P.PRESENT_VALUE), Math.fround(10.07));
    assert.equal(await read(balance, P.PRESENT_VALUE), Math.fround(10.07), 'the cached value is the same');
    assert.equal(await read(balance, P.OBJECT_NAME), 'T0008.Balance', 'another property of the same object');
    assert.equal(await read(balance, P.PRESENT_VALUE), Math.fround(10.07));
    model.apply(account('T0008', 2508, 'ok', { daysLeft: 10 }));
    assert.equal(await read(balance, P.PRESENT_VALUE), Math.fround(25.08));
    // Credit exhausted raises an alarm on the credit state: its event state moves, seen through its cached answers.
    assert.deepEqual(await read(alarm, P.STATUS_FLAGS), { value: [0], bitsUsed: 4 });
    assert.equal(await read(alarm, P.EVENT_STATE), 0);
    model.apply(account('T0008', -100, 'exhausted', { daysLeft: 0 }));
    assert.notEqual(await read(alarm, P.EVENT_STATE), 0, 'the alarm is reported');
    assert.deepEqual(await read(alarm, P.STATUS_FLAGS), { value: [1], bitsUsed: 4 }, 'in alarm');
    model.apply(account('T0008', 1007, 'ok', { daysLeft: 10 }));
    assert.equal(await read(balance, P.PRESENT_VALUE), Math.fround(10.07));
  });

  it('answers a repeated ReadPropertyMultiple octet for octet as the first time, and a changed value at once', async () => {
    const raw = await rawSocket();
    try {
      const balance = model.point('T0011.Balance')!;
      const oid = (type: number, instance: number) => {
        const v = type * 0x400000 + instance;
        return [0x0c, (v >>> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
      };
      const real = (value: number) => {
        const b = Buffer.alloc(5);
        b[0] = 0x44;
        b.writeFloatBE(value, 1);
        return b;
      };
      const own = oid(balance.type, balance.instance);
      // Kept answers for two properties and for one, a property with an index, an unknown object, a property
      // id of two octets (object-name as 0x0a 0x00 0x4d), and two properties in the other order.
      const specs = [
        [...own, 0x1e, 0x09, P.PRESENT_VALUE, 0x09, P.STATUS_FLAGS, 0x1f],
        [...own, 0x1e, 0x09, P.PRESENT_VALUE, 0x1f],
        [...own, 0x1e, 0x09, P.PRESENT_VALUE, 0x19, 0x00, 0x1f],
        [...oid(ObjectType.ANALOG_VALUE, 999_999), 0x1e, 0x09, P.PRESENT_VALUE, 0x1f],
        [...own, 0x1e, 0x0a, 0x00, P.OBJECT_NAME, 0x09, P.PRESENT_VALUE, 0x1f],
        [...own, 0x1e, 0x09, P.STATUS_FLAGS, 0x09, P.PRESENT_VALUE, 0x1f],
      ].flat();
      let invokeId = 0;
      const ask = async (): Promise<Buffer> => {
        invokeId += 1;
        raw.socket.send(frame([0x02, 0x05, invokeId, 0x0e, ...specs]), port, '127.0.0.1');
        const answer = await raw.next();
        assert.deepEqual([...answer.subarray(6, 9)], [0x30, invokeId, 0x0e]);
        return answer.subarray(9);
      };
      const first = await ask();
      const again = await ask();
      assert.deepEqual(again, first, 'the kept answers are the answers the general path gives');
      assert.equal(first.indexOf(real(10.1)) > 0, true);
      model.apply(account('T0011', 2511, 'ok', { daysLeft: 10 }));
      const changed = await ask();
      assert.equal(changed.indexOf(real(10.1)), -1, 'no old value is served');
      let count = 0;
      for (let at = changed.indexOf(real(25.11)); at >= 0; at = changed.indexOf(real(25.11), at + 1))
        count += 1;
      assert.equal(count, 4, 'the new value, in each of the four results of present-value');
      assert.deepEqual(await ask(), changed, 'kept again for the new version');
      assert.deepEqual(changed.length, first.length);
    } finally {
      raw.close();
    }
  });

  it('answers ReadProperty errors with the error class and code the standard names', async () => {
    await assert.rejects(
      peer.client.readProperty(
        address,
        { type: ObjectType.ANALOG_VALUE, instance: 999_999 },
        P.PRESENT_VALUE,
      ),
      /Class:1 - Code:31/,
    );
    await assert.rejects(peer.client.readProperty(address, device, P.PRESENT_VALUE), /Class:2 - Code:32/);
    await assert.rejects(
      peer.client.readProperty(address, device, P.OBJECT_NAME, { arrayIndex: 1 }),
      /Class:2 - Code:50/,
    );
    await assert.rejects(peer.client.readProperty(address, device, P.ALL), /Class:2 - Code:32/);
  });

  it('aborts when the client takes no segments, and segments down to a small APDU', async () => {
    // The library's client cannot ask for "no segments" (it turns 0 into 65): a raw request without the
    // segmented-response-accepted bit reads the 10,000-entry object list.
    const raw = await rawSocket();
    try {
      const v = ObjectType.DEVICE * 0x400000 + DEVICE.instance;
      const request = [
        0x00,
        0x05,
        0x21,
        12,
        0x0c,
        v >>> 24,
        (v >> 16) & 0xff,
        (v >> 8) & 0xff,
        v & 0xff,
        0x19,
        76,
      ];
      raw.socket.send(frame(request), port, '127.0.0.1');
      assert.deepEqual(
        [...(await raw.next()).subarray(6)],
        [0x71, 0x21, 4],
        'Abort: segmentation-not-supported',
      );
    } finally {
      raw.close();
    }
    await assert.rejects(
      peer.client.readProperty(address, device, P.OBJECT_LIST, {
        maxSegments: Bacnet.MaxSegmentsAccepted.SEGMENTS_4,
      }),
      /BacnetAbort - Reason:1/,
      'more segments than the client takes',
    );
    // Forty points' names and values do not fit a 206-octet APDU: they come in segments of it.
    const points = model.pointsList().slice(0, 40);
    const segments = server.stats().segments;
    const small = await peer.client.readPropertyMultiple(
      address,
      points.map((p) => ({
        objectId: { type: p.type, instance: p.instance },
        properties: [
          { id: P.OBJECT_NAME, index: ARRAY_ALL },
          { id: P.PRESENT_VALUE, index: ARRAY_ALL },
        ],
      })),
      {
        maxApdu: Bacnet.MaxApduLengthAccepted.OCTETS_206,
        maxSegments: Bacnet.MaxSegmentsAccepted.SEGMENTS_16,
      },
    );
    assert.deepEqual(
      small.values.map((o) => o.values[0]!.value[0]!.value),
      points.map((p) => p.name),
    );
    assert.ok(server.stats().segments - segments > 5);
  });

  it('puts exactly the standard bytes on the wire: 4-bit status flags, counts, errors, rejects, aborts', async () => {
    const raw = await rawSocket();
    try {
      const balance = model.point('T0001.Balance')!;
      const oid = (type: number, instance: number) => {
        const v = type * 0x400000 + instance;
        return [0x0c, (v >>> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
      };
      const send = (bytes: Buffer) => raw.socket.send(bytes, port, '127.0.0.1');
      // ReadProperty status-flags: ... [3] BIT STRING, 4 bits used (4 unused), all clear [3]
      send(frame([0x00, 0x05, 0x01, 0x0c, ...oid(2, balance.instance), 0x19, 111]));
      const flags = await raw.next();
      assert.deepEqual([...flags.subarray(-5)], [0x3e, 0x82, 0x04, 0x00, 0x3f]);
      assert.deepEqual([...flags.subarray(0, 2)], [0x81, 0x0a]);
      assert.equal(flags.readUInt16BE(2), flags.length);
      // object-list[0]: an unsigned count.
      send(frame([0x00, 0x05, 0x02, 0x0c, ...oid(8, DEVICE.instance), 0x19, 76, 0x29, 0x00]));
      const count = await raw.next();
      const n = model.objectList().length;
      assert.deepEqual([...count.subarray(-5)], [0x3e, 0x22, n >> 8, n & 0xff, 0x3f]);
      // An unknown confirmed service: Reject, unrecognized-service.
      send(frame([0x00, 0x05, 0x03, 26, 0x0c, ...oid(8, DEVICE.instance)]));
      assert.deepEqual([...(await raw.next()).subarray(6)], [0x60, 0x03, 9]);
      // A truncated ReadProperty: Reject, missing-required-parameter.
      send(frame([0x00, 0x05, 0x04, 0x0c, 0x0c, 0x02]));
      assert.deepEqual([...(await raw.next()).subarray(6)], [0x60, 0x04, 5]);
      // A segmented request: Abort (from the server), segmentation-not-supported.
      send(frame([0x08, 0x05, 0x05, 0x00, 0x01, 0x0c, ...oid(8, DEVICE.instance), 0x19, 77]));
      assert.deepEqual([...(await raw.next()).subarray(6)], [0x71, 0x05, 4]);
      // From behind a router (SNET 7, SADR 0x21): the answer is addressed back to that station.
      send(
        frame(
          [0x00, 0x05, 0x06, 0x0c, ...oid(8, DEVICE.instance), 0x19, 77],
          [0x01, 0x0c, 0x00, 0x07, 0x01, 0x21],
        ),
      );
      const routed = await raw.next();
      assert.deepEqual([...routed.subarray(4, 11)], [0x01, 0x20, 0x00, 0x07, 0x01, 0x21, 0xff]);
      assert.deepEqual([...routed.subarray(11, 14)], [0x30, 0x06, 12]);
    } finally {
      raw.close();
    }
  });

  it('refuses writes to read-only points and hands override writes to its owner', async () => {
    const balance = model.point('T0002.Balance')!;
    await assert.rejects(
      peer.client.writeProperty(
        address,
        { type: balance.type, instance: balance.instance },
        P.PRESENT_VALUE,
        [{ type: 4, value: 1 }],
        { priority: 8 },
      ),
      /Class:2 - Code:40/,
    );
    await assert.rejects(
      peer.client.writeProperty(
        address,
        { type: balance.type, instance: balance.instance },
        P.OBJECT_NAME,
        [{ type: 7, value: 'x' }],
        {},
      ),
      /Class:2 - Code:40/,
    );
    const override = model.point('T0002.Electricity.Override')!;
    const heard = new Promise<OverrideCommand[]>((resolve) => server.once('write', resolve));
    await peer.client.writeProperty(
      address,
      { type: override.type, instance: override.instance },
      P.PRESENT_VALUE,
      [{ type: 2, value: 3 }],
      { priority: 8 },
    );
    const commands = await heard;
    assert.deepEqual(
      commands.map((c) => [c.meterId, c.action, c.by]),
      [['E-T0002', 'disconnect', `bacnet:127.0.0.1:${peer.port}`]],
    );
    const pv = await peer.client.readProperty(
      address,
      { type: override.type, instance: override.instance },
      P.PRESENT_VALUE,
    );
    assert.equal(pv.values[0]?.value, 3);
    await peer.client.writeProperty(
      address,
      { type: override.type, instance: override.instance },
      P.PRESENT_VALUE,
      [{ type: 0, value: null }],
      { priority: 8 },
    );
    assert.equal(override.value, 1, 'relinquished: auto');
  });

  it('notifies subscribers within a second of a change, unconfirmed and confirmed (acknowledged)', async () => {
    const balance = model.point('T0003.Balance')!;
    const objectId = { type: balance.type, instance: balance.instance };
    const initial = nextEvent<{
      payload: { values: Array<{ property: { id: number }; value: Array<{ value: unknown }> }> };
    }>(peer.client, 'covNotifyUnconfirmed');
    await peer.client.subscribeCov(address, objectId, 11, false, false, 300);
    assert.equal((await initial).payload.values[0]!.value[0]!.value, Math.fround(10.02));
    const changed = nextEvent<{
      payload: {
        monitoredObjectId: { instance: number };
        values: Array<{ value: Array<{ value: unknown }> }>;
      };
    }>(peer.client, 'covNotifyUnconfirmed', 1000);
    const started = Date.now();
    server.notify(model.apply(account('T0003', 5000)).changed);
    const notification = await changed;
    assert.ok(Date.now() - started < 1000);
    assert.equal(notification.payload.monitoredObjectId.instance, balance.instance);
    assert.equal(notification.payload.values[0]!.value[0]!.value, 50);
    // The device lists it (the library decodes one entry; with two, its decoder trips over the optional increment).
    const active = await peer.client.readProperty(address, device, P.ACTIVE_COV_SUBSCRIPTIONS);
    const entry = active.values[0]!.value as {
      recipient: { network: number; address: number[] };
      subscriptionProcessId: number;
      monitoredObjectId: { type: number; instance: number };
      timeRemaining: number;
    };
    assert.deepEqual(entry.recipient, {
      network: 0,
      address: [127, 0, 0, 1, peer.port >> 8, peer.port & 0xff],
    });
    assert.equal(entry.subscriptionProcessId, 11);
    assert.deepEqual(entry.monitoredObjectId, objectId);
    assert.ok(entry.timeRemaining > 290 && entry.timeRemaining <= 300);
    // Confirmed: the subscriber acknowledges with a SimpleACK.
    const state = model.point('T0003.CreditState')!;
    peer.client.on('covNotify', (content) =>
      peer.client.simpleAckResponse(content.header!.sender, content.service!, content.invokeId!),
    );
    const confirmed = nextEvent(
      peer.client,
      'covNotify',
      1000,
      (c: { payload: { values: Array<{ value: Array<{ value: unknown }> }> } }) =>
        c.payload.values[0]!.value[0]!.value === 4,
    );
    await peer.client.subscribeCov(
      address,
      { type: state.type, instance: state.instance },
      12,
      false,
      true,
      300,
    );
    await sleep(100);
    server.notify(model.apply(account('T0003', 0, 'exhausted')).changed);
    await confirmed;
    await sleep(100);
    assert.equal(server.stats().covFailures, 0);
    assert.equal(model.cov.size, 2);
    await peer.client.subscribeCov(address, objectId, 11, true, false, 0); // cancel
    await peer.client.subscribeCov(
      address,
      { type: state.type, instance: state.instance },
      12,
      true,
      false,
      0,
    );
    assert.equal(model.cov.size, 0);
  });

  it('takes SubscribeCOVProperty with its own increment and drops subscriptions whose lifetime ends', async () => {
    const register = model.point('E-T0004.Register')!;
    // SubscribeCOVProperty, process 13, lifetime 3 s, present-value, increment 10.0 (the library sends none).
    // 3 s, not 1: on a busy machine the two notifications below must still fall inside the lifetime.
    const v = register.type * 0x400000 + register.instance;
    const apdu = [
      0x00,
      0x05,
      0x70,
      28,
      0x09,
      13,
      0x1c,
      v >>> 24,
      (v >> 16) & 0xff,
      (v >> 8) & 0xff,
      v & 0xff,
      0x29,
      0x00,
      0x39,
      0x03,
      0x4e,
      0x09,
      85,
      0x4f,
      0x5c,
    ];
    const real = Buffer.alloc(4);
    real.writeFloatBE(10);
    const request = Buffer.concat([Buffer.alloc(4), Buffer.from([0x01, 0x04, ...apdu]), real]);
    const first = nextEvent(peer.client, 'covNotifyUnconfirmed');
    const subscribedAt = Date.now();
    peer.client.sendBvlc({ address: `127.0.0.1:${port}` }, { buffer: request, offset: request.length });
    await first;
    const small = nextEvent(peer.client, 'covNotifyUnconfirmed', 300);
    server.notify(
      model.apply({
        kind: 'reading',
        meterId: 'E-T0004',
        utility: 'electricity',
        unit: 'kWh',
        value: 5003 + 5,
        quality: 'good',
      }).changed,
    );
    await assert.rejects(small, /no covNotifyUnconfirmed/, '5 kWh is under the increment of 10');
    const big = nextEvent(peer.client, 'covNotifyUnconfirmed', 1000);
    server.notify(
      model.apply({
        kind: 'reading',
        meterId: 'E-T0004',
        utility: 'electricity',
        unit: 'kWh',
        value: 5003 + 11,
        quality: 'good',
      }).changed,
    );
    await big;
    // Ended subscriptions are swept on the device's timer: look until a while after the lifetime.
    const mine = () =>
      model.cov
        .views(Date.now())
        .filter((s) => s.object.instance === register.instance && s.object.type === register.type);
    await sleep(Math.max(0, subscribedAt + 3000 - Date.now()));
    while (mine().length > 0 && Date.now() < subscribedAt + 6000) await sleep(50);
    assert.deepEqual(mine(), [], 'a 3 s lifetime has ended');
  });

  it('answers Who-Has by name and by identifier', async () => {
    const byName = nextEvent<{
      payload: { objectId: { type: number; instance: number }; objectName: string };
    }>(peer.client, 'iHave');
    const point = model.point('T0100.Electricity.Supply')!;
    // Who-Has by name (the library's client has no Who-Has call): [3] CharacterString.
    const name = Buffer.from(point.name, 'utf8');
    const whoHas = Buffer.concat([
      Buffer.alloc(4),
      Buffer.from([0x01, 0x00, 0x10, 0x07, 0x3d, name.length + 1, 0x00]),
      name,
    ]);
    peer.client.sendBvlc({ address: `127.0.0.1:${port}` }, { buffer: whoHas, offset: whoHas.length });
    assert.deepEqual((await byName).payload.objectId, { type: point.type, instance: point.instance });
    const byId = nextEvent<{ payload: { objectName: string } }>(peer.client, 'iHave');
    const v = point.type * 0x400000 + point.instance;
    const whoHasId = Buffer.concat([
      Buffer.alloc(4),
      Buffer.from([0x01, 0x00, 0x10, 0x07, 0x2c, v >>> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]),
    ]);
    peer.client.sendBvlc({ address: `127.0.0.1:${port}` }, { buffer: whoHasId, offset: whoHasId.length });
    assert.equal((await byId).payload.objectName, point.name);
  });

  it('moves the database revision when objects are added', async () => {
    const read = async () =>
      (await peer.client.readProperty(address, device, P.DATABASE_REVISION)).values[0]!.value as number;
    const before = await read();
    model.apply(account('T9999', 1));
    assert.equal(await read(), before + 1);
    const count = await peer.client.readProperty(address, device, P.OBJECT_LIST, { arrayIndex: 0 });
    assert.equal(count.values[0]?.value, model.objectList().length);
  });
});

describe('bacnet device as a foreign device of a BBMD', function () {
  this.timeout(20_000);

  it('registers with the BBMD, and answers a Who-Is it forwards through it and to the asker', async () => {
    const bbmd = await rawSocket();
    const asker = await rawSocket();
    const port = await freeUdpPort();
    const model = modelOn(new ManualClock(T0));
    populate(model, 1);
    const bbmdPort = bbmd.socket.address().port;
    const server = new BacnetDeviceServer(model, {
      port,
      address: '127.0.0.1',
      foreignDevice: { bbmd: `127.0.0.1:${bbmdPort}`, ttlSeconds: 60 },
    });
    try {
      await server.start();
      // The BBMD first hears the registration (TTL 60 s) and the start-up I-Am, broadcast through it.
      const first = [await bbmd.next(), await bbmd.next()];
      const registration = first.find((d) => d[1] === 0x05)!;
      assert.deepEqual([...registration], [0x81, 0x05, 0x00, 0x06, 0x00, 60]);
      const announce = first.find((d) => d[1] === 0x09)!;
      assert.ok(announce, 'Distribute-Broadcast-To-Network');
      assert.deepEqual([...announce.subarray(6, 8)], [0x10, 0x00], 'an I-Am');
      bbmd.socket.send(Buffer.from([0x81, 0x00, 0x00, 0x06, 0x00, 0x00]), port, '127.0.0.1'); // Result: ok
      for (let i = 0; i < 50 && server.stats().registration !== 'registered'; i++) await sleep(20);
      assert.equal(server.stats().registration, 'registered');
      // A Who-Is from a station elsewhere, forwarded by the BBMD (Forwarded-NPDU with the origin's address).
      const origin = asker.socket.address().port;
      bbmd.socket.send(
        Buffer.from([
          0x81,
          0x04,
          0x00,
          0x0e,
          127,
          0,
          0,
          1,
          origin >> 8,
          origin & 0xff,
          0x01,
          0x00,
          0x10,
          0x08,
        ]),
        port,
        '127.0.0.1',
      );
      const broadcast = await bbmd.next();
      assert.deepEqual(
        [...broadcast.subarray(0, 2)],
        [0x81, 0x09],
        'the broadcast I-Am goes through the BBMD',
      );
      const direct = await asker.next();
      assert.deepEqual([...direct.subarray(0, 2)], [0x81, 0x0a], 'and straight to the asker');
      assert.deepEqual([...direct.subarray(6, 8)], [0x10, 0x00]);
    } finally {
      await server.stop();
      bbmd.close();
      asker.close();
    }
  });
});
