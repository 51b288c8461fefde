/**
 * The device's UDP socket, given to @bacnet-js/client as its transport (its `transport` option) so that what the
 * library does wrong on the wire is done right here:
 *
 * - every datagram is handled inside a guard: whatever the device or the library throws on a malformed packet
 *   becomes a counted, logged drop, never an exception out of the socket's event (which would end Node-RED);
 * - addresses always carry their port ("a.b.c.d:port"), so answers reach clients on any port, and the library
 *   never mistakes a client at 127.0.0.1:47808 for itself;
 * - broadcasts go to the configured broadcast address on the device's own port, not to 47808 regardless;
 * - bound to one interface's address, the device also hears that interface's broadcasts: on Linux a socket bound
 *   to a unicast address never receives a datagram sent to the subnet's broadcast address, so a second socket is
 *   bound to that broadcast address on the same port (as bacnet-stack does). It only listens: every answer goes
 *   out of the unicast socket, so it carries the device's own address.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIPv4 } from 'node:net';
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
}

/** BACnet/IP's largest APDU; the library sizes its own buffers from this. */
export const MAX_APDU = 1476;

function octets(address: string): number[] {
  return address.split('.').map(Number);
}

/**
 * The broadcast address of the subnet of an interface that has `address` (or whose subnet holds it, as
 * 127.0.0.2 is on the loopback's 127.0.0.0/8), from the interfaces' netmasks; undefined when no interface has it.
 */
export function interfaceBroadcast(address: string): string | undefined {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) return undefined;
  const ip = octets(address);
  let inSubnet: string | undefined;
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.family !== 'IPv4') continue;
      const mask = octets(entry.netmask);
      const own = octets(entry.address);
      if (ip.some((octet, i) => (octet & (mask[i] as number)) !== ((own[i] as number) & (mask[i] as number))))
        continue;
      const broadcast = ip.map((octet, i) => (octet | (~(mask[i] as number) & 0xff)) & 0xff).join('.');
      // A /32 (or /31) has no broadcast address of its own.
      if (broadcast === address) continue;
      if (entry.address === address) return broadcast;
      inSubnet ??= broadcast;
    }
  }
  return inSubnet;
}

/**
 * The interface address and netmask the device is reached at: the bound address's interface, or (bound to all)
 * the first external IPv4 interface, else loopback.
 */
export function interfaceOf(address: string): { address: string; netmask: string } {
  const entries = Object.values(networkInterfaces())
    .flat()
    .filter((entry) => entry?.family === 'IPv4');
  const own = entries.find((entry) => entry?.address === address);
  if (own) return { address: own.address, netmask: own.netmask };
  if (address !== '0.0.0.0') {
    const broadcast = interfaceBroadcast(address);
    const subnet = entries.find((entry) => entry && interfaceBroadcast(entry.address) === broadcast);
    return { address, netmask: subnet?.netmask ?? '255.255.255.255' };
  }
  const external = entries.find((entry) => entry && !entry.internal) ?? entries[0];
  return external
    ? { address: external.address, netmask: external.netmask }
    : { address, netmask: '0.0.0.0' };
}

/** Where the device's broadcasts go by default: its interface's broadcast address, or the limited broadcast. */
export function broadcastFor(address: string): string {
  if (address === '0.0.0.0' || address === '') return '255.255.255.255';
  return interfaceBroadcast(address) ?? '255.255.255.255';
}

/**
 * Every address the device sends to or binds is an IPv4 literal (splitAddress checks them), so it needs no DNS:
 * Node's default lookup would still defer each send by a tick.
 */
function ipLookup(
  hostname: string,
  callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  if (isIPv4(hostname)) callback(null, hostname, 4);
  else callback(Object.assign(new Error(`"${hostname}" is not an IPv4 address`), { code: 'EINVAL' }), '', 4);
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
  /** Bound to the interface's broadcast address when the device is bound to one interface (listens only). */
  private broadcastSocket: Socket | undefined;
  private readonly broadcast: { host: string; port: number };
  private bound: { address: string; port: number } | undefined;
  private closed = false;
  /** Sockets not yet closed: 'close' is emitted when the last one has. */
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: TransportOptions) {
    super();
    this.broadcast = splitAddress(options.broadcastAddress || broadcastFor(options.address), options.port);
    this.socket = this.createSocket(false, (error) => error);
    this.socket.on('listening', () => {
      const info = this.socket.address();
      this.bound = { address: info.address, port: info.port };
      try {
        this.socket.setBroadcast(true);
      } catch {
        // Broadcasting is refused on some interfaces: unicast answers still work.
      }
      this.listenForBroadcasts(info.address, info.port);
    });
  }

  private createSocket(reuseAddr: boolean, describe: (error: Error) => Error): Socket {
    // Binding stays asynchronous as Node makes it ('listening' after the caller has set up); sends need no tick.
    let bound = false;
    // The address last looked up: answers go to the asker, so the same address comes again and again, and it
    // need not be checked again.
    let last = '';
    const socket = createSocket({
      type: 'udp4',
      reuseAddr,
      lookup: (hostname, _options, callback) => {
        if (!bound) process.nextTick(ipLookup, hostname, callback);
        else if (hostname === last) callback(null, hostname, 4);
        else {
          ipLookup(hostname, callback);
          if (isIPv4(hostname)) last = hostname;
        }
      },
    });
    socket.once('listening', () => (bound = true));
    this.sockets.add(socket);
    socket.on('message', (datagram: Buffer, rinfo: RemoteInfo) => this.receive(datagram, rinfo));
    socket.on('error', (error: Error) => {
      // An 'error' nobody hears would throw out of the socket; the device always listens, but never risk it.
      if (this.listenerCount('error') > 0) this.emit('error', describe(error));
    });
    socket.on('close', () => this.forget(socket));
    return socket;
  }

  private forget(socket: Socket): void {
    if (!this.sockets.delete(socket)) return;
    if (this.sockets.size === 0) this.emit('close');
  }

  /**
   * Bound to all interfaces, the one socket hears broadcasts too. Bound to one interface's address, a second
   * socket on that interface's broadcast address and the same port hears them; it shares the address with other
   * devices on the same subnet and port (SO_REUSEADDR), which all hear each broadcast.
   */
  private listenForBroadcasts(address: string, port: number): void {
    const broadcast = address === '0.0.0.0' ? undefined : interfaceBroadcast(address);
    if (!broadcast || this.closed) {
      this.emit('listening', this.bound);
      return;
    }
    // A bind that fails is an error of the start: the device does not run deaf to broadcast Who-Is.
    const socket = this.createSocket(
      true,
      (error) => new Error(`broadcast address ${broadcast}:${port}: ${error.message}`),
    );
    this.broadcastSocket = socket;
    socket.once('listening', () => this.emit('listening', this.bound));
    socket.bind(port, broadcast);
  }

  /** The address the second socket listens on for broadcasts, when there is one. */
  broadcastListener(): { address: string; port: number } | undefined {
    const socket = this.broadcastSocket;
    if (!socket) return undefined;
    try {
      const info = socket.address();
      return { address: info.address, port: info.port };
    } catch {
      return undefined;
    }
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
    for (const socket of [...this.sockets]) {
      try {
        socket.close();
      } catch {
        // Already closed by its failed bind: no 'close' will come.
        this.forget(socket);
      }
    }
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

  /**
   * Sends `datagram` and says whether its octets have left for the kernel, so that the caller may write over them
   * at once. Node hands a send to the kernel there and then when the socket is bound and nothing waits in its
   * queue; a send the kernel cannot take yet (its buffer full) waits in the queue, still reading the caller's
   * octets: false then, and the caller must leave them alone.
   */
  sendFrom(datagram: Buffer, host: string, port: number): boolean {
    if (this.closed) return true;
    this.socket.send(datagram, port, host);
    return this.bound !== undefined && this.socket.getSendQueueCount() === 0;
  }

  sendTo(datagram: Buffer, host: string, port: number): void {
    if (this.closed) return;
    // No completion callback: Node then sends at once and calls nothing back into JavaScript afterwards (a
    // callback per answer cost as much as a tenth of a read). A send the kernel refuses at once is dropped
    // silently; UDP promises no delivery anyway, and the client asks again.
    this.socket.send(datagram, port, host);
  }
}
