/**
 * The simulator's outdoor temperature: the same instant always gives the same reading, a Kuala Lumpur day runs
 * from about 24 °C before dawn to about 32 °C mid-afternoon, and the days differ a little (a baseline has
 * something to regress on).
 */
import assert from 'node:assert/strict';
import { outdoorTemperature } from '../../dist/nodes/simulator/outdoor-climate';

const HOUR = 3_600_000;
const KL = 'Asia/Kuala_Lumpur';

describe('simulator: outdoor temperature', function () {
  it('gives a tropical daily curve, coolest near dawn and warmest mid-afternoon, the same every time', function () {
    const midnight = Date.UTC(2026, 11, 6, 16); // 7 December 2026, 00:00 in Kuala Lumpur
    const day = Array.from({ length: 24 }, (_, h) => outdoorTemperature(midnight + h * HOUR, KL));
    assert.deepEqual(
      day,
      Array.from({ length: 24 }, (_, h) => outdoorTemperature(midnight + h * HOUR, KL)),
    );
    const coolest = day.indexOf(Math.min(...day));
    const warmest = day.indexOf(Math.max(...day));
    assert.ok(coolest >= 4 && coolest <= 8, `coolest at ${coolest}:00`);
    assert.ok(warmest >= 13 && warmest <= 17, `warmest at ${warmest}:00`);
    assert.ok(Math.min(...day) >= 22 && Math.max(...day) <= 34, day.join(' '));
    assert.ok(Math.max(...day) - Math.min(...day) >= 6, 'a daily range of several degrees');
    const means = Array.from({ length: 14 }, (_, d) => {
      let sum = 0;
      for (let h = 0; h < 24; h += 1) sum += outdoorTemperature(midnight + (d * 24 + h) * HOUR, KL);
      return sum / 24;
    });
    assert.ok(Math.max(...means) - Math.min(...means) > 0.8, `daily means ${means.map((m) => m.toFixed(1))}`);
  });
});
