/**
 * A simulated BEMS controller: a small BACnet/IP device on UDP hosting commandable objects, as a building's
 * automation controller does, so load control can be tried and tested against the simulator with no hardware.
 *
 * Each object has a real 16-slot Priority_Array and a Relinquish_Default: its Present_Value is the value in the
 * highest-priority (lowest-numbered) slot that is not NULL, else the relinquish default. WriteProperty to the
 * present value writes a slot (priority 16 when none is given; NULL relinquishes it); ReadProperty and
 * ReadPropertyMultiple read any property (arrays by index too); Who-Is is answered with an I-Am to the asker.
 * It uses the package's own BACnet codec and socket (bacnet/codec.ts, pdu.ts, udp-transport.ts: bound to one
 * address, it also hears that subnet's broadcast Who-Is). A datagram that does not parse is
 * dropped and counted, never thrown; an unknown confirmed service is rejected.
 */
import { createSocket } from 'node:dgram';
import { DecodeError, Reader, RejectReason, Writer } from '../bacnet/codec';
import {
  beginFrame,
  finishFrame,
  parseConfirmed,
  parseDatagram,
  Pdu,
  Service,
  type Peer,
} from '../bacnet/pdu';
import { decodeReadProperty } from '../bacnet/read-service';
import { UdpTransport } from '../bacnet/udp-transport';
import { ErrorClass, ErrorCode } from '../core/bacnet/constants';
import { DEVICE_BASE_PROPERTIES } from '../core/bacnet/device-object';
import type { PropertyValue } from '../core/bacnet/properties';

/** Object types the controller hosts (ASHRAE 135 clause 21, BACnetObjectType). */
export const BemsObjectType = {
  ANALOG_OUTPUT: 1,
  ANALOG_VALUE: 2,
  BINARY_OUTPUT: 4,
  BINARY_VALUE: 5,
  DEVICE: 8,
  MULTI_STATE_VALUE: 19,
} as const;

const P = {
  ALL: 8,
  REQUIRED: 105,
  OPTIONAL: 80,
  APDU_TIMEOUT: 11,
  APPLICATION_SOFTWARE_VERSION: 12,
  DESCRIPTION: 28,
  DEVICE_ADDRESS_BINDING: 30,
  EVENT_STATE: 36,
  FIRMWARE_REVISION: 44,
  MAX_APDU_LENGTH_ACCEPTED: 62,
  MODEL_NAME: 70,
  NUMBER_OF_APDU_RETRIES: 73,
  NUMBER_OF_STATES: 74,
  OBJECT_IDENTIFIER: 75,
  OBJECT_LIST: 76,
  OBJECT_NAME: 77,
  OBJECT_TYPE: 79,
  OUT_OF_SERVICE: 81,
  POLARITY: 84,
  PRESENT_VALUE: 85,
  PRIORITY_ARRAY: 87,
  PROTOCOL_OBJECT_TYPES_SUPPORTED: 96,
  PROTOCOL_SERVICES_SUPPORTED: 97,
  PROTOCOL_VERSION: 98,
  RELINQUISH_DEFAULT: 104,
  SEGMENTATION_SUPPORTED: 107,
  STATE_TEXT: 110,
  STATUS_FLAGS: 111,
  SYSTEM_STATUS: 112,
  UNITS: 117,
  VENDOR_IDENTIFIER: 120,
  VENDOR_NAME: 121,
  PROTOCOL_REVISION: 139,
  DATABASE_REVISION: 155,
  CURRENT_COMMAND_PRIORITY: 431,
} as const;

const ARRAY_ALL = 0xffffffff;
const NO_SEGMENTATION = 3;
const MAX_APDU = 1476;

/** A commandable object of the controller. */
export interface BemsObjectSpec {
  type: number;
  instance: number;
  name: string;
  description?: string;
  /** Engineering units (analog objects), BACnetEngineeringUnits: 62 degrees Celsius, 98 percent. */
  units?: number;
  relinquishDefault: number;
  /** Accepted range of an analog value (inclusive). */
  min?: number;
  max?: number;
  /** A multi-state object's state texts (states 1..n). */
  states?: readonly string[];
}

interface BemsObject extends BemsObjectSpec {
  slots: Array<number | null>;
}

export interface BemsControllerOptions {
  deviceInstance: number;
  /** Local address to bind (default 127.0.0.1). */
  address?: string;
  /** UDP port; 0 takes a free one. */
  port: number;
  name?: string;
  objects: readonly BemsObjectSpec[];
}

export interface BemsControllerStats {
  received: number;
  answered: number;
  /** Datagrams that did not parse, or threw while handled: dropped. */
  dropped: number;
  rejected: number;
  writes: number;
}

/** Called when an object's present value changes (a write or a relinquish took effect). */
export type PresentValueListener = (type: number, instance: number, value: number) => void;

function isAnalog(type: number): boolean {
  return type === BemsObjectType.ANALOG_OUTPUT || type === BemsObjectType.ANALOG_VALUE;
}

function isBinary(type: number): boolean {
  return type === BemsObjectType.BINARY_OUTPUT || type === BemsObjectType.BINARY_VALUE;
}

type ReadResult = PropertyValue | { error: [number, number] };

const UNKNOWN_OBJECT: ReadResult = { error: [ErrorClass.OBJECT, ErrorCode.UNKNOWN_OBJECT] };
const UNKNOWN_PROPERTY: ReadResult = { error: [ErrorClass.PROPERTY, ErrorCode.UNKNOWN_PROPERTY] };
const NOT_AN_ARRAY: ReadResult = { error: [ErrorClass.PROPERTY, 50] };
const INVALID_ARRAY_INDEX: ReadResult = { error: [ErrorClass.PROPERTY, ErrorCode.INVALID_ARRAY_INDEX] };

function isError(value: ReadResult): value is { error: [number, number] } {
  return (value as { error?: unknown }).error !== undefined;
}

/** A primitive application value of a WriteProperty: null, a number (REAL, enumerated, unsigned), a boolean. */
type WriteValue =
  { t: 'null' } | { t: 'real' | 'enum' | 'unsigned' | 'signed'; v: number } | { t: 'bool'; v: boolean };

/** The one application-tagged primitive in buf[start, end); undefined when it is not one (or more follows). */
function decodeWriteValue(buf: Buffer, start: number, end: number): WriteValue | undefined {
  if (start >= end) return undefined;
  const first = buf[start] as number;
  if (first & 0x08) return undefined; // context-tagged: not a primitive application value
  const tag = first >> 4;
  let length = first & 0x07;
  let at = start + 1;
  if (tag === 1) return at === end && length <= 1 ? { t: 'bool', v: length === 1 } : undefined;
  if (length === 5) {
    if (at >= end) return undefined;
    length = buf[at++] as number;
  }
  if (at + length !== end) return undefined;
  const unsigned = (): number | undefined => {
    if (length < 1 || length > 4) return undefined;
    let v = 0;
    for (let i = 0; i < length; i++) v = v * 256 + (buf[at + i] as number);
    return v;
  };
  switch (tag) {
    case 0:
      return length === 0 ? { t: 'null' } : undefined;
    case 2: {
      const v = unsigned();
      return v === undefined ? undefined : { t: 'unsigned', v };
    }
    case 3: {
      const raw = unsigned();
      if (raw === undefined) return undefined;
      const bound = 2 ** (length * 8 - 1);
      return { t: 'signed', v: raw >= bound ? raw - 2 * bound : raw };
    }
    case 4:
      return length === 4 ? { t: 'real', v: buf.readFloatBE(at) } : undefined;
    case 5:
      return length === 8 ? { t: 'real', v: buf.readDoubleBE(at) } : undefined;
    case 9: {
      const v = unsigned();
      return v === undefined ? undefined : { t: 'enum', v };
    }
    default:
      return undefined;
  }
}

/** A UDP port free on `address` now (port 0 asks for one: the broadcast listener needs the number). */
function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createSocket('udp4');
    probe.once('error', reject);
    probe.bind(0, address, () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

export class SimulatedBemsController {
  private transport: UdpTransport | undefined;
  private readonly objects = new Map<string, BemsObject>();
  private readonly order: BemsObject[] = [];
  private readonly listeners: PresentValueListener[] = [];
  private readonly w = new Writer(2048);
  readonly counters: BemsControllerStats = { received: 0, answered: 0, dropped: 0, rejected: 0, writes: 0 };
  private readonly name: string;

  constructor(private readonly options: BemsControllerOptions) {
    if (
      !Number.isInteger(options.deviceInstance) ||
      options.deviceInstance < 0 ||
      options.deviceInstance > 4194302
    )
      throw new Error('device instance must be 0-4194302');
    this.name = options.name ?? `simulated-bems-${options.deviceInstance}`;
    for (const spec of options.objects) {
      const key = `${spec.type}:${spec.instance}`;
      if (this.objects.has(key)) throw new Error(`BEMS object ${key} is listed twice`);
      const object: BemsObject = { ...spec, slots: new Array<number | null>(16).fill(null) };
      this.objects.set(key, object);
      this.order.push(object);
    }
  }

  /** Hears every change of a present value (the simulator drives its loads from it). */
  onPresentValue(listener: PresentValueListener): void {
    this.listeners.push(listener);
  }

  get deviceInstance(): number {
    return this.options.deviceInstance;
  }

  get objectCount(): number {
    return this.order.length;
  }

  /** Binds the socket; resolves with the address it listens on. */
  async start(): Promise<{ address: string; port: number }> {
    const port =
      this.options.port === 0 ? await freePort(this.options.address ?? '127.0.0.1') : this.options.port;
    const transport = new UdpTransport({
      port,
      address: this.options.address ?? '127.0.0.1',
      route: (datagram, host, port) => {
        this.receive(datagram, host, port);
        return 'drop';
      },
      onThrow: () => {
        this.counters.dropped += 1;
      },
    });
    this.transport = transport;
    return new Promise((resolve, reject) => {
      const failed = (error: Error): void => {
        this.transport = undefined;
        transport.close();
        reject(error);
      };
      transport.once('error', failed);
      transport.once('listening', (bound: { address: string; port: number }) => {
        transport.off('error', failed);
        // A socket error after binding (an ICMP unreachable from a peer gone away) is not the device's end.
        transport.on('error', () => undefined);
        resolve(bound);
      });
      transport.open();
    });
  }

  async stop(): Promise<void> {
    const transport = this.transport;
    this.transport = undefined;
    if (!transport) return;
    await new Promise<void>((resolve) => {
      transport.once('close', () => resolve());
      transport.close();
    });
  }

  address(): { address: string; port: number } | undefined {
    return this.transport?.address();
  }

  /** The object's present value, or undefined when it has no such object. */
  presentValue(type: number, instance: number): number | undefined {
    const object = this.objects.get(`${type}:${instance}`);
    return object ? this.valueOf(object) : undefined;
  }

  /** The object's 16 slots (null: empty), or undefined when it has no such object. */
  priorityArray(type: number, instance: number): Array<number | null> | undefined {
    return this.objects.get(`${type}:${instance}`)?.slots.slice();
  }

  /**
   * Writes `value` into slot `priority` (null relinquishes it), as a WriteProperty to the present value does;
   * returns the error a WriteProperty would answer, or undefined.
   */
  command(type: number, instance: number, value: number | null, priority = 16): [number, number] | undefined {
    const object = this.objects.get(`${type}:${instance}`);
    if (!object) return [ErrorClass.OBJECT, ErrorCode.UNKNOWN_OBJECT];
    return this.writeSlot(object, value === null ? { t: 'null' } : { t: 'real', v: value }, priority, true);
  }

  // --- the object model -----------------------------------------------------------------------------------

  private valueOf(object: BemsObject): number {
    for (const slot of object.slots) if (slot !== null) return slot;
    return object.relinquishDefault;
  }

  private activePriority(object: BemsObject): number | undefined {
    const index = object.slots.findIndex((slot) => slot !== null);
    return index < 0 ? undefined : index + 1;
  }

  private writeSlot(
    object: BemsObject,
    value: WriteValue,
    priority: number,
    lenient = false,
  ): [number, number] | undefined {
    if (!Number.isInteger(priority) || priority < 1 || priority > 16)
      return [ErrorClass.PROPERTY, ErrorCode.VALUE_OUT_OF_RANGE];
    let next: number | null;
    if (value.t === 'null') next = null;
    else if (isAnalog(object.type)) {
      if (value.t !== 'real' && !lenient) return [ErrorClass.PROPERTY, ErrorCode.INVALID_DATA_TYPE];
      if (value.t === 'bool') return [ErrorClass.PROPERTY, ErrorCode.INVALID_DATA_TYPE];
      // What the wire holds: a REAL is single precision.
      next = Math.fround(value.v);
      if (
        !Number.isFinite(next) ||
        (object.min !== undefined && next < object.min) ||
        (object.max !== undefined && next > object.max)
      )
        return [ErrorClass.PROPERTY, ErrorCode.VALUE_OUT_OF_RANGE];
    } else if (isBinary(object.type)) {
      if (value.t !== 'enum' && !lenient) return [ErrorClass.PROPERTY, ErrorCode.INVALID_DATA_TYPE];
      const v = value.t === 'bool' ? (value.v ? 1 : 0) : value.v;
      if (v !== 0 && v !== 1) return [ErrorClass.PROPERTY, ErrorCode.VALUE_OUT_OF_RANGE];
      next = v;
    } else {
      if (value.t !== 'unsigned' && !lenient) return [ErrorClass.PROPERTY, ErrorCode.INVALID_DATA_TYPE];
      if (value.t === 'bool') return [ErrorClass.PROPERTY, ErrorCode.INVALID_DATA_TYPE];
      const states = object.states?.length ?? 1;
      if (!Number.isInteger(value.v) || value.v < 1 || value.v > states)
        return [ErrorClass.PROPERTY, ErrorCode.VALUE_OUT_OF_RANGE];
      next = value.v;
    }
    const before = this.valueOf(object);
    object.slots[priority - 1] = next;
    this.counters.writes += 1;
    const after = this.valueOf(object);
    if (after !== before)
      for (const listener of this.listeners) listener(object.type, object.instance, after);
    return undefined;
  }

  /** The device's properties: the ones every device has; this controller claims nothing more of its own. */
  private deviceProperties(): number[] {
    return [...DEVICE_BASE_PROPERTIES];
  }

  private objectProperties(object: BemsObject): number[] {
    const list: number[] = [
      P.OBJECT_IDENTIFIER,
      P.OBJECT_NAME,
      P.OBJECT_TYPE,
      P.PRESENT_VALUE,
      P.STATUS_FLAGS,
      P.EVENT_STATE,
      P.OUT_OF_SERVICE,
      P.PRIORITY_ARRAY,
      P.RELINQUISH_DEFAULT,
      P.CURRENT_COMMAND_PRIORITY,
    ];
    if (isAnalog(object.type)) list.push(P.UNITS);
    if (isBinary(object.type)) list.push(P.POLARITY);
    if (object.type === BemsObjectType.MULTI_STATE_VALUE) list.push(P.NUMBER_OF_STATES, P.STATE_TEXT);
    if (object.description !== undefined) list.push(P.DESCRIPTION);
    return list;
  }

  private valueEncoding(object: BemsObject, v: number): PropertyValue {
    if (isAnalog(object.type)) return { t: 'real', v };
    if (isBinary(object.type)) return { t: 'enum', v };
    return { t: 'unsigned', v };
  }

  private array(items: PropertyValue[], index: number | undefined): ReadResult {
    if (index === undefined) return { t: 'list', items };
    if (index === 0) return { t: 'unsigned', v: items.length };
    return items[index - 1] ?? INVALID_ARRAY_INDEX;
  }

  private read(type: number, instance: number, property: number, index: number | undefined): ReadResult {
    const device = this.options.deviceInstance;
    if (type === BemsObjectType.DEVICE && (instance === device || instance === 4194303)) {
      if (index !== undefined && property !== P.OBJECT_LIST) return NOT_AN_ARRAY;
      switch (property) {
        case P.OBJECT_IDENTIFIER:
          return { t: 'oid', type, instance: device };
        case P.OBJECT_NAME:
          return { t: 'string', v: this.name };
        case P.OBJECT_TYPE:
          return { t: 'enum', v: type };
        case P.SYSTEM_STATUS:
          return { t: 'enum', v: 0 };
        case P.VENDOR_NAME:
          return { t: 'string', v: 'node-red-contrib-prepay' };
        case P.VENDOR_IDENTIFIER:
          return { t: 'unsigned', v: 0 };
        case P.MODEL_NAME:
          return { t: 'string', v: 'simulated BEMS controller' };
        case P.FIRMWARE_REVISION:
        case P.APPLICATION_SOFTWARE_VERSION:
          return { t: 'string', v: '1.0' };
        case P.PROTOCOL_VERSION:
          return { t: 'unsigned', v: 1 };
        case P.PROTOCOL_REVISION:
          return { t: 'unsigned', v: 14 };
        case P.PROTOCOL_SERVICES_SUPPORTED:
          // readProperty 12, readPropertyMultiple 14, writeProperty 15, who-Is 34
          return { t: 'bits', length: 41, set: [12, 14, 15, 34] };
        case P.PROTOCOL_OBJECT_TYPES_SUPPORTED:
          return { t: 'bits', length: 60, set: [1, 2, 4, 5, 8, 19] };
        case P.OBJECT_LIST: {
          const objects = [
            { type, instance: device },
            ...this.order.map((o) => ({ type: o.type, instance: o.instance })),
          ];
          if (index === undefined) return { t: 'object-list', objects };
          if (index === 0) return { t: 'unsigned', v: objects.length };
          const ref = objects[index - 1];
          return ref ? { t: 'oid', type: ref.type, instance: ref.instance } : INVALID_ARRAY_INDEX;
        }
        case P.MAX_APDU_LENGTH_ACCEPTED:
          return { t: 'unsigned', v: MAX_APDU };
        case P.SEGMENTATION_SUPPORTED:
          return { t: 'enum', v: NO_SEGMENTATION };
        case P.APDU_TIMEOUT:
          return { t: 'unsigned', v: 3000 };
        case P.NUMBER_OF_APDU_RETRIES:
          return { t: 'unsigned', v: 3 };
        case P.DEVICE_ADDRESS_BINDING:
          return { t: 'list', items: [] };
        case P.DATABASE_REVISION:
          return { t: 'unsigned', v: 1 };
        default:
          return UNKNOWN_PROPERTY;
      }
    }
    const object = this.objects.get(`${type}:${instance}`);
    if (!object) return UNKNOWN_OBJECT;
    const arrays: readonly number[] = [P.PRIORITY_ARRAY, P.STATE_TEXT];
    if (index !== undefined && !arrays.includes(property)) return NOT_AN_ARRAY;
    switch (property) {
      case P.OBJECT_IDENTIFIER:
        return { t: 'oid', type, instance };
      case P.OBJECT_NAME:
        return { t: 'string', v: object.name };
      case P.OBJECT_TYPE:
        return { t: 'enum', v: type };
      case P.DESCRIPTION:
        return object.description === undefined ? UNKNOWN_PROPERTY : { t: 'string', v: object.description };
      case P.PRESENT_VALUE:
        return this.valueEncoding(object, this.valueOf(object));
      case P.STATUS_FLAGS:
        // in-alarm, fault, overridden, out-of-service: none (a commanded value is not an override by hand)
        return { t: 'bits', length: 4, set: [] };
      case P.EVENT_STATE:
        return { t: 'enum', v: 0 };
      case P.OUT_OF_SERVICE:
        return { t: 'bool', v: false };
      case P.PRIORITY_ARRAY:
        return this.array(
          object.slots.map((slot): PropertyValue =>
            slot === null ? { t: 'null' } : this.valueEncoding(object, slot),
          ),
          index,
        );
      case P.RELINQUISH_DEFAULT:
        return this.valueEncoding(object, object.relinquishDefault);
      case P.CURRENT_COMMAND_PRIORITY: {
        const active = this.activePriority(object);
        return active === undefined ? { t: 'null' } : { t: 'unsigned', v: active };
      }
      case P.UNITS:
        return isAnalog(object.type) ? { t: 'enum', v: object.units ?? 95 } : UNKNOWN_PROPERTY;
      case P.POLARITY:
        return isBinary(object.type) ? { t: 'enum', v: 0 } : UNKNOWN_PROPERTY;
      case P.NUMBER_OF_STATES:
        return object.type === BemsObjectType.MULTI_STATE_VALUE
          ? { t: 'unsigned', v: object.states?.length ?? 1 }
          : UNKNOWN_PROPERTY;
      case P.STATE_TEXT:
        return object.type === BemsObjectType.MULTI_STATE_VALUE
          ? this.array(
              (object.states ?? ['state 1']).map((text): PropertyValue => ({ t: 'string', v: text })),
              index,
            )
          : UNKNOWN_PROPERTY;
      default:
        return UNKNOWN_PROPERTY;
    }
  }

  private propertyList(type: number, instance: number, which: number): number[] | undefined {
    if (type === BemsObjectType.DEVICE && (instance === this.options.deviceInstance || instance === 4194303))
      return which === P.OPTIONAL ? [] : this.deviceProperties();
    const object = this.objects.get(`${type}:${instance}`);
    if (!object) return undefined;
    const all = this.objectProperties(object);
    if (which === P.ALL) return all;
    const optional: readonly number[] = [P.DESCRIPTION, P.CURRENT_COMMAND_PRIORITY, P.STATE_TEXT];
    return all.filter((id) => (which === P.OPTIONAL) === optional.includes(id));
  }

  // --- the wire ---------------------------------------------------------------------------------------------

  private receive(datagram: Buffer, host: string, port: number): void {
    this.counters.received += 1;
    try {
      if (!this.handle(datagram, { address: host, port })) this.counters.dropped += 1;
    } catch {
      // Nothing a peer sends may throw out of the socket: a request we cannot make sense of is dropped.
      this.counters.dropped += 1;
    }
  }

  /** Answers one datagram; false when it was dropped. */
  private handle(datagram: Buffer, from: { address: string; port: number }): boolean {
    const parsed = parseDatagram(datagram);
    if (!parsed) return false;
    // Answers go to the UDP sender (a forwarded request's origin is answered through the sender too).
    const peer: Peer = parsed.source
      ? { host: from.address, port: from.port, station: parsed.source }
      : { host: from.address, port: from.port };
    const apdu = parsed.apdu;
    if (parsed.pduType === Pdu.UNCONFIRMED_REQUEST) {
      if (datagram[apdu + 1] !== Service.WHO_IS) return false;
      return this.whoIs(datagram, apdu + 2, peer);
    }
    if (parsed.pduType !== Pdu.CONFIRMED_REQUEST) return false;
    const header = parseConfirmed(datagram, apdu);
    if (!header) return false;
    if (header.segmented) {
      this.abort(peer, header.invokeId, 4); // segmentation not supported
      return true;
    }
    try {
      switch (header.service) {
        case Service.READ_PROPERTY:
          this.readProperty(datagram, header.body, peer, header.invokeId, header.maxApdu);
          break;
        case Service.READ_PROPERTY_MULTIPLE:
          this.readPropertyMultiple(datagram, header.body, peer, header.invokeId, header.maxApdu);
          break;
        case Service.WRITE_PROPERTY:
          this.writeProperty(datagram, header.body, peer, header.invokeId);
          break;
        default:
          this.reject(peer, header.invokeId, RejectReason.UNRECOGNIZED_SERVICE);
      }
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.reject(peer, header.invokeId, error.reason);
    }
    return true;
  }

  private whoIs(datagram: Buffer, at: number, peer: Peer): boolean {
    const reader = new Reader(datagram, at, datagram.length);
    if (reader.remaining > 0) {
      const low = reader.contextUnsigned(0);
      const high = reader.contextUnsigned(1);
      if (reader.remaining > 0) return false;
      const instance = this.options.deviceInstance;
      if (instance < low || instance > high) return true;
    }
    const w = this.w;
    beginFrame(w, peer);
    w.u8(Pdu.UNCONFIRMED_REQUEST << 4);
    w.u8(Service.I_AM);
    w.appOid(BemsObjectType.DEVICE, this.options.deviceInstance);
    w.appUnsigned(MAX_APDU);
    w.appEnum(NO_SEGMENTATION);
    w.appUnsigned(0);
    this.send(finishFrame(w), peer);
    return true;
  }

  private complexAck(peer: Peer, invokeId: number, service: number): void {
    beginFrame(this.w, peer);
    this.w.u8(Pdu.COMPLEX_ACK << 4);
    this.w.u8(invokeId);
    this.w.u8(service);
  }

  private readProperty(buf: Buffer, body: number, peer: Peer, invokeId: number, maxApdu: number): void {
    const spec = decodeReadProperty(buf, body, buf.length);
    const ref = spec.properties[0]!;
    const { type, instance } = spec.object;
    if (ref.id === P.ALL || ref.id === P.REQUIRED || ref.id === P.OPTIONAL)
      return this.error(peer, invokeId, Service.READ_PROPERTY, UNKNOWN_PROPERTY);
    const value = this.read(type, instance, ref.id, ref.index);
    if (isError(value)) return this.error(peer, invokeId, Service.READ_PROPERTY, value);
    const w = this.w;
    this.complexAck(peer, invokeId, Service.READ_PROPERTY);
    const start = w.pos;
    // The answer names the device as it is, also when asked as device 4194303.
    w.ctxOid(0, type, type === BemsObjectType.DEVICE ? this.options.deviceInstance : instance);
    w.ctxEnum(1, ref.id);
    if (ref.index !== undefined) w.ctxUnsigned(2, ref.index);
    w.opening(3);
    w.value(value);
    w.closing(3);
    this.finish(peer, invokeId, w.pos - start + 3, maxApdu);
  }

  private readPropertyMultiple(
    buf: Buffer,
    body: number,
    peer: Peer,
    invokeId: number,
    maxApdu: number,
  ): void {
    const reader = new Reader(buf, body, buf.length);
    // Decoded whole first: a malformed request is rejected before anything is answered.
    const specs: Array<{ type: number; instance: number; refs: Array<{ id: number; index?: number }> }> = [];
    while (reader.remaining > 0) {
      const oid = reader.contextOid(0);
      reader.expectOpening(1);
      const refs: Array<{ id: number; index?: number }> = [];
      while (!reader.isClosing(1)) {
        const id = reader.contextUnsigned(0);
        const index = reader.optionalContextUnsigned(1);
        refs.push(index === undefined || index === ARRAY_ALL ? { id } : { id, index });
        if (refs.length > 256) throw new DecodeError(RejectReason.TOO_MANY_ARGUMENTS, 'too many references');
      }
      reader.expectClosing(1);
      if (refs.length === 0) throw new DecodeError(RejectReason.MISSING_REQUIRED_PARAMETER, 'no references');
      specs.push({ type: oid.type, instance: oid.instance, refs });
      if (specs.length > 256) throw new DecodeError(RejectReason.TOO_MANY_ARGUMENTS, 'too many objects');
    }
    if (specs.length === 0)
      throw new DecodeError(RejectReason.MISSING_REQUIRED_PARAMETER, 'no read access spec');
    const w = this.w;
    this.complexAck(peer, invokeId, Service.READ_PROPERTY_MULTIPLE);
    const start = w.pos;
    for (const spec of specs) {
      const known = this.propertyList(spec.type, spec.instance, P.ALL) !== undefined;
      const named =
        spec.type === BemsObjectType.DEVICE && known ? this.options.deviceInstance : spec.instance;
      w.ctxOid(0, spec.type, named);
      w.opening(1);
      for (const ref of spec.refs) {
        const special = ref.id === P.ALL || ref.id === P.REQUIRED || ref.id === P.OPTIONAL;
        if (special && known) {
          for (const id of this.propertyList(spec.type, spec.instance, ref.id) ?? [])
            this.result(w, id, undefined, this.read(spec.type, spec.instance, id, undefined));
        } else {
          this.result(
            w,
            ref.id,
            ref.index,
            known ? this.read(spec.type, spec.instance, ref.id, ref.index) : UNKNOWN_OBJECT,
          );
        }
      }
      w.closing(1);
    }
    this.finish(peer, invokeId, w.pos - start + 3, maxApdu);
  }

  private result(w: Writer, id: number, index: number | undefined, value: ReadResult): void {
    w.ctxEnum(2, id);
    if (index !== undefined) w.ctxUnsigned(3, index);
    if (isError(value)) {
      w.opening(5);
      w.appEnum(value.error[0]);
      w.appEnum(value.error[1]);
      w.closing(5);
    } else {
      w.opening(4);
      w.value(value);
      w.closing(4);
    }
  }

  /** Sends the answer in the writer, or an abort when it is longer than the asker takes (no segmentation). */
  private finish(peer: Peer, invokeId: number, apduLength: number, maxApdu: number): void {
    if (apduLength > Math.min(maxApdu, MAX_APDU)) return this.abort(peer, invokeId, 4);
    this.send(finishFrame(this.w), peer);
  }

  private writeProperty(buf: Buffer, body: number, peer: Peer, invokeId: number): void {
    const reader = new Reader(buf, body, buf.length);
    const oid = reader.contextOid(0);
    const property = reader.contextUnsigned(1);
    const index = reader.optionalContextUnsigned(2);
    const { start, end } = reader.enclosed(3);
    const priority = reader.optionalContextUnsigned(4) ?? 16;
    if (reader.remaining > 0) throw new DecodeError(RejectReason.TOO_MANY_ARGUMENTS, 'extra octets');
    const fail = (error: [number, number]): void =>
      this.error(peer, invokeId, Service.WRITE_PROPERTY, { error });
    const object = this.objects.get(`${oid.type}:${oid.instance}`);
    if (!object) {
      const device =
        oid.type === BemsObjectType.DEVICE &&
        (oid.instance === this.options.deviceInstance || oid.instance === 4194303);
      return fail(
        device
          ? [ErrorClass.PROPERTY, ErrorCode.WRITE_ACCESS_DENIED]
          : [ErrorClass.OBJECT, ErrorCode.UNKNOWN_OBJECT],
      );
    }
    if (property !== P.PRESENT_VALUE) {
      const known = this.objectProperties(object).includes(property);
      return fail(
        known
          ? [ErrorClass.PROPERTY, ErrorCode.WRITE_ACCESS_DENIED]
          : [ErrorClass.PROPERTY, ErrorCode.UNKNOWN_PROPERTY],
      );
    }
    if (index !== undefined && index !== ARRAY_ALL) return fail([ErrorClass.PROPERTY, 50]);
    const value = decodeWriteValue(buf, start, end);
    if (!value) return fail([ErrorClass.PROPERTY, ErrorCode.INVALID_DATA_TYPE]);
    const refused = this.writeSlot(object, value, priority);
    if (refused) return fail(refused);
    const w = this.w;
    beginFrame(w, peer);
    w.u8(Pdu.SIMPLE_ACK << 4);
    w.u8(invokeId);
    w.u8(Service.WRITE_PROPERTY);
    this.send(finishFrame(w), peer);
  }

  private error(
    peer: Peer,
    invokeId: number,
    service: number,
    value: { error: [number, number] } | ReadResult,
  ): void {
    const error = isError(value) ? value.error : [ErrorClass.DEVICE, ErrorCode.OTHER];
    const w = this.w;
    beginFrame(w, peer);
    w.u8(Pdu.ERROR << 4);
    w.u8(invokeId);
    w.u8(service);
    w.appEnum(error[0]!);
    w.appEnum(error[1]!);
    this.send(finishFrame(w), peer);
  }

  private reject(peer: Peer, invokeId: number, reason: number): void {
    this.counters.rejected += 1;
    const w = this.w;
    beginFrame(w, peer);
    w.u8(Pdu.REJECT << 4);
    w.u8(invokeId);
    w.u8(reason);
    this.send(finishFrame(w), peer);
  }

  private abort(peer: Peer, invokeId: number, reason: number): void {
    const w = this.w;
    beginFrame(w, peer);
    w.u8((Pdu.ABORT << 4) | 0x01); // sent by the server
    w.u8(invokeId);
    w.u8(reason);
    this.send(finishFrame(w), peer);
  }

  private send(datagram: Buffer, peer: Peer): void {
    this.counters.answered += 1;
    this.transport?.sendTo(datagram, peer.host, peer.port);
  }
}
