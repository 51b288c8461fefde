/**
 * What arrives at the meter node's input: readings from any upstream node (MQTT, a function...), and
 * operator commands (replace, rebaseline, poll). Each error names the field at fault.
 */
import { UTILITIES, type Utility } from '../core/messages';

export class MeterInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'MeterInputError';
  }
}

export interface UpstreamReading {
  meterId: string;
  value: number;
  ts?: number;
  utility?: Utility;
  unit?: string;
  accountId?: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function toTime(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '') {
    const parsed = Date.parse(value);
    if (Number.isFinite(parsed)) return parsed;
  }
  throw new MeterInputError(field, 'must be a time (epoch milliseconds or an ISO 8601 string)');
}

function numeric(value: unknown, field: string): number {
  const parsed = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof parsed !== 'number' || !Number.isFinite(parsed))
    throw new MeterInputError(field, 'must be a finite number');
  return parsed;
}

function meterIdOf(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new MeterInputError(field, 'is required');
  return value.trim();
}

/** One reading: `{meterId, value, ts?, utility?, unit?, accountId?}`; `msg.topic` may carry the meter id. */
export function readUpstreamReading(payload: unknown, topic: unknown, prefix = ''): UpstreamReading {
  let source = payload;
  // `msg.payload = 1234.5, msg.topic = "E-0412"` is how many MQTT meters publish.
  if (typeof payload === 'number' || typeof payload === 'string') source = { meterId: topic, value: payload };
  if (!isObject(source))
    throw new MeterInputError(
      `${prefix}payload`,
      'must be a reading {meterId, value, ts?} or a number with msg.topic as the meter id',
    );
  const reading: UpstreamReading = {
    meterId: meterIdOf(source.meterId ?? (typeof topic === 'string' ? topic : undefined), `${prefix}meterId`),
    value: numeric(source.value, `${prefix}value`),
  };
  if (source.ts !== undefined) reading.ts = toTime(source.ts, `${prefix}ts`);
  if (source.utility !== undefined) {
    if (!UTILITIES.includes(source.utility as Utility))
      throw new MeterInputError(`${prefix}utility`, `must be one of ${UTILITIES.join(', ')}`);
    reading.utility = source.utility as Utility;
  }
  if (source.unit !== undefined) {
    if (typeof source.unit !== 'string' || source.unit === '')
      throw new MeterInputError(`${prefix}unit`, 'must be a unit such as "kWh"');
    reading.unit = source.unit;
  }
  if (source.quality !== undefined && source.quality !== 'good') {
    throw new MeterInputError(
      `${prefix}quality`,
      `is "${String(source.quality)}": send only good readings (comm loss is detected here)`,
    );
  }
  if (source.accountId !== undefined) {
    if (typeof source.accountId !== 'string' || source.accountId === '')
      throw new MeterInputError(`${prefix}accountId`, 'must be a non-empty string');
    reading.accountId = source.accountId;
  }
  return reading;
}

export interface ReplaceCommand {
  meterId: string;
  oldFinal: number;
  newStart: number;
  ts?: number;
}

export function readReplace(payload: unknown): ReplaceCommand {
  if (!isObject(payload)) throw new MeterInputError('payload', 'must be {meterId, oldFinal, newStart, ts?}');
  const command: ReplaceCommand = {
    meterId: meterIdOf(payload.meterId, 'meterId'),
    oldFinal: numeric(payload.oldFinal, 'oldFinal'),
    newStart: numeric(payload.newStart, 'newStart'),
  };
  if (command.newStart < 0) throw new MeterInputError('newStart', 'must not be negative');
  if (payload.ts !== undefined) command.ts = toTime(payload.ts, 'ts');
  return command;
}

export interface RebaselineCommand {
  meterId: string;
  value: number;
  reason: string;
  ts?: number;
}

export function readRebaseline(payload: unknown): RebaselineCommand {
  if (!isObject(payload)) throw new MeterInputError('payload', 'must be {meterId, value, reason, ts?}');
  if (typeof payload.reason !== 'string' || payload.reason.trim() === '')
    throw new MeterInputError('reason', 'is required: a rebaseline drops consumption and must say why');
  const command: RebaselineCommand = {
    meterId: meterIdOf(payload.meterId, 'meterId'),
    value: numeric(payload.value, 'value'),
    reason: payload.reason.trim(),
  };
  if (payload.ts !== undefined) command.ts = toTime(payload.ts, 'ts');
  return command;
}
