/**
 * Property tests of the tariff engine's exactness.
 *
 * 1. Splitting: a consumption stream at a uniform rate (n steps of `stepMicro` micro-units over
 *    `stepMs` ms each) bills the same priced whole as cut into any pieces at step boundaries, in
 *    sub-minor units per component, in billed quantity, and after posting to minor units through
 *    the ledger's cumulative rounding (both rounding modes); also with restarts between pieces.
 *    Flat, inclining and declining blocks (reset per day, month, billing cycle: the reset falls on
 *    a step boundary, so the pieces split the quantity at the same proportion as the whole), gas
 *    blocks through a calorific-value conversion, and time of use around DST changes.
 * 2. Time-of-use totals equal a minute-by-minute hand computation with local time taken from the
 *    platform's Intl (not the engine's zone code), line by line and exactly, for intervals across
 *    period boundaries and the DST changes of 2024 in London, New York and Lord Howe Island.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileTariff } from '../../dist/nodes/core/tariff/compile';
import { ConsumptionInput, PricingContext, TariffEngine } from '../../dist/nodes/core/tariff/engine';
import { parseEngineState, serializeEngineState } from '../../dist/nodes/core/tariff/state';
import { divRound, formatScaled, RoundingMode, toScaledExact } from '../../dist/nodes/core/decimal';
import { CumulativeRounder, PICO_PER_SUB_MINOR, SUB_MINOR_PER_MINOR } from '../../dist/nodes/core/money';
import { Charge } from '../../dist/nodes/core/messages';
import { CompiledTariff } from '../../dist/nodes/core/tariff/types';

const MINUTE = 60_000;
const HOUR = 3_600_000;

/** Prices `inputs` on a fresh engine, restarting it (state through JSON) after the flagged pieces. */
function priceAll(
  tariff: CompiledTariff,
  inputs: ConsumptionInput[],
  restartAfter: boolean[] = [],
  ctx: PricingContext = { now: 0 },
): Charge[] {
  let engine = new TariffEngine();
  return inputs.map((input, i) => {
    const outcome = engine.priceConsumption(tariff, input, ctx);
    assert.equal(outcome.status, 'priced');
    if (restartAfter[i]) {
      engine = new TariffEngine(parseEngineState(JSON.parse(serializeEngineState(engine.snapshot()))));
    }
    return (outcome as { charge: Charge }).charge;
  });
}

/** Minor units a ledger posts for these charges: one running total, CumulativeRounder. */
function posted(charges: Charge[], mode: RoundingMode): bigint {
  const rounder = new CumulativeRounder(SUB_MINOR_PER_MINOR, mode);
  let total = 0n;
  let minor = 0n;
  for (const c of charges) {
    const step = rounder.add(total, BigInt(c.amount));
    total = step.total;
    minor += step.emit;
  }
  return minor;
}

/** Sub-minor totals per component, and the whole. */
function totals(charges: Charge[]): Record<string, bigint> {
  const out: Record<string, bigint> = { '*': 0n };
  for (const c of charges) {
    out['*'] = (out['*'] as bigint) + BigInt(c.amount);
    for (const l of c.breakdown) out[l.component] = (out[l.component] ?? 0n) + BigInt(l.amount);
  }
  return out;
}

/** Billed quantity of the charges, micro-units. */
const quantity = (charges: Charge[]): bigint =>
  charges.reduce((s, c) => s + toScaledExact(c.quantity, 6), 0n);

interface Stream {
  start: number;
  steps: number;
  stepMicro: number;
  stepMs: number;
  unit: string;
}

/** The stream cut at the given step indexes (all of them when `cuts` is empty: one piece). */
function split(stream: Stream, cuts: number[]): ConsumptionInput[] {
  const points = [...new Set([0, ...cuts.filter((c) => c > 0 && c < stream.steps), stream.steps])].sort(
    (a, b) => a - b,
  );
  return points.slice(1).map((end, i) => {
    const begin = points[i] as number;
    return {
      meterId: 'M1',
      accountId: 'A1',
      readingId: `r${i}:${begin}-${end}`,
      delta: formatScaled(BigInt((end - begin) * stream.stepMicro), 6),
      unit: stream.unit,
      from: stream.start + begin * stream.stepMs,
      to: stream.start + end * stream.stepMs,
    };
  });
}

/** Asserts that the pieces bill exactly what the whole bills. */
function assertSameBill(
  tariff: CompiledTariff,
  stream: Stream,
  cuts: number[],
  restarts: boolean[],
  ctx?: PricingContext,
): void {
  const whole = priceAll(tariff, split(stream, []), [], ctx);
  const pieces = priceAll(tariff, split(stream, cuts), restarts, ctx);
  assert.deepEqual(totals(pieces), totals(whole));
  assert.equal(quantity(pieces), quantity(whole));
  assert.equal(quantity(whole), toScaledExact(whole[0]?.quantity ?? '0', 6));
  for (const mode of ['half-even', 'half-away-from-zero'] as const) {
    assert.equal(posted(pieces, mode), posted(whole, mode));
  }
}

/**
 * A stream of up to `maxMs` whose `anchor` instant (a block reset, a DST change) falls on a step
 * boundary inside it or at one of its ends, with cut points and restart flags.
 */
function streams(anchors: number[], maxMs: number, maxStepMicro: number, unit = 'kWh') {
  return fc
    .record({
      anchor: fc.constantFrom(...anchors),
      steps: fc.integer({ min: 2, max: 300 }),
      stepMicro: fc.integer({ min: 1, max: maxStepMicro }),
      stepMs: fc.integer({ min: 1, max: 20 * MINUTE }),
      before: fc.nat(),
      cuts: fc.array(fc.nat(), { maxLength: 25 }),
      restarts: fc.array(fc.boolean(), { maxLength: 25 }),
    })
    .map(({ anchor, steps, stepMicro, stepMs, before, cuts, restarts }) => {
      const n = Math.max(2, Math.min(steps, Math.floor(maxMs / stepMs)));
      const stream: Stream = {
        start: anchor - (before % (n + 1)) * stepMs,
        steps: n,
        stepMicro,
        stepMs,
        unit,
      };
      return { stream, cuts: cuts.map((c) => c % n), restarts };
    });
}

const FLAT = compileTariff(
  {
    currency: 'GBP',
    priceUnit: 'minor',
    energy: { type: 'flat', rate: '24.5617' },
    surcharges: [{ name: 'levy', rate: '0.0333', share: '33.3' }],
    taxes: [{ name: 'VAT', percent: '5' }],
  },
  'flat',
);
const INCLINING_MONTH = compileTariff(
  {
    currency: 'MYR',
    timezone: 'Asia/Kuala_Lumpur',
    energy: {
      type: 'block',
      reset: 'month',
      blocks: [{ upTo: '200', rate: '0.218' }, { upTo: '300', rate: '0.334' }, { rate: '0.571' }],
    },
  },
  'inclining-month',
);
const DECLINING_CYCLE = compileTariff(
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
    taxes: [{ name: 'sales', percent: '8.875' }],
  },
  'declining-cycle',
);
const INCLINING_DAY = compileTariff(
  {
    currency: 'GBP',
    priceUnit: 'minor',
    timezone: 'Europe/London',
    energy: {
      type: 'block',
      reset: 'day',
      blocks: [{ upTo: '5', rate: '10.0001' }, { upTo: '12.5', rate: '20.5' }, { rate: '33.3333' }],
    },
  },
  'inclining-day',
);
const GAS_BLOCKS = compileTariff(
  {
    currency: 'GBP',
    priceUnit: 'minor',
    utility: 'gas',
    timezone: 'Europe/London',
    conversion: { from: 'm3', volumeCorrection: '1.02264', calorificValue: '39.3' },
    energy: { type: 'block', reset: 'month', blocks: [{ upTo: '100', rate: '7.1234' }, { rate: '5.0001' }] },
    taxes: [{ name: 'VAT', percent: '5' }],
  },
  'gas-blocks',
);
const DYNAMIC = compileTariff(
  {
    currency: 'EUR',
    energy: { type: 'dynamic', fallbackRate: '0.3012', maxAgeMinutes: 1440 },
    taxes: [{ name: 'VAT', percent: '21' }],
  },
  'dynamic',
);
const LONDON_TOU = compileTariff(
  {
    currency: 'GBP',
    priceUnit: 'minor',
    timezone: 'Europe/London',
    holidays: ['2024-03-29', '2024-12-25'],
    energy: {
      type: 'tou',
      rates: { peak: '38.1234', day: '27.40', night: '14.20', odd: '50.0001' },
      default: 'night',
      schedule: [
        { days: ['weekday'], from: '16:00', to: '19:00', period: 'peak' },
        { days: ['weekday'], from: '07:00', to: '23:00', period: 'day' },
        // Inside the hour that is skipped in March and repeated in October.
        { days: ['sunday'], from: '01:30', to: '02:30', period: 'odd' },
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
      rates: { onpeak: '0.2815', offpeak: '0.0911', dst: '0.5' },
      default: 'offpeak',
      schedule: [
        { days: ['weekday'], from: '08:00', to: '22:00', period: 'onpeak' },
        { days: ['sunday'], from: '01:00', to: '03:00', period: 'dst' },
      ],
    },
  },
  'ny-tou',
);
const LORD_HOWE_TOU = compileTariff(
  {
    currency: 'AUD',
    timezone: 'Australia/Lord_Howe',
    energy: {
      type: 'tou',
      rates: { peak: '0.4512', shoulder: '0.2733', night: '0.1501', dst: '0.9' },
      default: 'shoulder',
      schedule: [
        { days: ['weekday'], from: '17:00', to: '20:00', period: 'peak' },
        { days: ['sunday'], from: '01:45', to: '02:15', period: 'dst' },
        { days: ['weekday', 'saturday', 'sunday', 'holiday'], from: '22:00', to: '06:00', period: 'night' },
      ],
    },
  },
  'lord-howe-tou',
);

describe('tariff engine properties: any split bills exactly the whole', function () {
  this.timeout(60_000);
  const RUNS = { numRuns: 120 };

  it('flat (with a shared surcharge and VAT)', function () {
    fc.assert(
      fc.property(streams([Date.parse('2024-06-03T09:00:00Z')], 3 * 24 * HOUR, 40_000_000), (s) =>
        assertSameBill(FLAT, s.stream, s.cuts, s.restarts),
      ),
      RUNS,
    );
  });

  it('inclining blocks reset per month (Kuala Lumpur), across the reset', function () {
    const resets = [Date.parse('2024-04-01T00:00:00+08:00'), Date.parse('2024-03-01T00:00:00+08:00')];
    fc.assert(
      fc.property(streams(resets, 4 * 24 * HOUR, 10_000_000), (s) =>
        assertSameBill(INCLINING_MONTH, s.stream, s.cuts, s.restarts),
      ),
      RUNS,
    );
  });

  it('declining blocks reset per billing cycle on the 15th (New York), across the reset', function () {
    const resets = [Date.parse('2024-03-15T00:00:00-04:00'), Date.parse('2024-11-15T00:00:00-05:00')];
    fc.assert(
      fc.property(streams(resets, 4 * 24 * HOUR, 3_000_000), (s) =>
        assertSameBill(DECLINING_CYCLE, s.stream, s.cuts, s.restarts),
      ),
      RUNS,
    );
  });

  it('inclining blocks reset per day (London), across the midnights of the DST change days', function () {
    const resets = [
      Date.parse('2024-03-31T00:00:00Z'), // start of the 23-hour day
      Date.parse('2024-03-31T23:00:00Z'), // its end
      Date.parse('2024-10-26T23:00:00Z'), // start of the 25-hour day
      Date.parse('2024-10-28T00:00:00Z'), // its end
    ];
    fc.assert(
      fc.property(streams(resets, 20 * HOUR, 500_000), (s) =>
        assertSameBill(INCLINING_DAY, s.stream, s.cuts, s.restarts),
      ),
      RUNS,
    );
  });

  it('gas blocks through a calorific-value conversion (m3 read, kWh billed), within a month', function () {
    fc.assert(
      fc.property(streams([Date.parse('2024-06-12T00:00:00Z')], 4 * 24 * HOUR, 200_000, 'm3'), (s) =>
        assertSameBill(GAS_BLOCKS, s.stream, s.cuts, s.restarts),
      ),
      RUNS,
    );
  });

  it('dynamic prices from a signal of random intervals, with gaps priced at the fallback', function () {
    const anchor = Date.parse('2024-06-03T12:00:00Z');
    const signal = fc.array(
      fc.record({
        gap: fc.integer({ min: 0, max: 2 * HOUR }),
        length: fc.integer({ min: 1, max: 3 * HOUR }),
        rate: fc.bigInt({ min: -50_000n, max: 900_000n }),
      }),
      { minLength: 1, maxLength: 12 },
    );
    fc.assert(
      fc.property(
        streams([anchor], 24 * HOUR, 5_000_000),
        signal,
        fc.integer({ min: 0, max: 12 * HOUR }),
        (s, list, lead) => {
          let t = anchor - lead;
          const intervals = list.map(({ gap, length, rate }) => {
            const from = t + gap;
            t = from + length;
            return { from, to: t, rate };
          });
          assertSameBill(DYNAMIC, s.stream, s.cuts, s.restarts, {
            now: anchor,
            prices: { issuedAt: anchor, intervals },
          });
        },
      ),
      RUNS,
    );
  });

  for (const [tariff, anchors] of [
    [LONDON_TOU, ['2024-03-31T01:00:00Z', '2024-10-27T01:00:00Z', '2024-03-29T16:00:00Z']],
    [NEW_YORK_TOU, ['2024-03-10T07:00:00Z', '2024-11-03T06:00:00Z', '2024-07-03T12:00:00Z']],
    [LORD_HOWE_TOU, ['2024-04-06T15:00:00Z', '2024-10-05T15:30:00Z', '2024-06-03T07:00:00Z']],
  ] as const) {
    it(`time of use, ${tariff.name}, around the DST changes`, function () {
      fc.assert(
        fc.property(streams(anchors.map(Date.parse), 2 * 24 * HOUR, 5_000_000), (s) =>
          assertSameBill(tariff, s.stream, s.cuts, s.restarts),
        ),
        RUNS,
      );
    });
  }
});

describe('tariff engine properties: time of use by hand, minute by minute', function () {
  this.timeout(60_000);

  const formatters = new Map<string, Intl.DateTimeFormat>();
  /** Local weekday, minute of day and date of an instant, by Intl. */
  function local(zone: string, t: number): { weekday: string; minute: number; date: string } {
    let formatter = formatters.get(zone);
    if (!formatter) {
      formatter = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        weekday: 'short',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
      });
      formatters.set(zone, formatter);
    }
    const parts = formatter.formatToParts(new Date(t));
    const get = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
    return {
      weekday: get('weekday'),
      minute: Number(get('hour')) * 60 + Number(get('minute')),
      date: `${get('year')}-${get('month')}-${get('day')}`,
    };
  }

  const hm = (h: number, m = 0): number => h * 60 + m;

  /** The period at instant t, by hand from the schedules written above. */
  const HAND: Record<string, (t: number) => string> = {
    'london-tou': (t) => {
      const { weekday, minute, date } = local('Europe/London', t);
      const holiday = ['2024-03-29', '2024-12-25'].includes(date);
      const workday = !holiday && !['Sat', 'Sun'].includes(weekday);
      if (workday && minute >= hm(16) && minute < hm(19)) return 'peak';
      if (workday && minute >= hm(7) && minute < hm(23)) return 'day';
      if (!holiday && weekday === 'Sun' && minute >= hm(1, 30) && minute < hm(2, 30)) return 'odd';
      if (!workday && minute >= hm(9, 30) && minute < hm(21)) return 'day';
      return 'night';
    },
    'ny-tou': (t) => {
      const { weekday, minute } = local('America/New_York', t);
      if (!['Sat', 'Sun'].includes(weekday) && minute >= hm(8) && minute < hm(22)) return 'onpeak';
      if (weekday === 'Sun' && minute >= hm(1) && minute < hm(3)) return 'dst';
      return 'offpeak';
    },
    'lord-howe-tou': (t) => {
      const { weekday, minute } = local('Australia/Lord_Howe', t);
      if (!['Sat', 'Sun'].includes(weekday) && minute >= hm(17) && minute < hm(20)) return 'peak';
      if (weekday === 'Sun' && minute >= hm(1, 45) && minute < hm(2, 15)) return 'dst';
      if (minute >= hm(22) || minute < hm(6)) return 'night';
      return 'shoulder';
    },
  };

  /** Sub-minor units per billing unit of each period, from the document. */
  function rates(tariff: CompiledTariff): Map<string, bigint> {
    assert.equal(tariff.energy.type, 'tou');
    return tariff.energy.type === 'tou' ? tariff.energy.rates : new Map();
  }

  for (const [tariff, days] of [
    [
      LONDON_TOU,
      ['2024-03-31T00:00:00Z', '2024-10-27T00:00:00Z', '2024-03-29T12:00:00Z', '2024-06-05T10:00:00Z'],
    ],
    [NEW_YORK_TOU, ['2024-03-10T05:00:00Z', '2024-11-03T04:00:00Z', '2024-07-04T12:00:00Z']],
    [LORD_HOWE_TOU, ['2024-04-06T13:00:00Z', '2024-10-05T13:00:00Z', '2024-12-31T13:00:00Z']],
  ] as const) {
    it(`${tariff.name}: every line equals the hand computation, across boundaries and DST days`, function () {
      const rate = rates(tariff);
      const hand = HAND[tariff.name] as (t: number) => string;
      fc.assert(
        fc.property(
          fc.constantFrom(...days),
          fc.integer({ min: -12 * 60, max: 24 * 60 }), // start, minutes from the day's anchor
          fc.integer({ min: 1, max: 30 * 60 }), // length in minutes
          fc.integer({ min: 1, max: 5_000_000 }), // micro-units per minute
          (day, offset, minutes, perMinute) => {
            const from = Date.parse(day) + offset * MINUTE;
            const to = from + minutes * MINUTE;
            const [charge] = priceAll(tariff, [
              {
                meterId: 'M',
                readingId: 'r',
                delta: formatScaled(BigInt(perMinute * minutes), 6),
                unit: 'kWh',
                from,
                to,
              },
            ]);
            // By hand: each minute's consumption x its period's rate, exact in pico units per period,
            // rounded once per line (a fresh account: the emitted amount is the rounded total).
            const pico = new Map<string, bigint>();
            const micro = new Map<string, bigint>();
            for (let t = from; t < to; t += MINUTE) {
              const period = hand(t);
              pico.set(
                period,
                (pico.get(period) ?? 0n) + BigInt(perMinute) * (rate.get(period) as bigint) * 100n,
              );
              micro.set(period, (micro.get(period) ?? 0n) + BigInt(perMinute));
            }
            const expected = [...pico.entries()]
              .map(
                ([period, p]) => [`energy.${period}`, divRound(p, PICO_PER_SUB_MINOR, 'half-even')] as const,
              )
              .sort();
            const actual = (charge as Charge).breakdown
              .map((l) => [l.component, BigInt(l.amount)] as const)
              .sort();
            assert.deepEqual(actual, expected);
            for (const line of (charge as Charge).breakdown) {
              assert.equal(
                toScaledExact(line.quantity, 6),
                micro.get(line.component.slice('energy.'.length)),
              );
            }
          },
        ),
        { numRuns: 100 },
      );
    });
  }
});
