/**
 * Meter profiles: what to read from a kind of meter and how to decode it. Built-in profiles live as JSON
 * in the package's profiles/ folder, each citing the maker's document; users add their own in the same
 * shape. `compileProfile` checks a profile and names the exact field that is wrong.
 */
import { UTILITIES, type Utility } from '../messages';
import { DATA_TYPES, registerCount, type DataType, type Encoding, type Endianness } from './registers';

export type ReadFunction = 1 | 2 | 3 | 4;
export type WriteFunction = 5 | 6 | 15 | 16;

export interface ProfileValueSpec {
  address: number;
  function?: number;
  type?: string;
  wordOrder?: string;
  byteOrder?: string;
  scale?: number;
  unit?: string;
  description?: string;
  rolloverAt?: number;
}

export interface ProfileSpec {
  id: string;
  name?: string;
  maker?: string;
  models?: string[];
  utility?: string;
  source?: unknown;
  addressing?: 'zero' | 'one';
  defaults?: { function?: number; type?: string; wordOrder?: string; byteOrder?: string };
  counter?: string;
  maxRatePerHour?: number;
  values: Record<string, ProfileValueSpec>;
  relay?: {
    write: { function: number; address: number; on: number; off: number };
    read?: { function: number; address: number; on: number; off: number };
    channels?: number;
    note?: string;
  };
  notes?: string;
  verified?: boolean;
}

export interface ValueDef extends Encoding {
  name: string;
  /** Zero-based protocol address. */
  address: number;
  function: ReadFunction;
  /** Registers (or bits) occupied. */
  length: number;
  scale: number;
  unit: string;
  description: string;
  /** Counter wraps to zero at this value (after scaling). */
  rolloverAt?: number;
}

export interface RelayDef {
  write: { function: WriteFunction; address: number; on: number; off: number };
  read?: { function: ReadFunction; address: number; on: number; off: number };
  channels: number;
}

export interface MeterProfile {
  id: string;
  name: string;
  utility?: Utility;
  values: ValueDef[];
  counter?: ValueDef;
  maxRatePerHour?: number;
  relay?: RelayDef;
  source?: unknown;
}

export class ProfileError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'ProfileError';
  }
}

const ENDIAN: readonly Endianness[] = ['big', 'little'];

function isInt(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function readFunctionOf(value: unknown, field: string): ReadFunction {
  if (value === 1 || value === 2 || value === 3 || value === 4) return value;
  throw new ProfileError(field, `must be a read function code 1, 2, 3 or 4 (got ${JSON.stringify(value)})`);
}

function writeFunctionOf(value: unknown, field: string): WriteFunction {
  if (value === 5 || value === 6 || value === 15 || value === 16) return value;
  throw new ProfileError(
    field,
    `must be a write function code 5, 6, 15 or 16 (got ${JSON.stringify(value)})`,
  );
}

function compileValue(
  name: string,
  spec: ProfileValueSpec,
  defaults: NonNullable<ProfileSpec['defaults']>,
  offset: number,
): ValueDef {
  const at = `values.${name}`;
  if (typeof spec !== 'object' || spec === null) throw new ProfileError(at, 'must be an object');
  if (!isInt(spec.address, 0, 65535 + offset))
    throw new ProfileError(`${at}.address`, 'must be a register address 0-65535');
  const address = spec.address - offset;
  if (address < 0)
    throw new ProfileError(`${at}.address`, 'register numbers start at 1 with "addressing": "one"');
  const fn = readFunctionOf(spec.function ?? defaults.function ?? 3, `${at}.function`);
  const type = (spec.type ?? defaults.type ?? (fn <= 2 ? 'bool' : 'uint16')) as DataType;
  if (!DATA_TYPES.includes(type))
    throw new ProfileError(
      `${at}.type`,
      `must be one of ${DATA_TYPES.join(', ')} (got ${JSON.stringify(type)})`,
    );
  if (fn <= 2 && type !== 'bool') throw new ProfileError(`${at}.type`, 'coils and discrete inputs are bool');
  if (fn >= 3 && type === 'bool') throw new ProfileError(`${at}.type`, 'a register value cannot be bool');
  const wordOrder = (spec.wordOrder ?? defaults.wordOrder ?? 'big') as Endianness;
  if (!ENDIAN.includes(wordOrder)) throw new ProfileError(`${at}.wordOrder`, 'must be "big" or "little"');
  const byteOrder = (spec.byteOrder ?? defaults.byteOrder ?? 'big') as Endianness;
  if (!ENDIAN.includes(byteOrder)) throw new ProfileError(`${at}.byteOrder`, 'must be "big" or "little"');
  const scale = spec.scale ?? 1;
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale === 0)
    throw new ProfileError(`${at}.scale`, 'must be a non-zero number');
  if (spec.rolloverAt !== undefined && (typeof spec.rolloverAt !== 'number' || !(spec.rolloverAt > 0)))
    throw new ProfileError(`${at}.rolloverAt`, 'must be a positive number');
  const length = registerCount(type);
  if (address + length - 1 > 65535) throw new ProfileError(`${at}.address`, 'value runs past register 65535');
  const def: ValueDef = {
    name,
    address,
    function: fn,
    type,
    wordOrder,
    byteOrder,
    length,
    scale,
    unit: typeof spec.unit === 'string' ? spec.unit : '',
    description: typeof spec.description === 'string' ? spec.description : name,
  };
  if (spec.rolloverAt !== undefined) def.rolloverAt = spec.rolloverAt;
  return def;
}

export function compileProfile(input: unknown): MeterProfile {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new ProfileError('profile', 'must be a JSON object');
  const spec = input as ProfileSpec;
  if (typeof spec.id !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(spec.id))
    throw new ProfileError('id', 'must be 1-64 letters, digits, dot, dash or underscore');
  if (spec.addressing !== undefined && spec.addressing !== 'zero' && spec.addressing !== 'one')
    throw new ProfileError('addressing', 'must be "zero" or "one"');
  const offset = spec.addressing === 'one' ? 1 : 0;
  if (spec.utility !== undefined && !UTILITIES.includes(spec.utility as Utility))
    throw new ProfileError('utility', `must be one of ${UTILITIES.join(', ')}`);
  if (typeof spec.values !== 'object' || spec.values === null || Array.isArray(spec.values))
    throw new ProfileError('values', 'must be an object of named values');
  const defaults = spec.defaults ?? {};
  const values = Object.entries(spec.values).map(([name, value]) =>
    compileValue(name, value, defaults, offset),
  );
  const profile: MeterProfile = { id: spec.id, name: spec.name ?? spec.id, values };
  if (spec.utility !== undefined) profile.utility = spec.utility as Utility;
  if (spec.source !== undefined) profile.source = spec.source;
  if (spec.counter !== undefined) {
    const counter = values.find((value) => value.name === spec.counter);
    if (!counter)
      throw new ProfileError('counter', `names no value in "values" (got ${JSON.stringify(spec.counter)})`);
    if (counter.function <= 2) throw new ProfileError('counter', 'must be a register value, not a coil');
    profile.counter = counter;
  }
  if (spec.maxRatePerHour !== undefined) {
    if (typeof spec.maxRatePerHour !== 'number' || !(spec.maxRatePerHour > 0))
      throw new ProfileError('maxRatePerHour', 'must be a positive number');
    profile.maxRatePerHour = spec.maxRatePerHour;
  }
  if (spec.relay !== undefined) profile.relay = compileRelay(spec.relay, offset);
  if (!profile.counter && !profile.relay)
    throw new ProfileError('counter', 'a profile needs a counter to bill, a relay to drive, or both');
  return profile;
}

function compileRelay(relay: NonNullable<ProfileSpec['relay']>, offset: number): RelayDef {
  if (typeof relay !== 'object' || relay === null) throw new ProfileError('relay', 'must be an object');
  const write = relay.write;
  if (typeof write !== 'object' || write === null) throw new ProfileError('relay.write', 'is required');
  const def: RelayDef = {
    write: {
      function: writeFunctionOf(write.function, 'relay.write.function'),
      address: relayAddress(write.address, offset, 'relay.write.address'),
      on: relayValue(write.on, 'relay.write.on'),
      off: relayValue(write.off, 'relay.write.off'),
    },
    channels: 1,
  };
  if (relay.read !== undefined) {
    def.read = {
      function: readFunctionOf(relay.read.function, 'relay.read.function'),
      address: relayAddress(relay.read.address, offset, 'relay.read.address'),
      on: relayValue(relay.read.on, 'relay.read.on'),
      off: relayValue(relay.read.off, 'relay.read.off'),
    };
  }
  if (relay.channels !== undefined) {
    if (!isInt(relay.channels, 1, 256)) throw new ProfileError('relay.channels', 'must be 1-256');
    def.channels = relay.channels;
  }
  return def;
}

function relayAddress(value: unknown, offset: number, field: string): number {
  if (!isInt(value, offset, 65535 + offset))
    throw new ProfileError(field, 'must be a register or coil address');
  return value - offset;
}

function relayValue(value: unknown, field: string): number {
  if (!isInt(value, 0, 0xffff)) throw new ProfileError(field, 'must be an integer 0-65535');
  return value;
}
