/**
 * The meter reader's readings and events as the nodes that read them take them: a reading without a value
 * (comm loss, a refused counter) and the new alarm events reach the BACnet model and the history writer as
 * what they are, never as a register of 0.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../dist/nodes/core/clock';
import { Reliability } from '../../dist/nodes/core/bacnet/constants';
import { pointOf } from '../../dist/nodes/core/history/points';
import { DeltaEngine, type MeterInfo } from '../../dist/nodes/core/meter/delta-engine';
import { readBacnetInput } from '../../dist/nodes/bacnet/bacnet-messages';
import { account, modelOn } from '../bacnet/support';

const T0 = Date.UTC(2026, 10, 2, 9, 0, 0);
const meter: MeterInfo = { meterId: 'E1', utility: 'electricity', unit: 'kWh', accountId: 'T1' };

describe('readings without a value, as BACnet and history take them', () => {
  it('the BACnet model marks the register in comm loss and keeps its last value', () => {
    const engine = new DeltaEngine({ now: () => T0 + 60_000 });
    const model = modelOn(new ManualClock(T0));
    model.apply(account('T1', 500));
    for (const input of readBacnetInput(undefined, engine.reading(meter, 1234.5, T0).reading))
      model.apply(input);
    const lost = engine.commLoss(meter, T0 + 60_000, 'timeout');
    for (const input of readBacnetInput(undefined, [lost.reading, ...lost.events])) model.apply(input);
    const register = model.point('E1.Register')!;
    assert.equal(register.reliability, Reliability.COMMUNICATION_FAILURE);
    assert.equal(register.value, Math.fround(1234.5), 'no 0 written over the last value');
  });

  it('the BACnet model marks a refused counter unreliable with an alarm, and clears both when it is read again', () => {
    let now = T0;
    const engine = new DeltaEngine({ now: () => now });
    const model = modelOn(new ManualClock(T0));
    model.apply(account('T1', 500));
    const apply = (outcome: ReturnType<DeltaEngine['reading']>): void => {
      for (const input of readBacnetInput(undefined, [
        outcome.reading,
        ...outcome.consumptions,
        ...outcome.events,
      ]))
        model.apply(input);
    };
    apply(engine.reading(meter, 100, now));
    now += 60_000;
    apply(engine.counterUnavailable(meter, now, 'unit 5 refused importEnergy with exception 2'));
    const register = model.point('E1.Register')!;
    assert.equal(register.reliability, Reliability.UNRELIABLE_OTHER);
    assert.equal(register.value, Math.fround(100));
    assert.equal(model.point('T1.Alarm')!.value, 1);
    now += 60_000;
    apply(engine.reading(meter, 101, now));
    assert.equal(register.reliability, Reliability.NO_FAULT_DETECTED);
    assert.equal(model.point('T1.Alarm')!.value, 0, 'counter-unavailable cleared by its alarm: false event');
  });

  it('still refuses a good reading without a value', () => {
    assert.throws(
      () =>
        readBacnetInput(undefined, { meterId: 'E1', utility: 'electricity', unit: 'kWh', quality: 'good' }),
      /value: must be a number/,
    );
  });

  it('history writes a reading without a value as missing, with its quality and the values that were read', () => {
    const engine = new DeltaEngine({ now: () => T0 });
    const lost = engine.commLoss(meter, T0, 'timeout').reading;
    const point = pointOf(lost, T0);
    assert.equal(point.measurement, 'reading');
    assert.deepEqual(point.fields, { missing: true });
    assert.equal(point.tags.quality, 'comm-loss');
    const refused = pointOf(
      { ...engine.counterUnavailable(meter, T0, 'refused').reading, values: { frequency: 50 } },
      T0,
    );
    assert.deepEqual(refused.fields, { missing: true, frequency: 50 });
    assert.equal(refused.tags.quality, 'suspect');
    assert.throws(() => pointOf({ meterId: 'E1', quality: 'good' }, T0), /not a reading/);
  });
});
