/**
 * COV rules (nodes/core/bacnet/cov.ts): when a change is worth a notification (COV increments on analog points,
 * any change of binary and multi-state values and of status flags), what a notification carries, lifetimes,
 * cancellation, SubscribeCOVProperty's own increment, and the errors for what cannot be subscribed.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../dist/nodes/core/clock';
import { ErrorClass, ErrorCode, ObjectType, PropertyId as P } from '../../dist/nodes/core/bacnet/constants';
import { CovTable, type SubscribeRequest } from '../../dist/nodes/core/bacnet/cov';
import type { Point } from '../../dist/nodes/core/bacnet/points';
import { account, modelOn } from './support';

const recipient = { host: '192.0.2.10', port: 47809 };

function request(object: Point, extra: Partial<SubscribeRequest> = {}): SubscribeRequest {
  return {
    recipient,
    processId: 7,
    object: { type: object.type, instance: object.instance },
    cancel: false,
    confirmed: false,
    lifetime: 60,
    ...extra,
  };
}

describe('bacnet core: COV subscriptions', function () {
  const clock = new ManualClock(Date.UTC(2024, 0, 15, 9));
  const model = modelOn(clock);
  model.apply(account('T1', 10_000)); // 100.00 GBP
  const balance = model.point('T1.Balance')!;
  const state = model.point('T1.CreditState')!;
  const now = clock.now();

  it('notifies an analog point when it moves by the COV increment, and on any status change', function () {
    const table = new CovTable();
    balance.covIncrement = 1;
    const subscription = table.subscribe(request(balance), balance, now);
    assert.ok(subscription && !('error' in subscription));
    const first = table.notification(subscription, balance, now);
    assert.deepEqual(first.values, [
      { property: P.PRESENT_VALUE, value: { t: 'real', v: 100 } },
      { property: P.STATUS_FLAGS, value: { t: 'bits', length: 4, set: [] } },
    ]);
    assert.equal(first.timeRemaining, 60);
    model.apply(account('T1', 9_950)); // 99.50: half a unit
    assert.deepEqual(table.changed(balance, now), []);
    model.apply(account('T1', 9_900)); // 99.00: a whole unit from the last notified 100.00
    assert.equal(table.changed(balance, now).length, 1);
    balance.reliability = 7; // flags change without the value moving
    assert.equal(table.changed(balance, now).length, 1);
    balance.reliability = 0;
  });

  it('notifies binary and multi-state points on every change', function () {
    const table = new CovTable();
    const subscription = table.subscribe(request(state), state, now);
    assert.ok(subscription && !('error' in subscription));
    table.notification(subscription, state, now);
    assert.deepEqual(table.changed(state, now), []);
    model.apply(account('T1', 100, 'low'));
    const [notification] = table.changed(state, now);
    assert.deepEqual(notification?.values[0], { property: P.PRESENT_VALUE, value: { t: 'unsigned', v: 2 } });
    model.apply(account('T1', 10_000, 'ok'));
  });

  it('keeps subscriptions for their lifetime, renews, cancels, and lists them for the device', function () {
    const table = new CovTable();
    table.subscribe(request(balance, { lifetime: 10 }), balance, now);
    table.subscribe(request(balance, { lifetime: 0, processId: 8 }), balance, now);
    assert.equal(table.size, 2);
    table.subscribe(request(balance, { lifetime: 30 }), balance, now); // the same subscriber again: renewed
    assert.equal(table.size, 2);
    assert.equal(table.expire(now + 29_000), 0);
    assert.equal(table.expire(now + 30_000), 1, 'the renewed lifetime ran out');
    assert.deepEqual(table.views(now + 30_000), [
      {
        host: recipient.host,
        port: recipient.port,
        processId: 8,
        object: { type: ObjectType.ANALOG_VALUE, instance: balance.instance },
        property: P.PRESENT_VALUE,
        confirmed: false,
        timeRemaining: 0,
      },
    ]);
    assert.equal(table.subscribe(request(balance, { processId: 8, cancel: true }), balance, now), undefined);
    assert.equal(table.size, 0);
    assert.equal(
      table.subscribe(request(balance, { processId: 99, cancel: true }), balance, now),
      undefined,
      'no error',
    );
  });

  it('subscribes to one property with its own increment, and refuses what cannot be watched', function () {
    const table = new CovTable(2);
    const fine = table.subscribe(
      request(balance, { property: { id: P.PRESENT_VALUE }, covIncrement: 0.1 }),
      balance,
      now,
    );
    assert.ok(fine && !('error' in fine));
    table.notification(fine, balance, now);
    model.apply(account('T1', 9_980)); // 0.20 down: enough for an increment of 0.1
    assert.equal(table.changed(balance, now).length, 1);
    const reliability = table.subscribe(
      request(balance, { property: { id: P.RELIABILITY }, processId: 2 }),
      balance,
      now,
    );
    assert.ok(reliability && !('error' in reliability));
    assert.deepEqual(
      table.notification(reliability, balance, now).values.map((v) => v.property),
      [P.RELIABILITY, P.STATUS_FLAGS],
    );
    assert.deepEqual(
      table.subscribe(request(balance, { property: { id: P.UNITS }, processId: 3 }), balance, now),
      {
        error: [ErrorClass.PROPERTY, ErrorCode.NOT_COV_PROPERTY],
      },
    );
    assert.deepEqual(
      table.subscribe(request(balance, { property: { id: P.STATE_TEXT }, processId: 3 }), balance, now),
      {
        error: [ErrorClass.PROPERTY, ErrorCode.UNKNOWN_PROPERTY],
      },
    );
    assert.deepEqual(table.subscribe(request(balance, { processId: 4 }), balance, now), {
      error: [ErrorClass.RESOURCES, 19],
    });
    assert.deepEqual(table.subscribe(request(balance), model.device, now), {
      error: [ErrorClass.OBJECT, ErrorCode.OPTIONAL_FUNCTIONALITY_NOT_SUPPORTED],
    });
    assert.deepEqual(table.subscribe(request(balance), undefined, now), {
      error: [ErrorClass.OBJECT, ErrorCode.UNKNOWN_OBJECT],
    });
  });
});
