/**
 * What arrives at a prepay-bacnet node: account states (ledger output 2, or through prepay-forecast with
 * daysLeft), consumption, readings and events of the meter reader, relay commands and alarms of the cutoff relay,
 * and `topic: "retire"` to remove an account's or a meter's objects for good. A payload may be an array of them.
 * Each error names the field at fault; nothing of a batch is applied unless all of it parses. And what leaves:
 * the override messages prepay-cutoff takes.
 */
import type { ModelInput, OverrideCommand } from '../core/bacnet/model';
import { UTILITIES, type CreditState, type Utility } from '../core/messages';
import { isKnownCurrency } from '../core/money';
import { parseDecimal } from '../core/decimal';

export class BacnetInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'BacnetInputError';
  }
}

const STATES: CreditState[] = ['ok', 'low', 'emergency', 'exhausted', 'closed'];
const METER_EVENTS = new Set([
  'comm-loss',
  'comm-restored',
  'suspect',
  'rollover',
  'replaced',
  'rebaselined',
  'stale',
  'first-reading',
]);
const CUTOFF_ALARMS = new Set(['policy', 'relay-not-confirming', 'relay-fault']);
const ACTIONS = new Set(['connect', 'disconnect', 'limit']);
const QUALITIES = new Set(['good', 'suspect', 'comm-loss']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Account and meter ids become object names: printable, at most 100 characters. */
function id(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new BacnetInputError(field, 'is required');
  const text = value.trim();
  if (text.length > 100) throw new BacnetInputError(field, 'must be at most 100 characters');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(text))
    throw new BacnetInputError(field, 'must not hold control characters');
  return text;
}

function optionalId(value: unknown, field: string): string | undefined {
  return value === undefined || value === null || value === '' ? undefined : id(value, field);
}

function utility(value: unknown, field: string, required: true): Utility;
function utility(value: unknown, field: string, required: false): Utility | undefined;
function utility(value: unknown, field: string, required: boolean): Utility | undefined {
  if (value === undefined && !required) return undefined;
  if (!UTILITIES.includes(value as Utility))
    throw new BacnetInputError(field, `must be one of ${UTILITIES.join(', ')}`);
  return value as Utility;
}

function finite(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new BacnetInputError(field, 'must be a number');
  return value;
}

function minor(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    throw new BacnetInputError(field, 'must be a whole number of minor units (pence, cents)');
  return value;
}

function unit(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new BacnetInputError(field, 'must be a unit such as "kWh"');
  return value.trim();
}

function time(value: unknown, field: string): number {
  const t = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : NaN;
  if (!Number.isFinite(t)) throw new BacnetInputError(field, 'must be a time (epoch ms or ISO 8601)');
  return t;
}

/** `input` with those of `fields` that are defined (optional fields stay absent, not undefined). */
function defined(input: ModelInput, fields: Record<string, unknown>): ModelInput {
  for (const [key, value] of Object.entries(fields))
    if (value !== undefined) (input as unknown as Record<string, unknown>)[key] = value;
  return input;
}

function readOne(payload: unknown, p: string): ModelInput | undefined {
  if (!isObject(payload))
    throw new BacnetInputError(
      p || 'payload',
      'must be an account state, consumption, reading, meter event, relay command or cutoff alarm',
    );
  if (payload.meterId !== undefined) {
    const meterId = id(payload.meterId, `${p}meterId`);
    const accountId = optionalId(payload.accountId, `${p}accountId`);
    if (payload.action !== undefined) {
      if (!ACTIONS.has(String(payload.action)))
        throw new BacnetInputError(`${p}action`, 'must be "connect", "disconnect" or "limit"');
      return defined(
        { kind: 'relay', meterId, action: payload.action as 'connect' | 'disconnect' | 'limit' },
        { accountId, utility: utility(payload.utility, `${p}utility`, false) },
      );
    }
    if (payload.type !== undefined) {
      const type = String(payload.type);
      if (type === 'warning') return undefined; // the cutoff's warnings are not alarms
      const text = typeof payload.text === 'string' ? payload.text : type;
      if (type === 'override' && (payload.outcome === 'applied' || payload.outcome === 'refused'))
        return defined({ kind: 'override-answer', meterId, outcome: payload.outcome, text }, { accountId });
      if (CUTOFF_ALARMS.has(type)) {
        if (typeof payload.alarm !== 'boolean')
          throw new BacnetInputError(`${p}alarm`, 'must be true or false');
        return defined({ kind: 'cutoff-alarm', meterId, type, alarm: payload.alarm, text }, { accountId });
      }
      if (!METER_EVENTS.has(type) && typeof payload.alarm !== 'boolean')
        throw new BacnetInputError(
          `${p}type`,
          `"${type}" is not a meter event (${[...METER_EVENTS].join(', ')}); another event needs "alarm": true or false`,
        );
      return defined(
        { kind: 'meter-event', meterId, type, alarm: payload.alarm === true, text },
        { accountId, utility: utility(payload.utility, `${p}utility`, false) },
      );
    }
    if (payload.delta !== undefined || payload.readingId !== undefined) {
      const delta = payload.delta;
      try {
        parseDecimal(delta as string | number);
      } catch {
        throw new BacnetInputError(`${p}delta`, 'must be a decimal number');
      }
      return defined(
        {
          kind: 'consumption',
          meterId,
          utility: utility(payload.utility, `${p}utility`, true),
          unit: unit(payload.unit, `${p}unit`),
          value: finite(payload.value, `${p}value`),
          delta: delta as number | string,
          to: time(payload.to ?? payload.ts, `${p}to`),
        },
        { accountId },
      );
    }
    if (payload.quality !== undefined) {
      if (!QUALITIES.has(String(payload.quality)))
        throw new BacnetInputError(`${p}quality`, 'must be "good", "suspect" or "comm-loss"');
      // A reading that is not good may have no value (nothing was read): only its health is applied.
      const value =
        payload.quality !== 'good' && (payload.value === undefined || payload.value === null)
          ? undefined
          : finite(payload.value, `${p}value`);
      return defined(
        {
          kind: 'reading',
          meterId,
          utility: utility(payload.utility, `${p}utility`, true),
          unit: unit(payload.unit, `${p}unit`),
          quality: payload.quality as 'good' | 'suspect' | 'comm-loss',
        },
        { accountId, value },
      );
    }
    throw new BacnetInputError(
      p || 'payload',
      'a meter message needs "action" (relay command), "type" (event, alarm), "delta" (consumption) or "quality" (reading)',
    );
  }
  if (payload.accountId === undefined)
    throw new BacnetInputError(`${p}accountId`, 'is required (or meterId for meter messages)');
  const accountId = id(payload.accountId, `${p}accountId`);
  if (!STATES.includes(payload.state as CreditState))
    throw new BacnetInputError(
      `${p}state`,
      `must be one of ${STATES.join(', ')} (got ${JSON.stringify(payload.state)})`,
    );
  if (!isKnownCurrency(payload.currency))
    throw new BacnetInputError(
      `${p}currency`,
      `must be an ISO 4217 code such as "GBP" (got ${JSON.stringify(payload.currency)})`,
    );
  const daysLeft = payload.daysLeft;
  if (daysLeft !== undefined && daysLeft !== null && (typeof daysLeft !== 'number' || !(daysLeft >= 0)))
    throw new BacnetInputError(`${p}daysLeft`, 'must be a number of days, 0 or more');
  return defined(
    {
      kind: 'account',
      accountId,
      balance: minor(payload.balance, `${p}balance`),
      available: minor(payload.available, `${p}available`),
      currency: payload.currency,
      state: payload.state as CreditState,
    },
    { daysLeft: typeof daysLeft === 'number' ? daysLeft : undefined },
  );
}

export function readBacnetInput(topic: unknown, payload: unknown): ModelInput[] {
  if (topic === 'retire') {
    if (!isObject(payload)) throw new BacnetInputError('payload', 'retire needs {accountId} or {meterId}');
    const accountId = optionalId(payload.accountId, 'accountId');
    const meterId = optionalId(payload.meterId, 'meterId');
    if (!accountId && !meterId)
      throw new BacnetInputError('accountId', 'or meterId is required to retire objects');
    return [defined({ kind: 'retire' }, { accountId, meterId })];
  }
  const items = Array.isArray(payload) ? payload : [payload];
  const out: ModelInput[] = [];
  items.forEach((item, i) => {
    const input = readOne(item, Array.isArray(payload) ? `payload[${i}].` : '');
    if (input) out.push(input);
  });
  return out;
}

/** An override command as prepay-cutoff's `topic: "override"` input takes it. */
export function overrideMessage(command: OverrideCommand): {
  topic: 'override';
  payload: Record<string, unknown>;
} {
  const payload: Record<string, unknown> = { meterId: command.meterId, action: command.action };
  if (command.reason !== undefined) payload.reason = command.reason;
  if (command.until !== undefined) payload.until = command.until;
  if (command.by !== undefined) payload.by = command.by;
  return { topic: 'override', payload };
}
