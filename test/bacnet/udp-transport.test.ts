/**
 * The device's UDP socket (nodes/bacnet/udp-transport.ts): an answer sent out of the device's own writer may be
 * written over as soon as the transport says it has left, and the peer still gets what was sent.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { UdpTransport } from '../../dist/nodes/bacnet/udp-transport';
import { freeUdpPort } from './support';

describe('bacnet udp transport', () => {
  it("sends out of the caller's octets and says when they may be written over", async () => {
    const transport = new UdpTransport({
      port: await freeUdpPort(),
      address: '127.0.0.1',
      route: () => 'drop',
      onThrow: () => undefined,
    });
    const receiver = createSocket('udp4');
    try {
      const listening = once(transport, 'listening');
      transport.open();
      await listening;
      receiver.bind(0, '127.0.0.1');
      await once(receiver, 'listening');
      const octets = Buffer.from([0x81, 0x0a, 0x00, 0x06, 0x01, 0x00]);
      const sent = Buffer.from(octets);
      const heard = once(receiver, 'message');
      assert.equal(transport.sendFrom(octets, '127.0.0.1', receiver.address().port), true);
      octets.fill(0xee); // the writer goes on with the next answer
      const [message] = (await heard) as [Buffer];
      assert.deepEqual(message, sent);
    } finally {
      receiver.close();
      const closed = once(transport, 'close');
      transport.close();
      await closed;
    }
  });
});
