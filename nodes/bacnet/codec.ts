/**
 * BACnet tag encoding (ASHRAE 135 clause 20.2) for the device's own hot path: a growable writer for responses
 * and notifications, and a bounded reader for requests. The reader never reads past the datagram: a short or
 * malformed request becomes a DecodeError carrying the Reject reason to answer with, never a thrown RangeError.
 */
import type { StampKey, WallStamp } from '../core/bacnet/events';
import type { PropertyValue } from '../core/bacnet/properties';

export const RejectReason = {
  OTHER: 0,
  INVALID_TAG: 4,
  MISSING_REQUIRED_PARAMETER: 5,
  PARAMETER_OUT_OF_RANGE: 6,
  TOO_MANY_ARGUMENTS: 7,
  UNRECOGNIZED_SERVICE: 9,
} as const;

export class DecodeError extends Error {
  constructor(
    readonly reason: number,
    message: string,
  ) {
    super(message);
    this.name = 'DecodeError';
  }
}

const APP = { NULL: 0, BOOLEAN: 1, UNSIGNED: 2, REAL: 4, CHARACTER_STRING: 7, BIT_STRING: 8 } as const;
const APP_OCTET_STRING = 6;
const APP_ENUMERATED = 9;
const APP_DATE = 10;
const APP_TIME = 11;
const APP_OBJECT_ID = 12;

/** A DataView of exactly the octets of `buf`. */
export function viewOf(buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.length);
}

export class Writer {
  buf: Buffer;
  pos = 0;
  /** `buf` seen four octets at a time (see `copy`). */
  private view: DataView;

  constructor(size = 1024) {
    this.buf = Buffer.allocUnsafe(size);
    this.view = viewOf(this.buf);
  }

  reset(): void {
    this.pos = 0;
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + extra));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = viewOf(next);
  }

  u8(value: number): void {
    this.ensure(1);
    this.buf[this.pos++] = value & 0xff;
  }

  u16(value: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(value & 0xffff, this.pos);
    this.pos += 2;
  }

  bytes(source: Buffer, start = 0, end = source.length): void {
    const length = end - start;
    this.ensure(length);
    // Buffer.copy is a native call: for the few octets of a cached value a loop is cheaper.
    if (length <= 32) {
      const buf = this.buf;
      let pos = this.pos;
      for (let i = start; i < end; i++) buf[pos++] = source[i] as number;
      this.pos = pos;
      return;
    }
    source.copy(this.buf, this.pos, start, end);
    this.pos += length;
  }

  /**
   * Octets `[start, end)` of the buffer `source` is a view of, four at a time: for the kept answers a poll copies,
   * a Buffer's element access costs tens of instructions per octet; a DataView's 32-bit access is one move.
   */
  copy(source: DataView, start: number, end: number): void {
    this.ensure(end - start);
    const view = this.view;
    let pos = this.pos;
    let i = start;
    for (; i + 4 <= end; i += 4, pos += 4) view.setInt32(pos, source.getInt32(i, true), true);
    for (; i < end; i++, pos++) view.setUint8(pos, source.getUint8(i));
    this.pos = pos;
  }

  /** Leaves the octets written so far to whoever holds them, and writes on in a buffer of its own. */
  detach(): void {
    this.buf = Buffer.allocUnsafe(this.buf.length);
    this.view = viewOf(this.buf);
  }

  /** A copy of what was written (safe to hand to a socket while the writer is reused). */
  take(from = 0): Buffer {
    const out = Buffer.allocUnsafe(this.pos - from);
    this.buf.copy(out, 0, from, this.pos);
    return out;
  }

  /** A tag header: number, class (context or application) and length/value/type. */
  tag(tagNumber: number, context: boolean, length: number): void {
    this.ensure(8);
    const cls = context ? 0x08 : 0;
    const lvt = length <= 4 ? length : 5;
    if (tagNumber <= 14) this.buf[this.pos++] = (tagNumber << 4) | cls | lvt;
    else {
      this.buf[this.pos++] = 0xf0 | cls | lvt;
      this.buf[this.pos++] = tagNumber;
    }
    if (length > 4) {
      if (length < 254) this.buf[this.pos++] = length;
      else if (length < 65536) {
        this.buf[this.pos++] = 254;
        this.buf.writeUInt16BE(length, this.pos);
        this.pos += 2;
      } else {
        this.buf[this.pos++] = 255;
        this.buf.writeUInt32BE(length, this.pos);
        this.pos += 4;
      }
    }
  }

  opening(tagNumber: number): void {
    this.u8((tagNumber << 4) | 0x0e);
  }

  closing(tagNumber: number): void {
    this.u8((tagNumber << 4) | 0x0f);
  }

  private unsignedBody(tagNumber: number, context: boolean, value: number): void {
    const v = Math.max(0, Math.floor(value));
    const length = v < 0x100 ? 1 : v < 0x10000 ? 2 : v < 0x1000000 ? 3 : 4;
    this.tag(tagNumber, context, length);
    this.ensure(4);
    for (let shift = (length - 1) * 8; shift >= 0; shift -= 8) this.buf[this.pos++] = (v / 2 ** shift) & 0xff;
  }

  appUnsigned(value: number): void {
    this.unsignedBody(APP.UNSIGNED, false, value);
  }

  appEnum(value: number): void {
    this.unsignedBody(APP_ENUMERATED, false, value);
  }

  ctxUnsigned(tagNumber: number, value: number): void {
    this.unsignedBody(tagNumber, true, value);
  }

  ctxEnum(tagNumber: number, value: number): void {
    this.unsignedBody(tagNumber, true, value);
  }

  appReal(value: number): void {
    this.tag(APP.REAL, false, 4);
    this.ensure(4);
    this.buf.writeFloatBE(value, this.pos);
    this.pos += 4;
  }

  ctxReal(tagNumber: number, value: number): void {
    this.tag(tagNumber, true, 4);
    this.ensure(4);
    this.buf.writeFloatBE(value, this.pos);
    this.pos += 4;
  }

  appBool(value: boolean): void {
    this.u8((APP.BOOLEAN << 4) | (value ? 1 : 0));
  }

  ctxBool(tagNumber: number, value: boolean): void {
    this.tag(tagNumber, true, 1);
    this.u8(value ? 1 : 0);
  }

  /** CharacterString in UTF-8 (character set 0). */
  appString(value: string): void {
    this.string(APP.CHARACTER_STRING, false, value);
  }

  ctxString(tagNumber: number, value: string): void {
    this.string(tagNumber, true, value);
  }

  private string(tagNumber: number, context: boolean, value: string): void {
    const length = Buffer.byteLength(value, 'utf8');
    this.tag(tagNumber, context, length + 1);
    this.ensure(length + 1);
    this.buf[this.pos++] = 0;
    this.pos += this.buf.write(value, this.pos, 'utf8');
  }

  /** A bit string of `length` bits, bit 0 first (the most significant bit of the first octet). */
  appBits(length: number, set: readonly number[]): void {
    this.bits(APP.BIT_STRING, false, length, set);
  }

  ctxBits(tagNumber: number, length: number, set: readonly number[]): void {
    this.bits(tagNumber, true, length, set);
  }

  private bits(tagNumber: number, context: boolean, length: number, set: readonly number[]): void {
    const octets = Math.ceil(length / 8);
    this.tag(tagNumber, context, octets + 1);
    this.ensure(octets + 1);
    this.buf[this.pos++] = octets * 8 - length;
    const start = this.pos;
    this.buf.fill(0, start, start + octets);
    for (const bit of set) if (bit < length) this.buf[start + (bit >> 3)]! |= 0x80 >> (bit & 7);
    this.pos += octets;
  }

  appOid(type: number, instance: number): void {
    this.tag(APP_OBJECT_ID, false, 4);
    this.ensure(4);
    this.buf.writeUInt32BE(((type & 0x3ff) * 0x400000 + (instance & 0x3fffff)) >>> 0, this.pos);
    this.pos += 4;
  }

  ctxOid(tagNumber: number, type: number, instance: number): void {
    this.tag(tagNumber, true, 4);
    this.ensure(4);
    this.buf.writeUInt32BE(((type & 0x3ff) * 0x400000 + (instance & 0x3fffff)) >>> 0, this.pos);
    this.pos += 4;
  }

  appNull(): void {
    this.u8(APP.NULL << 4);
  }

  /** A BACnetTimeStamp, the dateTime choice ([2]); unset, every field unspecified (X'FF'). */
  timeStamp(stamp: WallStamp | undefined): void {
    this.opening(2);
    this.tag(APP_DATE, false, 4);
    if (stamp) {
      this.u8(stamp.year - 1900);
      this.u8(stamp.month);
      this.u8(stamp.day);
      this.u8(stamp.weekday);
    } else for (let i = 0; i < 4; i++) this.u8(0xff);
    this.tag(APP_TIME, false, 4);
    if (stamp) {
      this.u8(stamp.hour);
      this.u8(stamp.minute);
      this.u8(stamp.second);
      this.u8(stamp.hundredths);
    } else for (let i = 0; i < 4; i++) this.u8(0xff);
    this.closing(2);
  }

  /** Any property value in its application encoding (lists and arrays as their elements in order). */
  value(value: PropertyValue): void {
    switch (value.t) {
      case 'null':
        return this.appNull();
      case 'bool':
        return this.appBool(value.v);
      case 'unsigned':
        return this.appUnsigned(value.v);
      case 'real':
        return this.appReal(value.v);
      case 'enum':
        return this.appEnum(value.v);
      case 'string':
        return this.appString(value.v);
      case 'bits':
        return this.appBits(value.length, value.set);
      case 'oid':
        return this.appOid(value.type, value.instance);
      case 'date':
        this.tag(APP_DATE, false, 4);
        this.u8(value.year - 1900);
        this.u8(value.month);
        this.u8(value.day);
        this.u8(value.weekday);
        return;
      case 'time':
        this.tag(APP_TIME, false, 4);
        this.u8(value.hour);
        this.u8(value.minute);
        this.u8(value.second);
        this.u8(value.hundredths);
        return;
      case 'list':
        for (const item of value.items) this.value(item);
        return;
      case 'timestamp':
        return this.timeStamp(value.stamp);
      case 'octets':
        this.tag(APP_OCTET_STRING, false, value.v.length);
        this.bytes(Buffer.from(value.v));
        return;
      case 'host-n-port':
        this.opening(0); // host: BACnetHostAddress, the ip-address choice
        this.tag(1, true, value.host.length);
        this.bytes(Buffer.from(value.host));
        this.closing(0);
        this.ctxUnsigned(1, value.port);
        return;
      case 'destination': {
        this.appBits(7, value.days);
        this.value({ t: 'time', ...value.from });
        this.value({ t: 'time', ...value.to });
        this.opening(1); // recipient: address choice
        this.appUnsigned(0); // network number: local
        this.tag(6, false, 6); // octet string: IPv4 address and port
        this.bytes(ipMac(value.host, value.port));
        this.closing(1);
        this.appUnsigned(value.processId);
        this.appBool(value.confirmed);
        this.appBits(3, value.transitions);
        return;
      }
      case 'object-list':
        this.ensure(value.objects.length * 5);
        for (const ref of value.objects) this.appOid(ref.type, ref.instance);
        return;
      case 'cov-subscriptions':
        for (const s of value.items) {
          // BACnetCOVSubscription: recipient (a BACnetRecipientProcess addressed by BACnetAddress).
          this.opening(0);
          this.opening(0);
          this.opening(1); // recipient: address choice
          this.appUnsigned(0); // network number: local
          this.tag(6, false, 6); // octet string
          this.bytes(ipMac(s.host, s.port));
          this.closing(1);
          this.closing(0);
          this.ctxUnsigned(1, s.processId);
          this.closing(0);
          this.opening(1); // monitoredPropertyReference
          this.ctxOid(0, s.object.type, s.object.instance);
          this.ctxEnum(1, s.property);
          if (s.index !== undefined) this.ctxUnsigned(2, s.index);
          this.closing(1);
          this.ctxBool(2, s.confirmed);
          this.ctxUnsigned(3, s.timeRemaining);
          if (s.covIncrement !== undefined) this.ctxReal(4, s.covIncrement);
        }
        return;
    }
  }
}

/** A BACnet/IP MAC: the IPv4 address and the UDP port. */
function ipMac(host: string, port: number): Buffer {
  const mac = Buffer.alloc(6);
  host.split('.').forEach((octet, i) => (mac[i] = Number(octet) & 0xff));
  mac.writeUInt16BE(port, 4);
  return mac;
}

const VALUE = 0;
const OPENING = 1;
const CLOSING = 2;

/**
 * Reads request parameters. A tag header is parsed into the reader's fields (no object per tag: a
 * ReadPropertyMultiple of 20 objects has 80 of them), and only consumed when it is the one expected.
 */
export class Reader {
  /** The header last looked at: tag number, kind (value, opening, closing), class, length/value/type, size. */
  private number = 0;
  private kind = VALUE;
  private context = false;
  private lvt = 0;
  private size = 0;

  constructor(
    private readonly buf: Buffer,
    public pos: number,
    private readonly end: number,
  ) {}

  get remaining(): number {
    return this.end - this.pos;
  }

  private byte(at: number): number {
    if (at >= this.end) throw new DecodeError(RejectReason.MISSING_REQUIRED_PARAMETER, 'truncated');
    return this.buf[at] as number;
  }

  /** Parses the tag header at the current position into the fields; false at the end of the data. */
  private look(): boolean {
    let at = this.pos;
    if (at >= this.end) return false;
    const first = this.buf[at++] as number;
    let number = first >> 4;
    if (number === 15) number = this.byte(at++);
    const context = (first & 0x08) !== 0;
    const lvtBits = first & 0x07;
    let kind = VALUE;
    let lvt = lvtBits;
    if (context && lvtBits === 6) kind = OPENING;
    else if (context && lvtBits === 7) kind = CLOSING;
    else if (lvtBits === 5) {
      lvt = this.byte(at++);
      if (lvt === 254) {
        lvt = (this.byte(at) << 8) | this.byte(at + 1);
        at += 2;
      } else if (lvt === 255) {
        lvt =
          ((this.byte(at) << 24) |
            (this.byte(at + 1) << 16) |
            (this.byte(at + 2) << 8) |
            this.byte(at + 3)) >>>
          0;
        at += 4;
      }
    }
    this.number = number;
    this.kind = kind;
    this.context = context;
    this.lvt = lvt;
    this.size = at - this.pos;
    return true;
  }

  private unsignedBody(length: number): number {
    if (length < 1 || length > 4)
      throw new DecodeError(RejectReason.PARAMETER_OUT_OF_RANGE, `unsigned of ${length} octets`);
    if (this.remaining < length) throw new DecodeError(RejectReason.MISSING_REQUIRED_PARAMETER, 'truncated');
    let value = 0;
    for (let i = 0; i < length; i++) value = value * 256 + (this.buf[this.pos++] as number);
    return value;
  }

  private isContextValue(n: number): boolean {
    return this.look() && this.context && this.kind === VALUE && this.number === n;
  }

  /** A context-tagged unsigned (or enumerated) with tag `n`; undefined when the next tag is not it. */
  optionalContextUnsigned(n: number): number | undefined {
    if (!this.isContextValue(n)) return undefined;
    this.pos += this.size;
    return this.unsignedBody(this.lvt);
  }

  contextUnsigned(n: number): number {
    const value = this.optionalContextUnsigned(n);
    if (value === undefined)
      throw new DecodeError(RejectReason.MISSING_REQUIRED_PARAMETER, `context tag ${n} expected`);
    return value;
  }

  contextOid(n: number): { type: number; instance: number } {
    if (!this.isContextValue(n))
      throw new DecodeError(RejectReason.MISSING_REQUIRED_PARAMETER, `object identifier [${n}] expected`);
    if (this.lvt !== 4) throw new DecodeError(RejectReason.INVALID_TAG, 'object identifier of wrong length');
    this.pos += this.size;
    const raw = this.unsignedBody(4);
    return { type: Math.floor(raw / 0x400000), instance: raw % 0x400000 };
  }

  isOpening(n: number): boolean {
    return this.look() && this.kind === OPENING && this.number === n;
  }

  isClosing(n: number): boolean {
    return this.look() && this.kind === CLOSING && this.number === n;
  }

  expectOpening(n: number): void {
    if (!this.isOpening(n)) throw new DecodeError(RejectReason.INVALID_TAG, `opening tag ${n} expected`);
    this.pos += this.size;
  }

  expectClosing(n: number): void {
    if (!this.isClosing(n)) throw new DecodeError(RejectReason.INVALID_TAG, `closing tag ${n} expected`);
    this.pos += this.size;
  }

  /** Skips the context-tagged primitive value [n] (a character string, say) whatever its length. */
  skipContext(n: number): void {
    if (!this.isContextValue(n))
      throw new DecodeError(RejectReason.MISSING_REQUIRED_PARAMETER, `context tag ${n} expected`);
    if (this.remaining < this.size + this.lvt)
      throw new DecodeError(RejectReason.MISSING_REQUIRED_PARAMETER, 'truncated');
    this.pos += this.size + this.lvt;
  }

  private octets4(): [number, number, number, number] {
    if (this.lvt !== 4) throw new DecodeError(RejectReason.INVALID_TAG, 'date or time of wrong length');
    this.pos += this.size;
    const at = this.pos;
    const out: [number, number, number, number] = [
      this.byte(at),
      this.byte(at + 1),
      this.byte(at + 2),
      this.byte(at + 3),
    ];
    this.pos += 4;
    return out;
  }

  private application(tagNumber: number): [number, number, number, number] {
    if (!this.look() || this.context || this.kind !== VALUE || this.number !== tagNumber)
      throw new DecodeError(RejectReason.INVALID_TAG, `application tag ${tagNumber} expected`);
    return this.octets4();
  }

  /**
   * The constructed value [n] (opening tag, anything, its closing tag): the bounds of what it encloses, with the
   * reader moved past it. Throws (a reject) when the tags do not balance within the request.
   */
  enclosed(n: number): { start: number; end: number } {
    this.expectOpening(n);
    const start = this.pos;
    let depth = 0;
    while (this.look()) {
      if (this.kind === OPENING) depth += 1;
      else if (this.kind === CLOSING) {
        if (depth === 0) {
          if (this.number !== n) throw new DecodeError(RejectReason.INVALID_TAG, `closing tag ${n} expected`);
          const end = this.pos;
          this.pos += this.size;
          return { start, end };
        }
        depth -= 1;
      } else if (!this.context && this.number === APP.BOOLEAN) {
        // An application boolean's value is in its tag: no content octets.
      } else {
        if (this.remaining < this.size + this.lvt)
          throw new DecodeError(RejectReason.MISSING_REQUIRED_PARAMETER, 'truncated');
        this.pos += this.lvt;
      }
      this.pos += this.size;
    }
    throw new DecodeError(RejectReason.MISSING_REQUIRED_PARAMETER, `closing tag ${n} missing`);
  }

  /** Whether the next tag is the context-tagged primitive [n]. */
  isContext(n: number): boolean {
    return this.isContextValue(n);
  }

  private expectApplication(tagNumber: number): void {
    if (!this.look() || this.context || this.kind !== VALUE || this.number !== tagNumber)
      throw new DecodeError(RejectReason.INVALID_TAG, `application tag ${tagNumber} expected`);
  }

  appUnsignedValue(): number {
    this.expectApplication(APP.UNSIGNED);
    this.pos += this.size;
    return this.unsignedBody(this.lvt);
  }

  appBoolean(): boolean {
    this.expectApplication(APP.BOOLEAN);
    if (this.lvt > 1) throw new DecodeError(RejectReason.PARAMETER_OUT_OF_RANGE, 'boolean out of range');
    this.pos += this.size;
    return this.lvt === 1;
  }

  /** An application bit string: its bits in order (bit 0 first). */
  appBitString(): boolean[] {
    this.expectApplication(APP.BIT_STRING);
    const length = this.lvt;
    if (length < 1 || this.remaining < this.size + length)
      throw new DecodeError(RejectReason.INVALID_TAG, 'bit string of no length');
    const unused = this.buf[this.pos + this.size] as number;
    if (unused > 7 || (length === 1 && unused !== 0))
      throw new DecodeError(RejectReason.INVALID_TAG, 'bit string with bad unused bits');
    const bits: boolean[] = [];
    for (let i = 1; i < length; i++) {
      const octet = this.buf[this.pos + this.size + i] as number;
      for (let b = 7; b >= 0; b--) bits.push((octet & (1 << b)) !== 0);
    }
    this.pos += this.size + length;
    return bits.slice(0, bits.length - unused);
  }

  /** An application time: hour, minute, second, hundredths (255: unspecified). */
  appTime(): [number, number, number, number] {
    return this.application(APP_TIME);
  }

  appOctetString(): Buffer {
    this.expectApplication(APP_OCTET_STRING);
    if (this.remaining < this.size + this.lvt)
      throw new DecodeError(RejectReason.MISSING_REQUIRED_PARAMETER, 'truncated');
    const start = this.pos + this.size;
    this.pos = start + this.lvt;
    return Buffer.from(this.buf.subarray(start, start + this.lvt));
  }

  /** A BACnetTimeStamp in [n]: a time, a sequence number or a date and time. */
  timeStamp(n: number): StampKey {
    this.expectOpening(n);
    let key: StampKey;
    if (this.isContextValue(0)) {
      const [hour, minute, second, hundredths] = this.octets4();
      key = { kind: 'time', hour, minute, second, hundredths };
    } else if (this.isContextValue(1)) {
      this.pos += this.size;
      key = { kind: 'sequence', n: this.unsignedBody(this.lvt) };
    } else if (this.isOpening(2)) {
      this.pos += this.size;
      const [year, month, day, weekday] = this.application(APP_DATE);
      const [hour, minute, second, hundredths] = this.application(APP_TIME);
      this.expectClosing(2);
      key = {
        kind: 'datetime',
        stamp: {
          year: year === 255 ? 255 : year + 1900,
          month,
          day,
          weekday,
          hour,
          minute,
          second,
          hundredths,
        },
      };
    } else throw new DecodeError(RejectReason.INVALID_TAG, 'time stamp expected');
    this.expectClosing(n);
    return key;
  }
}
