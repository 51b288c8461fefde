/**
 * The Device object: every property ASHRAE 135 (revision 14) requires of a device, plus the optional ones a
 * BEMS engineer looks for (description, location, local date and time) and those required because this
 * device segments responses and serves COV subscriptions.
 */
import {
  MAX_INSTANCE,
  OBJECT_TYPES_BITS,
  ObjectType,
  PROTOCOL_REVISION,
  PROTOCOL_VERSION,
  PropertyId as P,
  Segmentation,
  SERVICES_BITS,
  ServiceBit,
} from './constants';
import type { BacnetObject } from './points';
import {
  arrayRead,
  INVALID_ARRAY_INDEX,
  NOT_AN_ARRAY,
  UNKNOWN_PROPERTY,
  type CovSubscriptionView,
  type ObjectRef,
  type PropertyValue,
  type ReadResult,
} from './properties';
import { TimeZone } from '../tariff/zone';

export interface DeviceInfo {
  instance: number;
  name: string;
  description: string;
  location: string;
  vendorIdentifier: number;
  vendorName: string;
  modelName: string;
  firmwareRevision: string;
  applicationSoftwareVersion: string;
  /** The site's IANA zone: local date and time, and when "today" ends for consumption points. */
  timeZone: string;
  /** Our largest APDU (BACnet/IP: 1476). */
  maxApdu: number;
  apduTimeoutMs: number;
  apduSegmentTimeoutMs: number;
  apduRetries: number;
}

/** What the device object reads from the rest of the model. */
export interface DeviceContext {
  objectList(): readonly ObjectRef[];
  databaseRevision(): number;
  subscriptions(): readonly CovSubscriptionView[];
  now(): number;
}

export const SUPPORTED_SERVICES = [
  ServiceBit.ACKNOWLEDGE_ALARM,
  ServiceBit.CONFIRMED_COV_NOTIFICATION,
  ServiceBit.CONFIRMED_EVENT_NOTIFICATION,
  ServiceBit.GET_ALARM_SUMMARY,
  ServiceBit.SUBSCRIBE_COV,
  ServiceBit.ADD_LIST_ELEMENT,
  ServiceBit.REMOVE_LIST_ELEMENT,
  ServiceBit.READ_PROPERTY,
  ServiceBit.READ_PROPERTY_MULTIPLE,
  ServiceBit.WRITE_PROPERTY,
  ServiceBit.I_AM,
  ServiceBit.I_HAVE,
  ServiceBit.UNCONFIRMED_COV_NOTIFICATION,
  ServiceBit.UNCONFIRMED_EVENT_NOTIFICATION,
  ServiceBit.WHO_HAS,
  ServiceBit.WHO_IS,
  ServiceBit.SUBSCRIBE_COV_PROPERTY,
  ServiceBit.GET_EVENT_INFORMATION,
];

export const SUPPORTED_OBJECT_TYPES = [
  ObjectType.ANALOG_INPUT,
  ObjectType.ANALOG_VALUE,
  ObjectType.BINARY_VALUE,
  ObjectType.DEVICE,
  ObjectType.NOTIFICATION_CLASS,
  ObjectType.MULTI_STATE_VALUE,
  ObjectType.NETWORK_PORT,
];

/** The properties every BACnet device object has (ASHRAE 135 clause 12.11), whatever it supports beyond. */
export const DEVICE_BASE_PROPERTIES: readonly number[] = [
  P.OBJECT_IDENTIFIER,
  P.OBJECT_NAME,
  P.OBJECT_TYPE,
  P.SYSTEM_STATUS,
  P.VENDOR_NAME,
  P.VENDOR_IDENTIFIER,
  P.MODEL_NAME,
  P.FIRMWARE_REVISION,
  P.APPLICATION_SOFTWARE_VERSION,
  P.PROTOCOL_VERSION,
  P.PROTOCOL_REVISION,
  P.PROTOCOL_SERVICES_SUPPORTED,
  P.PROTOCOL_OBJECT_TYPES_SUPPORTED,
  P.OBJECT_LIST,
  P.MAX_APDU_LENGTH_ACCEPTED,
  P.SEGMENTATION_SUPPORTED,
  P.APDU_TIMEOUT,
  P.NUMBER_OF_APDU_RETRIES,
  P.DEVICE_ADDRESS_BINDING,
  P.DATABASE_REVISION,
];
const REQUIRED: number[] = [
  ...DEVICE_BASE_PROPERTIES,
  P.PROPERTY_LIST,
  // Required because segmentation and COV are supported:
  P.MAX_SEGMENTS_ACCEPTED,
  P.APDU_SEGMENT_TIMEOUT,
  P.ACTIVE_COV_SUBSCRIPTIONS,
];
const OPTIONAL: number[] = [P.DESCRIPTION, P.LOCATION, P.LOCAL_DATE, P.LOCAL_TIME];
const ALL = [...REQUIRED, ...OPTIONAL];
const HAS = new Set<number>(ALL);
const LISTED: PropertyValue[] = ALL.filter(
  (p) => p !== P.OBJECT_IDENTIFIER && p !== P.OBJECT_NAME && p !== P.OBJECT_TYPE && p !== P.PROPERTY_LIST,
).map((v) => ({ t: 'enum', v }));

export function validateDeviceInfo(info: DeviceInfo): void {
  if (!Number.isInteger(info.instance) || info.instance < 0 || info.instance > MAX_INSTANCE)
    throw new RangeError(`device instance must be a whole number from 0 to ${MAX_INSTANCE}`);
  if (!info.name.trim()) throw new RangeError('device name is required');
  if (!Number.isInteger(info.vendorIdentifier) || info.vendorIdentifier < 0 || info.vendorIdentifier > 65535)
    throw new RangeError('vendor identifier must be a whole number from 0 to 65535');
  if (!TimeZone.isValid(info.timeZone)) throw new RangeError(`time zone "${info.timeZone}" is not known`);
}

export class DeviceObject implements BacnetObject {
  readonly type = ObjectType.DEVICE;
  readonly supportsCov = false;
  encodings: unknown = undefined;
  private changes = 1;
  private readonly zone: TimeZone;

  constructor(
    readonly info: DeviceInfo,
    private readonly context: DeviceContext,
  ) {
    validateDeviceInfo(info);
    this.zone = TimeZone.get(info.timeZone);
  }

  get instance(): number {
    return this.info.instance;
  }

  get name(): string {
    return this.info.name;
  }

  /** Bumped by the model when the object list changes. */
  get version(): number {
    return this.changes;
  }

  touch(): void {
    this.changes += 1;
  }

  propertyIds(which: 'all' | 'required' | 'optional'): readonly number[] {
    return which === 'all' ? ALL : which === 'required' ? REQUIRED : OPTIONAL;
  }

  isVolatile(property: number): boolean {
    // The clock, and the subscriptions' time remaining.
    return property === P.LOCAL_DATE || property === P.LOCAL_TIME || property === P.ACTIVE_COV_SUBSCRIPTIONS;
  }

  read(property: number, index?: number): ReadResult {
    if (!HAS.has(property)) return UNKNOWN_PROPERTY;
    if (property === P.PROPERTY_LIST) return arrayRead(LISTED, index);
    if (property === P.OBJECT_LIST) {
      const objects = this.context.objectList();
      if (index === undefined) return { t: 'object-list', objects };
      if (index === 0) return { t: 'unsigned', v: objects.length };
      const ref = objects[index - 1];
      return ref ? { t: 'oid', type: ref.type, instance: ref.instance } : INVALID_ARRAY_INDEX;
    }
    if (index !== undefined) return NOT_AN_ARRAY;
    const info = this.info;
    switch (property) {
      case P.OBJECT_IDENTIFIER:
        return { t: 'oid', type: ObjectType.DEVICE, instance: info.instance };
      case P.OBJECT_NAME:
        return { t: 'string', v: info.name };
      case P.OBJECT_TYPE:
        return { t: 'enum', v: ObjectType.DEVICE };
      case P.SYSTEM_STATUS:
        return { t: 'enum', v: 0 }; // operational
      case P.VENDOR_NAME:
        return { t: 'string', v: info.vendorName };
      case P.VENDOR_IDENTIFIER:
        return { t: 'unsigned', v: info.vendorIdentifier };
      case P.MODEL_NAME:
        return { t: 'string', v: info.modelName };
      case P.FIRMWARE_REVISION:
        return { t: 'string', v: info.firmwareRevision };
      case P.APPLICATION_SOFTWARE_VERSION:
        return { t: 'string', v: info.applicationSoftwareVersion };
      case P.PROTOCOL_VERSION:
        return { t: 'unsigned', v: PROTOCOL_VERSION };
      case P.PROTOCOL_REVISION:
        return { t: 'unsigned', v: PROTOCOL_REVISION };
      case P.PROTOCOL_SERVICES_SUPPORTED:
        return { t: 'bits', length: SERVICES_BITS, set: SUPPORTED_SERVICES };
      case P.PROTOCOL_OBJECT_TYPES_SUPPORTED:
        return { t: 'bits', length: OBJECT_TYPES_BITS, set: SUPPORTED_OBJECT_TYPES };
      case P.MAX_APDU_LENGTH_ACCEPTED:
        return { t: 'unsigned', v: info.maxApdu };
      case P.SEGMENTATION_SUPPORTED:
        return { t: 'enum', v: Segmentation.SEGMENTED_TRANSMIT };
      case P.MAX_SEGMENTS_ACCEPTED:
        // Requests are never segmented (they are small); responses are, up to what the client accepts.
        return { t: 'unsigned', v: 1 };
      case P.APDU_SEGMENT_TIMEOUT:
        return { t: 'unsigned', v: info.apduSegmentTimeoutMs };
      case P.APDU_TIMEOUT:
        return { t: 'unsigned', v: info.apduTimeoutMs };
      case P.NUMBER_OF_APDU_RETRIES:
        return { t: 'unsigned', v: info.apduRetries };
      case P.DEVICE_ADDRESS_BINDING:
        return { t: 'list', items: [] };
      case P.DATABASE_REVISION:
        return { t: 'unsigned', v: this.context.databaseRevision() };
      case P.ACTIVE_COV_SUBSCRIPTIONS:
        return { t: 'cov-subscriptions', items: this.context.subscriptions() };
      case P.DESCRIPTION:
        return { t: 'string', v: info.description };
      case P.LOCATION:
        return { t: 'string', v: info.location };
      case P.LOCAL_DATE: {
        const parts = this.zone.wallParts(this.context.now());
        // BACnet weekday: 1 Monday ... 7 Sunday.
        return {
          t: 'date',
          year: parts.year,
          month: parts.month,
          day: parts.day,
          weekday: parts.weekday === 0 ? 7 : parts.weekday,
        };
      }
      case P.LOCAL_TIME: {
        const now = this.context.now();
        const minute = this.zone.wallParts(now).minuteOfDay;
        const ms = ((now % 60_000) + 60_000) % 60_000;
        return {
          t: 'time',
          hour: Math.floor(minute / 60),
          minute: minute % 60,
          second: Math.floor(ms / 1000),
          hundredths: Math.floor((ms % 1000) / 10),
        };
      }
    }
    return UNKNOWN_PROPERTY;
  }
}
