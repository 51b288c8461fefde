/**
 * The ledger rules without storage: what each command posts (entries and registers), what it
 * refuses (a LedgerError naming the field), the credit state machine and its hysteresis, and the
 * hash chain. Property tests drive random command sequences through prepare() and check that the
 * registers, the entries, the chain and the credit state never disagree.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { availableCredit, nextCreditState } from '../../dist/nodes/core/ledger/credit-state';
import {
  AccountCheckpoint,
  checkpointLine,
  LOG_GENESIS,
  readCheckpointLog,
} from '../../dist/nodes/core/ledger/checkpoint';
import { canonicalJson, entryHash, genesisHash, verifyChain } from '../../dist/nodes/core/ledger/hash-chain';
import { DEFAULT_POLICY, prepare, PrepareContext } from '../../dist/nodes/core/ledger/postings';
import { referenceConflict, repricedCharge } from '../../dist/nodes/core/ledger/idempotency';
import { LedgerError, readRequest } from '../../dist/nodes/core/ledger/requests';
import { Keyring, sealKey } from '../../dist/nodes/core/ledger/seal';
import {
  AccountPolicy,
  AccountRecord,
  EntryRecord,
  PostingResult,
  PreparedPosting,
} from '../../dist/nodes/core/ledger/types';
import { CreditState } from '../../dist/nodes/core/messages';

type PostingRequest = Parameters<typeof prepare>[1];

const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);

/** A request built from a message payload, exactly as the node reads it. */
function req(payload: Record<string, unknown>, topic?: string): PostingRequest {
  const charge = payload.command === undefined && 'readingId' in payload;
  return readRequest(topic ?? (charge ? 'charge' : undefined), payload) as PostingRequest;
}

function ctx(extra: Partial<PrepareContext> = {}): PrepareContext {
  return { now: T0, defaults: DEFAULT_POLICY, rounding: 'half-even', ...extra };
}

/** An account and every entry it has, kept as a store would keep them. */
class Book {
  account: AccountRecord | undefined;
  entries: EntryRecord[] = [];
  readonly postings = new Map<string, PreparedPosting>();
  readonly reversed = new Set<string>();
  now = T0;

  post(request: PostingRequest, extra: Partial<PrepareContext> = {}): PreparedPosting {
    this.now += 1000;
    const context = ctx({ now: this.now, ...extra });
    if (request.command === 'reverse') {
      context.targetEntries = this.postings.get(request.target)?.entries ?? [];
      context.targetReversed = this.reversed.has(request.target);
    }
    const prepared = prepare(this.account, request, context);
    assert.equal(prepared.expectedVersion, this.account?.version ?? 0, 'prepared from the current version');
    this.account = prepared.account;
    this.entries.push(...prepared.entries);
    this.postings.set(prepared.reference, prepared);
    if (prepared.reverses) this.reversed.add(prepared.reverses);
    return prepared;
  }

  get current(): AccountRecord {
    assert.ok(this.account, 'account is open');
    return this.account;
  }
}

function openBook(policy: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Book {
  const book = new Book();
  book.post(
    req({
      command: 'open',
      reference: 'open-1',
      accountId: 'A1',
      currency: 'GBP',
      tenant: 'T',
      policy,
      ...extra,
    }),
  );
  return book;
}

/** Asserts `fn` throws a LedgerError naming `field` (and with `code`, when given). */
function refuses(fn: () => unknown, field: string, code?: string, message?: RegExp): LedgerError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof LedgerError, `expected a LedgerError, got ${String(caught)}`);
  assert.equal(caught.field, field);
  assert.ok(caught.message.startsWith(`${field}: `), `message names the field: ${caught.message}`);
  if (code) assert.equal(caught.code, code);
  if (message) assert.match(caught.message, message);
  return caught;
}

function shape(entries: EntryRecord[]): Array<[string, bigint, bigint, bigint, bigint]> {
  return entries.map((e) => [e.kind, e.amount, e.debtDelta, e.balanceAfter, e.debtAfter]);
}

function assertConsistent(book: Book): void {
  const account = book.current;
  const report = verifyChain(account, book.entries);
  assert.deepEqual(report.problems, []);
  assert.equal(
    account.balance,
    book.entries.reduce((sum, e) => sum + e.amount, 0n),
  );
  assert.equal(
    account.debt,
    book.entries.reduce((sum, e) => sum + e.debtDelta, 0n),
  );
}

describe('ledger rules: requests from messages', function () {
  it('reads every posting command from a payload, the command named by payload or topic', function () {
    assert.deepEqual(readRequest('topup', { reference: 'r', accountId: 'A', amount: '250' }), {
      command: 'topup',
      reference: 'r',
      accountId: 'A',
      amount: 250n,
      currency: undefined,
      method: undefined,
      by: undefined,
    });
    const charge = readRequest(undefined, {
      readingId: 'm1-0001',
      meterId: 'm1',
      amount: 12345,
      currency: 'GBP',
      breakdown: [],
      to: '2025-01-06T09:30:00Z',
    });
    assert.equal(charge.command, 'charge');
    assert.ok(charge.command === 'charge');
    assert.equal(charge.reference, 'charge:m1-0001');
    assert.equal(charge.amountSub, 12345n);
    assert.equal(charge.effectiveAt, Date.parse('2025-01-06T09:30:00Z'));
    assert.equal(
      readRequest('charge', { readingId: 'x', accountId: 'A', amount: 1, currency: 'EUR' }).command,
      'charge',
    );
  });

  it('refuses a malformed payload, naming the field at fault', function () {
    refuses(() => readRequest('topup', 'topup 5'), 'payload');
    refuses(() => readRequest('topup', null), 'payload');
    refuses(() => readRequest('topup', [1, 2]), 'payload');
    refuses(() => readRequest(undefined, {}), 'command');
    refuses(() => readRequest(undefined, { command: 'explode' }), 'command', undefined, /explode/);
    refuses(() => readRequest('topup', { accountId: 'A', amount: 5 }), 'reference', undefined, /required/);
    refuses(() => readRequest('topup', { reference: '  ', accountId: 'A', amount: 5 }), 'reference');
    refuses(() => readRequest('topup', { reference: 'r', amount: 5 }), 'accountId');
    refuses(
      () => readRequest('topup', { reference: 'r', accountId: 'A', amount: 0 }),
      'amount',
      undefined,
      /greater than zero/,
    );
    refuses(() => readRequest('topup', { reference: 'r', accountId: 'A', amount: -5 }), 'amount');
    refuses(() => readRequest('topup', { reference: 'r', accountId: 'A', amount: '-5' }), 'amount');
    refuses(
      () => readRequest('topup', { reference: 'r', accountId: 'A', amount: 1.5 }),
      'amount',
      undefined,
      /whole number/,
    );
    refuses(() => readRequest('topup', { reference: 'r', accountId: 'A', amount: '12.50' }), 'amount');
    refuses(() => readRequest('topup', { reference: 'r', accountId: 'A', amount: 2 ** 53 }), 'amount');
    refuses(() => readRequest('topup', { reference: 'r', accountId: 'A' }), 'amount', undefined, /required/);
    refuses(
      () => readRequest('topup', { reference: 'r', accountId: 'A', amount: 5, currency: 'XYZ' }),
      'currency',
    );
    refuses(() => readRequest('refund', { reference: 'r', accountId: 'A', amount: 0 }), 'amount');
    refuses(
      () => readRequest('adjust', { reference: 'r', accountId: 'A', amount: 0, reason: 'x' }),
      'amount',
    );
    refuses(() => readRequest('adjust', { reference: 'r', accountId: 'A', amount: 5 }), 'reason');
    refuses(
      () => readRequest('adjust', { reference: 'r', accountId: 'A', amount: 5, reason: 'x', register: 'x' }),
      'register',
    );
    refuses(() => readRequest('reverse', { reference: 'r', accountId: 'A', reason: 'x' }), 'target');
    refuses(() => readRequest('open', { reference: 'r', accountId: 'A' }), 'currency');
    refuses(
      () => readRequest('open', { reference: 'r', accountId: 'A', currency: 'GBP', openingDebt: -1 }),
      'openingDebt',
    );
    refuses(
      () => readRequest('open', { reference: 'r', accountId: 'A', currency: 'GBP', utilities: ['steam'] }),
      'utilities',
    );
    refuses(
      () =>
        readRequest('open', {
          reference: 'r',
          accountId: 'A',
          currency: 'GBP',
          policy: { lowThreshold: -1 },
        }),
      'policy.lowThreshold',
    );
    refuses(
      () =>
        readRequest('open', {
          reference: 'r',
          accountId: 'A',
          currency: 'GBP',
          policy: { debtRecoveryShareBp: 10001 },
        }),
      'policy.debtRecoveryShareBp',
    );
    refuses(
      () =>
        readRequest('open', {
          reference: 'r',
          accountId: 'A',
          currency: 'GBP',
          policy: { emergencyMode: 'always' },
        }),
      'policy.emergencyMode',
    );
    refuses(() => readRequest('bind', { reference: 'r', accountId: 'A' }), 'meterId');
    refuses(
      () => readRequest('bind', { reference: 'r', accountId: 'A', meterId: 'm', from: 'yesterday' }),
      'from',
    );
    refuses(
      () => readRequest('charge', { readingId: 'x', amount: 1, currency: 'GBP' }),
      'accountId',
      undefined,
      /meterId/,
    );
    refuses(() => readRequest('charge', { accountId: 'A', amount: 1, currency: 'GBP' }), 'readingId');
    refuses(() => readRequest('charge', { readingId: 'x', accountId: 'A', amount: 1 }), 'currency');
    refuses(
      () =>
        readRequest('charge', { readingId: 'x', accountId: 'A', amount: 1, currency: 'GBP', kind: 'tax' }),
      'kind',
    );
    refuses(() => readRequest('statement', { accountId: 'A', format: 'pdf' }), 'format');
    refuses(() => readRequest('summary', { from: 0 }), 'to');
  });
});

describe('ledger rules: what each command posts', function () {
  it('open: an "open" entry, genesis-chained, the policy merged over the defaults, and an opening debt', function () {
    const book = new Book();
    const opened = book.post(
      req({
        command: 'open',
        reference: 'open-1',
        accountId: 'A1',
        currency: 'GBP',
        tenant: 'Acme',
        name: 'Unit 4',
        utilities: ['electricity', 'water'],
        policy: { lowThreshold: 2000, debtRecoveryShareBp: 2500 },
        openingDebt: 1500,
      }),
    );
    assert.equal(opened.expectedVersion, 0);
    assert.deepEqual(shape(opened.entries), [
      ['open', 0n, 0n, 0n, 0n],
      ['adjustment', 0n, 1500n, 0n, 1500n],
    ]);
    assert.equal(opened.entries[0].prevHash, genesisHash('A1'));
    assert.equal(opened.entries[1].prevHash, opened.entries[0].hash);
    const account = book.current;
    assert.equal(account.balance, 0n);
    assert.equal(account.debt, 1500n);
    assert.equal(account.state, 'exhausted');
    assert.equal(account.seq, 2);
    assert.equal(account.version, 1);
    assert.equal(account.lastHash, opened.entries[1].hash);
    assert.equal(account.policy.lowThreshold, 2000n);
    assert.equal(account.policy.debtRecoveryShareBp, 2500);
    assert.equal(account.policy.lowHysteresis, DEFAULT_POLICY.lowHysteresis);
    assert.deepEqual(account.utilities, ['electricity', 'water']);
    assert.equal(opened.result.debt, 1500);
    assert.equal(opened.result.state, 'exhausted');
    refuses(
      () => book.post(req({ command: 'open', reference: 'open-2', accountId: 'A1', currency: 'GBP' })),
      'accountId',
      'exists',
    );
    assertConsistent(book);
  });

  it('topup: one entry, the state leaves exhausted; refund and adjust move the balance register', function () {
    const book = openBook();
    const topup = book.post(
      req({ command: 'topup', reference: 't1', accountId: 'A1', amount: 5000, method: 'card' }),
    );
    assert.deepEqual(shape(topup.entries), [['topup', 5000n, 0n, 5000n, 0n]]);
    assert.deepEqual(topup.entries[0].meta, { method: 'card' });
    assert.equal(topup.entries[0].seq, 2);
    assert.equal(topup.result.balance, 5000);
    assert.equal(topup.result.available, 5000);
    assert.equal(topup.result.state, 'ok');
    assert.equal(book.current.stateChangedAt, book.now);

    const refund = book.post(
      req({ command: 'refund', reference: 'rf1', accountId: 'A1', amount: 1200, reason: 'moved' }),
    );
    assert.deepEqual(shape(refund.entries), [['refund', -1200n, 0n, 3800n, 0n]]);

    const adjust = book.post(
      req({ command: 'adjust', reference: 'ad1', accountId: 'A1', amount: -300, reason: 'meter fault' }),
    );
    assert.deepEqual(shape(adjust.entries), [['adjustment', -300n, 0n, 3500n, 0n]]);
    assert.equal(adjust.entries[0].meta.register, 'balance');

    const debt = book.post(
      req({
        command: 'adjust',
        reference: 'ad2',
        accountId: 'A1',
        amount: 700,
        register: 'debt',
        reason: 'arrears',
      }),
    );
    assert.deepEqual(shape(debt.entries), [['adjustment', 0n, 700n, 3500n, 700n]]);
    refuses(
      () =>
        book.post(
          req({
            command: 'adjust',
            reference: 'ad3',
            accountId: 'A1',
            amount: -701,
            register: 'debt',
            reason: 'x',
          }),
        ),
      'amount',
      'insufficient',
    );
    assert.equal(book.current.version, 5);
    assertConsistent(book);
  });

  it('charge: sub-minor units posted in minor units by cumulative rounding, kinds kept apart', function () {
    const book = openBook();
    book.post(req({ command: 'topup', reference: 't1', accountId: 'A1', amount: 5000 }));
    const charge = book.post(
      req({
        readingId: 'r1',
        accountId: 'A1',
        amount: 1234567,
        currency: 'GBP',
        breakdown: [{ band: 'day' }],
        to: T0 + 5,
        utility: 'electricity',
      }),
    );
    assert.deepEqual(shape(charge.entries), [['charge', -123n, 0n, 4877n, 0n]]);
    assert.equal(charge.entries[0].effectiveAt, T0 + 5);
    assert.equal(charge.entries[0].meta.readingId, 'r1');
    assert.equal(charge.entries[0].meta.utility, 'electricity', 'statements tell utilities apart');
    assert.equal(charge.entries[0].meta.amountSub, '1234567');
    assert.equal(charge.reference, 'charge:r1');
    assert.equal(charge.result.readingId, 'r1');
    assert.equal(charge.result.amountSub, 1234567);
    assert.equal(book.current.chargeSubTotal, 1234567n);
    const standing = book.post(
      req({ readingId: 's1', accountId: 'A1', amount: 250000, currency: 'GBP', kind: 'standing' }),
    );
    assert.deepEqual(shape(standing.entries), [['standing', -25n, 0n, 4852n, 0n]]);
    const monthly = book.post(
      req({ readingId: 'mo1', accountId: 'A1', amount: 1000000, currency: 'GBP', kind: 'monthly' }),
    );
    assert.deepEqual(shape(monthly.entries), [['monthly', -100n, 0n, 4752n, 0n]]);
    assertConsistent(book);
  });

  it('charge: three charges of 0.3333p sum to exactly round(0.9999p) = 1p', function () {
    const book = openBook();
    book.post(req({ command: 'topup', reference: 't1', accountId: 'A1', amount: 100 }));
    const emitted = ['a', 'b', 'c'].map(
      (id) =>
        book.post(req({ readingId: id, accountId: 'A1', amount: 3333, currency: 'GBP' })).entries[0].amount,
    );
    assert.deepEqual(emitted, [0n, -1n, 0n]);
    assert.equal(
      emitted.reduce((a, b) => a + b, 0n),
      -1n,
    );
    assert.equal(book.current.balance, 99n);
    assert.equal(book.current.chargeSubTotal, 9999n);
  });

  it('charge: any split of a stream of sub-minor charges posts the same total as the unsplit stream', function () {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 2_000_000 }), { minLength: 1, maxLength: 40 }),
        (amounts) => {
          const book = openBook();
          book.post(req({ command: 'topup', reference: 't1', accountId: 'A1', amount: 10_000_000 }));
          amounts.forEach((amount, i) =>
            book.post(req({ readingId: `r${i}`, accountId: 'A1', amount, currency: 'GBP' })),
          );
          const total = BigInt(amounts.reduce((a, b) => a + b, 0));
          const whole = total / 10_000n;
          const rest = total % 10_000n;
          // half-even of total / 10000
          const rounded = rest > 5000n || (rest === 5000n && whole % 2n === 1n) ? whole + 1n : whole;
          assert.equal(book.current.balance, 10_000_000n - rounded);
          assertConsistent(book);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('charge: never negative: a negative amount, breakdown line or quantity is refused, naming it', function () {
    const book = openBook();
    book.post(req({ command: 'topup', reference: 't1', accountId: 'A1', amount: 1000 }));
    const charge = (extra: Record<string, unknown>): Record<string, unknown> => ({
      readingId: 'neg-1',
      accountId: 'A1',
      amount: 50_000,
      currency: 'GBP',
      quantity: '2.5',
      breakdown: [{ component: 'energy', quantity: '2.5', unit: 'kWh', rate: '0.02', amount: 50_000 }],
      ...extra,
    });
    // -5000p credited the tenant before: a charge is what the tenant pays, never a credit.
    for (const amount of [-50_000_000, '-50000000', -1]) {
      refuses(() => req(charge({ amount })), 'amount', undefined, /must not be negative/);
    }
    refuses(
      () =>
        req(
          charge({
            breakdown: [
              { component: 'energy', amount: 60_000 },
              { component: 'x', amount: -10_000 },
            ],
          }),
        ),
      'breakdown[1].amount',
      undefined,
      /must not be negative/,
    );
    refuses(() => req(charge({ breakdown: [{ component: 'energy', amount: '-1' }] })), 'breakdown[0].amount');
    refuses(() => req(charge({ breakdown: [{ component: 'energy', amount: 0.5 }] })), 'breakdown[0].amount');
    refuses(() => req(charge({ breakdown: ['energy'] })), 'breakdown[0]');
    refuses(() => req(charge({ breakdown: 'energy' }), 'charge'), 'breakdown');
    for (const quantity of ['-2.5', -2.5, '-0.000001']) {
      refuses(() => req(charge({ quantity })), 'quantity', undefined, /must not be negative/);
    }
    refuses(() => req(charge({ quantity: 'lots' })), 'quantity', undefined, /decimal/);
    // The rule itself refuses a negative amount that did not come through a message.
    const built = req(charge({}));
    assert.ok(built.command === 'charge');
    refuses(() => book.post({ ...built, amountSub: -50_000n }), 'amount', undefined, /must not be negative/);
    assert.equal(book.current.balance, 1000n, 'nothing posted');
    // Zero is a charge (a standing charge waived to nothing, a meter that did not turn).
    const zero = book.post(
      req(charge({ amount: 0, quantity: '0', breakdown: [{ component: 'energy', amount: 0 }] })),
    );
    assert.deepEqual(shape(zero.entries), [['charge', 0n, 0n, 1000n, 0n]]);
    assertConsistent(book);
  });

  it('charge: wrong currency and unknown or closed accounts are refused', function () {
    const book = openBook();
    refuses(
      () => book.post(req({ readingId: 'r1', accountId: 'A1', amount: 100, currency: 'EUR' })),
      'currency',
      'currency',
      /EUR.*GBP/,
    );
    refuses(
      () =>
        prepare(undefined, req({ readingId: 'r1', accountId: 'NOPE', amount: 1, currency: 'GBP' }), ctx()),
      'accountId',
      'unknown-account',
      /NOPE/,
    );
    refuses(
      () => book.post(req({ command: 'topup', reference: 't', accountId: 'A1', amount: 1, currency: 'USD' })),
      'currency',
      'currency',
    );
    refuses(
      () =>
        book.post(req({ command: 'refund', reference: 't', accountId: 'A1', amount: 1, currency: 'USD' })),
      'currency',
    );
    for (const payload of [
      { command: 'topup', reference: 'x', accountId: 'NOPE', amount: 1 },
      { command: 'refund', reference: 'x', accountId: 'NOPE', amount: 1 },
      { command: 'adjust', reference: 'x', accountId: 'NOPE', amount: 1, reason: 'r' },
      { command: 'reverse', reference: 'x', accountId: 'NOPE', target: 't', reason: 'r' },
      { command: 'close', reference: 'x', accountId: 'NOPE' },
      { command: 'emergency', reference: 'x', accountId: 'NOPE' },
    ]) {
      refuses(() => prepare(undefined, req(payload), ctx()), 'accountId', 'unknown-account');
    }
  });

  it('refund: not above the balance', function () {
    const book = openBook();
    book.post(req({ command: 'topup', reference: 't1', accountId: 'A1', amount: 1000 }));
    refuses(
      () => book.post(req({ command: 'refund', reference: 'r1', accountId: 'A1', amount: 1001 })),
      'amount',
      'insufficient',
    );
    book.post(req({ command: 'refund', reference: 'r2', accountId: 'A1', amount: 1000 }));
    assert.equal(book.current.balance, 0n);
    assert.equal(book.current.state, 'exhausted');
  });

  it('topup: the largest top-up and the largest balance are enforced', function () {
    const book = openBook({ maxTopup: 5000, maxBalance: 8000 });
    refuses(
      () => book.post(req({ command: 'topup', reference: 't1', accountId: 'A1', amount: 5001 })),
      'amount',
      'limit',
      /5000/,
    );
    book.post(req({ command: 'topup', reference: 't2', accountId: 'A1', amount: 5000 }));
    refuses(
      () => book.post(req({ command: 'topup', reference: 't3', accountId: 'A1', amount: 3001 })),
      'amount',
      'limit',
      /8000/,
    );
    book.post(req({ command: 'topup', reference: 't4', accountId: 'A1', amount: 3000 }));
    assert.equal(book.current.balance, 8000n);
    assertConsistent(book);
  });

  it('topup: debt recovery takes a share, capped, never more than the debt', function () {
    const book = openBook({ debtRecoveryShareBp: 2500, debtRecoveryCap: 600 }, { openingDebt: 1000 });
    const first = book.post(req({ command: 'topup', reference: 't1', accountId: 'A1', amount: 2000 }));
    assert.deepEqual(shape(first.entries), [
      ['topup', 2000n, 0n, 2000n, 1000n],
      ['debt-recovery', -500n, -500n, 1500n, 500n],
    ]);
    assert.deepEqual(
      first.entries.map((e) => [e.part, e.reference]),
      [
        [0, 't1'],
        [1, 't1'],
      ],
    );
    // 25% of 4000 is 1000, capped at 600, then at the 500 still owed.
    const second = book.post(req({ command: 'topup', reference: 't2', accountId: 'A1', amount: 4000 }));
    assert.deepEqual(shape(second.entries), [
      ['topup', 4000n, 0n, 5500n, 500n],
      ['debt-recovery', -500n, -500n, 5000n, 0n],
    ]);
    const third = book.post(req({ command: 'topup', reference: 't3', accountId: 'A1', amount: 4000 }));
    assert.equal(third.entries.length, 1, 'nothing to recover');
    assert.equal(book.current.debt, 0n);

    const capped = openBook({ debtRecoveryShareBp: 5000, debtRecoveryCap: 300 }, { openingDebt: 10_000 });
    const take = capped.post(req({ command: 'topup', reference: 't1', accountId: 'A1', amount: 2000 }));
    assert.equal(take.entries[1].amount, -300n);
    assert.equal(capped.current.debt, 9700n);
    assertConsistent(capped);
  });

  it('debt-recovery (daily): takes the daily rate, not from an exhausted account', function () {
    const book = openBook({ debtRecoveryPerDay: 150 }, { openingDebt: 200 });
    const none = book.post({
      command: 'debt-recovery',
      reference: 'dr-1',
      accountId: 'A1',
      date: '2025-01-06',
    });
    assert.equal(none.entries.length, 0, 'exhausted: nothing taken');
    book.post(req({ command: 'topup', reference: 't1', accountId: 'A1', amount: 5000 }));
    const day = book.post({
      command: 'debt-recovery',
      reference: 'dr-2',
      accountId: 'A1',
      date: '2025-01-07',
    });
    assert.deepEqual(shape(day.entries), [['debt-recovery', -150n, -150n, 4850n, 50n]]);
    const last = book.post({
      command: 'debt-recovery',
      reference: 'dr-3',
      accountId: 'A1',
      date: '2025-01-08',
    });
    assert.deepEqual(shape(last.entries), [['debt-recovery', -50n, -50n, 4800n, 0n]]);
    assertConsistent(book);
  });

  it('reverse: compensating entries for every part; once only; never open, close or reversals', function () {
    const book = openBook({ debtRecoveryShareBp: 1000 }, { openingDebt: 1000 });
    book.post(req({ command: 'topup', reference: 't1', accountId: 'A1', amount: 3000 }));
    assert.equal(book.current.balance, 2700n);
    assert.equal(book.current.debt, 700n);
    const reversal = book.post(
      req({ command: 'reverse', reference: 'rv1', accountId: 'A1', target: 't1', reason: 'chargeback' }),
    );
    assert.deepEqual(shape(reversal.entries), [
      ['reversal', -3000n, 0n, -300n, 700n],
      ['reversal', 300n, 300n, 0n, 1000n],
    ]);
    assert.equal(reversal.reverses, 't1');
    assert.equal(reversal.result.target, 't1');
    assert.equal(reversal.entries[0].meta.reverses, 't1');
    refuses(
      () =>
        book.post(
          req({ command: 'reverse', reference: 'rv2', accountId: 'A1', target: 't1', reason: 'again' }),
        ),
      'target',
      'reversed',
    );
    refuses(
      () =>
        book.post(req({ command: 'reverse', reference: 'rv3', accountId: 'A1', target: 'rv1', reason: 'x' })),
      'target',
    );
    refuses(
      () =>
        book.post(
          req({ command: 'reverse', reference: 'rv4', accountId: 'A1', target: 'open-1', reason: 'x' }),
        ),
      'target',
    );
    refuses(
      () =>
        book.post(
          req({ command: 'reverse', reference: 'rv5', accountId: 'A1', target: 'nothing', reason: 'x' }),
        ),
      'target',
      'unknown-target',
    );
    const other = openBook();
    other.current.id = 'A2';
    refuses(
      () =>
        prepare(
          other.current,
          req({ command: 'reverse', reference: 'rv6', accountId: 'A2', target: 't1', reason: 'x' }),
          {
            ...ctx(),
            targetEntries: book.postings.get('t1')?.entries,
          },
        ),
      'target',
      undefined,
      /another account/,
    );
    assertConsistent(book);
  });

  it('reverse: a debt adjustment already recovered cannot be reversed into negative debt', function () {
    const book = openBook({ debtRecoveryShareBp: 10_000 });
    book.post(
      req({
        command: 'adjust',
        reference: 'd1',
        accountId: 'A1',
        amount: 500,
        register: 'debt',
        reason: 'arrears',
      }),
    );
    book.post(req({ command: 'topup', reference: 't1', accountId: 'A1', amount: 2000 }));
    assert.equal(book.current.debt, 0n);
    refuses(
      () =>
        book.post(req({ command: 'reverse', reference: 'rv1', accountId: 'A1', target: 'd1', reason: 'x' })),
      'target',
      'insufficient',
      /debt/,
    );
    assert.equal(book.current.debt, 0n);
    assertConsistent(book);
  });

  it('close: a close entry carrying the final registers; a closed account refuses everything', function () {
    const book = openBook({}, { openingDebt: 50 });
    book.post(req({ command: 'topup', reference: 't1', accountId: 'A1', amount: 700 }));
    const close = book.post(req({ command: 'close', reference: 'c1', accountId: 'A1' }));
    assert.deepEqual(shape(close.entries), [['close', 0n, 0n, 700n, 50n]]);
    assert.deepEqual(close.entries[0].meta, { finalBalance: '700', finalDebt: '50' });
    assert.equal(book.current.status, 'closed');
    assert.equal(book.current.state, 'closed');
    assert.equal(book.current.closedAt, book.now);
    for (const payload of [
      { command: 'topup', reference: 'x', accountId: 'A1', amount: 1 },
      { command: 'close', reference: 'x', accountId: 'A1' },
      { readingId: 'x', accountId: 'A1', amount: 1, currency: 'GBP', breakdown: [] },
    ]) {
      refuses(() => book.post(req(payload)), 'accountId', 'closed');
    }
    assertConsistent(book);
  });

  it('by: the operator who gave a command is in every entry it posts (hash-chained) and in its result', function () {
    const book = openBook({ debtRecoveryShareBp: 2500 }, { openingDebt: 400, by: 'alice' });
    assert.equal(book.entries[0]!.meta.by, 'alice');
    const topup = book.post(
      req({ command: 'topup', reference: 'desk:R1', accountId: 'A1', amount: 1000, by: 'bob' }),
    );
    assert.deepEqual(
      topup.entries.map((e) => [e.kind, e.meta.by]),
      [
        ['topup', 'bob'],
        ['debt-recovery', 'bob'],
      ],
    );
    assert.equal(topup.result.by, 'bob');
    const adjust = book.post(
      req({ command: 'adjust', reference: 'adj-1', accountId: 'A1', amount: -5, reason: 'x', by: 'carol' }),
    );
    assert.equal(adjust.entries[0]!.meta.by, 'carol');
    // A charge has no operator; a command without one keeps the meta it always had (and so its hash).
    const plain = book.post(req({ command: 'topup', reference: 't2', accountId: 'A1', amount: 1 }));
    assert.deepEqual(plain.entries[0]!.meta, {});
    assert.equal('by' in plain.result, false);
    const close = book.post(req({ command: 'close', reference: 'c1', accountId: 'A1', by: 'dave' }));
    assert.equal(close.entries[0]!.meta.by, 'dave');
    refuses(
      () => req({ command: 'topup', reference: 'x', accountId: 'A1', amount: 1, by: 7 }),
      'by',
      'invalid',
    );
    assertConsistent(book);
  });
});

describe('ledger rules: emergency credit and standing charges while off supply', function () {
  const emergencyPolicy = {
    emergencyCredit: 500,
    lowThreshold: 1000,
    lowHysteresis: 500,
    reconnectAbove: 100,
  };

  it('auto: a charge that exhausts the balance switches emergency credit on; the next top-up repays it', function () {
    const book = openBook({ ...emergencyPolicy, emergencyMode: 'auto' });
    book.post(req({ command: 'topup', reference: 't1', accountId: 'A1', amount: 300 }));
    assert.equal(book.current.state, 'low');
    const charge = book.post(
      req({ readingId: 'r1', accountId: 'A1', amount: 4_000_000, currency: 'GBP', breakdown: [] }),
    );
    assert.deepEqual(shape(charge.entries), [
      ['charge', -400n, 0n, -100n, 0n],
      ['emergency-credit', 0n, 0n, -100n, 0n],
    ]);
    assert.equal(charge.entries[1].meta.mode, 'auto');
    assert.equal(book.current.emergencyActive, true);
    assert.equal(availableCredit(book.current), 400n);
    assert.equal(book.current.state, 'emergency');
    assert.equal(charge.result.available, 400);
    // Emergency credit used up: exhausted.
    book.post(req({ readingId: 'r2', accountId: 'A1', amount: 4_000_000, currency: 'GBP', breakdown: [] }));
    assert.equal(book.current.balance, -500n);
    assert.equal(book.current.state, 'exhausted');
    // No second emergency-credit entry while one is in use.
    assert.equal(book.entries.filter((e) => e.kind === 'emergency-credit').length, 1);
    // The next top-up repays the emergency credit first, and ends it.
    const topup = book.post(req({ command: 'topup', reference: 't2', accountId: 'A1', amount: 1900 }));
    assert.deepEqual(shape(topup.entries), [['topup', 1900n, 0n, 1400n, 0n]]);
    assert.equal(book.current.emergencyActive, false);
    assert.equal(book.current.state, 'low', 'back from exhausted: low until lowThreshold + hysteresis');
    assertConsistent(book);
  });

  it('request: granted only when low, once at a time; refused when the policy has none', function () {
    const book = openBook({ ...emergencyPolicy, emergencyMode: 'request' });
    book.post(req({ command: 'topup', reference: 't1', accountId: 'A1', amount: 1500 }));
    refuses(
      () => book.post(req({ command: 'emergency', reference: 'e1', accountId: 'A1' })),
      'accountId',
      'not-low',
    );
    book.post(req({ readingId: 'r1', accountId: 'A1', amount: 14_000_000, currency: 'GBP', breakdown: [] }));
    assert.equal(book.current.balance, 100n);
    // request mode: a charge to zero does not switch it on by itself
    book.post(req({ readingId: 'r2', accountId: 'A1', amount: 1_000_000, currency: 'GBP', breakdown: [] }));
    assert.equal(book.current.emergencyActive, false);
    assert.equal(book.current.state, 'exhausted');
    const granted = book.post(req({ command: 'emergency', reference: 'e2', accountId: 'A1' }));
    assert.deepEqual(shape(granted.entries), [['emergency-credit', 0n, 0n, 0n, 0n]]);
    assert.equal(granted.entries[0].meta.mode, 'request');
    assert.equal(book.current.emergencyActive, true);
    assert.equal(availableCredit(book.current), 500n);
    assert.equal(book.current.state, 'low');
    refuses(
      () => book.post(req({ command: 'emergency', reference: 'e3', accountId: 'A1' })),
      'accountId',
      'emergency-active',
    );
    book.post(req({ readingId: 'r3', accountId: 'A1', amount: 2_000_000, currency: 'GBP', breakdown: [] }));
    assert.equal(book.current.state, 'emergency');
    book.post(req({ command: 'topup', reference: 't2', accountId: 'A1', amount: 300 }));
    assert.equal(book.current.balance, 100n);
    assert.equal(book.current.emergencyActive, false, 'repaid by the top-up');
    assertConsistent(book);

    for (const policy of [
      { emergencyMode: 'off', emergencyCredit: 500 },
      { emergencyMode: 'request', emergencyCredit: 0 },
    ]) {
      const none = openBook(policy);
      refuses(
        () => none.post(req({ command: 'emergency', reference: 'e', accountId: 'A1' })),
        'accountId',
        'no-emergency',
      );
    }
  });

  it('standing charge while exhausted: accrue-debt moves it to the debt, pause waives it', function () {
    const accrue = openBook({ standingWhileOff: 'accrue-debt' });
    const toDebt = accrue.post(
      req({ readingId: 's1', accountId: 'A1', amount: 450000, currency: 'GBP', kind: 'standing' }),
    );
    assert.deepEqual(shape(toDebt.entries), [['standing', 0n, 45n, 0n, 45n]]);
    assert.equal(toDebt.entries[0].meta.policy, 'accrue-debt');
    // Consumption while exhausted still comes off the balance.
    const use = accrue.post(req({ readingId: 'c1', accountId: 'A1', amount: 10000, currency: 'GBP' }));
    assert.deepEqual(shape(use.entries), [['charge', -1n, 0n, -1n, 45n]]);
    assertConsistent(accrue);

    const pause = openBook({ standingWhileOff: 'pause' });
    const waived = pause.post(
      req({ readingId: 's1', accountId: 'A1', amount: 450000, currency: 'GBP', kind: 'standing' }),
    );
    assert.deepEqual(shape(waived.entries), [['standing', 0n, 0n, 0n, 0n]]);
    assert.equal(waived.entries[0].meta.waived, '45');
    assert.equal(waived.entries[0].meta.policy, 'pause');
    // Once on supply the standing charge is charged normally.
    pause.post(req({ command: 'topup', reference: 't1', accountId: 'A1', amount: 5000 }));
    const charged = pause.post(
      req({ readingId: 's2', accountId: 'A1', amount: 450000, currency: 'GBP', kind: 'standing' }),
    );
    assert.deepEqual(shape(charged.entries), [['standing', -45n, 0n, 4955n, 0n]]);
    assertConsistent(pause);
  });
});

describe('ledger rules: a reference posted before (duplicate or conflict)', function () {
  /** The result as the store keeps it (JSON) and gives back for a reference posted before. */
  function stored(prepared: PreparedPosting): PostingResult {
    return JSON.parse(JSON.stringify(prepared.result)) as PostingResult;
  }

  /** Which fields `payload` differs in from the posting of its reference; [] when it is the same request. */
  function differs(result: PostingResult, payload: Record<string, unknown>): string[] {
    const request = req(payload);
    assert.ok('reference' in request);
    return referenceConflict(request, result)?.differs ?? [];
  }

  it('the same request again is a duplicate; another amount, account, currency, meter or command is a conflict', function () {
    const book = openBook({ debtRecoveryShareBp: 0 }, { openingDebt: 300 });
    const open = stored(book.postings.get('open-1') as PreparedPosting);
    const opened = {
      command: 'open',
      reference: 'open-1',
      accountId: 'A1',
      currency: 'GBP',
      openingDebt: 300,
    };
    assert.deepEqual(differs(open, { ...opened, tenant: 'renamed' }), []);
    assert.deepEqual(differs(open, { ...opened, currency: 'EUR' }), ['currency']);
    assert.deepEqual(differs(open, { ...opened, openingDebt: 0 }), ['openingDebt']);

    const topup = { command: 'topup', reference: 'pay:pi_1', accountId: 'A1', amount: 2000, currency: 'GBP' };
    const paid = stored(book.post(req(topup)));
    assert.deepEqual(differs(paid, topup), []);
    assert.deepEqual(differs(paid, { ...topup, amount: '2000', currency: undefined, method: 'cash' }), []);
    assert.deepEqual(differs(paid, { ...topup, amount: 2001 }), ['amount']);
    assert.deepEqual(differs(paid, { ...topup, accountId: 'A2' }), ['accountId']);
    assert.deepEqual(differs(paid, { ...topup, currency: 'EUR' }), ['currency']);
    assert.deepEqual(differs(paid, { ...topup, accountId: 'A2', amount: 1 }), ['accountId', 'amount']);
    assert.deepEqual(differs(paid, { ...topup, command: 'refund' }), ['command']);

    const refund = {
      command: 'refund',
      reference: 'rf-1',
      accountId: 'A1',
      amount: 500,
      reason: 'moved out',
    };
    const refunded = stored(book.post(req(refund)));
    assert.deepEqual(differs(refunded, { ...refund, reason: 'left' }), []);
    assert.deepEqual(differs(refunded, { ...refund, amount: 400 }), ['amount']);

    const adjust = {
      command: 'adjust',
      reference: 'adj-1',
      accountId: 'A1',
      amount: -250,
      reason: 'meter fault',
    };
    const adjusted = stored(book.post(req(adjust)));
    assert.deepEqual(differs(adjusted, { ...adjust, reason: 'other words' }), []);
    assert.deepEqual(differs(adjusted, { ...adjust, amount: 250 }), ['amount']);
    assert.deepEqual(differs(adjusted, { ...adjust, register: 'debt' }), ['register']);
    const debt = {
      command: 'adjust',
      reference: 'adj-2',
      accountId: 'A1',
      amount: 100,
      register: 'debt',
      reason: 'x',
    };
    const owed = stored(book.post(req(debt)));
    assert.deepEqual(differs(owed, debt), []);
    assert.deepEqual(differs(owed, { ...debt, amount: 200 }), ['amount']);

    const charge = {
      readingId: 'E1:1',
      meterId: 'E1',
      accountId: 'A1',
      amount: 1_234_567,
      currency: 'GBP',
      breakdown: [],
    };
    const charged = stored(book.post(req(charge)));
    assert.deepEqual(differs(charged, charge), []);
    assert.deepEqual(
      differs(charged, { ...charge, accountId: undefined }),
      [],
      'by meter, the account left open',
    );
    // Priced again otherwise: the same reading (a duplicate that says so), not a conflict.
    assert.deepEqual(differs(charged, { ...charge, amount: 1_234_568 }), []);
    assert.deepEqual(repricedCharge(req({ ...charge, amount: 1_234_568 }) as never, charged), {
      original: '1234567',
      attempted: '1234568',
    });
    assert.deepEqual(differs(charged, { ...charge, meterId: 'E2' }), ['meterId']);
    assert.deepEqual(differs(charged, { ...charge, accountId: 'A2' }), ['accountId']);

    const reverse = {
      command: 'reverse',
      reference: 'rv-1',
      accountId: 'A1',
      target: 'pay:pi_1',
      reason: 'chargeback',
    };
    const reversed = stored(book.post(req(reverse)));
    assert.deepEqual(differs(reversed, { ...reverse, reason: 'dispute' }), []);
    assert.deepEqual(differs(reversed, { ...reverse, target: 'rf-1' }), ['target']);

    const close = { command: 'close', reference: 'close-1', accountId: 'A1' };
    const closed = stored(book.post(req(close)));
    assert.deepEqual(differs(closed, close), []);
    assert.deepEqual(differs(closed, { ...close, accountId: 'A2' }), ['accountId']);
    assert.deepEqual(
      differs(closed, { command: 'topup', reference: 'close-1', accountId: 'A1', amount: 1 }),
      ['command'],
    );
  });

  it('a conflict is a LedgerError "reference-conflict" naming both postings', function () {
    const book = openBook();
    const paid = stored(
      book.post(req({ command: 'topup', reference: 'pay:pi_9', accountId: 'A1', amount: 1250 })),
    );
    const conflict = referenceConflict(
      req({
        command: 'topup',
        reference: 'pay:pi_9',
        accountId: 'A2',
        amount: 9999,
        currency: 'GBP',
      }) as Extract<PostingRequest, { command: 'topup' }>,
      paid,
    );
    assert.ok(conflict instanceof LedgerError);
    assert.equal(conflict.field, 'reference');
    assert.equal(conflict.code, 'reference-conflict');
    assert.equal(
      conflict.message,
      'reference: "pay:pi_9" was posted before as topup (accountId A1, amount 1250, currency GBP); this one is ' +
        'topup (accountId A2, amount 9999, currency GBP): accountId, amount differ. Refused: nothing posted, the original stands',
    );
    assert.deepEqual(conflict.details(), {
      reference: 'pay:pi_9',
      original: { command: 'topup', accountId: 'A1', amount: 1250, currency: 'GBP' },
      attempted: { command: 'topup', accountId: 'A2', amount: 9999, currency: 'GBP' },
      differs: ['accountId', 'amount'],
    });
  });
});

describe('ledger rules: credit state machine', function () {
  const policy: AccountPolicy = {
    ...DEFAULT_POLICY,
    lowThreshold: 1000n,
    lowHysteresis: 500n,
    emergencyCredit: 500n,
    reconnectAbove: 100n,
  };
  const at = (previous: CreditState, balance: bigint, emergencyActive = false): CreditState =>
    nextCreditState(previous, { status: 'open', balance, emergencyActive, policy });

  it('moves ok -> low -> emergency -> exhausted and back with hysteresis', function () {
    assert.equal(at('ok', 1001n), 'ok');
    assert.equal(at('ok', 1000n), 'low');
    assert.equal(at('low', 1499n), 'low');
    assert.equal(at('low', 1500n), 'ok');
    assert.equal(at('low', -1n, true), 'emergency');
    assert.equal(at('emergency', -500n, true), 'exhausted');
    assert.equal(at('exhausted', 50n), 'exhausted', 'below reconnectAbove: still off');
    assert.equal(at('exhausted', -450n, true), 'exhausted', 'available 50 < reconnectAbove');
    assert.equal(at('exhausted', 100n), 'low');
    assert.equal(at('exhausted', -400n, true), 'emergency');
    assert.equal(at('exhausted', 1400n), 'low');
    assert.equal(at('exhausted', 5000n), 'ok');
    assert.equal(at('emergency', 1200n, false), 'low');
    assert.equal(at('ok', 0n), 'exhausted');
    assert.equal(at('ok', 0n, true), 'low');
    assert.equal(
      nextCreditState('ok', { status: 'closed', balance: 10n, emergencyActive: false, policy }),
      'closed',
    );
  });

  type Op =
    | { op: 'topup'; amount: number }
    | { op: 'charge'; amount: number; kind: 'consumption' | 'standing' }
    | { op: 'emergency' }
    | { op: 'refund'; amount: number }
    | { op: 'adjust'; amount: number; debt: boolean }
    | { op: 'reverse'; pick: number }
    | { op: 'recover' };

  const opArb: fc.Arbitrary<Op> = fc.oneof(
    {
      arbitrary: fc.record({ op: fc.constant('topup' as const), amount: fc.integer({ min: 1, max: 2500 }) }),
      weight: 3,
    },
    {
      arbitrary: fc.record({
        op: fc.constant('charge' as const),
        amount: fc.integer({ min: 0, max: 6_000_000 }),
        kind: fc.constantFrom('consumption' as const, 'standing' as const),
      }),
      weight: 4,
    },
    fc.record({ op: fc.constant('emergency' as const) }),
    fc.record({ op: fc.constant('refund' as const), amount: fc.integer({ min: 1, max: 3000 }) }),
    fc.record({
      op: fc.constant('adjust' as const),
      amount: fc.integer({ min: -2000, max: 2000 }).filter((n) => n !== 0),
      debt: fc.boolean(),
    }),
    fc.record({ op: fc.constant('reverse' as const), pick: fc.nat() }),
    fc.record({ op: fc.constant('recover' as const) }),
  );

  const policyArb = fc.record({
    lowThreshold: fc.integer({ min: 0, max: 3000 }),
    lowHysteresis: fc.integer({ min: 0, max: 1500 }),
    emergencyCredit: fc.integer({ min: 0, max: 1000 }),
    emergencyMode: fc.constantFrom('auto', 'request', 'off'),
    reconnectAbove: fc.integer({ min: 0, max: 800 }),
    debtRecoveryShareBp: fc.integer({ min: 0, max: 10_000 }),
    debtRecoveryCap: fc.integer({ min: 0, max: 1000 }),
    debtRecoveryPerDay: fc.integer({ min: 0, max: 300 }),
    standingWhileOff: fc.constantFrom('accrue-debt', 'pause'),
  });

  function step(book: Book, op: Op, i: number): PreparedPosting | undefined {
    const accountId = 'A1';
    const reference = `op-${i}`;
    const request: PostingRequest | undefined = ((): PostingRequest | undefined => {
      switch (op.op) {
        case 'topup':
          return req({ command: 'topup', reference, accountId, amount: op.amount });
        case 'charge':
          return req({
            readingId: `r${i}`,
            accountId,
            amount: op.amount,
            currency: 'GBP',
            kind: op.kind,
            breakdown: [],
          });
        case 'emergency':
          return req({ command: 'emergency', reference, accountId });
        case 'refund':
          return req({ command: 'refund', reference, accountId, amount: op.amount });
        case 'adjust':
          return req({
            command: 'adjust',
            reference,
            accountId,
            amount: op.amount,
            register: op.debt ? 'debt' : 'balance',
            reason: 'p',
          });
        case 'reverse': {
          const refs = [...book.postings.keys()];
          return req({
            command: 'reverse',
            reference,
            accountId,
            target: refs[op.pick % refs.length],
            reason: 'p',
          });
        }
        case 'recover':
          return { command: 'debt-recovery', reference, accountId, date: `d${i}` };
      }
    })();
    if (!request) return undefined;
    try {
      return book.post(request);
    } catch (error) {
      if (error instanceof LedgerError) return undefined;
      throw error;
    }
  }

  function checkState(account: AccountRecord, previous: CreditState): void {
    const available = availableCredit(account);
    const { lowThreshold, lowHysteresis, reconnectAbove } = account.policy;
    const where = `state ${account.state} (was ${previous}) balance ${account.balance} available ${available}`;
    if (available <= 0n) assert.equal(account.state, 'exhausted', where);
    if (account.state === 'exhausted') {
      assert.ok(
        available <= 0n || (previous === 'exhausted' && available < reconnectAbove),
        `${where}: exhausted only with no credit, or held there below reconnectAbove ${reconnectAbove}`,
      );
    }
    if (account.state === 'emergency') assert.ok(account.emergencyActive && account.balance < 0n, where);
    // Low at or below the threshold, or held low inside the hysteresis band above it.
    if (account.state === 'low') {
      assert.ok(account.balance <= lowThreshold || account.balance < lowThreshold + lowHysteresis, where);
    }
    if (account.state === 'ok') assert.ok(account.balance > lowThreshold, where);
    if (account.state === 'ok' || account.state === 'low')
      assert.ok(!(account.emergencyActive && account.balance < 0n), where);
    assert.ok(account.debt >= 0n, `debt ${account.debt} never negative`);
  }

  it('PROPERTY: random postings keep state, registers, entries and chain consistent', function () {
    fc.assert(
      fc.property(
        policyArb,
        fc.integer({ min: 0, max: 3000 }),
        fc.array(opArb, { minLength: 1, maxLength: 80, size: 'medium' }),
        (policy, openingDebt, ops) => {
          const book = openBook(policy, { openingDebt });
          let previous = book.current.state;
          ops.forEach((op, i) => {
            const before = book.current;
            const posted = step(book, op, i);
            if (!posted) {
              assert.equal(book.current, before, 'a refused posting changes nothing');
              return;
            }
            checkState(book.current, previous);
            if (book.current.state !== previous) assert.equal(book.current.stateChangedAt, book.now);
            else assert.equal(book.current.stateChangedAt, before.stateChangedAt);
            assert.equal(book.current.seq, book.entries.length);
            assert.equal(book.current.version, before.version + 1);
            previous = book.current.state;
          });
          assertConsistent(book);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('PROPERTY: a balance oscillating within +/- hysteresis/2 of the low threshold changes state at most once', function () {
    fc.assert(
      fc.property(
        fc.integer({ min: 1000, max: 5000 }),
        fc.integer({ min: 2, max: 1000 }).map((n) => n * 2),
        fc.boolean(),
        fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 2, maxLength: 40 }),
        (low, hysteresis, fromAbove, swings) => {
          const book = openBook({ lowThreshold: low, lowHysteresis: hysteresis, reconnectAbove: 100 });
          // Start clearly ok (from above) or clearly low (from below), outside the band.
          const start = fromAbove ? low + hysteresis + 1 : Math.max(100, low - hysteresis);
          book.post(req({ command: 'topup', reference: 'start', accountId: 'A1', amount: start }));
          assert.equal(book.current.state, fromAbove ? 'ok' : 'low');
          const half = hysteresis / 2;
          let transitions = 0;
          swings.forEach((swing, i) => {
            // A target within [low - half, low + half]; move there by a top-up or a charge.
            const target = BigInt(low + Math.round((swing / 1000) * half));
            const delta = target - book.current.balance;
            const before = book.current.state;
            if (delta > 0n)
              book.post(
                req({ command: 'topup', reference: `s${i}`, accountId: 'A1', amount: delta.toString() }),
              );
            else if (delta < 0n)
              book.post(
                req({
                  readingId: `s${i}`,
                  accountId: 'A1',
                  amount: (-delta * 10_000n).toString(),
                  currency: 'GBP',
                }),
              );
            else return;
            assert.equal(book.current.balance, target);
            if (book.current.state !== before) transitions += 1;
          });
          assert.ok(transitions <= 1, `${transitions} transitions`);
          assert.ok(book.current.state === 'low' || (fromAbove && book.current.state === 'ok'));
          assertConsistent(book);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('ledger rules: hash chain', function () {
  function sample(): Book {
    const book = openBook({ emergencyMode: 'auto', emergencyCredit: 300 }, { openingDebt: 100 });
    book.post(req({ command: 'topup', reference: 't1', accountId: 'A1', amount: 1000, method: 'cash' }));
    book.post(
      req({
        readingId: 'r1',
        accountId: 'A1',
        amount: 123456,
        currency: 'GBP',
        breakdown: [{ b: 1, a: [2, { z: null }] }],
      }),
    );
    book.post(req({ command: 'refund', reference: 'rf', accountId: 'A1', amount: 100 }));
    book.post(req({ readingId: 'r2', accountId: 'A1', amount: 9_000_000, currency: 'GBP', breakdown: [] }));
    return book;
  }

  it('chains every entry to the one before from a per-account genesis', function () {
    const book = sample();
    assertConsistent(book);
    assert.notEqual(genesisHash('A1'), genesisHash('A2'));
    book.entries.forEach((entry, i) => {
      assert.equal(entry.seq, i + 1);
      assert.equal(entry.prevHash, i === 0 ? genesisHash('A1') : book.entries[i - 1].hash);
      assert.match(entry.hash, /^[0-9a-f]{64}$/);
    });
    assert.equal(canonicalJson({ b: 1, a: { d: [1, 'x'], c: undefined } }), '{"a":{"d":[1,"x"]},"b":1}');
  });

  it('writes canonical JSON as sorted JSON.stringify: escapes, surrogates, numbers, holes, many keys', function () {
    // The reference: keys sorted, undefined left out, every leaf and key through JSON.stringify.
    const reference = (value: unknown): string => {
      if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
      if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
      const record = value as Record<string, unknown>;
      return `{${Object.keys(record)
        .filter((key) => record[key] !== undefined)
        .sort()
        .map((key) => `${JSON.stringify(key)}:${reference(record[key])}`)
        .join(',')}}`;
    };
    const odd = [
      'a"b',
      'back\\slash',
      'ctl\u0001',
      'nl\n',
      'lone\ud800',
      'pair\ud83d\ude00',
      '\u2028',
      'é',
      '',
      'Z',
      '10',
      '2',
    ];
    const many = Object.fromEntries(odd.map((key, i) => [key, i % 2 === 0 ? key : i]));
    const holes = [1, 2, 3];
    delete holes[1];
    const values: unknown[] = [
      many,
      {
        ...many,
        nested: [many, [1.5, -0, NaN, -Infinity, 1e21, 0.1], null, true, false, undefined, () => 1],
      },
      // A hole (which JSON never makes) stays empty.
      {
        holes,
        keys: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${(i * 7) % 20}`, i])),
      },
    ];
    for (const value of values) assert.equal(canonicalJson(value), reference(value));
  });

  it('reports edits, deletions in the middle and at the end, reordering and a swapped chain', function () {
    const book = sample();
    const account = book.current;
    const entries = book.entries;
    const edited = entries.map((e, i) => (i === 2 ? { ...e, amount: e.amount + 1n } : e));
    const editReport = verifyChain(account, edited);
    assert.equal(editReport.ok, false);
    assert.ok(
      editReport.problems.some((p) => /entry 3 .*edited/.test(p)),
      editReport.problems.join('\n'),
    );

    const metaEdit = entries.map((e, i) => (i === 3 ? { ...e, meta: { ...e.meta, method: 'card' } } : e));
    assert.ok(verifyChain(account, metaEdit).problems.some((p) => /edited/.test(p)));

    const middle = entries.filter((_, i) => i !== 2);
    const middleReport = verifyChain(account, middle);
    assert.equal(middleReport.ok, false);
    assert.ok(
      middleReport.problems.some((p) => /missing/.test(p)),
      middleReport.problems.join('\n'),
    );
    assert.ok(middleReport.problems.some((p) => /previous entry's hash/.test(p)));

    const tail = entries.slice(0, -1);
    const tailReport = verifyChain(account, tail);
    assert.equal(tailReport.ok, false);
    assert.ok(
      tailReport.problems.some((p) => /records \d+ entries/.test(p)),
      tailReport.problems.join('\n'),
    );
    assert.ok(tailReport.problems.some((p) => /last entry/.test(p)));

    const swapped = [...entries];
    [swapped[2], swapped[3]] = [swapped[3], swapped[2]];
    assert.equal(verifyChain(account, swapped).ok, false);

    const registers = verifyChain({ ...account, balance: account.balance + 5n }, entries);
    assert.ok(registers.problems.some((p) => /account balance/.test(p)));
    assert.equal(verifyChain({ ...account, id: 'A2' }, entries).ok, false, 'a chain belongs to its account');
  });

  it('PROPERTY: any single-field edit of any entry is detected', function () {
    const book = sample();
    const n = book.entries.length;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: n - 1 }),
        fc.constantFrom(
          'amount',
          'debtDelta',
          'balanceAfter',
          'debtAfter',
          'postedAt',
          'effectiveAt',
          'kind',
          'reference',
          'currency',
          'meta',
          'part',
        ),
        (index, field) => {
          const entries = book.entries.map((e) => ({ ...e }));
          const entry = entries[index] as unknown as Record<string, unknown>;
          const value = entry[field];
          entry[field] =
            typeof value === 'bigint'
              ? value + 1n
              : typeof value === 'number'
                ? value + 1
                : typeof value === 'string'
                  ? `${value}x`
                  : { ...(value as object), tampered: true };
          assert.equal(verifyChain(book.current, entries).ok, false);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('ledger rules: seals and checkpoints', function () {
  const keyring = new Keyring(sealKey('a'.repeat(64), 'seal key'));
  const other = new Keyring(sealKey('b'.repeat(64), 'seal key'));

  /** Six entries of A1, sealed as a store with the key writes them. */
  function sealedBook(): Book {
    const book = openBook({}, { openingDebt: 100 });
    for (let i = 1; i <= 4; i++)
      book.post(req({ command: 'topup', reference: `t${i}`, accountId: 'A1', amount: 1000 * i }));
    book.entries = book.entries.map((e) => ({ ...e, seal: keyring.sealEntry(e.hash) }));
    return book;
  }

  /** An attacker without the key: an edit, then every hash and register after it recomputed. */
  function rehashed(
    account: AccountRecord,
    entries: EntryRecord[],
    edit: (entries: EntryRecord[]) => void,
  ): { account: AccountRecord; entries: EntryRecord[] } {
    const copy = entries.map((e) => ({ ...e, meta: { ...e.meta } }));
    edit(copy);
    let previous = genesisHash(account.id);
    let balance = 0n;
    let debt = 0n;
    for (const e of copy) {
      balance += e.amount;
      debt += e.debtDelta;
      e.prevHash = previous;
      e.balanceAfter = balance;
      e.debtAfter = debt;
      e.hash = entryHash(e);
      previous = e.hash;
    }
    return { account: { ...account, balance, debt, lastHash: previous, seq: copy.length }, entries: copy };
  }

  function mark(book: Book, seq: number, postings = seq): { line: number; account: AccountCheckpoint } {
    const entry = book.entries[seq - 1]!;
    return {
      line: 7,
      account: {
        accountId: 'A1',
        seq,
        hash: entry.hash,
        balance: entry.balanceAfter,
        debt: entry.debtAfter,
        postings,
      },
    };
  }

  it('refuses a key shorter than 32 characters, naming the field', function () {
    assert.throws(
      () => sealKey('short', 'seal key'),
      /^RangeError: seal key: must be at least 32 characters/,
    );
    assert.equal(sealKey('x'.repeat(32), 'seal key').id.length, 12);
    assert.notEqual(sealKey('x'.repeat(32), 'k').id, sealKey('y'.repeat(32), 'k').id);
  });

  it('PROPERTY: an entry rewritten and the chain re-hashed passes the bare chain, never the seals', function () {
    const book = sealedBook();
    const n = book.entries.length;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: n - 1 }),
        fc.constantFrom('amount', 'debtDelta', 'kind', 'reference', 'meta', 'effectiveAt'),
        (index, field) => {
          const forged = rehashed(book.current, book.entries, (entries) => {
            const entry = entries[index] as unknown as Record<string, unknown>;
            const value = entry[field];
            entry[field] =
              typeof value === 'bigint'
                ? value + 1n
                : typeof value === 'number'
                  ? value + 1
                  : typeof value === 'string'
                    ? `${value}x`
                    : { ...(value as object), tampered: true };
          });
          // What the chain alone proves against someone who can recompute it: nothing.
          assert.deepEqual(verifyChain(forged.account, forged.entries).problems, []);
          const report = verifyChain(forged.account, forged.entries, { keyring });
          assert.equal(report.ok, false);
          assert.ok(
            report.problems.some((p) => new RegExp(`entry ${index + 1} .*seal does not match`).test(p)),
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('proves a sealed chain, and only with its own key', function () {
    const book = sealedBook();
    const report = verifyChain(book.current, book.entries, { keyring });
    assert.deepEqual(report.problems, []);
    assert.equal(report.sealed, true);
    assert.equal(verifyChain(book.current, book.entries).sealed, false);
    const wrong = verifyChain(book.current, book.entries, { keyring: other });
    assert.equal(wrong.problems.filter((p) => /seal does not match/.test(p)).length, book.entries.length);
    const rotating = new Keyring(other.current, [keyring.current!]);
    assert.deepEqual(verifyChain(book.current, book.entries, { keyring: rotating }).problems, []);
    const unsealed = book.entries.map((e, i) => (i === 4 ? { ...e, seal: undefined } : e));
    assert.ok(
      verifyChain(book.current, unsealed, { keyring }).problems.some((p) => /entry 5 .*not sealed/.test(p)),
    );
    assert.deepEqual(verifyChain(book.current, unsealed, { keyring, sealsRequired: false }).problems, []);
  });

  it('needs no seal up to the checkpoint: the chain to its hash proves those entries', function () {
    const book = sealedBook();
    const legacy = book.entries.map((e, i) => (i < 4 ? { ...e, seal: undefined } : e));
    assert.deepEqual(verifyChain(book.current, legacy, { keyring, checkpoint: mark(book, 4) }).problems, []);
    const forged = rehashed(book.current, legacy, (entries) => {
      entries[1]!.amount += 50n;
    });
    const report = verifyChain(forged.account, forged.entries, { keyring, checkpoint: mark(book, 4) });
    assert.ok(
      report.problems.some((p) => /entry 4 .*is not the entry checkpoint 7 recorded/.test(p)),
      report.problems.join('\n'),
    );
  });

  it('finds entries removed from the end and the account rolled back, against the checkpoint', function () {
    const book = sealedBook();
    const kept = book.entries.slice(0, 4);
    const last = kept[3]!;
    const rolledBack = {
      ...book.current,
      seq: 4,
      balance: last.balanceAfter,
      debt: last.debtAfter,
      lastHash: last.hash,
    };
    assert.deepEqual(verifyChain(rolledBack, kept, { keyring }).problems, [], 'the chain alone cannot tell');
    const report = verifyChain(rolledBack, kept, { keyring, checkpoint: mark(book, 6) });
    assert.ok(
      report.problems.some((p) =>
        /account has 4 entries but checkpoint 7 recorded 6: entries removed/.test(p),
      ),
      report.problems.join('\n'),
    );
    // From the checkpoint on (a checkpoint's own, incremental check).
    const incremental = verifyChain(book.current, book.entries.slice(4), {
      keyring,
      checkpoint: mark(book, 4),
      fromCheckpoint: true,
    });
    assert.deepEqual(incremental.problems, []);
    assert.ok(
      verifyChain(rolledBack, [], { keyring, checkpoint: mark(book, 6), fromCheckpoint: true }).problems.some(
        (p) => /rolled back/.test(p),
      ),
    );
  });

  it('cross-checks the postings records: missing, forged, fewer than checkpointed, a reference twice', function () {
    const book = sealedBook();
    const check = (postings: { count: number; unrecorded: string[]; phantom: string[] }): string[] =>
      verifyChain(book.current, book.entries, { keyring, checkpoint: mark(book, 6, 5), postings }).problems;
    assert.deepEqual(check({ count: 5, unrecorded: [], phantom: [] }), []);
    assert.ok(
      check({ count: 5, unrecorded: ['t2'], phantom: [] }).some((p) =>
        /entries of "t2" have no postings/.test(p),
      ),
    );
    assert.ok(
      check({ count: 6, unrecorded: [], phantom: ['t9'] }).some((p) => /postings "t9" list entries/.test(p)),
    );
    assert.ok(
      check({ count: 4, unrecorded: [], phantom: [] }).some((p) =>
        /4 binding and debt-recovery postings records but checkpoint 7 recorded 5/.test(p),
      ),
    );
    // A payment credited twice (its record deleted and the store's refusal bypassed).
    const twice = rehashed(book.current, book.entries, (entries) => {
      entries.push({ ...entries[5]!, seq: 7 });
    });
    assert.ok(
      verifyChain(twice.account, twice.entries).problems.some((p) =>
        /entry 7 .*reference posted twice/.test(p),
      ),
    );
  });

  it("finds the account's policy, currency or status changed in its row", function () {
    const book = sealedBook();
    const policy = { ...book.current.policy, emergencyCredit: 99_999n };
    assert.ok(
      verifyChain({ ...book.current, policy }, book.entries).problems.some((p) =>
        /policy is not the one/.test(p),
      ),
    );
    assert.ok(
      verifyChain({ ...book.current, currency: 'EUR' }, book.entries).problems.some((p) =>
        /currency EUR/.test(p),
      ),
    );
    assert.ok(
      verifyChain({ ...book.current, status: 'closed' }, book.entries).problems.some((p) =>
        /closed but its last entry is a topup/.test(p),
      ),
    );
  });

  it('reads a checkpoint log: chained, sealed, numbered; finds edits, removals and forged lines', function () {
    const account = (seq: number): AccountCheckpoint => ({
      accountId: 'A1',
      seq,
      hash: 'f'.repeat(64),
      balance: BigInt(seq * 100),
      debt: 0n,
      postings: seq,
    });
    const unsealed = new Keyring(undefined);
    const l1 = checkpointLine(unsealed, 1, 1000, LOG_GENESIS, [account(1)]);
    const seal = (line: string): string => line.slice(-66, -2);
    const l2 = checkpointLine(keyring, 2, 2000, seal(l1), [account(2)]);
    const l3 = checkpointLine(keyring, 3, 3000, seal(l2), [account(3)]);
    const log = `${l1}\n${l2}\n${l3}\n`;
    const read = readCheckpointLog(log, keyring, 'log');
    assert.deepEqual(read.problems, []);
    assert.equal(read.last?.line, 3);
    assert.equal(read.last?.keyId, keyring.current?.id);
    assert.deepEqual(read.last?.accounts.get('A1'), account(3));
    assert.equal(read.tailSeal, seal(l3));
    // Without the key that sealed it, the last line cannot be checked.
    assert.ok(
      readCheckpointLog(log, other, 'log').problems.some((p) =>
        /line 3: sealed with a key that is not configured/.test(p),
      ),
    );
    const problems = (text: string): string[] => readCheckpointLog(text, keyring, 'log').problems;
    assert.ok(
      problems(log.replace('"b":"300"', '"b":"999"')).some((p) => /line 3: its seal does not match/.test(p)),
    );
    assert.ok(problems(log.replace('"b":"100"', '"b":"999"')).some((p) => /line 1: edited/.test(p)));
    assert.ok(problems(`${l1}\n${l3}\n`).some((p) => /line 2: numbered 3/.test(p)));
    assert.ok(problems(`${l1}\n${l3}\n`).some((p) => /line 2: does not follow/.test(p)));
    const downgrade = checkpointLine(unsealed, 4, 4000, seal(l3), [account(9)]);
    assert.ok(problems(`${log}${downgrade}\n`).some((p) => /line 4: not sealed, after sealed lines/.test(p)));
    assert.equal(readCheckpointLog(`${log}${downgrade}\n`, keyring, 'log').last?.line, 3);
    assert.ok(problems(`${log}garbage\n`).some((p) => /line 4: damaged/.test(p)));
    assert.deepEqual(problems(`${log}{"v":1,"n":4`), [], 'a torn last write is ignored');
    // After a rotation: lines sealed by the retired key are passed over once a later line checks.
    const l4 = checkpointLine(other, 4, 4000, seal(l3), [account(4)]);
    const rotated = readCheckpointLog(`${log}${l4}\n`, other, 'log');
    assert.deepEqual(rotated.problems, []);
    assert.equal(rotated.last?.line, 4);
  });
});
