/**
 * Webhook signatures in the Stripe-like scheme: the provider sends
 *
 *   X-Prepay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=<hex>...]
 *
 * where each v1 is HMAC-SHA256(secret, "<t>.<raw body bytes>") in lowercase hex. Several v1 values let a
 * provider sign with an old and a new secret while a secret is rotated; several secrets on our side do the
 * same from the receiving end. The signed bytes are the body exactly as received: re-serialised JSON is not.
 *
 * Pure computation (node:crypto's HMAC, no I/O): the timestamp check takes `nowMs` from the caller's clock.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type SignatureFailure = 'missing-header' | 'malformed-header' | 'bad-signature' | 'stale' | 'future';

export type SignatureCheck =
  | { ok: true; timestamp: number; signature: string }
  | { ok: false; reason: SignatureFailure; message: string };

export interface ParsedSignatureHeader {
  /** Unix seconds. */
  timestamp: number;
  /** Every v1 value, lowercase hex (64 digits each). */
  signatures: string[];
}

/** Longer headers are refused unread: a provider sends a few hundred bytes at most. */
const MAX_HEADER_LENGTH = 4096;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** HMAC-SHA256 over `<timestamp>.<body>` (a string body is its UTF-8 bytes), as the 32 digest bytes. */
function digest(secret: string, timestamp: number, rawBody: Buffer | string): Buffer {
  const hmac = createHmac('sha256', secret);
  hmac.update(`${timestamp}.`);
  if (typeof rawBody === 'string') hmac.update(rawBody, 'utf8');
  else hmac.update(rawBody);
  return hmac.digest();
}

/** HMAC-SHA256 over `<timestamp>.<body>` as lowercase hex: what a provider puts in v1. */
export function computeSignature(secret: string, timestamp: number, rawBody: Buffer | string): string {
  return digest(secret, timestamp, rawBody).toString('hex');
}

/** The header a provider sends for `rawBody` at `timestamp` (seconds), one v1 per secret. */
export function signatureHeader(
  secrets: string | string[],
  timestamp: number,
  rawBody: Buffer | string,
): string {
  const list = Array.isArray(secrets) ? secrets : [secrets];
  return [
    `t=${timestamp}`,
    ...list.map((secret) => `v1=${computeSignature(secret, timestamp, rawBody)}`),
  ].join(',');
}

/**
 * Reads `t=...,v1=...`. Unknown schemes (v0, v2...) are ignored, as Stripe's libraries do; a header without a
 * single well-formed v1, with no or several timestamps, or with a timestamp that is not whole seconds, is malformed.
 */
export function parseSignatureHeader(header: string): ParsedSignatureHeader | { error: string } {
  if (header.length > MAX_HEADER_LENGTH) return { error: `longer than ${MAX_HEADER_LENGTH} characters` };
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined) return { error: 'more than one timestamp (t=)' };
      if (!/^\d{1,12}$/.test(value)) return { error: 'the timestamp (t=) must be whole Unix seconds' };
      timestamp = Number(value);
    } else if (key === 'v1') {
      const hex = value.toLowerCase();
      if (HEX_SHA256.test(hex)) signatures.push(hex);
    }
  }
  if (timestamp === undefined) return { error: 'no timestamp (t=)' };
  if (signatures.length === 0) return { error: 'no v1 signature of 64 hex digits' };
  return { timestamp, signatures };
}

export interface VerifyOptions {
  /** The signature header's value, as received (undefined when absent). */
  header: string | undefined;
  /** The body exactly as received. */
  rawBody: Buffer | string;
  /** Every secret currently accepted (the new and the old one during a rotation). */
  secrets: string[];
  /** Milliseconds since the epoch, from the node's clock. */
  nowMs: number;
  /** Largest distance of the signed timestamp from now, in seconds, either way. */
  toleranceSeconds: number;
}

/**
 * Checks a delivery: a well-formed header, a v1 that matches one of the secrets (compared in constant time),
 * then the timestamp inside the tolerance. The signature is checked before the timestamp, so "stale" is only
 * ever said of a genuine delivery that arrived late (a clock or a queue to look at), never of a forgery.
 */
export function verifySignature(options: VerifyOptions): SignatureCheck {
  const { header, rawBody, secrets, nowMs, toleranceSeconds } = options;
  if (header === undefined || header.trim() === '')
    return { ok: false, reason: 'missing-header', message: 'the signature header is missing' };
  const parsed = parseSignatureHeader(header);
  if ('error' in parsed)
    return {
      ok: false,
      reason: 'malformed-header',
      message: `the signature header is malformed: ${parsed.error}`,
    };
  const matched = matchingSignature(parsed, rawBody, secrets);
  if (!matched)
    return {
      ok: false,
      reason: 'bad-signature',
      message: 'no v1 signature matches the body with the shared secret',
    };
  const nowSeconds = Math.floor(nowMs / 1000);
  const age = nowSeconds - parsed.timestamp;
  if (age > toleranceSeconds)
    return {
      ok: false,
      reason: 'stale',
      message: `the signed timestamp is ${age} s old, more than the ${toleranceSeconds} s allowed`,
    };
  if (-age > toleranceSeconds)
    return {
      ok: false,
      reason: 'future',
      message: `the signed timestamp is ${-age} s in the future, more than the ${toleranceSeconds} s allowed`,
    };
  return { ok: true, timestamp: parsed.timestamp, signature: matched };
}

/** The first v1 that one of the secrets produces, or undefined. Every comparison takes the same time. */
function matchingSignature(
  parsed: ParsedSignatureHeader,
  rawBody: Buffer | string,
  secrets: string[],
): string | undefined {
  const candidates = parsed.signatures.map((hex) => Buffer.from(hex, 'hex'));
  for (const secret of secrets) {
    if (secret === '') continue;
    const expected = digest(secret, parsed.timestamp, rawBody);
    for (let i = 0; i < candidates.length; i += 1) {
      // Both are 32 bytes (parseSignatureHeader keeps 64-digit values only), as timingSafeEqual requires.
      if (timingSafeEqual(expected, candidates[i] as Buffer)) return parsed.signatures[i];
    }
  }
  return undefined;
}
