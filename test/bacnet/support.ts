/**
 * Shared by the BACnet suites: a device description, a model on a manual clock, free UDP ports on loopback, and
 * a BACnet client (a second @bacnet-js/client instance) with promise helpers for what it hears.
 */
import { createSocket } from 'node:dgram';
import BACnetClient from '@bacnet-js/client';
import { ManualClock } from '../../dist/nodes/core/clock';
import type { DeviceInfo } from '../../dist/nodes/core/bacnet/device-object';
import { PointModel, type ModelInput, type ModelOptions } from '../../dist/nodes/core/bacnet/model';
import type { CreditState } from '../../dist/nodes/core/messages';

export const DEVICE: DeviceInfo = {
  instance: 4120,
  name: 'prepay-test',
  description: 'prepay test device',
  location: 'plant room 2',
  vendorIdentifier: 0,
  vendorName: 'node-red-contrib-prepay',
  modelName: 'test',
  firmwareRevision: '0.1.0',
  applicationSoftwareVersion: '0.1.0',
  timeZone: 'Europe/London',
  maxApdu: 1476,
  apduTimeoutMs: 3000,
  apduSegmentTimeoutMs: 2000,
  apduRetries: 3,
};

export function modelOn(clock: ManualClock, options: Partial<ModelOptions> = {}): PointModel {
  return new PointModel(
    {
      device: DEVICE,
      overrides: true,
      overrideMinutes: 60,
      maxObjects: 100_000,
      maxSubscriptions: 1000,
      ...options,
    },
    () => clock.now(),
  );
}

/** An account state as the model takes it (money in pence). */
export function account(
  accountId: string,
  balance: number,
  state: CreditState = 'ok',
  extra: { daysLeft?: number; available?: number; currency?: string } = {},
): ModelInput {
  return { kind: 'account', accountId, balance, available: balance, currency: 'GBP', state, ...extra };
}

/** A UDP port free on 127.0.0.1 now. */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.on('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

export interface TestClient {
  client: BACnetClient;
  port: number;
  close(): void;
}

/** A BACnet client on its own loopback port whose broadcasts go to the device's port. */
export async function testClient(devicePort: number, apduTimeout = 3000): Promise<TestClient> {
  const port = await freeUdpPort();
  const client = new BACnetClient({
    port,
    interface: '127.0.0.1',
    broadcastAddress: `127.0.0.1:${devicePort}`,
    apduTimeout,
  });
  client.on('error', () => undefined);
  await new Promise<void>((resolve) => client.once('listening', () => resolve()));
  return { client, port, close: () => client.close() };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with the first event `name` the client emits that passes `filter`, or rejects after `ms`. */
export function nextEvent<T = Record<string, unknown>>(
  client: BACnetClient,
  name: string,
  ms = 2000,
  filter: (content: T) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const emitter = client as unknown as {
      on(event: string, fn: (content: T) => void): void;
      off(event: string, fn: (content: T) => void): void;
    };
    const handler = (content: T): void => {
      if (!filter(content)) return;
      clearTimeout(timer);
      emitter.off(name, handler);
      resolve(content);
    };
    const timer = setTimeout(() => {
      emitter.off(name, handler);
      reject(new Error(`no ${name} within ${ms} ms`));
    }, ms);
    emitter.on(name, handler);
  });
}
