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
import { AnswerTable } from './answer-table';
import { DecodeError, Reader, RejectReason, viewOf, Writer } from './codec';

const ARRAY_ALL = 0xffffffff;

export interface PropertyReference {
  id: number;
  index?: number | undefined;
}

export interface ReadAccessSpec {
  object: { type: number; instance: number };
  properties: PropertyReference[];
  /**
   * One or two whole properties (no index), as a BEMS polls: a number naming that list, so the cached answer for
   * it is found by one comparison.
   */
  key?: number | undefined;
}

const ID_SPACE = 4_194_304;

/** The key of a list of one or two property identifiers without index; undefined for any other list. */
function shapeKey(properties: readonly PropertyReference[]): number | undefined {
  const [first, second] = properties;
  if (!first || first.index !== undefined || properties.length > 2) return undefined;
  if (!second) return -1 - first.id;
  if (second.index !== undefined) return undefined;
  return first.id * ID_SPACE + second.id;
}

/** The four octets of an object identifier at `buf[at]`, as an unsigned 32-bit number. */
function readOid(buf: Buffer, at: number): number {
  return (
    (((buf[at] as number) << 24) |
      ((buf[at + 1] as number) << 16) |
      ((buf[at + 2] as number) << 8) |
      (buf[at + 3] as number)) >>>
    0
  );
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

/**
 * One read access specification of a ReadPropertyMultiple, decoded into `spec`, whose object, list and property
 * references are reused from one specification to the next: a request of 20 objects is answered as it is decoded,
 * without a hundred small objects per request. The caller answers `spec` before decoding the next.
 */
function decodeSpecInto(reader: Reader, spec: ReadAccessSpec, pool: PropertyReference[]): void {
  const oid = reader.contextOid(0);
  spec.object.type = oid.type;
  spec.object.instance = oid.instance;
  reader.expectOpening(1);
  const properties = spec.properties;
  let count = 0;
  while (!reader.isClosing(1)) {
    const id = reader.contextUnsigned(0);
    const arrayIndex = index(reader, 1);
    let ref = pool[count];
    if (!ref) {
      ref = { id: 0, index: undefined };
      pool.push(ref);
    }
    ref.id = id;
    ref.index = arrayIndex;
    properties[count++] = ref;
  }
  properties.length = count;
  reader.expectClosing(1);
  if (count === 0) throw new DecodeError(RejectReason.MISSING_REQUIRED_PARAMETER, 'no property references');
  spec.key = shapeKey(properties);
}

function newSpec(): ReadAccessSpec {
  return { object: { type: 0, instance: 0 }, properties: [], key: undefined };
}

const SPECIAL = new Map<number, 'all' | 'required' | 'optional'>([
  [P.ALL, 'all'],
  [P.REQUIRED, 'required'],
  [P.OPTIONAL, 'optional'],
]);

/** An object's encoded properties, valid while its version stays the same (kept in the object's slot). */
interface Encodings {
  version: number;
  values: Map<number, Buffer | PropertyError>;
  /**
   * Whole ReadPropertyMultiple results, [2] id then [4] value [4] or [5] error [5], as property id and octets in
   * turn: an object has a dozen properties and a BEMS reads two or three, so a short scan beats a hash.
   */
  results: Array<number | Buffer>;
  /** [0] object identifier, [1] opening: how every ReadPropertyMultiple answer for this object starts. */
  head?: Buffer;
  /**
   * The whole answer for this object to the last keyed list of properties asked (a BEMS asks the same each
   * poll): its key, and where its octets are in an arena shared by all objects (a read of 20 objects touches 20
   * small runs of one buffer rather than 20 buffers and their shape arrays).
   */
  answerKey?: number;
  arena?: Buffer;
  answerAt: number;
  answerLength: number;
}

/** Encodes property values into application-tagged octets, cached per object version. */
const ARENA_SIZE = 1 << 20;

export class PropertyEncoder {
  private readonly scratch = new Writer(2048);
  private arena = Buffer.allocUnsafeSlow(ARENA_SIZE);
  private arenaPos = 0;
  private readonly table = new AnswerTable();
  /** The specification being answered, and its property references, reused by every request. */
  private readonly spec = newSpec();
  private readonly references: PropertyReference[] = [];

  constructor(private readonly lookup: (type: number, instance: number) => BacnetObject | undefined) {}

  private entry(object: BacnetObject): Encodings {
    let entry = object.encodings as Encodings | undefined;
    if (!entry || entry.version !== object.version) {
      entry = { version: object.version, values: new Map(), results: [], answerAt: 0, answerLength: 0 };
      object.encodings = entry;
    }
    return entry;
  }

  /** The encoded value (or the error) of one property. */
  encoded(object: BacnetObject, property: number, arrayIndex: number | undefined): Buffer | PropertyError {
    if (arrayIndex !== undefined || object.isVolatile(property))
      return this.encode(object.read(property, arrayIndex));
    const entry = this.entry(object);
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

  /**
   * ReadProperty-ACK service data into `w` for the request in `buf[start, end)`, or the error for an Error PDU.
   * The request a BEMS sends (an object identifier and a property identifier below 256, no index) is read
   * straight from its seven octets; anything else goes through the general decoder.
   */
  readPropertyAckFrom(w: Writer, buf: Buffer, start: number, end: number): PropertyError | undefined {
    if (end - start === 7 && buf[start] === 0x0c && buf[start + 5] === 0x19) {
      const raw = readOid(buf, start + 1);
      return this.readOne(w, raw >>> 22, raw & 0x3fffff, buf[start + 6] as number, undefined);
    }
    return this.readPropertyAck(w, decodeReadProperty(buf, start, end));
  }

  /** ReadProperty-ACK service data into `w`, or the error for an Error PDU. */
  readPropertyAck(w: Writer, spec: ReadAccessSpec): PropertyError | undefined {
    const ref = spec.properties[0] as PropertyReference;
    return this.readOne(w, spec.object.type, spec.object.instance, ref.id, ref.index);
  }

  private readOne(
    w: Writer,
    type: number,
    instance: number,
    id: number,
    arrayIndex: number | undefined,
  ): PropertyError | undefined {
    const object = this.lookup(type, instance);
    if (!object) return UNKNOWN_OBJECT;
    // ALL, REQUIRED and OPTIONAL belong to ReadPropertyMultiple only.
    if (id === P.ALL || id === P.REQUIRED || id === P.OPTIONAL) return UNKNOWN_PROPERTY;
    // The answer names the object as it is, also when asked as device 4194303.
    if (arrayIndex === undefined && !object.isVolatile(id)) {
      const region = this.table.region(object);
      if (region >= 0) {
        const start = w.pos;
        w.ctxOid(0, object.type, object.instance);
        w.ctxEnum(1, id);
        w.opening(3);
        if (this.table.writeRp(w, region, object.version, id)) {
          w.closing(3);
          return undefined;
        }
        w.pos = start;
        const value = this.encoded(object, id, undefined);
        if (!Buffer.isBuffer(value)) return value;
        this.table.keepRp(region, object.version, id, value);
        this.writeRpAck(w, object, id, undefined, value);
        return undefined;
      }
    }
    const value = this.encoded(object, id, arrayIndex);
    if (!Buffer.isBuffer(value)) return value;
    this.writeRpAck(w, object, id, arrayIndex, value);
    return undefined;
  }

  private writeRpAck(
    w: Writer,
    object: BacnetObject,
    id: number,
    arrayIndex: number | undefined,
    value: Buffer,
  ): void {
    w.ctxOid(0, object.type, object.instance);
    w.ctxEnum(1, id);
    if (arrayIndex !== undefined) w.ctxUnsigned(2, arrayIndex);
    w.opening(3);
    w.bytes(value);
    w.closing(3);
  }

  /**
   * ReadPropertyMultiple-ACK service data into `w` for the request in `buf[start, end)`, each specification
   * answered as soon as it is decoded (a DecodeError, which rejects the request, leaves `w` to be discarded).
   */
  readPropertyMultipleAckFrom(w: Writer, buf: Buffer, start: number, end: number): void {
    const reader = new Reader(buf, start, end);
    const spec = this.spec;
    let count = 0;
    // The request's octets are looked at through a DataView: far cheaper per octet than a Buffer's elements.
    const view = viewOf(buf);
    let at = start;
    while (at < end) {
      const next = this.keptAnswer(w, view, at, end);
      if (next > 0) at = next;
      else {
        reader.pos = at;
        decodeSpecInto(reader, spec, this.references);
        this.answer(w, spec);
        at = reader.pos;
      }
      count += 1;
    }
    if (count === 0) throw new DecodeError(RejectReason.MISSING_REQUIRED_PARAMETER, 'no read access spec');
  }

  /**
   * The specification at `buf[at]` answered from the answer table without decoding it, when it is the kind a
   * BEMS polls ([0] object identifier, [1] one or two property identifiers below 256 without index, as the
   * general decoder would read them) and its answer is kept for the object's current version: the offset after
   * it. -1 (nothing written) for anything else, which the general path decodes and answers.
   */
  private keptAnswer(w: Writer, view: DataView, at: number, end: number): number {
    if (at + 9 > end || view.getUint8(at) !== 0x0c) return -1;
    if (view.getUint8(at + 5) !== 0x1e || view.getUint8(at + 6) !== 0x09) return -1;
    const first = view.getUint8(at + 7);
    let second = -1;
    let close = at + 8;
    if (view.getUint8(close) === 0x09) {
      if (close + 2 >= end) return -1;
      second = view.getUint8(close + 1);
      close += 2;
    }
    if (view.getUint8(close) !== 0x1f) return -1;
    const raw = view.getUint32(at + 1);
    const object = this.lookup(raw >>> 22, raw & 0x3fffff);
    if (!object) return -1;
    const region = this.table.region(object);
    if (region < 0 || !this.table.writeRpm(w, region, object.version, first, second)) return -1;
    return close + 1;
  }

  /** One object's ReadPropertyMultiple result: every property's, errors included per property. */
  private answer(w: Writer, spec: ReadAccessSpec): void {
    const object = this.lookup(spec.object.type, spec.object.instance);
    if (!object) {
      w.ctxOid(0, spec.object.type, spec.object.instance);
      w.opening(1);
      for (const ref of spec.properties) this.result(w, ref.id, ref.index, UNKNOWN_OBJECT);
      w.closing(1);
      return;
    }
    const refs = spec.properties;
    let region = -1;
    let first = 0;
    let second = 0;
    if (spec.key !== undefined) {
      region = this.table.region(object);
      first = (refs[0] as PropertyReference).id;
      second = refs.length > 1 ? (refs[1] as PropertyReference).id : -1;
      if (region >= 0 && this.table.writeRpm(w, region, object.version, first, second)) return;
    }
    const entry = this.entry(object);
    if (spec.key !== undefined && entry.answerKey === spec.key && entry.arena) {
      w.bytes(entry.arena, entry.answerAt, entry.answerAt + entry.answerLength);
      return;
    }
    const start = w.pos;
    let cacheable = true;
    if (!entry.head) {
      this.scratch.reset();
      this.scratch.ctxOid(0, object.type, object.instance);
      this.scratch.opening(1);
      entry.head = this.scratch.take();
    }
    w.bytes(entry.head);
    for (const ref of refs) {
      const id = ref.id;
      if (id === P.ALL || id === P.REQUIRED || id === P.OPTIONAL) {
        cacheable = false;
        for (const each of object.propertyIds(SPECIAL.get(id) as 'all'))
          this.cachedResult(w, object, entry, each);
      } else if (ref.index !== undefined || object.isVolatile(ref.id)) {
        cacheable = false;
        this.result(w, ref.id, ref.index, this.encoded(object, ref.id, ref.index));
      } else {
        this.cachedResult(w, object, entry, ref.id);
      }
    }
    w.closing(1);
    if (!cacheable || spec.key === undefined) return;
    // Short answers (a value and its status flags) go to the flat table, longer ones to the arena.
    if (region < 0 || !this.table.keepRpm(region, object.version, first, second, w.buf, start, w.pos))
      this.keep(entry, spec.key, w.buf, start, w.pos);
  }

  /** Copies an object's answer into the arena (a new arena when this one is full; old answers keep theirs). */
  private keep(entry: Encodings, key: number, source: Buffer, start: number, end: number): void {
    const length = end - start;
    if (length > ARENA_SIZE / 64) return; // an unusually long answer: not worth a place
    if (this.arenaPos + length > ARENA_SIZE) {
      this.arena = Buffer.allocUnsafeSlow(ARENA_SIZE);
      this.arenaPos = 0;
    }
    source.copy(this.arena, this.arenaPos, start, end);
    entry.answerKey = key;
    entry.arena = this.arena;
    entry.answerAt = this.arenaPos;
    entry.answerLength = length;
    this.arenaPos += length;
  }

  /** One property's whole result, encoded once per object version. */
  private cachedResult(w: Writer, object: BacnetObject, entry: Encodings, id: number): void {
    if (object.isVolatile(id)) {
      this.result(w, id, undefined, this.encoded(object, id, undefined));
      return;
    }
    const results = entry.results;
    for (let i = 0; i < results.length; i += 2) {
      if (results[i] === id) {
        w.bytes(results[i + 1] as Buffer);
        return;
      }
    }
    const value = this.encoded(object, id, undefined);
    const scratch = new Writer(Buffer.isBuffer(value) ? value.length + 8 : 16);
    this.result(scratch, id, undefined, value);
    const result = scratch.take();
    results.push(id, result);
    w.bytes(result);
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
