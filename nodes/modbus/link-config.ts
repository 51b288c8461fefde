/** Reads and checks the prepay-modbus config node's settings; every message names the field at fault. */
import type { Node } from 'node-red';
import type { LinkOptions, ModbusLink } from './modbus-link';
import type { Endpoint } from './transport';

export interface ModbusNodeDef {
  id: string;
  name?: string;
  kind?: string;
  host?: string;
  port?: string | number;
  serialPort?: string;
  baudRate?: string | number;
  parity?: string;
  dataBits?: string | number;
  stopBits?: string | number;
  timeout?: string | number;
  pause?: string | number;
  retries?: string | number;
  maxGap?: string | number;
}

export interface LinkSettings {
  endpoint: Endpoint;
  options: Partial<LinkOptions>;
  /** Unused registers read through to merge two values into one request. */
  maxGap: number;
}

function numberOf(value: unknown, fallback: number, field: string, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const parsed = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isFinite(parsed) || parsed < min || parsed > max || !Number.isInteger(parsed))
    throw new Error(`${field} must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`);
  return parsed;
}

export function readLinkSettings(def: ModbusNodeDef): LinkSettings {
  const kind = def.kind || 'tcp';
  let endpoint: Endpoint;
  if (kind === 'tcp') {
    const host = (def.host ?? '').trim();
    if (!host) throw new Error('host is required for Modbus TCP');
    endpoint = { kind: 'tcp', host, port: numberOf(def.port, 502, 'port', 1, 65535) };
  } else if (kind === 'rtu') {
    const path = (def.serialPort ?? '').trim();
    if (!path) throw new Error('serial port is required for Modbus RTU (for example /dev/ttyUSB0)');
    const parity = def.parity || 'none';
    if (parity !== 'none' && parity !== 'even' && parity !== 'odd')
      throw new Error('parity must be none, even or odd');
    const dataBits = numberOf(def.dataBits, 8, 'data bits', 7, 8) as 7 | 8;
    const stopBits = numberOf(def.stopBits, 1, 'stop bits', 1, 2) as 1 | 2;
    endpoint = {
      kind: 'rtu',
      path,
      baudRate: numberOf(def.baudRate, 9600, 'baud rate', 300, 921600),
      parity,
      dataBits,
      stopBits,
    };
  } else {
    throw new Error(`kind must be "tcp" or "rtu" (got ${JSON.stringify(kind)})`);
  }
  // A serial line needs a silence between frames and the slave's turnaround; 20 ms suits 9600 baud meters.
  const defaultPause = kind === 'rtu' ? 20 : 0;
  return {
    endpoint,
    options: {
      timeoutMs: numberOf(def.timeout, 1000, 'timeout', 50, 60_000),
      pauseMs: numberOf(def.pause, defaultPause, 'pause', 0, 10_000),
      retries: numberOf(def.retries, 1, 'retries', 0, 5),
    },
    maxGap: numberOf(def.maxGap, 64, 'gap', 0, 120),
  };
}

/** What a prepay-modbus config node offers the nodes that use it. */
export interface ModbusConfigNode extends Node {
  link?: ModbusLink;
  settings?: LinkSettings;
  /** Why the link could not be set up (bad settings). */
  problem?: string;
}
