/**
 * Property tests of the tariff engine's exactness:
 * - a consumption stream split into any number of pieces bills exactly what it bills whole, in
 *   sub-minor units and after posting to minor units (flat, inclining and declining blocks, TOU);
 * - time-of-use totals equal a minute-by-minute hand computation, with local time taken from the
 *   platform's Intl (not the engine's zone code), for intervals across period boundaries and the
 *   DST changes of 2024 in London and New York.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileTariff } from '../../dist/nodes/core/tariff/compile';
import { ConsumptionInput, TariffEngine } from '../../dist/nodes/core/tariff/engine';
import { postedMinor } from '../support/tariff-fixtures';
import { Charge } from '../../dist/nodes/core/messages';
import { CompiledTariff } from '../../dist/nodes/core/tariff/types';

const MINUTE = 60_000;

function priceAll(tariff: CompiledTariff, inputs: ConsumptionInput[]): Charge[] {
  const engine = new TariffEngine();
  return inputs.map((input) => {
    const outcome = engine.priceConsumption(tariff, input, { now: 0 });
    assert.equal(outcome.status, 'priced');
    return (outcome as { charge: Charge }).charge;
  });
}

function subMinor(charges: Charge[]): bigint {
  return charges.reduce((sum, c) => sum + BigInt(c.amount), 0n);
}

/** Pieces of `count` equal steps (quantity `step` micro, `stepMs` each) cut at the given step indexes. */
function split(
  count: number,
  stepMicro: number,
  stepMs: number,
  start: number,
  cuts: number[],
): ConsumptionInput[] {
  const points = [...new Set([0, ...cuts.filter((c) => c > 0 && c < count), count])].sort((a, b) => a - b);
  return points.slice(1).map((end, i) => {
    const begin = points[i] as number;
    return {
      meterId: 'M1',
      accountId: 'A1',
      readingId: `r${i}`,
      delta: ((end - begin) * stepMicro) / 1e6,
      unit: 'kWh',
      from: start + begin * stepMs,
      to: start + end * stepMs,
    };
  });
}

const FLAT = compileTariff(
  {
    currency: 'GBP',
    priceUnit: 'minor',
    energy: { type: 'flat', rate: '24.5617' },
    taxes: [{ name: 'VAT', percent: '5' }],
  },
  'flat',
);
const INCLINING = compileTariff(
  {
    currency: 'MYR',
    timezone: 'Asia/Kuala_Lumpur',
    energy: {
      type: 'block',
      reset: 'month',
      blocks: [{ upTo: '200', rate: '0.218' }, { upTo: '300', rate: '0.334' }, { rate: '0.571' }],
    },
  },
  'inclining',
);
const DECLINING = compileTariff(
  {
    currency: 'USD',
    timezone: 'America/New_York',
    energy: {
      type: 'block',
      reset: 'billing-cycle',
      billingDay: 15,
      blocks: [{ upTo: '50.5', rate: '0.31' }, { rate: '0.1733' }],
    },
    surcharges: [{ name: 'fuel', rate: '0.0123' }],
  },
  'declining',
);
const LONDON_TOU = compileTariff(
  {
    currency: 'GBP',
    priceUnit: 'minor',
    timezone: 'Europe/London',
    holidays: ['2024-03-29', '2024-12-25'],
    energy: {
      type: 'tou',
      rates: { peak: '38.1234', day: '27.40', night: '14.20' },
      default: 'night',
      schedule: [
        { days: ['weekday'], from: '16:00', to: '19:00', period: 'peak' },
        { days: ['weekday'], from: '07:00', to: '23:00', period: 'day' },
        { days: ['saturday', 'sunday', 'holiday'], from: '09:30', to: '21:00', period: 'day' },
      ],
    },
  },
  'london-tou',
);
const NEW_YORK_TOU = compileTariff(
  {
    currency: 'USD',
    timezone: 'America/New_York',
    energy: {
      type: 'tou',
      rates: { onpeak: '0.2815', offpeak: '0.0911' },
      default: 'offpeak',
      schedule: [{ days: ['weekday'], from: '08:00', to: '22:00', period: 'onpeak' }],
    },
  },
  'ny-tou',
);

describe('tariff engine properties', function () {
  this.timeout(60_000);

  for (const tariff of [FLAT, INCLINING, DECLINING, LONDON_TOU, NEW_YORK_TOU]) {
    it(`${tariff.name}: any split of a stream bills exactly the whole, in sub-minor and posted minor units`, function () {
      const start =
        tariff.name === 'declining' ? Date.parse('2024-03-15T06:00:00Z') : Date.parse('2024-03-30T18:00:00Z');
      fc.assert(
        fc.property(
          fc.integer({ min: 2, max: 96 }), // steps (each a few minutes)
          fc.integer({ min: 1, max: 40_000_000 }), // micro-kWh per step (up to 40 kWh)
          fc.constantFrom(60_000, 300_000, 900_000), // step length
          fc.array(fc.integer({ min: 1, max: 95 }), { maxLength: 30 }),
          (count, stepMicro, stepMs, cuts) => {
            const whole = priceAll(tariff, split(count, stepMicro, stepMs, start, []));
            const pieces = priceAll(tariff, split(count, stepMicro, stepMs, start, cuts));
            assert.equal(subMinor(pieces), subMinor(whole));
            assert.equal(postedMinor(pieces), postedMinor(whole));
            const q = (cs: Charge[]): number => cs.reduce((s, c) => s + Number(c.quantity) * 1e6, 0);
            assert.equal(Math.round(q(pieces)), Math.round(q(whole)));
          },
        ),
        { numRuns: 150 },
      );
    });
  }

  /** Local (weekday, minute of day, date) of an instant by Intl, independent of the engine. */
  function local(zone: string, t: number): { weekday: string; minute: number; date: string } {
    const parts = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    }).formatToParts(new Date(t));
    const get = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
    return {
      weekday: get('weekday'),
      minute: Number(get('hour')) * 60 + Number(get('minute')),
      date: `${get('year')}-${get('month')}-${get('day')}`,
    };
  }

  /** Rate (sub-minor per kWh) by hand from the schedules above. */
  function handRate(tariff: string, t: number): bigint {
    if (tariff === 'london-tou') {
      const { weekday, minute, date } = local('Europe/London', t);
      const holiday = ['2024-03-29', '2024-12-25'].includes(date);
      const workday = !holiday && !['Sat', 'Sun'].includes(weekday);
      if (workday && minute >= 16 * 60 && minute < 19 * 60) return 381_234n;
      if (workday && minute >= 7 * 60 && minute < 23 * 60) return 274_000n;
      if (!workday && minute >= 9 * 60 + 30 && minute < 21 * 60) return 274_000n;
      return 142_000n;
    }
    const { weekday, minute } = local('America/New_York', t);
    const workday = !['Sat', 'Sun'].includes(weekday);
    return workday && minute >= 8 * 60 && minute < 22 * 60 ? 281_500n : 91_100n; // 28.15 and 9.11 cents
  }

  for (const [tariff, days] of [
    [
      LONDON_TOU,
      ['2024-03-31T00:00:00Z', '2024-10-27T00:00:00Z', '2024-03-29T12:00:00Z', '2024-06-05T10:00:00Z'],
    ],
    [NEW_YORK_TOU, ['2024-03-10T05:00:00Z', '2024-11-03T04:00:00Z', '2024-07-04T12:00:00Z']],
  ] as const) {
    it(`${tariff.name}: TOU totals equal a minute-by-minute hand computation, across boundaries and DST days`, function () {
      fc.assert(
        fc.property(
          fc.constantFrom(...days),
          fc.integer({ min: -12 * 60, max: 24 * 60 }), // start offset in minutes
          fc.integer({ min: 1, max: 30 * 60 }), // length in minutes
          fc.integer({ min: 1, max: 5_000_000 }), // micro-kWh per minute
          (day, offset, minutes, perMinute) => {
            const from = Date.parse(day) + offset * MINUTE;
            const to = from + minutes * MINUTE;
            const charge = priceAll(tariff, [
              { meterId: 'M', readingId: 'r', delta: (perMinute * minutes) / 1e6, unit: 'kWh', from, to },
            ])[0] as Charge;
            // Expected, exactly: sum over minutes of perMinute micro-kWh x rate, in pico units.
            let pico = 0n;
            for (let t = from; t < to; t += MINUTE)
              pico += BigInt(perMinute) * handRate(tariff.name, t) * 100n;
            const expected = pico / 100_000_000n; // sub-minor, truncated
            const diff = BigInt(charge.amount) - expected;
            // One sub-minor unit of rounding per line at most.
            assert.ok(
              diff >= -1n && diff <= BigInt(charge.breakdown.length),
              `engine ${charge.amount}, hand ${expected}`,
            );
          },
        ),
        { numRuns: 120 },
      );
    });
  }
});
