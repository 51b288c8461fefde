/**
 * A small confirmed-request BACnet/IP client: ReadProperty and WriteProperty to one address, with the APDU
 * timeout and retries of clause 5.4 and invoke ids of its own. Our own code rather than @bacnet-js/client's
 * client: every datagram is read by bounded code inside a guard (a garbage packet to this port is counted and
 * dropped; the library's UDP handler lets some throw and end the process), answers are matched by address and
 * invoke id (the library's request manager drops a pending request that reuses a timed-out one's id), and the
 * peer's port is always the one configured (the library assumes 47808 in places).
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import { Service } from '../bacnet/pdu';
import {
  encodeReadProperty,
  encodeWriteProperty,
  errorText,
  parseAnswer,
  type Answer,
  type AppValue,
  type ObjectRef,
} from './client-codec';

export interface ClientOptions {
  /** Local address to bind (0.0.0.0: every interface). */
  bindAddress: string;
  /** Local UDP port (0: any free port). */
  port: number;
  apduTimeoutMs: number;
  /** Resends after the first attempt. */
  retries: number;
}

export interface PeerAddress {
  host: string;
  port: number;
}

/** A refusal by the peer (Error, Reject, Abort) or silence after every retry; `code` says which. */
export class BacnetRequestError extends Error {
  constructor(
    readonly code: 'error' | 'reject' | 'abort' | 'timeout' | 'closed',
    message: string,
  ) {
    super(message);
    this.name = 'BacnetRequestError';
  }
}

/** "host:port" (port default 47808) as an IPv4 peer; a string saying what is wrong otherwise. */
export function parsePeer(text: string): PeerAddress | string {
  const trimmed = text.trim();
  const match = /^([^:]+)(?::(\d+))?$/.exec(trimmed);
  if (!match || !isIPv4(match[1]!)) return `"${text}" is not an IPv4 address with an optional :port`;
  const port = match[2] === undefined ? 47808 : Number(match[2]);
  if (port < 1 || port > 65535) return `port ${port} is not 1-65535`;
  return { host: match[1]!, port };
}

interface Pending {
  peer: string;
  invokeId: number;
  datagram: Buffer;
  address: PeerAddress;
  attempts: number;
  timer?: NodeJS.Timeout;
  resolve(answer: Answer): void;
  reject(error: Error): void;
}

export interface ClientStats {
  sent: number;
  received: number;
  /** Datagrams that were not an answer to a pending request (malformed, late, unknown invoke id). */
  dropped: number;
  timeouts: number;
}

export class BacnetClient {
  private readonly pending = new Map<string, Pending>();
  private nextInvokeId = 0;
  private closed = false;
  readonly stats: ClientStats = { sent: 0, received: 0, dropped: 0, timeouts: 0 };

  private constructor(
    private readonly socket: Socket,
    readonly options: ClientOptions,
  ) {
    socket.on('message', (buf: Buffer, rinfo: { address: string; port: number }) => {
      // The guard: whatever arrives, nothing thrown here may reach the event loop.
      try {
        this.onMessage(buf, `${rinfo.address}:${rinfo.port}`);
      } catch {
        this.stats.dropped += 1;
      }
    });
    // A send error (no route) is the request's failure, reported by its timeout; never an uncaught error.
    socket.on('error', () => undefined);
  }

  static open(options: ClientOptions): Promise<BacnetClient> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type: 'udp4', reuseAddr: false });
      const failed = (error: Error): void => reject(error);
      socket.once('error', failed);
      socket.bind(options.port, options.bindAddress, () => {
        socket.off('error', failed);
        resolve(new BacnetClient(socket, options));
      });
    });
  }

  /** The local UDP port (the one bound when 0 was asked for). */
  get port(): number {
    return this.socket.address().port;
  }

  private onMessage(buf: Buffer, from: string): void {
    this.stats.received += 1;
    const answer = parseAnswer(buf);
    const pending = answer ? this.pending.get(`${from}#${answer.invokeId}`) : undefined;
    if (!answer || !pending) {
      this.stats.dropped += 1;
      return;
    }
    this.finish(pending);
    pending.resolve(answer);
  }

  private finish(pending: Pending): void {
    if (pending.timer) clearTimeout(pending.timer);
    this.pending.delete(`${pending.peer}#${pending.invokeId}`);
  }

  /** A free invoke id for the peer (ids are per peer: 256 may be outstanding to each). */
  private invokeIdFor(peer: string): number {
    for (let i = 0; i < 256; i++) {
      const id = (this.nextInvokeId + i) & 0xff;
      if (!this.pending.has(`${peer}#${id}`)) {
        this.nextInvokeId = (id + 1) & 0xff;
        return id;
      }
    }
    throw new BacnetRequestError('abort', `256 requests outstanding to ${peer}`);
  }

  private send(pending: Pending): void {
    pending.attempts += 1;
    this.stats.sent += 1;
    this.socket.send(pending.datagram, pending.address.port, pending.address.host);
    pending.timer = setTimeout(() => {
      if (pending.attempts <= this.options.retries) return this.send(pending);
      this.finish(pending);
      this.stats.timeouts += 1;
      pending.reject(
        new BacnetRequestError(
          'timeout',
          `no answer from ${pending.peer} after ${pending.attempts} attempt(s) of ${this.options.apduTimeoutMs} ms`,
        ),
      );
    }, this.options.apduTimeoutMs);
  }

  private transact(address: PeerAddress, build: (invokeId: number) => Buffer): Promise<Answer> {
    if (this.closed) return Promise.reject(new BacnetRequestError('closed', 'the BACnet client is closed'));
    const peer = `${address.host}:${address.port}`;
    return new Promise((resolve, reject) => {
      const invokeId = this.invokeIdFor(peer);
      const pending: Pending = {
        peer,
        invokeId,
        datagram: build(invokeId),
        address,
        attempts: 0,
        resolve,
        reject,
      };
      this.pending.set(`${peer}#${invokeId}`, pending);
      this.send(pending);
    });
  }

  private static refusal(answer: Answer, what: string): BacnetRequestError | undefined {
    if (answer.kind === 'error')
      return new BacnetRequestError('error', `${what}: ${errorText(answer.errorClass, answer.errorCode)}`);
    if (answer.kind === 'reject')
      return new BacnetRequestError('reject', `${what}: rejected (reason ${answer.reason})`);
    if (answer.kind === 'abort')
      return new BacnetRequestError('abort', `${what}: aborted (reason ${answer.reason})`);
    return undefined;
  }

  /** The property's value(s): one for a plain property, each element for an array read whole. */
  async readProperty(address: PeerAddress, ref: ObjectRef): Promise<AppValue[]> {
    const answer = await this.transact(address, (id) => encodeReadProperty(id, ref));
    const refused = BacnetClient.refusal(answer, `read ${ref.objectType}:${ref.instance}.${ref.property}`);
    if (refused) throw refused;
    if (answer.kind !== 'complex' || answer.service !== Service.READ_PROPERTY)
      throw new BacnetRequestError('reject', 'an answer that is not a ReadProperty-ACK');
    return answer.values;
  }

  /** Writes `value` (null relinquishes) at `priority`. */
  async writeProperty(
    address: PeerAddress,
    ref: ObjectRef,
    value: number | boolean | null,
    priority: number,
  ): Promise<void> {
    const answer = await this.transact(address, (id) => encodeWriteProperty(id, ref, value, priority));
    const refused = BacnetClient.refusal(answer, `write ${ref.objectType}:${ref.instance}.${ref.property}`);
    if (refused) throw refused;
    if (answer.kind !== 'ack' || answer.service !== Service.WRITE_PROPERTY)
      throw new BacnetRequestError('reject', 'an answer that is not a WriteProperty acknowledgement');
  }

  /** Fails what is pending and closes the socket. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const pending of [...this.pending.values()]) {
      this.finish(pending);
      pending.reject(new BacnetRequestError('closed', 'the BACnet client was closed'));
    }
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
