/**
 * The device against bacnet-stack's tools, an independent C BACnet/IP stack, over real UDP on loopback:
 * discovery by a real broadcast Who-Is (sent to 127.255.255.255, the loopback network's broadcast address).
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { ManualClock } from '../../dist/nodes/core/clock';
import { BacnetDeviceServer } from '../../dist/nodes/bacnet/device-server';
import { broadcastFor, interfaceBroadcast } from '../../dist/nodes/bacnet/udp-transport';
import { loopbackEnv, requireBacnetStack, runTool, whoIsDevices } from '../support/bacnet-stack';
import { DEVICE, account, freeUdpPort, modelOn } from './support';

const T0 = Date.UTC(2024, 9, 1, 9);

/** bacwi's MAC column for a.b.c.d:port. */
function mac(host: string, port: number): string {
  return [...host.split('.').map(Number), port >> 8, port & 0xff]
    .map((n) => n.toString(16).toUpperCase().padStart(2, '0'))
    .join(':');
}

async function whoIs(devicePort: number): Promise<{ devices: number[]; stdout: string; debug: string }> {
  const own = await freeUdpPort();
  const result = await runTool('bacwi', ['--timeout', '1500'], {
    ...loopbackEnv(own, devicePort),
    BACNET_IP_DEBUG: '1',
  });
  return {
    devices: whoIsDevices(result.stdout),
    stdout: result.stdout,
    debug: result.stdout + result.stderr,
  };
}

describe('bacnet device and bacnet-stack', function () {
  this.timeout(20_000);
  const servers: BacnetDeviceServer[] = [];

  before(function () {
    requireBacnetStack(this);
  });

  afterEach(async function () {
    for (const server of servers.splice(0)) await server.stop();
  });

  async function device(
    port: number,
    address = '127.0.0.1',
    instance = DEVICE.instance,
  ): Promise<BacnetDeviceServer> {
    const clock = new ManualClock(T0);
    const model = modelOn(clock, { device: { ...DEVICE, instance } });
    model.apply(account('T0001', 1200));
    const server = new BacnetDeviceServer(model, { port, address });
    servers.push(server);
    await server.start();
    return server;
  }

  it('knows the loopback broadcast address from its netmask', function () {
    assert.equal(interfaceBroadcast('127.0.0.1'), '127.255.255.255');
    assert.equal(interfaceBroadcast('127.0.0.2'), '127.255.255.255', 'in the subnet of lo');
    assert.equal(broadcastFor('0.0.0.0'), '255.255.255.255');
    // A documentation address on none of this machine's subnets.
    const subnets = Object.values(networkInterfaces())
      .flat()
      .filter((entry) => entry?.family === 'IPv4')
      .map((entry) => entry?.address.split('.').slice(0, 3).join('.'));
    const nowhere = ['192.0.2.77', '198.51.100.77', '203.0.113.77'].find(
      (address) => !subnets.includes(address.split('.').slice(0, 3).join('.')),
    );
    assert.ok(nowhere);
    assert.equal(interfaceBroadcast(nowhere), undefined, `${nowhere} is on no interface`);
    assert.equal(broadcastFor(nowhere), '255.255.255.255');
    for (const entry of Object.values(networkInterfaces()).flat())
      if (entry?.family === 'IPv4' && entry.netmask === '255.255.255.0')
        assert.equal(interfaceBroadcast(entry.address), entry.address.replace(/\.\d+$/, '.255'));
  });

  it('bound to 127.0.0.1, answers bacwi broadcasting Who-Is to 127.255.255.255, from its unicast address', async function () {
    const port = await freeUdpPort();
    const server = await device(port);
    const { devices, stdout, debug } = await whoIs(port);
    assert.match(debug, new RegExp(`Sending MPDU-> 127\\.255\\.255\\.255:${port} `), 'bacwi broadcast');
    assert.deepEqual(devices, [DEVICE.instance], stdout);
    // The I-Am came from the device's own address, not from the broadcast listener.
    assert.ok(stdout.includes(mac('127.0.0.1', port)), stdout);
    assert.equal(server.stats().malformed, 0);
  });

  it('bound to 0.0.0.0, answers the same broadcast', async function () {
    const port = await freeUdpPort();
    await device(port, '0.0.0.0');
    const { devices, stdout } = await whoIs(port);
    assert.deepEqual(devices, [DEVICE.instance], stdout);
  });

  it('two devices on one port, on two loopback addresses, both answer one broadcast', async function () {
    const port = await freeUdpPort();
    await device(port, '127.0.0.1', 4120);
    await device(port, '127.0.0.2', 4121);
    const { devices, stdout } = await whoIs(port);
    assert.deepEqual(
      devices.sort((a, b) => a - b),
      [4120, 4121],
      stdout,
    );
    assert.ok(stdout.includes(mac('127.0.0.2', port)), stdout);
  });

  it('does not start deaf to broadcasts: a broadcast address it cannot have fails the start, and frees the port', async function () {
    const port = await freeUdpPort();
    const holder = createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve) => holder.bind(port, '127.255.255.255', () => resolve()));
    const clock = new ManualClock(T0);
    const refused = new BacnetDeviceServer(modelOn(clock), { port, address: '127.0.0.1' });
    await assert.rejects(refused.start(), /broadcast address 127\.255\.255\.255:\d+: .*EADDRINUSE/);
    await new Promise<void>((resolve) => holder.close(() => resolve()));
    await device(port);
    const { devices, stdout } = await whoIs(port);
    assert.deepEqual(devices, [DEVICE.instance], stdout);
  });

  it('claims protocol revision 22 with a Network Port object that bacrp reads, as bacepics reads every object', async function () {
    const port = await freeUdpPort();
    await device(port);
    const env = loopbackEnv(await freeUdpPort(), port);
    const read = async (type: string, instance: number, property: string): Promise<string> => {
      const r = await runTool(
        'bacrp',
        [
          '--mac',
          `127.0.0.1:${port}`,
          '--dnet',
          '0',
          String(DEVICE.instance),
          type,
          String(instance),
          property,
        ],
        env,
      );
      return (r.stdout + r.stderr).trim();
    };
    assert.equal(await read('device', DEVICE.instance, 'protocol-revision'), '22');
    assert.match(await read('device', DEVICE.instance, 'object-list'), /\(network-port, 1\)/);
    assert.match(await read('network-port', 1, 'network-type'), /ipv4/i);
    assert.match(await read('network-port', 1, 'bacnet-ip-mode'), /normal/i);
    assert.equal(await read('network-port', 1, 'bacnet-ip-udp-port'), String(port));
    assert.match(await read('network-port', 1, 'ip-address'), /127\.0\.0\.1|7F000001/i);
    assert.match(await read('network-port', 1, 'ip-subnet-mask'), /255\.0\.0\.0|FF000000/i);
    assert.match(await read('network-port', 1, 'apdu-length'), /^1476$/);
    // bacepics reads every property of every object: nothing refused, nothing it cannot decode.
    const epics = await runTool(
      'bacepics',
      ['-t', `127.0.0.1:${port}`, String(DEVICE.instance)],
      env,
      20_000,
    );
    const text = epics.stdout + epics.stderr;
    assert.match(text, /network-port/i);
    assert.match(text, /notification-class/i);
    assert.doesNotMatch(text, /BACnet (Error|Reject|Abort)|decode error|unknown-(property|object)/i, text);
  });

  it('stopped and started again on the same port, is found again', async function () {
    const port = await freeUdpPort();
    const first = await device(port);
    await first.stop();
    servers.splice(servers.indexOf(first), 1);
    await device(port);
    const { devices, stdout } = await whoIs(port);
    assert.deepEqual(devices, [DEVICE.instance], stdout);
  });
});
