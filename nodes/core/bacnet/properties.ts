/**
 * Property values as the object model hands them to the protocol layer, which encodes them (application tags,
 * BACnetARRAYs, lists). Reading a property gives a value or a property error (error class and code, as the
 * standard names them for ReadProperty and the per-property results of ReadPropertyMultiple).
 */
import { ErrorClass, ErrorCode } from './constants';
import type { WallStamp } from './events';
import type { TimeOfDay } from './recipients';

export type PropertyValue =
  | { t: 'null' }
  | { t: 'bool'; v: boolean }
  | { t: 'unsigned'; v: number }
  | { t: 'real'; v: number }
  | { t: 'enum'; v: number }
  | { t: 'string'; v: string }
  /** A bit string: `length` bits, those listed in `set` are 1. */
  | { t: 'bits'; length: number; set: readonly number[] }
  | { t: 'oid'; type: number; instance: number }
  | { t: 'date'; year: number; month: number; day: number; weekday: number }
  | { t: 'time'; hour: number; minute: number; second: number; hundredths: number }
  /** A list, or a whole BACnetARRAY: the elements in order. */
  | { t: 'list'; items: readonly PropertyValue[] }
  /** The device's object-list: element i is objects[i] (kept by reference: 10,000 entries are not copied). */
  | { t: 'object-list'; objects: readonly ObjectRef[] }
  | { t: 'octets'; v: readonly number[] }
  /** A BACnetHostNPort with an IPv4 address. */
  | { t: 'host-n-port'; host: readonly number[]; port: number }
  /** A BACnetTimeStamp (the dateTime choice); unset: every field unspecified. */
  | { t: 'timestamp'; stamp: WallStamp | undefined }
  /** A BACnetDestination to an IPv4 address and port on the local network. */
  | {
      t: 'destination';
      host: string;
      port: number;
      processId: number;
      confirmed: boolean;
      /** Transitions (0 to-offnormal, 1 to-fault, 2 to-normal) it hears. */
      transitions: readonly number[];
      /** Valid days (0 Monday .. 6 Sunday) and the window of the day. */
      days: readonly number[];
      from: TimeOfDay;
      to: TimeOfDay;
    }
  /** Active-COV-Subscriptions: a list of BACnetCOVSubscription. */
  | { t: 'cov-subscriptions'; items: readonly CovSubscriptionView[] };

export interface ObjectRef {
  readonly type: number;
  readonly instance: number;
}

export interface CovSubscriptionView {
  /** Recipient IPv4 address and UDP port (BACnetAddress on network 0, a 6-octet MAC). */
  host: string;
  port: number;
  processId: number;
  object: ObjectRef;
  property: number;
  index?: number;
  confirmed: boolean;
  timeRemaining: number;
  covIncrement?: number;
}

export interface PropertyError {
  error: readonly [errorClass: number, errorCode: number];
}

export type ReadResult = PropertyValue | PropertyError;

export function isPropertyError<T extends object>(value: T | PropertyError): value is PropertyError {
  return (value as PropertyError).error !== undefined;
}

export const UNKNOWN_OBJECT: PropertyError = { error: [ErrorClass.OBJECT, ErrorCode.UNKNOWN_OBJECT] };
export const UNKNOWN_PROPERTY: PropertyError = { error: [ErrorClass.PROPERTY, ErrorCode.UNKNOWN_PROPERTY] };
export const NOT_AN_ARRAY: PropertyError = {
  error: [ErrorClass.PROPERTY, ErrorCode.PROPERTY_IS_NOT_AN_ARRAY],
};
export const INVALID_ARRAY_INDEX: PropertyError = {
  error: [ErrorClass.PROPERTY, ErrorCode.INVALID_ARRAY_INDEX],
};
export const WRITE_ACCESS_DENIED: PropertyError = {
  error: [ErrorClass.PROPERTY, ErrorCode.WRITE_ACCESS_DENIED],
};
export const VALUE_OUT_OF_RANGE: PropertyError = {
  error: [ErrorClass.PROPERTY, ErrorCode.VALUE_OUT_OF_RANGE],
};
export const INVALID_DATA_TYPE: PropertyError = { error: [ErrorClass.PROPERTY, ErrorCode.INVALID_DATA_TYPE] };

/**
 * Reads element `index` of an array property whose elements are `items` (index 0 is the count, 1..n the
 * elements), or the whole array when `index` is undefined.
 */
export function arrayRead(items: readonly PropertyValue[], index: number | undefined): ReadResult {
  if (index === undefined) return { t: 'list', items };
  if (index === 0) return { t: 'unsigned', v: items.length };
  const item = items[index - 1];
  return item ?? INVALID_ARRAY_INDEX;
}

/** What a successful write decoded to: NULL (relinquish) or an unsigned, the only types any point accepts. */
export type WriteValue = { t: 'null' } | { t: 'unsigned'; v: number } | { t: 'other'; tag: number };
