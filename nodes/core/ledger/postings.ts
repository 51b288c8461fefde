/**
 * Ledger rules: turns a request and the account as it stands into a PreparedPosting (the new
 * account registers and the entries, hash-chained), or refuses it with a LedgerError. Pure: the
 * store applies the result atomically, checking that the account did not change meanwhile and that
 * the reference was never posted.
 */
import { CumulativeRounder, SUB_MINOR_PER_MINOR } from '../money';
import { toSafeNumber } from '../decimal';
import { availableCredit, nextCreditState } from './credit-state';
import { entryHash, genesisHash } from './hash-chain';
import { LedgerError, LedgerRequest } from './requests';
import {
  AccountPolicy,
  AccountRecord,
  EntryKind,
  EntryRecord,
  PostingResult,
  PreparedPosting,
} from './types';
import { RoundingMode } from '../decimal';
import { copy, extend } from '../shapes';

export const DEFAULT_POLICY: AccountPolicy = {
  lowThreshold: 1000n,
  lowHysteresis: 500n,
  emergencyCredit: 0n,
  emergencyMode: 'off',
  reconnectAbove: 100n,
  debtRecoveryShareBp: 0,
  debtRecoveryCap: 0n,
  debtRecoveryPerDay: 0n,
  maxBalance: 0n,
  maxTopup: 0n,
  standingWhileOff: 'accrue-debt',
};

export interface PrepareContext {
  now: number;
  defaults: AccountPolicy;
  /** How sub-minor charges round into minor units (the posting rule). */
  rounding: RoundingMode;
  /** Entries of the posting a `reverse` targets, when it exists. */
  targetEntries?: EntryRecord[];
  /** Whether the target was already reversed. */
  targetReversed?: boolean;
}

type PostingRequest = Extract<
  LedgerRequest,
  {
    command:
      'open' | 'topup' | 'refund' | 'adjust' | 'reverse' | 'close' | 'emergency' | 'charge' | 'debt-recovery';
  }
>;

/** Entry JSON for results and statements: bigints as numbers (checked safe). */
export function entryJson(entry: EntryRecord): Record<string, unknown> {
  return {
    accountId: entry.accountId,
    seq: entry.seq,
    kind: entry.kind,
    reference: entry.reference,
    part: entry.part,
    amount: toSafeNumber(entry.amount, 'amount'),
    debtDelta: toSafeNumber(entry.debtDelta, 'debtDelta'),
    balanceAfter: toSafeNumber(entry.balanceAfter, 'balanceAfter'),
    debtAfter: toSafeNumber(entry.debtAfter, 'debtAfter'),
    currency: entry.currency,
    postedAt: entry.postedAt,
    effectiveAt: entry.effectiveAt,
    meta: entry.meta,
    hash: entry.hash,
  };
}

/**
 * Builds entries onto a working copy of the account, keeping registers and the chain in step. `by`, the
 * operator who gave the command, goes into every entry's meta (so it is hash-chained with it) and the result.
 */
class Posting {
  readonly entries: EntryRecord[] = [];
  /** Each entry's meta as JSON text. */
  private readonly metaJson: string[] = [];
  readonly account: AccountRecord;

  constructor(
    original: AccountRecord,
    private readonly reference: string,
    private readonly now: number,
    private readonly by?: string,
  ) {
    // The policy is never changed by a posting: shared, not copied.
    this.account = copy(original);
  }

  add(
    kind: EntryKind,
    amount: bigint,
    debtDelta: bigint,
    details: Record<string, unknown>,
    effectiveAt = this.now,
  ): void {
    const account = this.account;
    // Meta is stored as JSON: keep exactly what JSON keeps, so a re-read result equals the original. The
    // text is kept too: the store writes it (serialising the parsed meta again gives the same text).
    const text = JSON.stringify(this.by === undefined ? details : extend(details, { by: this.by }));
    const meta = JSON.parse(text) as Record<string, unknown>;
    this.metaJson.push(text);
    account.balance += amount;
    account.debt += debtDelta;
    account.seq += 1;
    const entry: EntryRecord = {
      accountId: account.id,
      seq: account.seq,
      kind,
      reference: this.reference,
      part: this.entries.length,
      amount,
      debtDelta,
      balanceAfter: account.balance,
      debtAfter: account.debt,
      currency: account.currency,
      postedAt: this.now,
      effectiveAt,
      meta,
      prevHash: account.lastHash,
      hash: '',
    };
    entry.hash = entryHash(entry);
    this.entries.push(entry);
    account.lastHash = entry.hash;
  }

  finish(command: string, extra: Record<string, unknown> = {}): PreparedPosting {
    const account = this.account;
    const state = nextCreditState(account.state, account);
    if (state !== account.state) {
      account.state = state;
      account.stateChangedAt = this.now;
    }
    const expectedVersion = account.version;
    account.version += 1;
    const result: PostingResult = {
      ok: true,
      command,
      reference: this.reference,
      accountId: account.id,
      entries: this.entriesJson(),
      balance: toSafeNumber(account.balance, 'balance'),
      debt: toSafeNumber(account.debt, 'debt'),
      available: toSafeNumber(availableCredit(account), 'available'),
      state: account.state,
      currency: account.currency,
      ...extra,
    };
    if (this.by !== undefined) result.by = this.by;
    return {
      reference: this.reference,
      command,
      accountId: account.id,
      account,
      expectedVersion,
      entries: this.entries,
      metaJson: this.metaJson,
      result,
      postedAt: this.now,
    };
  }

  /** The entries for the result (a packed array: JSON.stringify writes it the fast way, `map` makes a holey one). */
  private entriesJson(): Array<Record<string, unknown>> {
    const list: Array<Record<string, unknown>> = [];
    for (const entry of this.entries) list.push(entryJson(entry));
    return list;
  }
}

function requireOpen(account: AccountRecord | undefined, accountId: string): AccountRecord {
  if (!account)
    throw new LedgerError('accountId', `account "${accountId}" does not exist`, 'unknown-account');
  if (account.status === 'closed')
    throw new LedgerError('accountId', `account "${accountId}" is closed`, 'closed');
  return account;
}

function checkCurrency(account: AccountRecord, currency: string | undefined): void {
  if (currency !== undefined && currency !== account.currency) {
    throw new LedgerError(
      'currency',
      `is ${currency} but account "${account.id}" is kept in ${account.currency}`,
      'currency',
    );
  }
}

/** Turns emergency credit on when the policy grants it automatically and the balance needs it. */
function autoEmergency(posting: Posting): void {
  const account = posting.account;
  const policy = account.policy;
  if (
    policy.emergencyMode === 'auto' &&
    policy.emergencyCredit > 0n &&
    !account.emergencyActive &&
    account.balance <= 0n
  ) {
    account.emergencyActive = true;
    posting.add('emergency-credit', 0n, 0n, { allowance: policy.emergencyCredit.toString(), mode: 'auto' });
  }
}

/** Emergency credit ends once a top-up (or refund of a charge) brings the balance back to zero. */
function settleEmergency(posting: Posting): void {
  if (posting.account.emergencyActive && posting.account.balance >= 0n)
    posting.account.emergencyActive = false;
}

export function prepare(
  account: AccountRecord | undefined,
  request: PostingRequest,
  ctx: PrepareContext,
): PreparedPosting {
  switch (request.command) {
    case 'open': {
      if (account)
        throw new LedgerError('accountId', `account "${request.accountId}" already exists`, 'exists');
      const fresh: AccountRecord = {
        id: request.accountId,
        tenant: request.tenant,
        name: request.name,
        currency: request.currency,
        utilities: request.utilities,
        status: 'open',
        balance: 0n,
        debt: 0n,
        emergencyActive: false,
        chargeSubTotal: 0n,
        state: 'exhausted',
        stateChangedAt: ctx.now,
        seq: 0,
        lastHash: genesisHash(request.accountId),
        version: 0,
        policy: Object.assign({}, ctx.defaults, request.policy),
        openedAt: ctx.now,
      };
      const posting = new Posting(fresh, request.reference, ctx.now, request.by);
      posting.add('open', 0n, 0n, {
        tenant: request.tenant,
        name: request.name,
        utilities: request.utilities,
        policy: Object.fromEntries(Object.entries(fresh.policy).map(([k, v]) => [k, String(v)])),
      });
      if (request.openingDebt > 0n)
        posting.add('adjustment', 0n, request.openingDebt, { reason: 'opening debt' });
      const prepared = posting.finish('open');
      prepared.expectedVersion = 0;
      return prepared;
    }
    case 'topup': {
      const current = requireOpen(account, request.accountId);
      checkCurrency(current, request.currency);
      const policy = current.policy;
      if (policy.maxTopup > 0n && request.amount > policy.maxTopup) {
        throw new LedgerError('amount', `exceeds the largest top-up allowed (${policy.maxTopup})`, 'limit');
      }
      if (policy.maxBalance > 0n && current.balance + request.amount > policy.maxBalance) {
        throw new LedgerError(
          'amount',
          `would take the balance above the maximum (${policy.maxBalance})`,
          'limit',
        );
      }
      const posting = new Posting(current, request.reference, ctx.now, request.by);
      posting.add('topup', request.amount, 0n, { method: request.method });
      // Debt recovery: a capped share of the top-up moves from the balance to the debt.
      if (current.debt > 0n && policy.debtRecoveryShareBp > 0) {
        let take = (request.amount * BigInt(policy.debtRecoveryShareBp)) / 10_000n;
        if (policy.debtRecoveryCap > 0n && take > policy.debtRecoveryCap) take = policy.debtRecoveryCap;
        if (take > current.debt) take = current.debt;
        if (take > 0n)
          posting.add('debt-recovery', -take, -take, { shareBp: policy.debtRecoveryShareBp, from: 'topup' });
      }
      settleEmergency(posting);
      return posting.finish('topup');
    }
    case 'refund': {
      const current = requireOpen(account, request.accountId);
      checkCurrency(current, request.currency);
      if (request.amount > current.balance) {
        throw new LedgerError('amount', `is more than the balance (${current.balance})`, 'insufficient');
      }
      const posting = new Posting(current, request.reference, ctx.now, request.by);
      posting.add('refund', -request.amount, 0n, { reason: request.reason });
      return posting.finish('refund');
    }
    case 'adjust': {
      const current = requireOpen(account, request.accountId);
      const posting = new Posting(current, request.reference, ctx.now, request.by);
      if (request.register === 'debt') {
        if (current.debt + request.amount < 0n)
          throw new LedgerError('amount', 'would make the debt negative', 'insufficient');
        posting.add('adjustment', 0n, request.amount, { reason: request.reason, register: 'debt' });
      } else {
        posting.add('adjustment', request.amount, 0n, { reason: request.reason, register: 'balance' });
        settleEmergency(posting);
        autoEmergency(posting);
      }
      return posting.finish('adjust');
    }
    case 'reverse': {
      const current = requireOpen(account, request.accountId);
      const target = ctx.targetEntries;
      if (!target || target.length === 0)
        throw new LedgerError('target', `no posting "${request.target}" to reverse`, 'unknown-target');
      if (target.some((e) => e.accountId !== current.id))
        throw new LedgerError('target', 'belongs to another account');
      if (ctx.targetReversed)
        throw new LedgerError('target', `posting "${request.target}" was already reversed`, 'reversed');
      if (target.some((e) => e.kind === 'reversal' || e.kind === 'open' || e.kind === 'close')) {
        throw new LedgerError('target', 'open, close and reversal postings cannot be reversed');
      }
      // As for `adjust`: a debt already recovered cannot be reversed into a negative debt register.
      if (current.debt - target.reduce((sum, e) => sum + e.debtDelta, 0n) < 0n) {
        throw new LedgerError('target', 'reversing it would make the debt negative', 'insufficient');
      }
      const posting = new Posting(current, request.reference, ctx.now, request.by);
      for (const entry of target) {
        posting.add('reversal', -entry.amount, -entry.debtDelta, {
          reason: request.reason,
          reverses: entry.reference,
          part: entry.part,
          kind: entry.kind,
        });
      }
      settleEmergency(posting);
      autoEmergency(posting);
      const prepared = posting.finish('reverse', { target: request.target });
      prepared.reverses = request.target;
      return prepared;
    }
    case 'close': {
      const current = requireOpen(account, request.accountId);
      const posting = new Posting(current, request.reference, ctx.now, request.by);
      posting.add('close', 0n, 0n, {
        finalBalance: current.balance.toString(),
        finalDebt: current.debt.toString(),
      });
      posting.account.status = 'closed';
      posting.account.closedAt = ctx.now;
      return posting.finish('close');
    }
    case 'emergency': {
      const current = requireOpen(account, request.accountId);
      const policy = current.policy;
      if (policy.emergencyCredit <= 0n || policy.emergencyMode === 'off') {
        throw new LedgerError('accountId', `account "${current.id}" has no emergency credit`, 'no-emergency');
      }
      if (current.emergencyActive)
        throw new LedgerError('accountId', 'emergency credit is already in use', 'emergency-active');
      if (current.balance > policy.lowThreshold) {
        throw new LedgerError(
          'accountId',
          'emergency credit is only available when credit is low',
          'not-low',
        );
      }
      const posting = new Posting(current, request.reference, ctx.now, request.by);
      posting.account.emergencyActive = true;
      posting.add('emergency-credit', 0n, 0n, {
        allowance: policy.emergencyCredit.toString(),
        mode: 'request',
      });
      return posting.finish('emergency');
    }
    case 'charge': {
      // Also checked when the message is read; here for callers that build requests themselves.
      if (request.amountSub < 0n)
        throw new LedgerError(
          'amount',
          'must not be negative: a charge never credits an account (use adjust)',
        );
      const current = requireOpen(account, request.accountId ?? '');
      checkCurrency(current, request.currency);
      const posting = new Posting(current, request.reference, ctx.now);
      // Sub-minor charges become minor units through the account's running total: no drift.
      const rounder = new CumulativeRounder(SUB_MINOR_PER_MINOR, ctx.rounding);
      const { emit, total } = rounder.add(current.chargeSubTotal, request.amountSub);
      posting.account.chargeSubTotal = total;
      const kind: EntryKind = request.kind === 'consumption' ? 'charge' : request.kind;
      const offSupply = current.state === 'exhausted';
      if (request.kind === 'standing' && offSupply && current.policy.standingWhileOff === 'pause') {
        posting.add(
          kind,
          0n,
          0n,
          extend(request.meta, { waived: emit.toString(), policy: 'pause' }),
          request.effectiveAt,
        );
      } else if (request.kind === 'standing' && offSupply) {
        posting.add(kind, 0n, emit, extend(request.meta, { policy: 'accrue-debt' }), request.effectiveAt);
      } else {
        posting.add(kind, -emit, 0n, request.meta, request.effectiveAt);
        autoEmergency(posting);
      }
      return posting.finish('charge', {
        readingId: request.readingId,
        amountSub: toSafeNumber(request.amountSub, 'amount'),
      });
    }
    case 'debt-recovery': {
      const current = requireOpen(account, request.accountId);
      const policy = current.policy;
      let take = policy.debtRecoveryPerDay;
      if (take > current.debt) take = current.debt;
      // Never push an exhausted account further down to recover debt.
      if (current.state === 'exhausted') take = 0n;
      const posting = new Posting(current, request.reference, ctx.now);
      if (take > 0n) posting.add('debt-recovery', -take, -take, { from: 'daily', date: request.date });
      return posting.finish('debt-recovery');
    }
  }
}
