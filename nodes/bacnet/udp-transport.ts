/**
 * The device's UDP socket, given to @bacnet-js/client as its transport (its `transport` option) so that what the
 * library does wrong on the wire is done right here:
 *
 * - every datagram is handled inside a guard: whatever the device or the library throws on a malformed packet
 *   becomes a counted, logged drop, never an exception out of the socket's event (which would end Node-RED);
 * - addresses always carry their port ("a.b.c.d:port"), so answers reach clients on any port, and the library
 *   never mistakes a client at 127.0.0.1:47808 for itself;
 * - broadcasts go to the configured broadcast address on the device's own port, not to 47808 regardless.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { networkInterfaces } from 'node:os';

/** What the device does with a datagram: answered itself, handed to the library, or ignored. */
export type Routing = 'handled' | 'library' | 'drop';

export interface TransportOptions {
  port: number;
  /** Local address to bind ("0.0.0.0" for all interfaces). */
  address: string;
  /** "a.b.c.d" or "a.b.c.d:port"; default: the bound interface's broadcast address, on `port`. */
  broadcastAddress?: string;
  route(datagram: Buffer, host: string, port: number): Routing;
  /** A datagram whose handling threw. */
  onThrow(error: unknown, datagram: Buffer, from: string): void;
  onSendError(error: Error): void;
}

/** BACnet/IP's largest APDU; the library sizes its own buffers from this. */
export const MAX_APDU = 1476;

/** The broadcast address of the interface that has `address` (its subnet's highest address). */
export function broadcastFor(address: string): string {
  if (address === '0.0.0.0' || address === '') return '255.255.255.255';
  if (address.startsWith('127.')) return '127.255.255.255';
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.family !== 'IPv4' || entry.address !== address) continue;
      const ip = address.split('.').map(Number);
      const mask = entry.netmask.split('.').map(Number);
      return ip.map((octet, i) => (octet | (~(mask[i] as number) & 0xff)) & 0xff).join('.');
    }
  }
  return '255.255.255.255';
}

export function splitAddress(address: string, defaultPort: number): { host: string; port: number } {
  const [host = '', portText] = address.trim().split(':');
  const port = portText === undefined || portText === '' ? defaultPort : Number(portText);
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.split('.').some((o) => Number(o) > 255))
    throw new RangeError(`"${address}" is not an IPv4 address`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`"${address}": bad port`);
  return { host, port };
}

export class UdpTransport extends EventEmitter {
  private readonly socket: Socket;
  private readonly broadcast: { host: string; port: number };
  private bound: { address: string; port: number } | undefined;
  private closed = false;

  constructor(private readonly options: TransportOptions) {
    super();
    this.broadcast = splitAddress(options.broadcastAddress || broadcastFor(options.address), options.port);
    this.socket = createSocket({ type: 'udp4', reuseAddr: false });
    this.socket.on('message', (datagram: Buffer, rinfo: RemoteInfo) => this.receive(datagram, rinfo));
    this.socket.on('error', (error: Error) => {
      // An 'error' nobody hears would throw out of the socket; the device always listens, but never risk it.
      if (this.listenerCount('error') > 0) this.emit('error', error);
    });
    this.socket.on('listening', () => {
      const info = this.socket.address();
      this.bound = { address: info.address, port: info.port };
      try {
        this.socket.setBroadcast(true);
      } catch {
        // Broadcasting is refused on some interfaces: unicast answers still work.
      }
      this.emit('listening', this.bound);
    });
    this.socket.on('close', () => this.emit('close'));
  }

  private receive(datagram: Buffer, rinfo: RemoteInfo): void {
    try {
      const routing = this.options.route(datagram, rinfo.address, rinfo.port);
      if (routing === 'library') this.emit('message', datagram, `${rinfo.address}:${rinfo.port}`);
    } catch (error) {
      this.options.onThrow(error, datagram, `${rinfo.address}:${rinfo.port}`);
    }
  }

  /** Called by the library's constructor. */
  open(): void {
    this.socket.bind(this.options.port, this.options.address);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }

  address(): { address: string; port: number } | undefined {
    return this.bound;
  }

  getBroadcastAddress(): string {
    return `${this.broadcast.host}:${this.broadcast.port}`;
  }

  broadcastTarget(): { host: string; port: number } {
    return this.broadcast;
  }

  getMaxPayload(): number {
    return MAX_APDU;
  }

  /** The library's send: `length` octets of `buffer` to "a.b.c.d:port", or broadcast when none is given. */
  send(buffer: Buffer, length: number, receiver?: string): void {
    const target = receiver ? splitAddress(receiver, 47808) : this.broadcast;
    this.sendTo(Buffer.from(buffer.subarray(0, length)), target.host, target.port);
  }

  sendTo(datagram: Buffer, host: string, port: number): void {
    if (this.closed) return;
    this.socket.send(datagram, port, host, (error) => {
      if (error) this.options.onSendError(error);
    });
  }
}
