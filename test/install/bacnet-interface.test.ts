/**
 * The guide's advice on the BACnet interface (docs/INSTALL.md, "The BACnet interface"): a prepay-bacnet-device
 * bound to one address (here 127.0.0.1) answers a Who-Is sent to that address, and one sent to the network's
 * broadcast address (127.255.255.255) too: Linux gives broadcasts only to sockets bound to every address or to
 * the broadcast address itself, so the device listens on the latter as well, and answers from its own address.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { freeUdpPort, sleep } from '../bacnet/support';
import { helper, loadBuiltNode, startServer, stopServer, tempUserDir } from '../support/node-red-helper';

const deviceNode = loadBuiltNode('bacnet/prepay-bacnet-device.js');
const bacnetNode = loadBuiltNode('bacnet/prepay-bacnet.js');

/** A Who-Is without a range: BVLC original-unicast or original-broadcast, NPDU, unconfirmed Who-Is. */
function whoIs(broadcast: boolean): Buffer {
  return Buffer.from([0x81, broadcast ? 0x0b : 0x0a, 0x00, 0x08, 0x01, 0x00, 0x10, 0x08]);
}

/** True when the datagram is an I-Am (unconfirmed request, service 0). */
function isIAm(datagram: Buffer): boolean {
  const npduControl = datagram[5] ?? 0;
  const apdu = 6 + (npduControl & 0x08 ? 3 + (datagram[8] ?? 0) + 1 : 0);
  return datagram[0] === 0x81 && datagram[apdu] === 0x10 && datagram[apdu + 1] === 0x00;
}

describe('site install: a BACnet device bound to one interface', function () {
  this.timeout(30_000);
  let port: number;
  let client: Socket;
  const heard: Buffer[] = [];
  const from: string[] = [];

  before(async function () {
    helper.settings({ userDir: tempUserDir() });
    await startServer();
    port = await freeUdpPort();
    await helper.load(
      [deviceNode, bacnetNode],
      [
        {
          id: 'dev',
          type: 'prepay-bacnet-device',
          deviceInstance: '4121',
          deviceInstanceType: 'num',
          deviceName: 'prepay-interface-test',
          port: String(port),
          portType: 'num',
          address: '127.0.0.1',
          timeZone: 'UTC',
        },
        { id: 'bac', type: 'prepay-bacnet', device: 'dev', wires: [] },
      ],
    );
    client = createSocket('udp4');
    client.on('message', (datagram: Buffer, rinfo) => {
      heard.push(datagram);
      from.push(rinfo.address);
    });
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
    client.setBroadcast(true);
    // The device is up when it answers at all.
    for (let i = 0; i < 40 && !heard.some(isIAm); i++) {
      client.send(whoIs(false), port, '127.0.0.1');
      await sleep(100);
    }
  });

  after(async function () {
    client?.close();
    await helper.unload();
    await stopServer();
  });

  async function received(): Promise<number> {
    const status = await helper.request().get('/prepay-bacnet-device/dev/status').expect(200);
    return (status.body as { received: number }).received;
  }

  it('answers a Who-Is sent to its address', async function () {
    heard.length = 0;
    client.send(whoIs(false), port, '127.0.0.1');
    for (let i = 0; i < 20 && !heard.some(isIAm); i++) await sleep(50);
    assert.ok(heard.some(isIAm), 'an I-Am came back');
  });

  it('answers a Who-Is sent to the broadcast address, from its own address', async function () {
    const before = await received();
    heard.length = 0;
    from.length = 0;
    await new Promise<void>((resolve, reject) =>
      client.send(whoIs(true), port, '127.255.255.255', (error) => (error ? reject(error) : resolve())),
    );
    for (let i = 0; i < 20 && !heard.some(isIAm); i++) await sleep(50);
    assert.ok((await received()) > before, 'the device received it');
    assert.ok(heard.some(isIAm), 'and answered it');
    assert.deepEqual([...new Set(from)], ['127.0.0.1'], 'from 127.0.0.1, not from the broadcast address');
  });
});
