/**
 * The core of what outlives a restart and of the recipient list a BEMS changes, without a network: event records
 * restored from the events snapshot (a damaged entry is ignored, a changed state is a new transition), the
 * recipient list's rules (the flow's recipients first and kept, all or nothing, its limit) and valid days and
 * times.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../dist/nodes/core/clock';
import { readEventsSnapshot, type EventsSnapshot } from '../../dist/nodes/core/bacnet/event-state';
import { PointModel } from '../../dist/nodes/core/bacnet/model';
import {
  MAX_ADDED_RECIPIENTS,
  RecipientList,
  readAddedRecipients,
  type Recipient,
} from '../../dist/nodes/core/bacnet/recipients';
import { DEVICE, account } from './support';

const T0 = Date.UTC(2024, 9, 1, 9); // Tuesday 10:00 in London (BST)

const flowRecipient: Recipient = {
  host: '10.0.0.5',
  port: 47808,
  processId: 1,
  confirmed: false,
  transitions: [true, true, true],
};

function recipient(port: number, extra: Partial<Recipient> = {}): Recipient {
  return {
    host: '10.0.0.9',
    port,
    processId: 9,
    confirmed: false,
    transitions: [true, true, true],
    ...extra,
  };
}

function model(
  clock: ManualClock,
  saved?: { registry: unknown; values: unknown; events?: EventsSnapshot },
): PointModel {
  return new PointModel(
    {
      device: DEVICE,
      overrides: false,
      overrideMinutes: 60,
      maxObjects: 1000,
      maxSubscriptions: 10,
      recipientWrites: true,
      notificationClass: {
        priority: [100, 80, 200],
        ackRequired: [true, true, false],
        recipients: [flowRecipient],
      },
    },
    () => clock.now(),
    saved?.registry as never,
    saved?.values as never,
    saved?.events,
  );
}

describe('bacnet event state and recipient list (core)', function () {
  it('restores event records: unchanged states stay quiet and acknowledged as they were; a changed one is a new transition', function () {
    const clock = new ManualClock(T0);
    const before = model(clock);
    before.apply(account('T0001', 0, 'exhausted'));
    before.apply(account('T0002', 100, 'low'));
    const first = before.point('T0001.CreditState');
    const stamp = first?.event?.stamps[0];
    assert.ok(stamp);
    assert.equal(before.events.acknowledge(first, 2, { kind: 'datetime', stamp }), 'acknowledged');
    const events = readEventsSnapshot(JSON.parse(JSON.stringify(before.eventsSnapshot())));
    assert.deepEqual(Object.keys(events.points).sort(), ['T0001.CreditState', 'T0002.CreditState']);
    const registry = JSON.parse(JSON.stringify(before.registry.snapshot()));
    const values = JSON.parse(JSON.stringify(before.valuesSnapshot()));

    clock.advance(3_600_000);
    const after = model(clock, { registry, values, events });
    assert.deepEqual(after.takeStartupEvents(), [], 'nothing notified again');
    assert.deepEqual(after.point('T0001.CreditState')?.event?.acked, [true, true, true]);
    assert.deepEqual(after.point('T0002.CreditState')?.event?.acked, [false, true, true]);
    assert.deepEqual(
      after.point('T0001.CreditState')?.event?.stamps[0],
      stamp,
      'the stamp of the transition',
    );

    // T0002's credit was restored while down; T0001's record is damaged (ignored: a fresh record, re-evaluated).
    values.points['T0002.CreditState'].v = 1;
    const damaged: EventsSnapshot = JSON.parse(JSON.stringify(events));
    (damaged.points['T0001.CreditState'] as unknown as { s: number }).s = 7;
    const again = model(clock, { registry, values, events: damaged });
    const notices = again.takeStartupEvents();
    assert.deepEqual(notices.map((n) => [n.point.name, n.from, n.to]).sort(), [
      ['T0001.CreditState', 0, 2],
      ['T0002.CreditState', 2, 0],
    ]);
    assert.deepEqual(
      again.point('T0002.CreditState')?.event?.acked,
      [false, true, true],
      'alarm still unacked',
    );
  });

  it('refuses a file that is not an events file, and leaves out damaged recipients', function () {
    assert.throws(() => readEventsSnapshot({ version: 2, points: {} }), /not a BACnet events file/);
    assert.throws(() => readEventsSnapshot(null), /not a BACnet events file/);
    assert.deepEqual(
      readAddedRecipients([
        { ...recipient(47810), by: 'bacnet:10.0.0.9:47810', at: 5 },
        { ...recipient(47811), transitions: [true] },
        { ...recipient(47812), from: { hour: 25, minute: 0, second: 0, hundredths: 0 } },
        'junk',
      ]).map((r) => r.port),
      [47810],
    );
  });

  it('keeps the flow recipients first and present; changes are all or nothing, within the limit', function () {
    const list = new RecipientList([flowRecipient], [{ ...flowRecipient, by: 'x', at: 0 }]);
    assert.equal(list.all().length, 1, 'a restored recipient the flow now configures is kept once');
    const outcome = list.write([recipient(47810), recipient(47811)], 'bems', 1);
    assert.equal(outcome.ok, true);
    assert.deepEqual(
      list.all().map((r) => r.port),
      [47808, 47810, 47811],
    );
    assert.equal(list.remove([flowRecipient]).ok, false);
    const missing = list.remove([recipient(47810), recipient(1)]);
    assert.deepEqual(missing.ok ? undefined : missing.element, 2);
    assert.equal(list.all().length, 3, 'nothing removed');
    const full = Array.from({ length: MAX_ADDED_RECIPIENTS - 1 }, (_, i) => recipient(50000 + i));
    const over = list.add(full, 'bems', 2);
    assert.deepEqual(over.ok ? undefined : [over.error.error, over.element], [
      [3, 19],
      MAX_ADDED_RECIPIENTS - 1,
    ]);
    assert.equal(list.all().length, 3, 'nothing added');
    assert.equal(list.add(full.slice(1), 'bems', 2).ok, true);
    assert.equal(list.saved().length, MAX_ADDED_RECIPIENTS);
    const tooMany = list.write([...full, recipient(1), recipient(2)], 'bems', 3);
    assert.deepEqual(tooMany.ok ? undefined : tooMany.error.error, [3, 20]);
  });

  it('notifies a recipient only on its valid days and within its times', function () {
    const clock = new ManualClock(T0);
    const m = model(clock);
    const office = recipient(47810, {
      days: [true, true, true, true, true, false, false],
      from: { hour: 8, minute: 0, second: 0, hundredths: 0 },
      to: { hour: 17, minute: 59, second: 59, hundredths: 99 },
    });
    assert.equal(m.changeRecipients('add', [office], 'bems').ok, true);
    const ports = (): number[] => m.recipientsFor(0).map((r) => r.port);
    assert.deepEqual(ports(), [47808, 47810], 'Tuesday 10:00');
    clock.advance(9 * 3_600_000); // 19:00
    assert.deepEqual(ports(), [47808]);
    clock.advance(4 * 24 * 3_600_000 - 7 * 3_600_000); // Saturday 12:00
    assert.deepEqual(ports(), [47808]);
  });
});
