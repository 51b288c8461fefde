/**
 * What the BACnet client sends and reads: ReadProperty and WriteProperty requests (clause 15.5, 15.9) framed for
 * BACnet/IP, and the answers to them (SimpleACK, ComplexACK, Error, Reject, Abort), read by bounded code. A
 * datagram that does not parse is `undefined`, never an exception: nothing a peer sends can throw out of here.
 */
import { Writer } from '../bacnet/codec';
import { Pdu, Service, beginFrame, finishFrame, parseDatagram } from '../bacnet/pdu';
import { valueKind } from '../core/loadcontrol/commands';

/** A primitive application value as read: null, boolean, a number, or another tag this client does not need. */
export type AppValue = null | boolean | number | { tag: number };

export interface ObjectRef {
  objectType: number;
  instance: number;
  property: number;
  arrayIndex?: number;
}

const MAX_APDU_1476 = 0x05;

function request(w: Writer, invokeId: number, service: number, ref: ObjectRef): void {
  beginFrame(w, undefined, true);
  w.u8(Pdu.CONFIRMED_REQUEST << 4);
  w.u8(MAX_APDU_1476);
  w.u8(invokeId);
  w.u8(service);
  w.ctxOid(0, ref.objectType, ref.instance);
  w.ctxEnum(1, ref.property);
  if (ref.arrayIndex !== undefined) w.ctxUnsigned(2, ref.arrayIndex);
}

export function encodeReadProperty(invokeId: number, ref: ObjectRef): Buffer {
  const w = new Writer(64);
  request(w, invokeId, Service.READ_PROPERTY, ref);
  return finishFrame(w);
}

/** A signed integer (application tag 3) in the fewest octets of two's complement. */
function appSigned(w: Writer, value: number): void {
  const v = Math.trunc(value);
  const length =
    v >= -128 && v < 128 ? 1 : v >= -32768 && v < 32768 ? 2 : v >= -8388608 && v < 8388608 ? 3 : 4;
  w.tag(3, false, length);
  const unsigned = v < 0 ? v + 2 ** (length * 8) : v;
  for (let shift = (length - 1) * 8; shift >= 0; shift -= 8) w.u8(Math.floor(unsigned / 2 ** shift) & 0xff);
}

/** The value in the encoding the object type's present-value takes; null relinquishes the slot. */
export function encodeValue(w: Writer, objectType: number, value: number | boolean | null): void {
  if (value === null) return w.appNull();
  const n = typeof value === 'boolean' ? (value ? 1 : 0) : value;
  switch (valueKind(objectType)) {
    case 'enumerated':
      return w.appEnum(n);
    case 'unsigned':
      return w.appUnsigned(n);
    case 'signed':
      return appSigned(w, n);
    default:
      return w.appReal(n);
  }
}

export function encodeWriteProperty(
  invokeId: number,
  ref: ObjectRef,
  value: number | boolean | null,
  priority: number,
): Buffer {
  const w = new Writer(64);
  request(w, invokeId, Service.WRITE_PROPERTY, ref);
  w.opening(3);
  encodeValue(w, ref.objectType, value);
  w.closing(3);
  w.ctxUnsigned(4, priority);
  return finishFrame(w);
}

export type Answer =
  | { kind: 'ack'; invokeId: number; service: number }
  | { kind: 'complex'; invokeId: number; service: number; values: AppValue[] }
  | { kind: 'error'; invokeId: number; service: number; errorClass: number; errorCode: number }
  | { kind: 'reject'; invokeId: number; reason: number }
  | { kind: 'abort'; invokeId: number; reason: number };

/** A bounded tag reader: every read checks the end first. */
class Tags {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
  ) {}

  /** The next tag header, or undefined when it would run past the end. */
  header():
    { number: number; context: boolean; lvt: number; opening: boolean; closing: boolean } | undefined {
    const buf = this.buf;
    if (this.pos >= buf.length) return undefined;
    const first = buf[this.pos++]!;
    let number = first >> 4;
    if (number === 15) {
      if (this.pos >= buf.length) return undefined;
      number = buf[this.pos++]!;
    }
    const context = (first & 0x08) !== 0;
    let lvt = first & 0x07;
    const opening = context && lvt === 6;
    const closing = context && lvt === 7;
    if (!opening && !closing && lvt === 5) {
      if (this.pos >= buf.length) return undefined;
      lvt = buf[this.pos++]!;
      if (lvt === 254) {
        if (this.pos + 2 > buf.length) return undefined;
        lvt = buf.readUInt16BE(this.pos);
        this.pos += 2;
      } else if (lvt === 255) {
        if (this.pos + 4 > buf.length) return undefined;
        lvt = buf.readUInt32BE(this.pos);
        this.pos += 4;
      }
    }
    return { number, context, lvt, opening, closing };
  }

  /** `length` octets as an unsigned number, or undefined past the end or beyond 4 octets. */
  unsigned(length: number): number | undefined {
    if (length < 1 || length > 4 || this.pos + length > this.buf.length) return undefined;
    let value = 0;
    for (let i = 0; i < length; i++) value = value * 256 + this.buf[this.pos++]!;
    return value;
  }

  skip(length: number): boolean {
    if (this.pos + length > this.buf.length) return false;
    this.pos += length;
    return true;
  }

  /** An application value whose header was read; undefined when it does not fit. */
  value(tag: number, lvt: number): AppValue | undefined {
    switch (tag) {
      case 0:
        return null;
      case 1:
        return lvt === 1;
      case 2:
      case 9:
        return this.unsigned(lvt);
      case 3: {
        const raw = this.unsigned(lvt);
        if (raw === undefined) return undefined;
        const bound = 2 ** (lvt * 8 - 1);
        return raw >= bound ? raw - 2 * bound : raw;
      }
      case 4:
        if (lvt !== 4 || this.pos + 4 > this.buf.length) return undefined;
        this.pos += 4;
        return this.buf.readFloatBE(this.pos - 4);
      case 5:
        if (lvt !== 8 || this.pos + 8 > this.buf.length) return undefined;
        this.pos += 8;
        return this.buf.readDoubleBE(this.pos - 8);
      default:
        return this.skip(lvt) ? { tag } : undefined;
    }
  }
}

/** The values of a ReadProperty-ACK ([3] ... [3]); undefined when the body does not parse. */
function readPropertyValues(buf: Buffer, at: number): AppValue[] | undefined {
  const tags = new Tags(buf, at);
  // objectIdentifier [0], propertyIdentifier [1], optional propertyArrayIndex [2], then [3]
  for (;;) {
    const h = tags.header();
    if (!h) return undefined;
    if (h.opening && h.number === 3) break;
    if (!h.context || h.opening || h.closing || h.number > 2 || !tags.skip(h.lvt)) return undefined;
  }
  const values: AppValue[] = [];
  for (let depth = 0; ;) {
    const h = tags.header();
    if (!h) return undefined;
    if (h.closing && h.number === 3 && depth === 0) return values;
    if (values.length > 4096) return undefined;
    if (h.opening) depth += 1;
    else if (h.closing) {
      if (depth === 0) return undefined;
      depth -= 1;
    } else if (h.context || depth > 0) {
      // constructed values (not used by the properties this client reads): kept as their tag, skipped
      if (!tags.skip(h.lvt)) return undefined;
      if (depth === 0) values.push({ tag: -1 });
    } else {
      const value = tags.value(h.number, h.lvt);
      if (value === undefined) return undefined;
      values.push(value);
    }
  }
}

/** An answer to one of our requests, or undefined for anything else (including everything malformed). */
export function parseAnswer(buf: Buffer): Answer | undefined {
  const datagram = parseDatagram(buf);
  if (!datagram) return undefined;
  const at = datagram.apdu;
  const type = datagram.pduType;
  if (type === Pdu.SIMPLE_ACK) {
    if (at + 3 > buf.length) return undefined;
    return { kind: 'ack', invokeId: buf[at + 1]!, service: buf[at + 2]! };
  }
  if (type === Pdu.COMPLEX_ACK) {
    if (buf[at]! & 0x08) return undefined; // segmented: never asked for
    if (at + 3 > buf.length) return undefined;
    const values = readPropertyValues(buf, at + 3);
    if (!values) return undefined;
    return { kind: 'complex', invokeId: buf[at + 1]!, service: buf[at + 2]!, values };
  }
  if (type === Pdu.ERROR) {
    if (at + 3 > buf.length) return undefined;
    const tags = new Tags(buf, at + 3);
    const h1 = tags.header();
    const errorClass = h1 && !h1.context && h1.number === 9 ? tags.unsigned(h1.lvt) : undefined;
    const h2 = tags.header();
    const errorCode = h2 && !h2.context && h2.number === 9 ? tags.unsigned(h2.lvt) : undefined;
    if (errorClass === undefined || errorCode === undefined) return undefined;
    return { kind: 'error', invokeId: buf[at + 1]!, service: buf[at + 2]!, errorClass, errorCode };
  }
  if (type === Pdu.REJECT || type === Pdu.ABORT) {
    if (at + 3 > buf.length) return undefined;
    return { kind: type === Pdu.REJECT ? 'reject' : 'abort', invokeId: buf[at + 1]!, reason: buf[at + 2]! };
  }
  return undefined;
}

const ERROR_CLASSES = [
  'device',
  'object',
  'property',
  'resources',
  'security',
  'services',
  'vt',
  'communication',
];
const ERROR_CODES: Record<number, string> = {
  0: 'other',
  2: 'configuration-in-progress',
  3: 'device-busy',
  9: 'invalid-data-type',
  25: 'operational-problem',
  31: 'unknown-object',
  32: 'unknown-property',
  37: 'value-out-of-range',
  40: 'write-access-denied',
  42: 'invalid-array-index',
  50: 'property-is-not-an-array',
};

export function errorText(errorClass: number, errorCode: number): string {
  return `${ERROR_CLASSES[errorClass] ?? `class ${errorClass}`}: ${ERROR_CODES[errorCode] ?? `code ${errorCode}`}`;
}
