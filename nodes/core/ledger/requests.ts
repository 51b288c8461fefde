/**
 * Reads ledger commands and charges from messages into typed requests. Every refusal is a
 * LedgerError naming the field at fault; nothing is posted for a request that does not parse.
 */
import { isKnownCurrency } from '../money';
import { UTILITIES, Utility } from '../messages';
import { AccountPolicy, EmergencyMode, StandingWhileOff } from './types';
import { parseDecimal } from '../decimal';

export class LedgerError extends Error {
  constructor(
    readonly field: string,
    message: string,
    readonly code: string = 'invalid',
  ) {
    super(`${field}: ${message}`);
    this.name = 'LedgerError';
  }
}

export type PolicyInput = Partial<Record<keyof AccountPolicy, unknown>>;

export type LedgerRequest =
  | {
      command: 'open';
      reference: string;
      accountId: string;
      currency: string;
      tenant: string;
      name: string;
      utilities: Utility[];
      policy: Partial<AccountPolicy>;
      openingDebt: bigint;
      by?: string;
    }
  | {
      command: 'topup';
      reference: string;
      accountId: string;
      amount: bigint;
      currency?: string;
      method?: string;
      by?: string;
    }
  | {
      command: 'refund';
      reference: string;
      accountId: string;
      amount: bigint;
      currency?: string;
      reason?: string;
      by?: string;
    }
  | {
      command: 'adjust';
      reference: string;
      accountId: string;
      amount: bigint;
      register: 'balance' | 'debt';
      reason: string;
      by?: string;
    }
  | { command: 'reverse'; reference: string; accountId: string; target: string; reason: string; by?: string }
  | { command: 'close'; reference: string; accountId: string; by?: string }
  | { command: 'emergency'; reference: string; accountId: string; by?: string }
  | { command: 'bind'; reference: string; meterId: string; accountId: string; from?: number }
  | { command: 'unbind'; reference: string; meterId: string; at?: number }
  | {
      command: 'charge';
      reference: string;
      accountId?: string;
      meterId?: string;
      readingId: string;
      amountSub: bigint;
      currency: string;
      kind: 'consumption' | 'standing' | 'monthly';
      effectiveAt: number;
      meta: Record<string, unknown>;
    }
  | { command: 'debt-recovery'; reference: string; accountId: string; date: string }
  | { command: 'balance'; accountId: string }
  | { command: 'statement'; accountId: string; from: number; to: number; format: 'json' | 'csv' }
  | { command: 'summary'; from: number; to: number; format: 'json' | 'csv' }
  | { command: 'verify'; accountId?: string }
  | { command: 'checkpoint' };

export const POSTING_COMMANDS = [
  'open',
  'topup',
  'refund',
  'adjust',
  'reverse',
  'close',
  'emergency',
  'bind',
  'unbind',
];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown, field: string, max = 200): string {
  if (typeof value !== 'string' || value.trim() === '') throw new LedgerError(field, 'is required');
  if (value.length > max) throw new LedgerError(field, `must be at most ${max} characters`);
  return value;
}

function optionalText(value: unknown, field: string, max = 500): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new LedgerError(field, 'must be a string');
  if (value.length > max) throw new LedgerError(field, `must be at most ${max} characters`);
  return value;
}

/** An integer amount of minor units from a JSON number or a string of digits. */
export function minorAmount(value: unknown, field: string): bigint {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^[+-]?\d{1,18}$/.test(value.trim())) return BigInt(value.trim());
  if (value === undefined || value === null) throw new LedgerError(field, 'is required');
  throw new LedgerError(field, 'must be a whole number of minor units (e.g. 5000 for 50.00 GBP)');
}

function positiveAmount(value: unknown, field: string): bigint {
  const amount = minorAmount(value, field);
  if (amount <= 0n) throw new LedgerError(field, 'must be greater than zero');
  return amount;
}

/**
 * A charge's amounts are what the tenant pays, never what the tenant is paid: a credit goes through
 * topup, refund or adjust (with a reason). So the amount, every breakdown line and the quantity of a
 * charge must not be negative; a negative one would silently raise the balance.
 */
function chargeAmount(value: unknown): bigint {
  const amount = minorAmount(value, 'amount');
  if (amount < 0n)
    throw new LedgerError('amount', 'must not be negative: a charge never credits an account (use adjust)');
  return amount;
}

function checkChargeQuantity(value: unknown): void {
  if (value === undefined || value === null || value === '') return;
  let units: bigint;
  try {
    if (typeof value !== 'string' && typeof value !== 'number') throw new TypeError();
    units = parseDecimal(value).units;
  } catch {
    throw new LedgerError('quantity', 'must be a decimal number such as "8.919"');
  }
  if (units < 0n) throw new LedgerError('quantity', 'must not be negative');
}

function checkChargeBreakdown(value: unknown): void {
  if (value === undefined || value === null) return;
  if (!Array.isArray(value)) throw new LedgerError('breakdown', 'must be a list of charge lines');
  value.forEach((line: unknown, i) => {
    const field = `breakdown[${i}].amount`;
    if (!isObject(line)) throw new LedgerError(`breakdown[${i}]`, 'must be a charge line object');
    if (line.amount === undefined) return;
    let amount: bigint;
    try {
      amount = minorAmount(line.amount, field);
    } catch {
      throw new LedgerError(field, 'must be a whole number of sub-minor units');
    }
    if (amount < 0n)
      throw new LedgerError(field, 'must not be negative: a charge never credits an account (use adjust)');
  });
}

function time(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && Number.isFinite(Date.parse(value))) return Date.parse(value);
  throw new LedgerError(field, 'must be a time (epoch milliseconds or ISO 8601)');
}

function optionalTime(value: unknown, field: string): number | undefined {
  return value === undefined || value === null || value === '' ? undefined : time(value, field);
}

function currency(value: unknown, field = 'currency'): string {
  if (!isKnownCurrency(value)) throw new LedgerError(field, 'must be an ISO 4217 code such as "GBP"');
  return value;
}

function format(value: unknown): 'json' | 'csv' {
  if (value === undefined || value === 'json') return 'json';
  if (value === 'csv') return 'csv';
  throw new LedgerError('format', 'must be "json" or "csv"');
}

/** Account policy fields given on `open` (or in the node's defaults), checked and converted. */
export function readPolicy(input: PolicyInput, prefix = 'policy'): Partial<AccountPolicy> {
  const policy: Partial<AccountPolicy> = {};
  const amountKeys = [
    'lowThreshold',
    'lowHysteresis',
    'emergencyCredit',
    'reconnectAbove',
    'debtRecoveryCap',
    'debtRecoveryPerDay',
    'maxBalance',
    'maxTopup',
  ] as const;
  for (const key of amountKeys) {
    if (input[key] === undefined || input[key] === '') continue;
    const amount = minorAmount(input[key], `${prefix}.${key}`);
    if (amount < 0n) throw new LedgerError(`${prefix}.${key}`, 'must not be negative');
    policy[key] = amount;
  }
  if (input.debtRecoveryShareBp !== undefined && input.debtRecoveryShareBp !== '') {
    const bp = Number(input.debtRecoveryShareBp);
    if (!Number.isInteger(bp) || bp < 0 || bp > 10_000) {
      throw new LedgerError(
        `${prefix}.debtRecoveryShareBp`,
        'must be whole basis points from 0 to 10000 (2500 = 25%)',
      );
    }
    policy.debtRecoveryShareBp = bp;
  }
  if (input.emergencyMode !== undefined && input.emergencyMode !== '') {
    if (!['auto', 'request', 'off'].includes(String(input.emergencyMode))) {
      throw new LedgerError(`${prefix}.emergencyMode`, 'must be "auto", "request" or "off"');
    }
    policy.emergencyMode = input.emergencyMode as EmergencyMode;
  }
  if (input.standingWhileOff !== undefined && input.standingWhileOff !== '') {
    if (!['accrue-debt', 'pause'].includes(String(input.standingWhileOff))) {
      throw new LedgerError(`${prefix}.standingWhileOff`, 'must be "accrue-debt" or "pause"');
    }
    policy.standingWhileOff = input.standingWhileOff as StandingWhileOff;
  }
  return policy;
}

/** Who gave a command (an operator's user name): kept in the posting's entries and result. */
function operator(value: unknown): string | undefined {
  return optionalText(value, 'by', 100);
}

/**
 * A command message: `payload.command` (or `msg.topic`) names it. A charge from the tariff node
 * (`topic: "charge"`, or a payload with `readingId` and `amount` and `breakdown`) is a charge.
 */
export function readRequest(topic: unknown, payload: unknown, now: number = Date.now()): LedgerRequest {
  if (!isObject(payload)) throw new LedgerError('payload', 'must be a command or charge object');
  const p = payload;
  const command =
    typeof p.command === 'string'
      ? p.command
      : topic === 'charge' || Array.isArray(p.breakdown)
        ? 'charge'
        : topic;
  if (typeof command !== 'string' || command === '') {
    throw new LedgerError(
      'command',
      'is required (topup, refund, adjust, reverse, open, close, bind, unbind, balance, statement, summary, verify, checkpoint, emergency)',
    );
  }
  switch (command) {
    case 'open': {
      const debt = p.openingDebt === undefined ? 0n : minorAmount(p.openingDebt, 'openingDebt');
      if (debt < 0n) throw new LedgerError('openingDebt', 'must not be negative');
      const utilities = p.utilities === undefined ? [] : p.utilities;
      if (!Array.isArray(utilities) || utilities.some((u) => !UTILITIES.includes(u as Utility))) {
        throw new LedgerError('utilities', `must be a list of ${UTILITIES.join(', ')}`);
      }
      return {
        command,
        reference: text(p.reference, 'reference'),
        accountId: text(p.accountId, 'accountId', 64),
        currency: currency(p.currency),
        tenant: optionalText(p.tenant, 'tenant', 200) ?? '',
        name: optionalText(p.name, 'name', 200) ?? '',
        utilities: utilities as Utility[],
        policy: readPolicy(isObject(p.policy) ? p.policy : {}),
        openingDebt: debt,
        by: operator(p.by),
      };
    }
    case 'topup':
      return {
        command,
        reference: text(p.reference, 'reference'),
        accountId: text(p.accountId, 'accountId', 64),
        amount: positiveAmount(p.amount, 'amount'),
        currency: p.currency === undefined ? undefined : currency(p.currency),
        method: optionalText(p.method, 'method', 100),
        by: operator(p.by),
      };
    case 'refund':
      return {
        command,
        reference: text(p.reference, 'reference'),
        accountId: text(p.accountId, 'accountId', 64),
        amount: positiveAmount(p.amount, 'amount'),
        currency: p.currency === undefined ? undefined : currency(p.currency),
        reason: optionalText(p.reason, 'reason'),
        by: operator(p.by),
      };
    case 'adjust': {
      const amount = minorAmount(p.amount, 'amount');
      if (amount === 0n) throw new LedgerError('amount', 'must not be zero');
      const register = p.register ?? 'balance';
      if (register !== 'balance' && register !== 'debt')
        throw new LedgerError('register', 'must be "balance" or "debt"');
      return {
        command,
        reference: text(p.reference, 'reference'),
        accountId: text(p.accountId, 'accountId', 64),
        amount,
        register,
        reason: text(p.reason, 'reason', 500),
        by: operator(p.by),
      };
    }
    case 'reverse':
      return {
        command,
        reference: text(p.reference, 'reference'),
        accountId: text(p.accountId, 'accountId', 64),
        target: text(p.target, 'target'),
        reason: text(p.reason, 'reason', 500),
        by: operator(p.by),
      };
    case 'close':
    case 'emergency':
      return {
        command,
        reference: text(p.reference, 'reference'),
        accountId: text(p.accountId, 'accountId', 64),
        by: operator(p.by),
      };
    case 'bind':
      return {
        command,
        reference: text(p.reference, 'reference'),
        meterId: text(p.meterId, 'meterId', 64),
        accountId: text(p.accountId, 'accountId', 64),
        from: optionalTime(p.from, 'from'),
      };
    case 'unbind':
      return {
        command,
        reference: text(p.reference, 'reference'),
        meterId: text(p.meterId, 'meterId', 64),
        at: optionalTime(p.at, 'at'),
      };
    case 'charge': {
      const readingId = text(p.readingId, 'readingId');
      const accountId = optionalText(p.accountId, 'accountId', 64);
      const meterId = optionalText(p.meterId, 'meterId', 64);
      if (!accountId && !meterId)
        throw new LedgerError('accountId', 'or meterId is required to know whom to charge');
      const kind = p.kind ?? 'consumption';
      if (kind !== 'consumption' && kind !== 'standing' && kind !== 'monthly') {
        throw new LedgerError('kind', 'must be consumption, standing or monthly');
      }
      const amountSub = chargeAmount(p.amount);
      checkChargeQuantity(p.quantity);
      checkChargeBreakdown(p.breakdown);
      return {
        command,
        reference: `charge:${readingId}`,
        accountId,
        meterId,
        readingId,
        amountSub,
        currency: currency(p.currency),
        kind,
        effectiveAt: p.to === undefined ? now : time(p.to, 'to'),
        meta: {
          meterId,
          readingId,
          // Kept so statements can tell consumption apart per utility (the tenant API's usage per day).
          utility: typeof p.utility === 'string' ? p.utility : undefined,
          tariff: p.tariff,
          quantity: p.quantity,
          unit: p.unit,
          amountSub: amountSub.toString(),
          breakdown: p.breakdown,
          carbonKg: p.carbonKg,
          from: p.from,
          // The register movement the charge was priced from (the reconciliation checks each meter's chain).
          register: isObject(p.register) ? p.register : undefined,
        },
      };
    }
    case 'balance':
      return { command, accountId: text(p.accountId, 'accountId', 64) };
    case 'statement':
      return {
        command,
        accountId: text(p.accountId, 'accountId', 64),
        from: p.from === undefined ? 0 : time(p.from, 'from'),
        to: p.to === undefined ? Number.MAX_SAFE_INTEGER : time(p.to, 'to'),
        format: format(p.format),
      };
    case 'summary':
      return {
        command,
        from: time(p.from, 'from'),
        to: time(p.to, 'to'),
        format: format(p.format),
      };
    case 'verify':
      return { command, accountId: optionalText(p.accountId, 'accountId', 64) };
    case 'checkpoint':
      return { command };
    default:
      throw new LedgerError('command', `"${command}" is not a ledger command`);
  }
}

/** Percent (decimal string) to basis points, for configuration forms that speak percent. */
export function percentToBasisPoints(value: unknown, field: string): number {
  try {
    const { units, scale } = parseDecimal(value as string);
    const bp = (units * 100n) / 10n ** BigInt(scale);
    if ((units * 100n) % 10n ** BigInt(scale) !== 0n) throw new RangeError('at most two decimal places');
    return Number(bp);
  } catch (error) {
    throw new LedgerError(field, (error as Error).message);
  }
}
