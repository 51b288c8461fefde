/**
 * Notifications read into ledger top-ups (nodes/core/payments/notification.ts and webhook.ts): amounts exact
 * in minor units for 0-, 2- and 3-digit currencies, refusals naming the field, mapped paths, the replay guard
 * and the verdict with its HTTP status for every kind of delivery.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DEFAULT_FIELDS,
  NotificationOptions,
  parseBody,
  readAmount,
  readNotification,
  valueAt,
} from '../../dist/nodes/core/payments/notification';
import { ReplayGuard } from '../../dist/nodes/core/payments/replay-guard';
import { signatureHeader } from '../../dist/nodes/core/payments/signature';
import { handleDelivery, WebhookSettings } from '../../dist/nodes/core/payments/webhook';

const OPTIONS: NotificationOptions = { fields: DEFAULT_FIELDS, amountIn: 'auto', referencePrefix: 'pay:' };

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('payments: amounts are exact integer minor units', function () {
  it('reads integers as minor units and decimal strings as major units', function () {
    assert.equal(readAmount(1250, 'amount', 'GBP', 'auto'), 1250n);
    assert.equal(readAmount('12.50', 'amount', 'GBP', 'auto'), 1250n);
    assert.equal(readAmount('12.5', 'amount', 'GBP', 'auto'), 1250n);
    assert.equal(readAmount('12', 'amount', 'GBP', 'auto'), 1200n);
    assert.equal(readAmount('0.01', 'amount', 'GBP', 'auto'), 1n);
    assert.equal(readAmount('1500', 'amount', 'JPY', 'auto'), 1500n);
    assert.equal(readAmount('1.234', 'amount', 'KWD', 'auto'), 1234n);
    assert.equal(readAmount('0.30', 'amount', 'USD', 'major'), 30n);
    assert.equal(readAmount(0.3, 'amount', 'USD', 'major'), 30n, '0.1 + 0.2 problems cannot occur');
    assert.equal(readAmount('1250', 'amount', 'GBP', 'minor'), 1250n);
    assert.equal(readAmount(' 99999999.99 ', 'amount', 'GBP', 'auto'), 9_999_999_999n);
  });

  it('refuses non-positive, fractional, rounded-away and malformed amounts, naming the field', function () {
    const cases: Array<[unknown, string, RegExp]> = [
      [0, 'GBP', /amount: must be greater than zero/],
      ['0.00', 'GBP', /amount: must be greater than zero/],
      [-500, 'GBP', /amount: must be greater than zero/],
      ['-5.00', 'GBP', /amount: "-5.00" is not a decimal amount/],
      [12.5, 'GBP', /amount: 12.5 is not a whole number of minor units/],
      ['12.345', 'GBP', /amount: "12.345" has more decimal places than GBP has \(2\); it is not rounded/],
      ['1.5', 'JPY', /more decimal places than JPY has \(0\)/],
      ['1e3', 'GBP', /not a decimal amount/],
      ['12,50', 'GBP', /not a decimal amount/],
      ['', 'GBP', /not a decimal amount/],
      [Number.NaN, 'GBP', /finite/],
      [true, 'GBP', /must be a number of minor units or a decimal string/],
      [{ value: 5 }, 'GBP', /must be a number/],
      [undefined, 'GBP', /amount: is required/],
      [2 ** 60, 'GBP', /not a whole number|too large/],
      ['999999999999999999', 'GBP', /too large/],
    ];
    for (const [value, currency, message] of cases)
      assert.match(
        refusal(() => readAmount(value, 'amount', currency, 'auto')),
        message,
        String(value),
      );
    assert.match(
      refusal(() => readAmount('12.50', 'amount', 'GBP', 'minor')),
      /not a whole number of minor units/,
    );
  });

  it('converts any decimal string with at most the currency digits exactly (property)', function () {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 10n ** 15n }),
        fc.constantFrom('GBP', 'JPY', 'KWD'),
        (minor, currency) => {
          const digits = currency === 'JPY' ? 0 : currency === 'KWD' ? 3 : 2;
          const text = minor.toString().padStart(digits + 1, '0');
          const major = digits === 0 ? text : `${text.slice(0, -digits)}.${text.slice(-digits)}`;
          assert.equal(readAmount(major, 'amount', currency, 'auto'), minor);
        },
      ),
    );
  });
});

describe('payments: notifications become ledger top-ups', function () {
  it('maps the default fields and prefixes the reference', function () {
    const result = readNotification(
      { accountId: 'T0101', amount: 1250, currency: 'gbp', paymentId: 'pi_3001', method: 'card' },
      OPTIONS,
    );
    assert.deepEqual(result, {
      kind: 'topup',
      providerReference: 'pi_3001',
      command: {
        command: 'topup',
        accountId: 'T0101',
        amount: 1250,
        currency: 'GBP',
        reference: 'pay:pi_3001',
        method: 'card',
      },
    });
  });

  it('reads nested paths with alternatives, a default currency and a default method', function () {
    const options: NotificationOptions = {
      fields: {
        accountId: ['data.object.metadata.accountId'],
        amount: ['data.object.amount_received', 'data.object.amount'],
        currency: ['data.object.currency'],
        reference: ['data.object.id'],
        method: ['data.object.payment_method_type'],
      },
      amountIn: 'auto',
      defaultCurrency: 'MYR',
      referencePrefix: 'stripe:',
      defaultMethod: 'online',
      onlyIf: { path: ['type'], values: ['payment_intent.succeeded'] },
    };
    const body = {
      type: 'payment_intent.succeeded',
      data: { object: { id: 'pi_9', amount: 5000, metadata: { accountId: 'T0412' } } },
    };
    assert.deepEqual(readNotification(body, options), {
      kind: 'topup',
      providerReference: 'pi_9',
      command: {
        command: 'topup',
        accountId: 'T0412',
        amount: 5000,
        currency: 'MYR',
        reference: 'stripe:pi_9',
        method: 'online',
      },
    });
    const failed = readNotification({ ...body, type: 'payment_intent.payment_failed' }, options);
    assert.equal(failed.kind, 'ignored');
    assert.match(failed.kind === 'ignored' ? failed.reason : '', /type is "payment_intent.payment_failed"/);
  });

  it('refuses missing accounts, unknown currencies and bad references, naming the field', function () {
    const good = { accountId: 'T0101', amount: 1250, currency: 'GBP', reference: 'pi_1' };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...good, accountId: undefined }, /^accountId: is required/],
      [{ ...good, accountId: '' }, /^accountId: is required/],
      [{ ...good, accountId: 'T 0101' }, /^accountId: must be an account id/],
      [{ ...good, accountId: 'x'.repeat(65) }, /^accountId: must be an account id/],
      [{ ...good, currency: 'XYZ' }, /^currency: "XYZ" is not a known ISO 4217 currency/],
      [{ ...good, currency: 826 }, /^currency: 826 is not a known ISO 4217 currency/],
      [{ ...good, currency: undefined }, /^currency: is required \(or set a default currency/],
      [{ ...good, reference: undefined }, /^reference or paymentId: is required/],
      [{ ...good, reference: 'has space' }, /^reference: must be 1-150 printable/],
      [{ ...good, amount: -1 }, /^amount: must be greater than zero/],
      [{ ...good, method: 7 }, /^method: must be a string/],
    ];
    for (const [body, message] of cases)
      assert.match(
        refusal(() => readNotification(body, OPTIONS)),
        message,
      );
  });

  it('never reaches through prototypes', function () {
    const body = JSON.parse('{"__proto__": {"accountId": "T9999"}}') as Record<string, unknown>;
    assert.equal(valueAt(body, 'accountId'), undefined);
    assert.equal(valueAt({}, 'constructor'), undefined);
    assert.equal(valueAt({ a: [{ b: 1 }] }, 'a.0.b'), 1);
  });

  it('refuses bodies that are not a JSON object', function () {
    assert.match(
      refusal(() => parseBody('accountId=T0101')),
      /^body: is not JSON/,
    );
    assert.match(
      refusal(() => parseBody('[1,2]')),
      /^body: must be a JSON object/,
    );
    assert.match(
      refusal(() => parseBody('null')),
      /^body: must be a JSON object/,
    );
  });
});

describe('payments: the replay guard', function () {
  it('recognises a signature again inside the window, and forgets it after', function () {
    const guard = new ReplayGuard(300_000);
    const t = 1_000_000_000;
    assert.equal(guard.replayed('sig-a', t, t), false);
    assert.equal(guard.replayed('sig-a', t, t + 1000), true);
    assert.equal(guard.replayed('sig-b', t, t + 1000), false);
    assert.equal(guard.replayed('sig-a', t, t + 302_000), false, 'past the window it is forgotten');
  });

  it('stays bounded under a flood of genuine deliveries', function () {
    const guard = new ReplayGuard(300_000, 500);
    for (let i = 0; i < 5000; i += 1) guard.replayed(`sig-${i}`, 0, 1);
    assert.ok(guard.size <= 1000, `${guard.size} remembered`);
    assert.equal(guard.replayed('sig-4999', 0, 2), true, 'the latest ones are still known');
  });
});

describe('payments: a delivery from start to verdict', function () {
  const secret = 'whsec_verdict';
  const settings: WebhookSettings = { secrets: [secret], toleranceSeconds: 300, notification: OPTIONS };
  const now = 1_767_225_600_000;
  const t = now / 1000;
  const body = JSON.stringify({ accountId: 'T0101', amount: '20.00', currency: 'GBP', reference: 'pi_77' });

  it('answers each kind of delivery with its status code', function () {
    const guard = new ReplayGuard(300_000);
    const signed = signatureHeader(secret, t, body);
    const verdict = (rawBody: string | undefined, signature: string | undefined) =>
      handleDelivery({ rawBody, signature }, settings, guard, now);

    const accepted = verdict(body, signed);
    assert.equal(accepted.kind, 'accepted');
    assert.deepEqual(accepted.kind === 'accepted' && accepted.command, {
      command: 'topup',
      accountId: 'T0101',
      amount: 2000,
      currency: 'GBP',
      reference: 'pay:pi_77',
    });
    const status = (o: ReturnType<typeof verdict>) =>
      'statusCode' in o ? [o.statusCode, 'code' in o ? o.code : ''] : ['accepted'];
    assert.deepEqual(status(verdict(body, signed)), [409, 'replayed']);
    assert.deepEqual(status(verdict(body, undefined)), [401, 'missing-signature']);
    assert.deepEqual(status(verdict(body, 'garbage')), [401, 'malformed-signature']);
    assert.deepEqual(status(verdict(body, signatureHeader('nope', t, body))), [401, 'bad-signature']);
    assert.deepEqual(status(verdict(body, signatureHeader(secret, t - 301, body))), [401, 'stale-timestamp']);
    assert.deepEqual(status(verdict(body, signatureHeader(secret, t + 301, body))), [
      401,
      'future-timestamp',
    ]);
    assert.deepEqual(status(verdict('{oops', signatureHeader(secret, t, '{oops'))), [400, 'malformed-body']);
    const noAccount = JSON.stringify({ amount: 100, currency: 'GBP', reference: 'pi_78' });
    const refused = verdict(noAccount, signatureHeader(secret, t, noAccount));
    assert.deepEqual(status(refused), [400, 'invalid-field']);
    assert.equal(refused.kind === 'refused' && refused.field, 'accountId');
    assert.deepEqual(status(verdict(undefined, signed)), [500, 'raw-body-unavailable']);
    assert.deepEqual(
      status(handleDelivery({ rawBody: body, signature: signed }, { ...settings, secrets: [] }, guard, now)),
      [500, 'no-secret'],
    );
  });

  it('does not remember forgeries: a flood of bad signatures cannot crowd out genuine ones', function () {
    const guard = new ReplayGuard(300_000);
    for (let i = 0; i < 100; i += 1)
      handleDelivery(
        { rawBody: body, signature: signatureHeader(`wrong-${i}`, t, body) },
        settings,
        guard,
        now,
      );
    assert.equal(guard.size, 0);
  });
});
