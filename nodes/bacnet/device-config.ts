/**
 * The prepay-bacnet-device config node's settings as the editor saves them, turned into the device's identity
 * and network options. Instance and port may come from environment variables (typed inputs), so one flow can be
 * deployed on several gateways, each its own device. Each error names the setting.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_INSTANCE } from '../core/bacnet/constants';
import type { DeviceInfo } from '../core/bacnet/device-object';
import {
  DEFAULT_NOTIFICATION_CLASS,
  type NotificationClassSettings,
  type Recipient,
} from '../core/bacnet/events';
import { TimeZone } from '../core/tariff/zone';
import type { Node } from 'node-red';
import type { DeviceHost } from './device-host';
import type { DeviceServerOptions } from './device-server';
import { splitAddress } from './udp-transport';

/** What a prepay-bacnet node finds on the prepay-bacnet-device config node it names. */
export interface BacnetDeviceNode extends Node {
  host?: DeviceHost;
  /** Why the device could not be set up (bad settings). */
  problem?: string;
}

export interface DeviceNodeDef {
  deviceInstance?: string | number;
  deviceName?: string;
  description?: string;
  location?: string;
  vendorId?: string | number;
  port?: string | number;
  address?: string;
  broadcast?: string;
  bbmd?: string;
  bbmdTtl?: string | number;
  timeZone?: string;
  overrides?: boolean;
  overrideMinutes?: string | number;
  /** Alarm recipients, one a line (or comma-separated): "a.b.c.d[:port][/process] [confirmed]". */
  recipients?: string;
  /** A BEMS may add and remove alarm recipients over BACnet (the configured ones always stay). */
  recipientWrites?: boolean;
}

export interface DeviceSettings {
  device: DeviceInfo;
  server: DeviceServerOptions;
  overrides: boolean;
  overrideMinutes: number;
  notificationClass: NotificationClassSettings;
  recipientWrites: boolean;
}

const RECIPIENT = /^(\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?)(?:\/(\d{1,10}))?(?:\s+(confirmed|unconfirmed))?$/i;

/**
 * The notification class's recipients from the setting's text: one a line (or comma-separated), each
 * "a.b.c.d[:port][/process] [confirmed]"; every transition goes to each, unconfirmed unless it says confirmed.
 */
export function parseRecipients(text: string): Recipient[] {
  const out: Recipient[] = [];
  for (const raw of text.split(/[\n,]/)) {
    const entry = raw.trim();
    if (!entry) continue;
    const match = RECIPIENT.exec(entry);
    if (!match) throw new Error(`alarm recipient "${entry}" must be a.b.c.d[:port][/process] [confirmed]`);
    let address: { host: string; port: number };
    try {
      address = splitAddress(match[1] as string, 47808);
    } catch (error) {
      throw new Error(`alarm recipient "${entry}": ${(error as Error).message}`);
    }
    const processId = match[2] === undefined ? 1 : Number(match[2]);
    if (processId > 4_294_967_295) throw new Error(`alarm recipient "${entry}": process id too large`);
    out.push({
      ...address,
      processId,
      confirmed: (match[3] ?? '').toLowerCase() === 'confirmed',
      transitions: [true, true, true],
    });
  }
  return out;
}

function whole(value: unknown, fallback: number, field: string, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const n = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${field} must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`);
  return n;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** `resolve` turns a typed input (number or environment variable) into its value. */
export function readDeviceSettings(
  def: DeviceNodeDef,
  resolve: (field: 'deviceInstance' | 'port') => unknown,
): DeviceSettings {
  const instance = whole(resolve('deviceInstance'), NaN, 'device instance', 0, MAX_INSTANCE);
  if (Number.isNaN(instance)) throw new Error('device instance is required');
  const name = (def.deviceName ?? '').trim() || `prepay-${instance}`;
  const timeZone = (def.timeZone || 'UTC').trim();
  if (!TimeZone.isValid(timeZone)) throw new Error(`time zone "${timeZone}" is not known`);
  const port = whole(resolve('port'), 47808, 'UDP port', 1, 65535);
  const address = (def.address || '0.0.0.0').trim();
  try {
    splitAddress(address, port);
  } catch {
    throw new Error(`interface address "${address}" must be an IPv4 address (0.0.0.0 for all)`);
  }
  const broadcast = (def.broadcast ?? '').trim();
  if (broadcast) {
    try {
      splitAddress(broadcast, port);
    } catch (error) {
      throw new Error(`broadcast address: ${(error as Error).message}`);
    }
  }
  const bbmd = (def.bbmd ?? '').trim();
  if (bbmd) {
    try {
      splitAddress(bbmd, 47808);
    } catch (error) {
      throw new Error(`BBMD address: ${(error as Error).message}`);
    }
  }
  const recipients = parseRecipients(def.recipients ?? '');
  const version = packageVersion();
  return {
    device: {
      instance,
      name,
      description:
        (def.description ?? '').trim() || 'Prepayment metering: balances, supply and meters per tenant',
      location: (def.location ?? '').trim(),
      vendorIdentifier: whole(def.vendorId, 0, 'vendor identifier', 0, 65535),
      vendorName: 'node-red-contrib-prepay',
      modelName: 'node-red-contrib-prepay BACnet point exporter',
      firmwareRevision: version,
      applicationSoftwareVersion: version,
      timeZone,
      maxApdu: 1476,
      apduTimeoutMs: 3000,
      apduSegmentTimeoutMs: 2000,
      apduRetries: 3,
    },
    server: {
      port,
      address,
      ...(broadcast ? { broadcastAddress: broadcast } : {}),
      ...(bbmd
        ? { foreignDevice: { bbmd, ttlSeconds: whole(def.bbmdTtl, 300, 'BBMD time to live', 30, 65535) } }
        : {}),
    },
    overrides: def.overrides === true,
    overrideMinutes: whole(def.overrideMinutes, 240, 'override duration (minutes)', 1, 31 * 24 * 60),
    notificationClass: { ...DEFAULT_NOTIFICATION_CLASS, recipients },
    recipientWrites: def.recipientWrites === true,
  };
}
