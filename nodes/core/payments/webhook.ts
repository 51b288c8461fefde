/**
 * One webhook delivery from start to verdict: signature and timestamp, replay, then the body read into a
 * ledger top-up. Each refusal carries the HTTP status a provider (or an attacker) is answered with:
 *
 *   401 the signature header is missing or malformed, no v1 matches, or the timestamp is outside the window
 *   409 the same signed delivery again (a replay): nothing is posted
 *   400 a genuine delivery whose body is not JSON or whose fields cannot be a top-up (the field is named)
 *   200 a genuine notification that is not a top-up (the `onlyIf` filter): acknowledged, nothing posted
 *   500 the node cannot verify at all (no secret, no raw body): a configuration fault, not the sender's
 *
 * The body is read only after its signature is verified: unauthenticated bytes are never parsed.
 */
import { NotificationOptions, parseBody, PaymentError, readNotification, TopupCommand } from './notification';
import { ReplayGuard } from './replay-guard';
import { SignatureFailure, verifySignature } from './signature';

export type RefusalCode =
  | 'missing-signature'
  | 'malformed-signature'
  | 'bad-signature'
  | 'stale-timestamp'
  | 'future-timestamp'
  | 'replayed'
  | 'malformed-body'
  | 'invalid-field'
  | 'no-secret'
  | 'raw-body-unavailable';

export interface Refusal {
  kind: 'refused';
  statusCode: 400 | 401 | 409 | 500;
  code: RefusalCode;
  message: string;
  /** The body field at fault, for invalid fields. */
  field?: string;
  /** True when the node is misconfigured (to be fixed by the integrator, not the sender). */
  fault?: boolean;
}

export type WebhookOutcome =
  | {
      kind: 'accepted';
      command: TopupCommand;
      providerReference: string;
      /** Unix seconds, as signed. */
      timestamp: number;
    }
  | { kind: 'ignored'; statusCode: 200; message: string }
  | Refusal;

export interface WebhookSettings {
  secrets: string[];
  toleranceSeconds: number;
  notification: NotificationOptions;
}

export interface Delivery {
  /** The body exactly as received; undefined when the runtime parsed it (no raw body available). */
  rawBody: Buffer | string | undefined;
  /** The signature header's value. */
  signature: string | undefined;
}

const FAILURES: Record<SignatureFailure, { code: RefusalCode }> = {
  'missing-header': { code: 'missing-signature' },
  'malformed-header': { code: 'malformed-signature' },
  'bad-signature': { code: 'bad-signature' },
  stale: { code: 'stale-timestamp' },
  future: { code: 'future-timestamp' },
};

export function handleDelivery(
  delivery: Delivery,
  settings: WebhookSettings,
  guard: ReplayGuard,
  nowMs: number,
): WebhookOutcome {
  if (settings.secrets.length === 0)
    return {
      kind: 'refused',
      statusCode: 500,
      code: 'no-secret',
      message: 'no webhook secret is configured',
      fault: true,
    };
  if (delivery.rawBody === undefined)
    return {
      kind: 'refused',
      statusCode: 500,
      code: 'raw-body-unavailable',
      message:
        'the raw request body is not available: tick "Do not parse request body" on the http in node (or keep msg.req.rawBody)',
      fault: true,
    };
  const check = verifySignature({
    header: delivery.signature,
    rawBody: delivery.rawBody,
    secrets: settings.secrets,
    nowMs,
    toleranceSeconds: settings.toleranceSeconds,
  });
  if (!check.ok)
    return { kind: 'refused', statusCode: 401, code: FAILURES[check.reason].code, message: check.message };
  if (guard.replayed(check.signature, check.timestamp * 1000, nowMs))
    return {
      kind: 'refused',
      statusCode: 409,
      code: 'replayed',
      message: 'this signed delivery was received before; nothing was posted again',
    };
  try {
    const result = readNotification(parseBody(delivery.rawBody), settings.notification);
    if (result.kind === 'ignored') return { kind: 'ignored', statusCode: 200, message: result.reason };
    return {
      kind: 'accepted',
      command: result.command,
      providerReference: result.providerReference,
      timestamp: check.timestamp,
    };
  } catch (error) {
    if (!(error instanceof PaymentError)) throw error;
    return {
      kind: 'refused',
      statusCode: 400,
      code: error.field === 'body' ? 'malformed-body' : 'invalid-field',
      message: error.message,
      ...(error.field === 'body' ? {} : { field: error.field }),
    };
  }
}
