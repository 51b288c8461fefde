/** The settings of a prepay-bacnet-client config node, checked, each problem naming its field. */
import { isIPv4 } from 'node:net';
import { parsePeer, type PeerAddress } from './bacnet-client';

export interface BacnetClientNodeDef {
  name?: string;
  bindAddress?: string;
  port?: string | number;
  apduTimeout?: string | number;
  retries?: string | number;
  device?: string | number;
  deviceType?: string;
  address?: string;
  addressType?: string;
  lease?: string | number;
}

export interface ClientSettings {
  bindAddress: string;
  port: number;
  apduTimeoutMs: number;
  retries: number;
  device: number;
  peer: PeerAddress;
  leaseMs: number;
}

function whole(value: unknown, field: string, min: number, max: number, fallback: number): number {
  const text = value === undefined || value === null ? '' : String(value).trim();
  if (text === '') return fallback;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max)
    throw new Error(`${field}: "${text}" is not a whole number ${min}-${max}`);
  return Number(text);
}

export function readClientSettings(config: BacnetClientNodeDef): ClientSettings {
  const bindAddress = (config.bindAddress ?? '').trim() || '0.0.0.0';
  if (!isIPv4(bindAddress))
    throw new Error(`bindAddress: "${bindAddress}" is not an IPv4 address (0.0.0.0: all)`);
  const peer = parsePeer(config.address ?? '');
  if (typeof peer === 'string') throw new Error(`address: ${peer}`);
  const deviceText = String(config.device ?? '').trim();
  if (deviceText === '') throw new Error("device: the BEMS controller's device instance is required");
  return {
    bindAddress,
    port: whole(config.port, 'port', 0, 65535, 0),
    apduTimeoutMs: whole(config.apduTimeout, 'apduTimeout', 100, 60_000, 3000),
    retries: whole(config.retries, 'retries', 0, 10, 3),
    device: whole(deviceText, 'device', 0, 4194302, 0),
    peer,
    leaseMs: whole(config.lease, 'lease', 2, 86_400, 300) * 1000,
  };
}
