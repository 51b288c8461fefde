/**
 * How a BEMS subscribes to the device's alarms on the wire: WriteProperty of the Notification Class's whole
 * Recipient_List (15.9), AddListElement (15.1) and RemoveListElement (15.2) of its BACnetDestinations. This file
 * decodes the requests and encodes the Change-List-Error; what the list becomes is the core's
 * (core/bacnet/recipients.ts). A request whose tags do not balance is rejected; one whose elements are not
 * destinations is answered with an error naming the first bad element.
 */
import { ErrorClass, ErrorCode, ObjectType, PropertyId as P } from '../core/bacnet/constants';
import type { PropertyError } from '../core/bacnet/properties';
import type { ListElement, Recipient, TimeOfDay } from '../core/bacnet/recipients';
import { DecodeError, Reader, RejectReason, type Writer } from './codec';

export interface ListRequest {
  object: { type: number; instance: number };
  property: number;
  index: number | undefined;
  /** The elements in order; decoding stops at the first that is not a destination (its error is last). */
  elements: ListElement[];
}

const INVALID_DATA_TYPE: PropertyError = { error: [ErrorClass.PROPERTY, ErrorCode.INVALID_DATA_TYPE] };
const OUT_OF_RANGE: PropertyError = { error: [ErrorClass.PROPERTY, ErrorCode.VALUE_OUT_OF_RANGE] };
/** A recipient named by device identifier, or on another BACnet network: this device cannot reach it. */
const NOT_SUPPORTED: PropertyError = {
  error: [ErrorClass.PROPERTY, ErrorCode.OPTIONAL_FUNCTIONALITY_NOT_SUPPORTED],
};

/** Whether a WriteProperty request is to a notification class's Recipient_List (else the library takes it). */
export function writesRecipientList(buf: Buffer, start: number, end: number): boolean {
  try {
    const r = new Reader(buf, start, end);
    const object = r.contextOid(0);
    return object.type === ObjectType.NOTIFICATION_CLASS && r.contextUnsigned(1) === P.RECIPIENT_LIST;
  } catch {
    return false;
  }
}

/**
 * Decodes WriteProperty-, AddListElement- or RemoveListElement-Request (the same first four parameters; a
 * WriteProperty may end with a priority, which a list ignores). Throws DecodeError (a reject) when malformed.
 */
export function decodeListRequest(buf: Buffer, start: number, end: number, write: boolean): ListRequest {
  const r = new Reader(buf, start, end);
  const object = r.contextOid(0);
  const property = r.contextUnsigned(1);
  const index = r.optionalContextUnsigned(2);
  const bounds = r.enclosed(3);
  if (write) r.optionalContextUnsigned(4);
  if (r.remaining > 0) throw new DecodeError(RejectReason.TOO_MANY_ARGUMENTS, 'more after the list');
  const elements: ListElement[] = [];
  const inner = new Reader(buf, bounds.start, bounds.end);
  while (inner.remaining > 0) {
    try {
      elements.push(decodeDestination(inner));
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      elements.push(INVALID_DATA_TYPE);
      break;
    }
  }
  return { object, property, index, elements };
}

function timeOf([hour, minute, second, hundredths]: number[]): TimeOfDay | undefined {
  if (hour === undefined || minute === undefined || second === undefined || hundredths === undefined)
    return undefined;
  if (hour > 23 || minute > 59 || second > 59 || hundredths > 99) return undefined;
  return { hour, minute, second, hundredths };
}

/** One BACnetDestination; its tags read whole even when a value is refused, so the next element follows. */
function decodeDestination(r: Reader): Recipient | PropertyError {
  let problem: PropertyError | undefined;
  const days = r.appBitString();
  const from = timeOf(r.appTime());
  const to = timeOf(r.appTime());
  if (days.length !== 7 || !from || !to) problem = OUT_OF_RANGE;
  else if (
    from.hour * 360_000 + from.minute * 6000 + from.second * 100 + from.hundredths >
    to.hour * 360_000 + to.minute * 6000 + to.second * 100 + to.hundredths
  )
    problem = OUT_OF_RANGE;
  let host = '';
  let port = 0;
  if (r.isContext(0)) {
    r.contextOid(0);
    problem ??= NOT_SUPPORTED;
  } else {
    r.expectOpening(1);
    const network = r.appUnsignedValue();
    const mac = r.appOctetString();
    r.expectClosing(1);
    if (network !== 0) problem ??= NOT_SUPPORTED;
    else if (mac.length !== 6 || mac.readUInt16BE(4) === 0) problem ??= OUT_OF_RANGE;
    else {
      host = `${mac[0]}.${mac[1]}.${mac[2]}.${mac[3]}`;
      port = mac.readUInt16BE(4);
    }
  }
  const processId = r.appUnsignedValue();
  const confirmed = r.appBoolean();
  const transitions = r.appBitString();
  if (transitions.length !== 3) problem ??= OUT_OF_RANGE;
  if (problem || !from || !to) return problem ?? OUT_OF_RANGE;
  const all = (t: TimeOfDay, h: number, m: number, s: number, c: number): boolean =>
    t.hour === h && t.minute === m && t.second === s && t.hundredths === c;
  return {
    host,
    port,
    processId,
    confirmed,
    transitions: transitions as [boolean, boolean, boolean],
    // Every day and all day are the defaults: a flow recipient and one written so compare equal.
    ...(days.every((d) => d) ? {} : { days: days as NonNullable<Recipient['days']> }),
    ...(all(from, 0, 0, 0, 0) ? {} : { from }),
    ...(all(to, 23, 59, 59, 99) ? {} : { to }),
  };
}

/** The Change-List-Error of AddListElement and RemoveListElement: the error, and the first failed element. */
export function writeChangeListError(w: Writer, error: PropertyError, element: number): void {
  w.opening(0);
  w.appEnum(error.error[0]);
  w.appEnum(error.error[1]);
  w.closing(0);
  w.ctxUnsigned(1, element);
}
