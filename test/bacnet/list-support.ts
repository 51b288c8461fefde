/**
 * A BEMS front-end's side of subscribing to alarms: AddListElement and RemoveListElement of BACnetDestinations
 * (no bacnet-stack tool sends them, and @bacnet-js/client cannot encode a destination), built as exact octets
 * and sent from a raw UDP socket; and the answers those services get, decoded.
 */
import { createSocket, type Socket } from 'node:dgram';

export const ADD_LIST_ELEMENT = 8;
export const REMOVE_LIST_ELEMENT = 9;
export const WRITE_PROPERTY = 15;

/** A destination as the tests write it: an IPv4 address and port on the local network. */
export interface Destination {
  port: number;
  processId: number;
  confirmed?: boolean;
  /** Transitions heard: to-offnormal, to-fault, to-normal (default all). */
  transitions?: [boolean, boolean, boolean];
  /** Valid days, Monday first (default every day). */
  days?: boolean[];
  /** Override the 6-octet MAC (127.0.0.1 and the port) to send a bad one. */
  mac?: number[];
}

function bits(flags: readonly boolean[]): number[] {
  const octets: number[] = [];
  for (let i = 0; i < flags.length; i += 8) {
    let octet = 0;
    for (let b = 0; b < 8 && i + b < flags.length; b++) if (flags[i + b]) octet |= 0x80 >> b;
    octets.push(octet);
  }
  const unused = (8 - (flags.length % 8)) % 8;
  return [0x80 | (octets.length + 1), unused, ...octets];
}

/** A BACnetDestination, application-tagged, as ASHRAE 135 clause 21 encodes it (every day, all day). */
export function destination(d: Destination): number[] {
  const mac = d.mac ?? [127, 0, 0, 1, d.port >> 8, d.port & 0xff];
  // prettier-ignore
  return [
    ...bits(d.days ?? [true, true, true, true, true, true, true]),
    0xb4, 0, 0, 0, 0, // from 00:00:00.00
    0xb4, 23, 59, 59, 99, // to 23:59:59.99
    0x1e, // recipient: address [1]
    0x21, 0x00, // network number 0 (local)
    0x60 | (mac.length < 5 ? mac.length : 5), ...(mac.length < 5 ? [] : [mac.length]), ...mac,
    0x1f,
    0x24, (d.processId >>> 24) & 0xff, (d.processId >>> 16) & 0xff, (d.processId >>> 8) & 0xff, d.processId & 0xff,
    d.confirmed ? 0x11 : 0x10,
    ...bits(d.transitions ?? [true, true, true]),
  ];
}

/** AddListElement / RemoveListElement (or WriteProperty) of notification class `nc`'s Recipient_List. */
export function listRequest(
  service: number,
  invokeId: number,
  elements: number[][],
  options: { type?: number; instance?: number; property?: number; index?: number } = {},
): Buffer {
  const type = options.type ?? 15;
  const instance = options.instance ?? 1;
  const id = type * 0x400000 + instance;
  // prettier-ignore
  const body = [
    0x0c, (id >>> 24) & 0xff, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff,
    0x19, options.property ?? 102,
    ...(options.index !== undefined ? [0x29, options.index] : []),
    0x3e, ...elements.flat(), 0x3f,
  ];
  const apdu = [0x00, 0x05, invokeId, service, ...body];
  const npdu = [0x01, 0x04, ...apdu];
  return Buffer.from([0x81, 0x0a, (npdu.length + 4) >> 8, (npdu.length + 4) & 0xff, ...npdu]);
}

/** What a confirmed request got: a SimpleACK, an Error (with a Change-List-Error's element), a Reject. */
export type Answer =
  | { kind: 'ack' }
  | { kind: 'error'; errorClass: number; code: number; element?: number }
  | { kind: 'reject'; reason: number }
  | { kind: 'other'; octets: number[] };

export function decodeAnswer(datagram: Buffer): Answer {
  const apdu = datagram.subarray(6);
  const type = (apdu[0] as number) >> 4;
  if (type === 2) return { kind: 'ack' };
  if (type === 6) return { kind: 'reject', reason: apdu[2] as number };
  if (type === 5) {
    // Error: class and code as application enumerations, inside [0] for a Change-List-Error.
    const change = apdu[3] === 0x0e;
    const at = change ? 4 : 3;
    const errorClass = apdu[at + 1] as number;
    const code = apdu[at + 3] as number;
    return change
      ? { kind: 'error', errorClass, code, element: apdu[at + 6] as number }
      : { kind: 'error', errorClass, code };
  }
  return { kind: 'other', octets: [...apdu] };
}

export interface RawPeer {
  socket: Socket;
  port: number;
  /** The next datagram that passes `filter`, or a rejection after `ms`. */
  next(ms?: number, filter?: (datagram: Buffer) => boolean): Promise<Buffer>;
  /** Sends `request` to the device and decodes its answer. */
  ask(request: Buffer, devicePort: number): Promise<Answer>;
  /** Every datagram heard so far. */
  heard: Buffer[];
  close(): void;
}

/** The APDU service choice of an unconfirmed or confirmed request (an EventNotification is 3 or 2). */
export function serviceOf(datagram: Buffer): { pduType: number; service: number } {
  const apdu = datagram.subarray(6);
  const pduType = (apdu[0] as number) >> 4;
  return { pduType, service: (pduType === 0 ? apdu[3] : apdu[1]) as number };
}

export async function rawPeer(): Promise<RawPeer> {
  const socket = createSocket('udp4');
  const heard: Buffer[] = [];
  const waiting = new Set<(b: Buffer) => boolean>();
  socket.on('message', (m: Buffer) => {
    heard.push(m);
    for (const w of waiting) if (w(m)) return;
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const next = (ms = 2000, filter: (d: Buffer) => boolean = () => true): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const taker = (b: Buffer): boolean => {
        if (!filter(b)) return false;
        clearTimeout(timer);
        waiting.delete(taker);
        resolve(b);
        return true;
      };
      const timer = setTimeout(() => {
        waiting.delete(taker);
        reject(new Error(`nothing heard within ${ms} ms`));
      }, ms);
      waiting.add(taker);
    });
  return {
    socket,
    port: socket.address().port,
    heard,
    next,
    ask: async (request, devicePort) => {
      const invokeId = request[8];
      const answer = next(2000, (d) => {
        const type = (d[6] as number) >> 4;
        return type >= 2 && type <= 7 && d[7] === invokeId;
      });
      socket.send(request, devicePort, '127.0.0.1');
      return decodeAnswer(await answer);
    },
    close: () => socket.close(),
  };
}
