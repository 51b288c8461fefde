/**
 * A payment provider's top-up notification (a JSON body, already authenticated) read into a ledger `topup`
 * command. Field names are configurable dotted paths (`data.object.metadata.accountId`), each with
 * alternatives tried in order. Every refusal names the body field at fault.
 *
 * Amounts become exact integer minor units: a JSON integer is minor units (1250 = 12.50 GBP, as most
 * providers send), a decimal string is major units ("12.50"), converted by the currency's ISO 4217 exponent
 * without floating point; more decimal places than the currency has are refused, never rounded.
 */
import { toSafeNumber, toScaledExact } from '../decimal';
import { isKnownCurrency, minorUnitDigits } from '../money';

export class PaymentError extends Error {
  constructor(
    /** The body field at fault, as configured (e.g. "amount" or "data.object.amount"). */
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'PaymentError';
  }
}

/** How an amount is written: `auto` reads integers as minor units and decimal strings as major units. */
export type AmountIn = 'auto' | 'minor' | 'major';

export interface FieldMap {
  accountId: string[];
  amount: string[];
  currency: string[];
  reference: string[];
  method: string[];
}

export interface NotificationOptions {
  fields: FieldMap;
  amountIn: AmountIn;
  /** Used when the body names no currency; empty: the body must name one. */
  defaultCurrency?: string;
  /** Put before the provider's payment reference to make the ledger reference ("pay:" + "pi_123"). */
  referencePrefix: string;
  /** Used when the body names no method. */
  defaultMethod?: string;
  /** Only notifications whose field at `path` is one of `values` are top-ups (others are acknowledged). */
  onlyIf?: { path: string[]; values: string[] };
}

export interface TopupCommand {
  command: 'topup';
  accountId: string;
  /** Integer minor units, > 0. */
  amount: number;
  currency: string;
  /** The ledger reference: prefix + the provider's payment reference. */
  reference: string;
  method?: string;
}

export type NotificationResult =
  { kind: 'topup'; command: TopupCommand; providerReference: string } | { kind: 'ignored'; reason: string };

export const DEFAULT_FIELDS: FieldMap = {
  accountId: ['accountId'],
  amount: ['amount'],
  currency: ['currency'],
  reference: ['reference', 'paymentId'],
  method: ['method'],
};

const ACCOUNT_ID = /^[A-Za-z0-9_.:@-]{1,64}$/;
const PROVIDER_REFERENCE = /^[\x21-\x7e]{1,150}$/;
const DECIMAL_STRING = /^\d{1,18}(\.\d{1,18})?$/;
const DIGITS = /^\d{1,18}$/;

/** "a, b.c" -> ["a", "b.c"]: the editor's comma-separated alternatives. */
export function pathList(text: string | undefined, fallback: string[]): string[] {
  const list = (text ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  return list.length > 0 ? list : fallback;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** The value at a dotted path, through own properties only (a body cannot reach `__proto__`). */
export function valueAt(body: unknown, path: string): unknown {
  let current: unknown = body;
  for (const key of path.split('.')) {
    if (!isObject(current) || !Object.prototype.hasOwnProperty.call(current, key)) return undefined;
    current = current[key];
  }
  return current;
}

/** The first alternative present in the body, with the path it was found at. */
function lookup(body: unknown, paths: string[]): { path: string; value: unknown } {
  for (const path of paths) {
    const value = valueAt(body, path);
    if (value !== undefined && value !== null && value !== '') return { path, value };
  }
  return { path: paths.join(' or '), value: undefined };
}

/** Parses the raw body as JSON; a body that is not a JSON object is refused. */
export function parseBody(rawBody: Buffer | string): Record<string, unknown> {
  const text = typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new PaymentError('body', `is not JSON (${(error as Error).message})`);
  }
  if (!isObject(body) || Array.isArray(body)) throw new PaymentError('body', 'must be a JSON object');
  return body;
}

function readCurrency(body: unknown, options: NotificationOptions): string {
  const { path, value } = lookup(body, options.fields.currency);
  if (value === undefined) {
    if (options.defaultCurrency) return options.defaultCurrency;
    throw new PaymentError(path, 'is required (or set a default currency on the node)');
  }
  // Providers write currencies in either case ("gbp"); ISO 4217 codes are upper case.
  const code = typeof value === 'string' ? value.trim().toUpperCase() : '';
  if (!isKnownCurrency(code))
    throw new PaymentError(path, `${JSON.stringify(value)} is not a known ISO 4217 currency`);
  return code;
}

/** The amount as exact integer minor units of `currency`. */
export function readAmount(value: unknown, field: string, currency: string, amountIn: AmountIn): bigint {
  let minor: bigint;
  if (value === undefined) throw new PaymentError(field, 'is required');
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new PaymentError(field, 'must be a finite number');
    if (amountIn === 'major') minor = toMinor(value, field, currency);
    else if (Number.isSafeInteger(value)) minor = BigInt(value);
    else
      throw new PaymentError(
        field,
        `${value} is not a whole number of minor units (send ${currency} minor units as an integer, or major units as a decimal string such as "12.50")`,
      );
  } else if (typeof value === 'string') {
    const text = value.trim();
    if (amountIn === 'minor') {
      if (!DIGITS.test(text))
        throw new PaymentError(field, `"${value}" is not a whole number of minor units`);
      minor = BigInt(text);
    } else {
      if (!DECIMAL_STRING.test(text))
        throw new PaymentError(field, `"${value}" is not a decimal amount in major units such as "12.50"`);
      minor = toMinor(text, field, currency);
    }
  } else {
    throw new PaymentError(field, 'must be a number of minor units or a decimal string in major units');
  }
  if (minor <= 0n) throw new PaymentError(field, 'must be greater than zero');
  if (minor > BigInt(Number.MAX_SAFE_INTEGER)) throw new PaymentError(field, 'is too large');
  return minor;
}

function toMinor(value: string | number, field: string, currency: string): bigint {
  const digits = minorUnitDigits(currency);
  try {
    return toScaledExact(value, digits);
  } catch {
    throw new PaymentError(
      field,
      `${JSON.stringify(value)} has more decimal places than ${currency} has (${digits}); it is not rounded`,
    );
  }
}

function optionalText(body: unknown, paths: string[], max: number): string | undefined {
  const { path, value } = lookup(body, paths);
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new PaymentError(path, 'must be a string');
  if (value.length > max) throw new PaymentError(path, `must be at most ${max} characters`);
  return value;
}

/** Reads an authenticated notification into a topup command, or says why it is not one. */
export function readNotification(
  body: Record<string, unknown>,
  options: NotificationOptions,
): NotificationResult {
  if (options.onlyIf && options.onlyIf.path.length > 0) {
    const { path, value } = lookup(body, options.onlyIf.path);
    if (typeof value !== 'string' || !options.onlyIf.values.includes(value))
      return {
        kind: 'ignored',
        reason: `${path} is ${value === undefined ? 'absent' : JSON.stringify(value)}, not ${options.onlyIf.values.join(' or ')}: not a top-up`,
      };
  }
  const account = lookup(body, options.fields.accountId);
  if (account.value === undefined)
    throw new PaymentError(account.path, 'is required (which account to credit)');
  const accountId =
    typeof account.value === 'number' && Number.isSafeInteger(account.value)
      ? String(account.value)
      : account.value;
  if (typeof accountId !== 'string' || !ACCOUNT_ID.test(accountId))
    throw new PaymentError(account.path, 'must be an account id of 1-64 letters, digits or _.:@-');

  const currency = readCurrency(body, options);
  const amountField = lookup(body, options.fields.amount);
  const amount = readAmount(amountField.value, amountField.path, currency, options.amountIn);

  const ref = lookup(body, options.fields.reference);
  if (ref.value === undefined)
    throw new PaymentError(ref.path, "is required (the provider's payment reference)");
  const providerReference =
    typeof ref.value === 'number' && Number.isSafeInteger(ref.value) ? String(ref.value) : ref.value;
  if (typeof providerReference !== 'string' || !PROVIDER_REFERENCE.test(providerReference))
    throw new PaymentError(ref.path, 'must be 1-150 printable characters without spaces');

  const method = optionalText(body, options.fields.method, 100) ?? (options.defaultMethod || undefined);
  const command: TopupCommand = {
    command: 'topup',
    accountId,
    amount: toSafeNumber(amount, 'amount'),
    currency,
    reference: `${options.referencePrefix}${providerReference}`,
  };
  if (method) command.method = method;
  return { kind: 'topup', command, providerReference };
}
