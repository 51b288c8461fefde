/**
 * Idempotency by reference, told apart from a reused reference. A payment provider's retry or a replayed
 * reading asks for the same posting again: it is a duplicate, answered with the original result. A reference
 * that comes back asking for something else (another amount, account, currency, meter or command) is never a
 * retry: answering it as a duplicate would tell its sender the work was done while nothing was posted (a
 * provider stops retrying, the payment is lost). So the request is compared with what the original posting
 * recorded in its stored result, and a conflict is refused, naming both.
 */
import { LedgerError, LedgerRequest } from './requests';
import { PostingResult } from './types';

/** What a posting is, in the fields that make it one; a field a request leaves open is not compared. */
export interface PostingIdentity {
  command: string;
  accountId?: string;
  meterId?: string;
  /** Integer minor units (sub-minor units for a charge), as decimal text: compared exactly. */
  amount?: string;
  currency?: string;
  /** adjust: the register moved. */
  register?: string;
  /** open: the opening debt, minor units. */
  openingDebt?: string;
  /** reverse: the reference undone. */
  target?: string;
  /** bind: from; unbind: at (epoch ms). */
  from?: number;
  at?: number;
}

const COMPARED: ReadonlyArray<keyof PostingIdentity> = [
  'command',
  'accountId',
  'meterId',
  'amount',
  'currency',
  'register',
  'openingDebt',
  'target',
  'from',
  'at',
];

type PostingCommandRequest = Extract<LedgerRequest, { reference: string }>;

/** The identity a request asks for. */
export function requestIdentity(request: PostingCommandRequest): PostingIdentity {
  switch (request.command) {
    case 'open':
      return {
        command: request.command,
        accountId: request.accountId,
        currency: request.currency,
        openingDebt: request.openingDebt.toString(),
      };
    case 'topup':
    case 'refund':
      return {
        command: request.command,
        accountId: request.accountId,
        amount: request.amount.toString(),
        currency: request.currency,
      };
    case 'adjust':
      return {
        command: request.command,
        accountId: request.accountId,
        amount: request.amount.toString(),
        register: request.register,
      };
    case 'reverse':
      return { command: request.command, accountId: request.accountId, target: request.target };
    case 'bind':
      return {
        command: request.command,
        accountId: request.accountId,
        meterId: request.meterId,
        from: request.from,
      };
    case 'unbind':
      return { command: request.command, meterId: request.meterId, at: request.at };
    case 'charge':
      return {
        command: request.command,
        accountId: request.accountId,
        meterId: request.meterId,
        amount: request.amountSub.toString(),
        currency: request.currency,
      };
    default:
      return { command: request.command, accountId: request.accountId };
  }
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

/** Negated decimal text ("-1250" to "1250"): a refund entry takes its amount off the balance. */
function negated(value: unknown): string | undefined {
  const t = text(value);
  if (t === undefined) return undefined;
  return t.startsWith('-') ? t.slice(1) : t === '0' ? t : `-${t}`;
}

/** The identity of an earlier posting, from the result stored with its reference. */
export function resultIdentity(result: PostingResult): PostingIdentity {
  const entries = Array.isArray(result.entries) ? result.entries : [];
  const entry = (kind: string): Record<string, unknown> | undefined => entries.find((e) => e.kind === kind);
  const identity: PostingIdentity = {
    command: result.command,
    accountId: result.accountId,
    currency: typeof result.currency === 'string' ? result.currency : undefined,
  };
  switch (result.command) {
    case 'open':
      identity.openingDebt = text(entry('adjustment')?.debtDelta) ?? '0';
      break;
    case 'topup':
      identity.amount = text(entry('topup')?.amount);
      break;
    case 'refund':
      identity.amount = negated(entry('refund')?.amount);
      break;
    case 'adjust': {
      const adjustment = entry('adjustment');
      const meta = (adjustment?.meta ?? {}) as Record<string, unknown>;
      identity.register = meta.register === 'debt' ? 'debt' : 'balance';
      identity.amount = text(identity.register === 'debt' ? adjustment?.debtDelta : adjustment?.amount);
      break;
    }
    case 'reverse':
      identity.target = text(result.target);
      break;
    case 'charge':
      identity.amount = text(result.amountSub);
      identity.meterId = text(((entries[0]?.meta ?? {}) as Record<string, unknown>).meterId);
      break;
    case 'bind':
      identity.meterId = text(result.meterId);
      identity.from = typeof result.from === 'number' ? result.from : undefined;
      break;
    case 'unbind':
      identity.meterId = text(result.meterId);
      identity.at = typeof result.to === 'number' ? result.to : undefined;
      break;
  }
  return identity;
}

/** Fields both sides name and that differ. */
export function differingFields(asked: PostingIdentity, stored: PostingIdentity): string[] {
  return COMPARED.filter((field) => {
    const a = asked[field];
    const b = stored[field];
    return a !== undefined && b !== undefined && String(a) !== String(b);
  });
}

/** "topup (accountId T0101, amount 1250, currency GBP)" */
export function describeIdentity(identity: PostingIdentity): string {
  const parts = COMPARED.filter((f) => f !== 'command' && identity[f] !== undefined).map(
    (f) => `${f} ${String(identity[f])}`,
  );
  return parts.length > 0 ? `${identity.command} (${parts.join(', ')})` : identity.command;
}

/** An identity for messages: amounts as numbers (integer minor units) where they are safe integers. */
export function identityJson(identity: PostingIdentity): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  for (const field of COMPARED) {
    const value = identity[field];
    if (value === undefined) continue;
    const number = Number(value);
    json[field] =
      (field === 'amount' || field === 'openingDebt') && Number.isSafeInteger(number) ? number : value;
  }
  return json;
}

/** A reference posted before with other content: refused, the original stands, nothing is posted. */
export class ReferenceConflict extends LedgerError {
  constructor(
    readonly reference: string,
    readonly original: PostingIdentity,
    readonly attempted: PostingIdentity,
    readonly differs: string[],
  ) {
    super(
      'reference',
      `"${reference}" was posted before as ${describeIdentity(original)}; this one is ` +
        `${describeIdentity(attempted)}: ${differs.join(', ')} ${differs.length === 1 ? 'differs' : 'differ'}. ` +
        'Refused: nothing posted, the original stands',
      'reference-conflict',
    );
  }

  /** For Catch nodes and HTTP answers: both postings and what differs. */
  details(): Record<string, unknown> {
    return {
      reference: this.reference,
      original: identityJson(this.original),
      attempted: identityJson(this.attempted),
      differs: this.differs,
    };
  }
}

/** The conflict between a request and the earlier posting of its reference, if they differ. */
export function referenceConflict(
  request: PostingCommandRequest,
  earlier: PostingResult,
): ReferenceConflict | undefined {
  const attempted = requestIdentity(request);
  const original = resultIdentity(earlier);
  // A charge's reference is its reading. The same reading priced again after a crash (the tariff's running
  // totals of the moment were not saved, and rounding residues can fall a sub-minor unit apart) is still that
  // reading: a duplicate, and the first posting stands (see repricedCharge). Another meter, account or currency
  // is another reading: a conflict.
  const differs = differingFields(attempted, original).filter(
    (field) => !(request.command === 'charge' && field === 'amount'),
  );
  return differs.length > 0
    ? new ReferenceConflict(request.reference, original, attempted, differs)
    : undefined;
}

/** A charge sent again with another amount than it was posted with: both, as decimal text of sub-minor units. */
export function repricedCharge(
  request: PostingCommandRequest,
  earlier: PostingResult,
): { original: string; attempted: string } | undefined {
  if (request.command !== 'charge') return undefined;
  const original = resultIdentity(earlier).amount;
  const attempted = requestIdentity(request).amount;
  return original !== undefined && attempted !== undefined && original !== attempted
    ? { original, attempted }
    : undefined;
}
