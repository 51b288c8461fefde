/**
 * ReadProperty and ReadPropertyMultiple, the services a BEMS calls thousands of times a minute: requests decoded
 * with the bounded reader, answers assembled from each property's encoding, which is built once and reused until
 * the object changes (its version moves). A 20-object, 2-property request is mostly buffer copies.
 */
import { PropertyId as P } from '../core/bacnet/constants';
import type { BacnetObject } from '../core/bacnet/points';
import {
  isPropertyError,
  UNKNOWN_OBJECT,
  UNKNOWN_PROPERTY,
  type PropertyError,
  type ReadResult,
} from '../core/bacnet/properties';
import { DecodeError, Reader, RejectReason, Writer } from './codec';

const ARRAY_ALL = 0xffffffff;

export interface PropertyReference {
  id: number;
  index?: number;
}

export interface ReadAccessSpec {
  object: { type: number; instance: number };
  properties: PropertyReference[];
}

function index(reader: Reader, tagNumber: number): number | undefined {
  const value = reader.optionalContextUnsigned(tagNumber);
  return value === undefined || value === ARRAY_ALL ? undefined : value;
}

export function decodeReadProperty(buf: Buffer, start: number, end: number): ReadAccessSpec {
  const reader = new Reader(buf, start, end);
  const object = reader.contextOid(0);
  const id = reader.contextUnsigned(1);
  const arrayIndex = index(reader, 2);
  if (reader.remaining > 0) throw new DecodeError(RejectReason.TOO_MANY_ARGUMENTS, 'extra octets');
  return { object, properties: [arrayIndex === undefined ? { id } : { id, index: arrayIndex }] };
}

export function decodeReadPropertyMultiple(buf: Buffer, start: number, end: number): ReadAccessSpec[] {
  const reader = new Reader(buf, start, end);
  const specs: ReadAccessSpec[] = [];
  while (reader.remaining > 0) {
    const object = reader.contextOid(0);
    reader.expectOpening(1);
    const properties: PropertyReference[] = [];
    while (!reader.isClosing(1)) {
      const id = reader.contextUnsigned(0);
      const arrayIndex = index(reader, 1);
      properties.push(arrayIndex === undefined ? { id } : { id, index: arrayIndex });
    }
    reader.expectClosing(1);
    if (properties.length === 0)
      throw new DecodeError(RejectReason.MISSING_REQUIRED_PARAMETER, 'no property references');
    specs.push({ object, properties });
  }
  if (specs.length === 0)
    throw new DecodeError(RejectReason.MISSING_REQUIRED_PARAMETER, 'no read access spec');
  return specs;
}

const SPECIAL = new Map<number, 'all' | 'required' | 'optional'>([
  [P.ALL, 'all'],
  [P.REQUIRED, 'required'],
  [P.OPTIONAL, 'optional'],
]);

interface CacheEntry {
  version: number;
  values: Map<number, Buffer | PropertyError>;
}

/** Encodes property values into application-tagged octets, cached per object version. */
export class PropertyEncoder {
  private readonly cache = new WeakMap<BacnetObject, CacheEntry>();
  private readonly scratch = new Writer(2048);

  constructor(private readonly lookup: (type: number, instance: number) => BacnetObject | undefined) {}

  /** The encoded value (or the error) of one property. */
  encoded(object: BacnetObject, property: number, arrayIndex: number | undefined): Buffer | PropertyError {
    if (arrayIndex !== undefined || object.isVolatile(property))
      return this.encode(object.read(property, arrayIndex));
    let entry = this.cache.get(object);
    if (!entry || entry.version !== object.version) {
      entry = { version: object.version, values: new Map() };
      this.cache.set(object, entry);
    }
    let value = entry.values.get(property);
    if (value === undefined) {
      value = this.encode(object.read(property));
      entry.values.set(property, value);
    }
    return value;
  }

  private encode(result: ReadResult): Buffer | PropertyError {
    if (isPropertyError(result)) return result;
    this.scratch.reset();
    this.scratch.value(result);
    return this.scratch.take();
  }

  /** ReadProperty-ACK service data into `w`, or the error for an Error PDU. */
  readPropertyAck(w: Writer, spec: ReadAccessSpec): PropertyError | undefined {
    const object = this.lookup(spec.object.type, spec.object.instance);
    if (!object) return UNKNOWN_OBJECT;
    const ref = spec.properties[0] as PropertyReference;
    // ALL, REQUIRED and OPTIONAL belong to ReadPropertyMultiple only.
    if (SPECIAL.has(ref.id)) return UNKNOWN_PROPERTY;
    const value = this.encoded(object, ref.id, ref.index);
    if (!Buffer.isBuffer(value)) return value;
    // The answer names the object as it is, also when asked as device 4194303.
    w.ctxOid(0, object.type, object.instance);
    w.ctxEnum(1, ref.id);
    if (ref.index !== undefined) w.ctxUnsigned(2, ref.index);
    w.opening(3);
    w.bytes(value);
    w.closing(3);
    return undefined;
  }

  /** ReadPropertyMultiple-ACK service data into `w`: every result, errors included per property. */
  readPropertyMultipleAck(w: Writer, specs: ReadAccessSpec[]): void {
    for (const spec of specs) {
      const object = this.lookup(spec.object.type, spec.object.instance);
      w.ctxOid(0, object?.type ?? spec.object.type, object?.instance ?? spec.object.instance);
      w.opening(1);
      for (const ref of spec.properties) {
        const which = SPECIAL.get(ref.id);
        if (!object) {
          this.result(w, ref.id, ref.index, UNKNOWN_OBJECT);
          continue;
        }
        if (which) {
          for (const id of object.propertyIds(which))
            this.result(w, id, undefined, this.encoded(object, id, undefined));
          continue;
        }
        this.result(w, ref.id, ref.index, this.encoded(object, ref.id, ref.index));
      }
      w.closing(1);
    }
  }

  private result(w: Writer, id: number, arrayIndex: number | undefined, value: Buffer | PropertyError): void {
    w.ctxEnum(2, id);
    if (arrayIndex !== undefined) w.ctxUnsigned(3, arrayIndex);
    if (Buffer.isBuffer(value)) {
      w.opening(4);
      w.bytes(value);
      w.closing(4);
    } else {
      w.opening(5);
      w.appEnum(value.error[0]);
      w.appEnum(value.error[1]);
      w.closing(5);
    }
  }
}
