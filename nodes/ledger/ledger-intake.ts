/**
 * Between the ledger node's input and the ledger: every posting is journaled (on disk, fsynced) before the
 * ledger works on it, then fed to the ledger in the order it arrived. At most `window` postings are in the
 * ledger's memory at once, each with the message that asked for it (answered after its commit); during a long
 * store outage the rest wait only in the journal: their messages are acknowledged at once and their results,
 * when they are posted, have nobody to answer. After a restart the journal's unsettled postings go first.
 */
import type { Ledger, LedgerResponse } from '../core/ledger/ledger';
import { LedgerError, readRequest, type LedgerRequest } from '../core/ledger/requests';
import type { IntakeJournal } from './intake-journal';

export type PostingRequest = Extract<LedgerRequest, { reference: string }>;

/** The message that asked for a posting, while it is kept. */
export interface Requester {
  answer(response: LedgerResponse): void;
  fail(error: Error): void;
  /** Acknowledged without an answer: the posting waits in the journal only. */
  release(): void;
}

export interface IntakeOptions {
  /** Postings in the ledger's memory at once (the rest wait in the journal). */
  window: number;
  /** A posting from the journal with nobody waiting was posted (or found a duplicate). */
  onPosted(response: LedgerResponse, request: PostingRequest): void;
  /** A posting with nobody waiting was refused, or could not be read back. */
  onRefused(error: Error, request: PostingRequest | undefined, seq: number): void;
  onChange(): void;
  /** Every refusal, answered or not (the reconciliation lists refused charges). */
  onRefusal?(request: PostingRequest | undefined, error: Error, receivedAt: number): void;
}

/** Errors that end a posting for good (the store answered); anything else leaves it in the journal. */
function isFinal(error: unknown): boolean {
  return !(error instanceof Error && /ledger (is )?stopped/.test(error.message));
}

export class LedgerIntake {
  private readonly spilled: number[] = [];
  private inLedger = 0;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ledger: Ledger,
    private readonly journal: IntakeJournal,
    private readonly options: IntakeOptions,
  ) {}

  /** Postings journaled and not yet settled. */
  get backlog(): number {
    return this.journal.backlog;
  }

  /** Waiting in the journal only (not yet given to the ledger). */
  get waiting(): number {
    return this.spilled.length;
  }

  /** Queues what the journal holds from before a stop; it goes to the ledger before anything new. */
  start(): number {
    const seqs = this.journal.unsettledSeqs();
    this.spilled.push(...seqs);
    this.pump();
    return seqs.length;
  }

  /** Journals a parsed posting, then hands it to the ledger in turn. */
  submit(
    request: PostingRequest,
    topic: unknown,
    payload: unknown,
    receivedAt: number,
    from: Requester,
  ): void {
    this.journal.accept(request.reference, topic, payload, receivedAt).then(
      (seq) => {
        if (this.stopped) return from.release();
        if (this.spilled.length > 0 || this.inLedger >= this.options.window) {
          this.spilled.push(seq);
          from.release();
          this.options.onChange();
        } else this.feed(seq, request, receivedAt, from);
      },
      (error: Error) => from.fail(error),
    );
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  private feed(seq: number, request: PostingRequest, receivedAt: number, from?: Requester): void {
    this.inLedger += 1;
    this.ledger.execute(request).then(
      (response) => {
        this.inLedger -= 1;
        this.journal.settle(seq, response.duplicate ? 'duplicate' : 'committed');
        if (from) from.answer(response);
        else this.options.onPosted(response, request);
        this.after();
      },
      (error: Error) => {
        this.inLedger -= 1;
        if (this.stopped || !isFinal(error)) return from?.release(); // stays in the journal for the next start
        if (error instanceof LedgerError && error.code === 'queue-full') {
          // Only if the window was set above the ledger's own queue: wait for room, in order.
          this.spilled.unshift(seq);
          from?.release();
          this.retryTimer ??= setTimeout(() => {
            this.retryTimer = undefined;
            this.pump();
          }, 100);
          return;
        }
        this.journal.settle(seq, 'refused');
        this.options.onRefusal?.(request, error, receivedAt);
        if (from) from.fail(error);
        else this.options.onRefused(error, request, seq);
        this.after();
      },
    );
  }

  private after(): void {
    this.pump();
    this.options.onChange();
  }

  /** Moves postings waiting in the journal into the ledger while there is room, oldest first. */
  private pump(): void {
    while (!this.stopped && this.spilled.length > 0 && this.inLedger < this.options.window) {
      const seq = this.spilled.shift() as number;
      const record = this.journal.record(seq);
      if (!record) continue;
      let request: LedgerRequest;
      try {
        request = readRequest(record.topic, record.payload, record.receivedAt);
        if (!('reference' in request)) throw new Error('not a posting');
      } catch (error) {
        this.journal.settle(seq, 'refused');
        this.options.onRefusal?.(undefined, error as Error, record.receivedAt);
        this.options.onRefused(error as Error, undefined, seq);
        continue;
      }
      this.feed(seq, request as PostingRequest, record.receivedAt);
    }
  }
}
