/**
 * The payment node's settings as the editor saves them, checked and turned into webhook settings. The secret
 * is not here: it comes from the node's credentials or an environment variable (prepay-payment.ts).
 */
import { isKnownCurrency } from '../core/money';
import { AmountIn, DEFAULT_FIELDS, NotificationOptions, pathList } from '../core/payments/notification';

export interface PaymentNodeSettings {
  /** A path to serve the webhook on (POST), instead of taking messages from an http in node. */
  url?: string;
  /** Largest body the node's own route reads, in bytes. */
  maxBody?: string | number;
  header?: string;
  secretFrom?: string;
  secretEnv?: string;
  tolerance?: string | number;
  referencePrefix?: string;
  amountIn?: string;
  currency?: string;
  method?: string;
  accountField?: string;
  amountField?: string;
  currencyField?: string;
  referenceField?: string;
  methodField?: string;
  onlyIfField?: string;
  onlyIfValues?: string;
}

export interface PaymentNodeOptions {
  /** The node's own POST route under httpNodeRoot, if it serves the webhook itself. */
  url?: string;
  maxBodyBytes: number;
  /** Lower case, as Node's HTTP parser gives header names. */
  header: string;
  secretFrom: 'credentials' | 'env';
  /** Variables to read the secret from: the first one set wins (the example: the real one, then its demo default). */
  secretEnv: string[];
  toleranceSeconds: number;
  notification: NotificationOptions;
}

export const DEFAULT_HEADER = 'X-Prepay-Signature';
export const DEFAULT_TOLERANCE_SECONDS = 300;
/** A provider's notification is a few kilobytes; 64 KiB leaves room and refuses what is not one. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
const MAX_BODY_LIMIT = 16 * 1024 * 1024;

/** Secrets are separated by white space: during a rotation, the new one and the old one. */
export function secretList(text: unknown): string[] {
  return typeof text === 'string' ? text.split(/\s+/).filter(Boolean) : [];
}

export function readPaymentSettings(config: PaymentNodeSettings): PaymentNodeOptions {
  const header = (config.header || DEFAULT_HEADER).trim();
  if (!/^[A-Za-z0-9-]{1,100}$/.test(header))
    throw new Error(`settings.header: "${header}" is not an HTTP header name`);
  const tolerance = Number(config.tolerance ?? DEFAULT_TOLERANCE_SECONDS);
  if (!(Number.isInteger(tolerance) && tolerance >= 1 && tolerance <= 86_400))
    throw new Error('settings.tolerance: must be whole seconds from 1 to 86400');
  const amountIn = (config.amountIn || 'auto') as AmountIn;
  if (!['auto', 'minor', 'major'].includes(amountIn))
    throw new Error('settings.amountIn: must be auto, minor or major');
  const currency = (config.currency ?? '').trim().toUpperCase();
  if (currency && !isKnownCurrency(currency))
    throw new Error(`settings.currency: "${currency}" is not a known ISO 4217 currency`);
  const referencePrefix = config.referencePrefix ?? 'pay:';
  if (!/^[\x21-\x7e]{0,40}$/.test(referencePrefix))
    throw new Error('settings.referencePrefix: at most 40 printable characters without spaces');
  const secretFrom = config.secretFrom === 'env' ? 'env' : 'credentials';
  const secretEnv = (config.secretEnv ?? '').split(/[\s,]+/).filter(Boolean);
  if (secretFrom === 'env' && secretEnv.length === 0)
    throw new Error('settings.secretEnv: name the environment variable that holds the secret');
  const badName = secretEnv.find((name) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name));
  if (badName !== undefined)
    throw new Error(`settings.secretEnv: "${badName}" is not an environment variable name`);
  const url = (config.url ?? '').trim();
  // Plain segments only: the route is matched before express, which would treat ":x" or "*" as patterns.
  if (url && !/^(\/[A-Za-z0-9._~-]+)+\/?$/.test(url))
    throw new Error(`settings.url: "${url}" must be a path such as /prepay/payments/webhook (no parameters)`);
  const maxBody = Number(
    config.maxBody === undefined || config.maxBody === '' ? DEFAULT_MAX_BODY_BYTES : config.maxBody,
  );
  if (!(Number.isInteger(maxBody) && maxBody >= 1024 && maxBody <= MAX_BODY_LIMIT))
    throw new Error(`settings.maxBody: must be whole bytes from 1024 to ${MAX_BODY_LIMIT}`);
  const onlyIfPath = pathList(config.onlyIfField, []);
  const onlyIfValues = (config.onlyIfValues ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  if (onlyIfPath.length > 0 && onlyIfValues.length === 0)
    throw new Error('settings.onlyIfValues: give the values that mean a completed top-up');
  return {
    url: url || undefined,
    maxBodyBytes: maxBody,
    header: header.toLowerCase(),
    secretFrom,
    secretEnv,
    toleranceSeconds: tolerance,
    notification: {
      fields: {
        accountId: pathList(config.accountField, DEFAULT_FIELDS.accountId),
        amount: pathList(config.amountField, DEFAULT_FIELDS.amount),
        currency: pathList(config.currencyField, DEFAULT_FIELDS.currency),
        reference: pathList(config.referenceField, DEFAULT_FIELDS.reference),
        method: pathList(config.methodField, DEFAULT_FIELDS.method),
      },
      amountIn,
      defaultCurrency: currency || undefined,
      referencePrefix,
      defaultMethod: (config.method ?? '').trim() || undefined,
      onlyIf: onlyIfPath.length > 0 ? { path: onlyIfPath, values: onlyIfValues } : undefined,
    },
  };
}
