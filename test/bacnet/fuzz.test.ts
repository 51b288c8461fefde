/**
 * Hostile datagrams: 10,000 random, truncated, corrupted and oversized payloads sent to the device's port while it
 * runs inside Node-RED. Every one is dropped or answered; nothing throws out of the socket (the test process is the
 * Node-RED process: an uncaught exception fails the test); afterwards the device still answers Who-Is and reads.
 * The same datagrams handed to a bare @bacnet-js/client show the corpus is one that makes the library throw.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import BACnetClient from '@bacnet-js/client';
import { PropertyId as P } from '../../dist/nodes/core/bacnet/constants';
import type { DeviceHost } from '../../dist/nodes/bacnet/device-host';
import {
  catchNode,
  helper,
  loadBuiltNode,
  startServer,
  stopServer,
  tempUserDir,
} from '../support/node-red-helper';
import { freeUdpPort, nextEvent, sleep, testClient } from './support';

const deviceNode = loadBuiltNode('bacnet/prepay-bacnet-device.js');
const bacnetNode = loadBuiltNode('bacnet/prepay-bacnet.js');

/** A small seeded generator (mulberry32): the same corpus on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const oid = (type: number, instance: number): number[] => {
  const v = type * 0x400000 + instance;
  return [(v >>> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
};

function bvlc(func: number, body: number[]): Buffer {
  return Buffer.from([0x81, func, (body.length + 4) >> 8, (body.length + 4) & 0xff, ...body]);
}

/** Well-formed requests of every kind the device handles, and some it must ignore. */
function templates(): Buffer[] {
  const device = oid(8, 4120);
  const av = oid(2, 1);
  const msv = oid(19, 2);
  const u = (apdu: number[]) => bvlc(0x0a, [0x01, 0x04, ...apdu]);
  return [
    u([0x02, 0x05, 0x01, 12, 0x0c, ...device, 0x19, 77]),
    u([
      0x02,
      0x05,
      0x02,
      14,
      0x0c,
      ...av,
      0x1e,
      0x09,
      8,
      0x1f,
      0x0c,
      ...device,
      0x1e,
      0x09,
      76,
      0x19,
      0x00,
      0x1f,
    ]),
    bvlc(0x0b, [0x01, 0x00, 0x10, 0x08, 0x09, 0x00, 0x1a, 0xff, 0xff]),
    bvlc(0x0b, [0x01, 0x00, 0x10, 0x07, 0x3d, 0x08, 0x00, ...Buffer.from('T1.Alarm')]),
    u([0x00, 0x05, 0x03, 15, 0x0c, ...msv, 0x19, 85, 0x3e, 0x21, 0x03, 0x3f, 0x49, 0x08]),
    u([0x00, 0x05, 0x04, 5, 0x09, 0x07, 0x1c, ...av, 0x29, 0x00, 0x39, 0x3c]),
    u([
      0x00,
      0x05,
      0x05,
      28,
      0x09,
      0x07,
      0x1c,
      ...av,
      0x29,
      0x00,
      0x39,
      0x3c,
      0x4e,
      0x09,
      85,
      0x4f,
      0x5c,
      0x3f,
      0x80,
      0,
      0,
    ]),
    u([0x40, 0x06, 0x00, 0x10]),
    u([0x20, 0x07, 0x01]),
    bvlc(0x00, [0x00, 0x00]),
    bvlc(0x04, [127, 0, 0, 1, 0xba, 0xc0, 0x01, 0x04, 0x02, 0x05, 0x08, 12, 0x0c, ...device, 0x19, 75]),
    bvlc(0x05, [0x01, 0x2c]),
    u([
      0x00,
      0x05,
      0x09,
      0x01,
      0x09,
      0x01,
      0x1c,
      ...device,
      0x2c,
      ...av,
      0x39,
      0x00,
      0x4e,
      0x09,
      85,
      0x2e,
      0x44,
      0x41,
      0x20,
      0,
      0,
      0x2f,
      0x4f,
    ]),
    u([0x50, 0x0a, 12, 0x91, 0x02, 0x91, 0x20]),
    u([0x71, 0x0b, 0x04]),
    u([0x3c, 0x0c, 0x00, 0x04, 12, 0x0c, ...device]),
    bvlc(0x0a, [0x01, 0x2c, 0x00, 0x07, 0x01, 0x21, 0x00, 0x05, 0x06, 0x0d, 12, 0x0c, ...device, 0x19, 77]),
  ];
}

/** 10,000 hostile datagrams: random, truncated (BVLC length fixed up, so they get past it), flipped, inflated. */
function corpus(count: number): Buffer[] {
  const next = random(0xbac0e7);
  const int = (n: number) => Math.floor(next() * n);
  const bases = templates();
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const base = Buffer.from(bases[int(bases.length)]!);
    let datagram: Buffer;
    switch (i % 6) {
      case 0: {
        datagram = Buffer.alloc(int(600));
        for (let j = 0; j < datagram.length; j++) datagram[j] = int(256);
        if (next() < 0.7 && datagram.length >= 4)
          datagram.set([
            0x81,
            [0x0a, 0x0b, 0x04, 0x00, 0x05][int(5)]!,
            datagram.length >> 8,
            datagram.length & 0xff,
          ]);
        break;
      }
      case 1:
      case 2: {
        datagram = base.subarray(0, int(base.length));
        if (datagram.length >= 4) datagram.writeUInt16BE(datagram.length, 2);
        break;
      }
      case 3: {
        datagram = base;
        for (let k = 0; k <= int(4); k++) datagram[4 + int(datagram.length - 4)] = int(256);
        break;
      }
      case 4: {
        // A tag claiming far more content than there is.
        datagram = Buffer.concat([base, Buffer.from([0x75, 0xff, 0xff, 0xff, 0xff, 0xff, int(256)])]);
        datagram.writeUInt16BE(datagram.length, 2);
        break;
      }
      default: {
        datagram = Buffer.concat([base, Buffer.alloc(int(1400), int(256))]);
        if (next() < 0.5) datagram.writeUInt16BE(datagram.length & 0xffff, 2);
        break;
      }
    }
    out.push(datagram);
  }
  return out;
}

describe('bacnet device under hostile datagrams, inside Node-RED', function () {
  this.timeout(60_000);

  it('drops 10,000 random and truncated payloads and still answers afterwards', async () => {
    helper.settings({ userDir: tempUserDir() });
    await startServer();
    const port = await freeUdpPort();
    const peer = await testClient(port);
    const sender = createSocket('udp4');
    try {
      await helper.load(
        [deviceNode, bacnetNode, catchNode],
        [
          {
            id: 'dev',
            type: 'prepay-bacnet-device',
            deviceInstance: '4120',
            deviceInstanceType: 'num',
            port: String(port),
            portType: 'num',
            address: '127.0.0.1',
            overrides: true,
          },
          { id: 'bac', type: 'prepay-bacnet', device: 'dev' },
        ],
      );
      const host = (helper.getNode('dev') as unknown as { host: DeviceHost }).host;
      const bac = helper.getNode('bac');
      bac.receive({
        payload: { accountId: 'T1', state: 'ok', balance: 1234, available: 1234, currency: 'GBP' },
      });
      bac.receive({
        payload: {
          meterId: 'E1',
          accountId: 'T1',
          utility: 'electricity',
          unit: 'kWh',
          value: 1,
          quality: 'good',
        },
      });
      while (host.state !== 'up') await sleep(10);
      await new Promise<void>((resolve) => sender.bind(0, '127.0.0.1', () => resolve()));
      const datagrams = corpus(10_000);
      for (let i = 0; i < datagrams.length; i++) {
        sender.send(datagrams[i]!, port, '127.0.0.1');
        // Paced so that the kernel's receive buffer never overflows: every datagram reaches the device.
        if (i % 20 === 19) await sleep(1);
      }
      await sleep(500);
      const stats = host.stats();
      assert.ok(stats.received >= 9_900, `${stats.received} received`);
      assert.ok(stats.malformed > 1000, `${stats.malformed} counted as malformed`);
      assert.ok(
        stats.rejected > 0 && stats.aborted > 0,
        'malformed requests are rejected, segmented ones aborted',
      );
      // Still a device: discovered and read.
      const iAm = nextEvent(peer.client, 'iAm');
      peer.client.whoIs();
      await iAm;
      const read = await peer.client.readProperty(
        { address: `127.0.0.1:${port}` },
        { type: 2, instance: 1 },
        P.PRESENT_VALUE,
      );
      assert.equal(read.values[0]?.value, Math.fround(12.34));
      assert.equal(host.state, 'up');
    } finally {
      sender.close();
      peer.close();
      await helper.unload();
      await stopServer();
      helper.settings({});
    }
  });

  it('is a corpus that makes the bare library throw out of its UDP message handler', async () => {
    const client = new BACnetClient({ port: await freeUdpPort(), interface: '127.0.0.1' });
    client.on('error', () => undefined);
    const receive = (
      client as unknown as { _receiveData(datagram: Buffer, from: string): void }
    )._receiveData.bind(client);
    let thrown = 0;
    try {
      for (const datagram of corpus(10_000)) {
        try {
          receive(datagram, '127.0.0.1:47999');
        } catch {
          thrown += 1;
        }
      }
    } finally {
      client.close();
    }
    // Unguarded, each of these would have been an uncaught exception in the socket's 'message' event.
    assert.ok(thrown > 100, `${thrown} throws`);
  });
});
