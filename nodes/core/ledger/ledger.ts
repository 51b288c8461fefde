/**
 * The ledger service: validates requests, prepares postings by the ledger rules, and has the store
 * apply them exactly once, in small groups (group commit: postings arriving within a few
 * milliseconds share one transaction, and each is answered only after that transaction commits).
 *
 * Outages: when the store is unavailable, postings wait in a bounded queue and are retried with
 * backoff; a posting that cannot be queued is refused with an error at once. Nothing is dropped
 * silently and nothing is posted twice (references are unique in the store).
 */
import { Clock, TimerHandle } from '../clock';
import { AccountState } from '../messages';
import { RoundingMode, toSafeNumber } from '../decimal';
import { availableCredit } from './credit-state';
import { ChainReport } from './hash-chain';
import { referenceConflict, repricedCharge } from './idempotency';
import { verifyLedger, writeCheckpoint } from './integrity';
import { DEFAULT_POLICY, prepare, PrepareContext } from './postings';
import { LedgerError, LedgerRequest } from './requests';
import { statementDocument, StatementDocument, summaryCsv, statementCsv } from './statement';
import { EntryTotals, isTransientStoreError, LedgerStore, SummaryRow } from './store';
import {
  AccountPolicy,
  AccountRecord,
  BindingRecord,
  EntryRecord,
  PostingResult,
  PreparedPosting,
} from './types';
import { copy, extend } from '../shapes';

export interface LedgerOptions {
  clock: Clock;
  defaults?: Partial<AccountPolicy>;
  rounding?: RoundingMode;
  /** Postings waiting for the store beyond this are refused. */
  maxQueue?: number;
  /** How long a posting may wait for others to share its transaction. */
  groupWindowMs?: number;
  /** Most postings in one transaction. */
  maxGroup?: number;
  /** Called after every committed posting that touches an account; `changed` when its credit state moved. */
  onState?: (state: AccountState, account: AccountRecord, changed: boolean) => void;
  onHealth?: (health: { up: boolean; queued: number; error?: string }) => void;
}

export interface LedgerResponse {
  result: PostingResult | Record<string, unknown>;
  duplicate: boolean;
  /** A charge's reading came again priced otherwise (sub-minor units): the original stands. */
  repriced?: { original: string; attempted: string };
}

/** A posting waiting for the store, answered once (a batch retried after an outage skips those answered). */
class Pending {
  attempts = 0;
  /** Answered already (a batch retried after an outage must not process it again). */
  settled = false;
  /** Taken by the flush in progress and not answered yet: counted in `flight` (against maxQueue). */
  inFlight = false;

  constructor(
    readonly request: Extract<LedgerRequest, { reference: string }>,
    private readonly onResolve: (response: LedgerResponse) => void,
    private readonly onReject: (error: Error) => void,
    private readonly flight: { count: number },
  ) {}

  resolve(response: LedgerResponse): void {
    this.settle();
    this.onResolve(response);
  }

  reject(error: Error): void {
    this.settle();
    this.onReject(error);
  }

  private settle(): void {
    this.settled = true;
    if (this.inFlight) {
      this.inFlight = false;
      this.flight.count -= 1;
    }
  }
}

/**
 * The postings waiting, in order: taken from the front in groups without moving the rest (a group of one
 * from an array of thousands would otherwise shift them all, for every posting).
 */
class PendingQueue {
  private items: Pending[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(pending: Pending): void {
    this.items.push(pending);
  }

  /** The first `count` postings, or up to and including the first bind or unbind among them. */
  take(count: number): Pending[] {
    const items = this.items;
    const start = this.head;
    let end = Math.min(start + count, items.length);
    for (let i = start; i < end; i++) {
      const command = (items[i] as Pending).request.command;
      if (command === 'bind' || command === 'unbind') {
        end = i + 1;
        break;
      }
    }
    const taken = items.slice(start, end);
    this.head = end;
    if (this.head === items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
    return taken;
  }

  /** Puts postings back at the front, in their order. */
  unshift(list: Pending[]): void {
    if (list.length === 0) return;
    if (list.length <= this.head) {
      this.head -= list.length;
      for (let i = 0; i < list.length; i++) this.items[this.head + i] = list[i] as Pending;
    } else {
      this.items = list.concat(this.items.slice(this.head));
      this.head = 0;
    }
  }

  /** Empties the queue, returning what it held. */
  drain(): Pending[] {
    const all = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return all;
  }
}

const MAX_STALE_RETRIES = 50;
const BINDING_CACHE_MS = 10_000;

export function accountState(account: AccountRecord): AccountState {
  return {
    accountId: account.id,
    balance: toSafeNumber(account.balance, 'balance'),
    available: toSafeNumber(availableCredit(account), 'available'),
    currency: account.currency,
    state: account.state,
    changedAt: account.stateChangedAt,
    debt: toSafeNumber(account.debt, 'debt'),
    emergencyActive: account.emergencyActive,
  } as AccountState;
}

export function summaryJson(row: SummaryRow): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? toSafeNumber(v, k) : v]),
  );
}

export class Ledger {
  private readonly defaults: AccountPolicy;
  private readonly rounding: RoundingMode;
  private readonly accounts = new Map<string, AccountRecord>();
  private readonly bindings = new Map<string, { at: number; list: BindingRecord[] }>();
  private readonly queue = new PendingQueue();
  private timer: TimerHandle | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private flushing = false;
  /**
   * Postings taken from the queue by the flush in progress and still waiting for the store (one answered
   * is not: its caller may go on before the flush ends).
   */
  private readonly flight = { count: 0 };
  private down = false;
  private backoffMs = 0;
  private closed = false;
  private lastFlushEnd = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly store: LedgerStore,
    private readonly options: LedgerOptions,
  ) {
    this.defaults = Object.assign({}, DEFAULT_POLICY, options.defaults);
    this.rounding = options.rounding ?? 'half-even';
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Runs a command or posts a charge; resolves once it is committed (or known from before). */
  execute(request: LedgerRequest): Promise<LedgerResponse> {
    // Postings go straight to the queue: no async layer of their own between the caller and the commit.
    switch (request.command) {
      case 'balance':
      case 'statement':
      case 'summary':
      case 'verify':
      case 'checkpoint':
      case 'close':
        return this.query(request);
      default:
        return this.enqueue(request);
    }
  }

  private async query(request: LedgerRequest): Promise<LedgerResponse> {
    switch (request.command) {
      case 'balance': {
        const account = await this.store.getAccount(request.accountId);
        if (!account)
          throw new LedgerError(
            'accountId',
            `account "${request.accountId}" does not exist`,
            'unknown-account',
          );
        return { result: { ok: true, command: 'balance', ...accountState(account) }, duplicate: false };
      }
      case 'statement':
        return {
          result: copy(await this.statement(request.accountId, request.from, request.to, request.format)),
          duplicate: false,
        };
      case 'summary': {
        const rows = await this.store.periodSummary(request.from, request.to);
        const json = rows.map(summaryJson);
        return {
          result: {
            ok: true,
            command: 'summary',
            from: request.from,
            to: request.to,
            accounts: json,
            ...(request.format === 'csv' ? { csv: summaryCsv(rows, request.from, request.to) } : {}),
          },
          duplicate: false,
        };
      }
      case 'verify': {
        const reports = await this.verify(request.accountId);
        return {
          result: {
            ok: reports.every((r) => r.ok),
            command: 'verify',
            accounts: reports.map((r) =>
              extend(r, {
                balance: toSafeNumber(r.balance, 'balance'),
                debt: toSafeNumber(r.debt, 'debt'),
              }),
            ),
          },
          duplicate: false,
        };
      }
      case 'checkpoint': {
        if (!this.store.integrity?.log)
          throw new LedgerError('command', 'this ledger store keeps no checkpoint log', 'no-checkpoints');
        const report = await writeCheckpoint(this.store, this.options.clock.now());
        return {
          result: extend({ ok: report.refused.length === 0, command: 'checkpoint' }, report),
          duplicate: false,
        };
      }
      case 'close': {
        // Closing answers with the account's final statement.
        const response = await this.enqueue(request);
        const statement = await this.statement(request.accountId, 0, Number.MAX_SAFE_INTEGER, 'json');
        return extend(response, { result: extend(response.result, { statement }) });
      }
      default:
        return this.enqueue(request);
    }
  }

  /**
   * Checks one account or all of them: the hash chain and register sums, and with the store's ledger
   * key and checkpoint log, the seals and the history since the last checkpoint (see integrity.ts).
   */
  async verify(accountId?: string): Promise<ChainReport[]> {
    const reports = await verifyLedger(this.store, accountId);
    if (accountId !== undefined && reports.length === 0)
      throw new LedgerError('accountId', `account "${accountId}" does not exist`, 'unknown-account');
    return reports;
  }

  async statement(
    accountId: string,
    from: number,
    to: number,
    format: 'json' | 'csv',
  ): Promise<StatementDocument & { csv?: string }> {
    const account = await this.store.getAccount(accountId);
    if (!account)
      throw new LedgerError('accountId', `account "${accountId}" does not exist`, 'unknown-account');
    const all = await this.store.entriesOf(accountId);
    const document = statementDocument(account, all, from, to);
    return format === 'csv' ? extend(document, { csv: statementCsv(document) }) : document;
  }

  /** Balance movements of every account over [from, to), for the period summary. */
  summaryRows(from: number, to: number): Promise<SummaryRow[]> {
    return this.store.periodSummary(from, to);
  }

  /** Of the given posting references, those the store holds (committed). */
  existingReferences(references: readonly string[]): Promise<Set<string>> {
    return references.length === 0 ? Promise.resolve(new Set()) : this.store.existingReferences(references);
  }

  /** Entries of an account posted in a range (for the reconciliation). */
  entriesOf(accountId: string, range?: { from?: number; to?: number }): Promise<EntryRecord[]> {
    return this.store.entriesOf(accountId, range);
  }

  /** Charge entries of every account effective in [from, to] (for the reconciliation). */
  chargesEffective(from: number, to: number): Promise<EntryRecord[]> {
    return this.store.chargesEffective(from, to);
  }

  /** Per account, the sums of its entries (for the reconciliation). */
  entryTotals(): Promise<EntryTotals[]> {
    return this.store.entryTotals();
  }

  /** Every account as stored (for periodic jobs). */
  listAccounts(): Promise<AccountRecord[]> {
    return this.store.listAccounts();
  }

  /** Current states of every account, for the periodic snapshot. */
  async snapshot(): Promise<AccountState[]> {
    const accounts = await this.store.listAccounts();
    for (const account of accounts) this.accounts.set(account.id, account);
    return accounts.map(accountState);
  }

  close(): void {
    this.closed = true;
    if (this.timer) this.options.clock.clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    for (const pending of this.queue.drain())
      pending.reject(new Error('ledger stopped before this posting was stored'));
  }

  private enqueue(request: Extract<LedgerRequest, { reference: string }>): Promise<LedgerResponse> {
    const max = this.options.maxQueue ?? 10_000;
    if (this.closed) return Promise.reject(new Error('ledger is stopped'));
    if (this.queue.length + this.flight.count >= max) {
      return Promise.reject(
        new LedgerError(
          'store',
          `the ledger queue is full (${this.queue.length} postings waiting for the store); this posting was not stored`,
          'queue-full',
        ),
      );
    }
    return new Promise((resolve, reject) => {
      this.queue.push(new Pending(request, resolve, reject, this.flight));
      // An idle ledger commits at once (no added latency); a busy one gathers the postings that
      // arrive within the group window into one transaction.
      const window = this.options.groupWindowMs ?? 2;
      const idle = performance.now() - this.lastFlushEnd > 2 * window;
      this.schedule(this.down ? this.backoffMs : idle ? 0 : window);
    });
  }

  private readonly run = (): void => {
    this.timer = undefined;
    this.immediate = undefined;
    void this.flush();
  };

  private schedule(ms: number): void {
    if (this.timer || this.immediate || this.flushing || this.closed) return;
    // Postings already waiting go on the next turn of the event loop: a 0 ms timer would cost a
    // millisecond per transaction.
    if (ms <= 0) this.immediate = setImmediate(this.run);
    else this.timer = this.options.clock.setTimeout(this.run, ms);
  }

  private async flush(): Promise<void> {
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = true;
    // A batch ends with a bind or unbind: postings after it resolve meters by the new binding, which
    // is read from the store, so it must be committed first (messages keep their order).
    const batch = this.queue.take(this.options.maxGroup ?? 500);
    for (const pending of batch) pending.inFlight = true;
    this.flight.count = batch.length;
    try {
      await this.process(batch);
      if (this.down) {
        this.down = false;
        this.backoffMs = 0;
      }
      this.options.onHealth?.({ up: true, queued: this.queue.length });
    } catch (error) {
      if (!isTransientStoreError(error)) {
        for (const pending of batch) pending.reject(error as Error);
      } else {
        // Keep the unanswered part of the batch, in order, at the head of the queue and try again later.
        this.queue.unshift(batch.filter((pending) => !pending.settled));
        this.down = true;
        this.backoffMs = Math.min(Math.max(this.backoffMs * 2, 100), 5_000);
        this.accounts.clear();
        this.options.onHealth?.({ up: false, queued: this.queue.length, error: (error as Error).message });
      }
    } finally {
      this.flushing = false;
      this.lastFlushEnd = performance.now();
      for (const pending of batch) pending.inFlight = false;
      this.flight.count = 0;
    }
    if (this.queue.length > 0) this.schedule(this.down ? this.backoffMs : 0);
  }

  /** Prepares and applies one batch; requeues stale postings, settles the rest. */
  private async process(batch: Pending[]): Promise<void> {
    const working = new Map<string, AccountRecord | undefined>();
    const prepared: Array<{ pending: Pending; posting: PreparedPosting }> = [];
    for (const pending of batch) {
      try {
        // Most postings need nothing from the store (their account is known): prepared at once.
        const posting =
          this.prepareKnown(pending.request, working) ?? (await this.prepareOne(pending.request, working));
        prepared.push({ pending, posting });
        if (posting.account) working.set(posting.account.id, posting.account);
      } catch (error) {
        if (isTransientStoreError(error)) throw error;
        const earlier =
          error instanceof LedgerError ? await this.store.getPosting(pending.request.reference) : undefined;
        if (earlier) this.answerEarlier(pending, earlier);
        else pending.reject(error as Error);
      }
    }
    if (prepared.length === 0) return;
    const outcomes = await this.store.apply(prepared.map((p) => p.posting));
    const retry: Pending[] = [];
    outcomes.forEach((outcome, index) => {
      const { pending, posting } = prepared[index] as { pending: Pending; posting: PreparedPosting };
      if (outcome.status === 'applied') {
        this.commit(posting);
        pending.resolve({ result: posting.result, duplicate: false });
      } else if (outcome.status === 'duplicate') {
        if (posting.account) this.accounts.delete(posting.account.id);
        this.answerEarlier(pending, outcome.result);
      } else if (outcome.status === 'stale') {
        if (posting.account) this.accounts.delete(posting.account.id);
        pending.attempts += 1;
        if (pending.attempts > MAX_STALE_RETRIES)
          pending.reject(new Error(`posting ${posting.reference}: account kept changing; not posted`));
        else retry.push(pending);
      } else {
        pending.reject(new LedgerError('reference', outcome.reason, 'rejected'));
      }
    });
    this.queue.unshift(retry);
  }

  /**
   * A posting whose reference was posted before: the same request again is a duplicate (the original result);
   * the reference reused for another request is a conflict, refused naming both.
   */
  private answerEarlier(pending: Pending, earlier: PostingResult): void {
    const conflict = referenceConflict(pending.request, earlier);
    if (conflict) return pending.reject(conflict);
    const repriced = repricedCharge(pending.request, earlier);
    pending.resolve(
      repriced ? { result: earlier, duplicate: true, repriced } : { result: earlier, duplicate: true },
    );
  }

  private commit(posting: PreparedPosting): void {
    if (posting.bindings)
      this.bindings.delete(posting.bindings.add?.meterId ?? posting.bindings.close?.meterId ?? '');
    const account = posting.account;
    if (!account) return;
    const before = this.accounts.get(account.id);
    this.accounts.set(account.id, account);
    const changed =
      !before || before.state !== account.state || posting.command === 'open' || posting.command === 'close';
    try {
      this.options.onState?.(accountState(account), account, changed);
    } catch {
      // The posting is committed whatever a listener does; a failing listener must not undo its answer.
    }
  }

  private async account(
    id: string,
    working: Map<string, AccountRecord | undefined>,
  ): Promise<AccountRecord | undefined> {
    if (working.has(id)) return working.get(id);
    let account = this.accounts.get(id);
    if (!account) {
      account = await this.store.getAccount(id);
      if (account) this.accounts.set(id, account);
    }
    return account;
  }

  /** The account a meter is bound to at `at`, when the binding is cached and still fresh. */
  private cachedAccountOf(meterId: string, at: number): string | undefined {
    const cached = this.bindings.get(meterId);
    if (!cached || this.options.clock.now() - cached.at > BINDING_CACHE_MS) return undefined;
    return cached.list.find((b) => b.from <= at && (b.to === undefined || at < b.to))?.accountId;
  }

  /**
   * A posting prepared without the store, when everything it needs is known: its account (in this batch
   * or cached) and, for a charge by meter, the meter's binding. Undefined otherwise (see `prepareOne`).
   */
  private prepareKnown(
    request: Extract<LedgerRequest, { reference: string }>,
    working: Map<string, AccountRecord | undefined>,
  ): PreparedPosting | undefined {
    if (request.command === 'bind' || request.command === 'unbind' || request.command === 'reverse')
      return undefined;
    let accountId = request.accountId;
    if (accountId === undefined && request.command === 'charge')
      accountId = this.cachedAccountOf(request.meterId as string, request.effectiveAt);
    if (accountId === undefined) return undefined;
    const account = working.has(accountId) ? working.get(accountId) : this.accounts.get(accountId);
    if (!account) return undefined;
    const ctx: PrepareContext = {
      now: this.options.clock.now(),
      defaults: this.defaults,
      rounding: this.rounding,
    };
    if (request.command === 'charge' && request.accountId === undefined)
      return prepare(account, extend(request, { accountId }), ctx);
    return prepare(account, request, ctx);
  }

  private async resolveAccount(meterId: string, at: number): Promise<string> {
    const now = this.options.clock.now();
    let cached = this.bindings.get(meterId);
    if (!cached || now - cached.at > BINDING_CACHE_MS) {
      const binding = await this.store.bindingAt(meterId, at);
      cached = { at: now, list: binding ? [binding] : [] };
      this.bindings.set(meterId, cached);
    }
    const binding = cached.list.find((b) => b.from <= at && (b.to === undefined || at < b.to));
    if (!binding) {
      const direct = await this.store.bindingAt(meterId, at);
      if (!direct)
        throw new LedgerError(
          'meterId',
          `meter "${meterId}" is not bound to any account at ${new Date(at).toISOString()}`,
          'unbound',
        );
      this.bindings.set(meterId, { at: now, list: [direct] });
      return direct.accountId;
    }
    return binding.accountId;
  }

  private async prepareOne(
    request: Extract<LedgerRequest, { reference: string }>,
    working: Map<string, AccountRecord | undefined>,
  ): Promise<PreparedPosting> {
    const now = this.options.clock.now();
    const ctx: PrepareContext = { now, defaults: this.defaults, rounding: this.rounding };
    switch (request.command) {
      case 'bind':
        return this.prepareBind(request, now, working);
      case 'unbind': {
        const at = request.at ?? now;
        const current = await this.store.bindingAt(request.meterId, at);
        if (!current)
          throw new LedgerError(
            'meterId',
            `meter "${request.meterId}" is not bound at ${new Date(at).toISOString()}`,
            'unbound',
          );
        return {
          reference: request.reference,
          command: 'unbind',
          accountId: current.accountId,
          entries: [],
          bindings: { close: { meterId: request.meterId, at } },
          result: {
            ok: true,
            command: 'unbind',
            reference: request.reference,
            accountId: current.accountId,
            meterId: request.meterId,
            to: at,
            entries: [],
          },
          postedAt: now,
        };
      }
      case 'charge': {
        const accountId =
          request.accountId ?? (await this.resolveAccount(request.meterId as string, request.effectiveAt));
        const resolved = extend(request, { accountId });
        return prepare(await this.account(accountId, working), resolved, ctx);
      }
      case 'reverse': {
        ctx.targetEntries = await this.store.entriesByReference(request.target);
        ctx.targetReversed = await this.store.isReversed(request.target);
        return prepare(await this.account(request.accountId, working), request, ctx);
      }
      default:
        return prepare(await this.account(request.accountId, working), request, ctx);
    }
  }

  private async prepareBind(
    request: Extract<LedgerRequest, { command: 'bind' }>,
    now: number,
    working: Map<string, AccountRecord | undefined>,
  ): Promise<PreparedPosting> {
    const account = await this.account(request.accountId, working);
    if (!account)
      throw new LedgerError('accountId', `account "${request.accountId}" does not exist`, 'unknown-account');
    if (account.status === 'closed')
      throw new LedgerError('accountId', `account "${request.accountId}" is closed`, 'closed');
    const from = request.from ?? now;
    const current = await this.store.bindingAt(request.meterId, from);
    if (current) {
      throw new LedgerError(
        'meterId',
        `meter "${request.meterId}" is bound to account "${current.accountId}" since ${new Date(current.from).toISOString()}; unbind it first`,
        'bound',
      );
    }
    const later = (await this.store.bindingsOf(request.accountId)).length; // for the result only
    return {
      reference: request.reference,
      command: 'bind',
      accountId: request.accountId,
      entries: [],
      bindings: {
        add: { meterId: request.meterId, accountId: request.accountId, from, reference: request.reference },
      },
      result: {
        ok: true,
        command: 'bind',
        reference: request.reference,
        accountId: request.accountId,
        meterId: request.meterId,
        from,
        meters: later + 1,
        entries: [],
      },
      postedAt: now,
    };
  }
}
