/**
 * Real published tariffs priced to their published figures.
 *
 * - Ofgem, "Energy price cap explained" / price cap rates for 1 October to 31 December 2024
 *   (direct debit, GB average, VAT included): electricity 24.50 p/kWh + 60.99 p/day, gas
 *   6.24 p/kWh + 31.66 p/day. Ofgem's published typical annual dual-fuel bill at this cap: £1,717
 *   (typical consumption 2,700 kWh electricity, 11,500 kWh gas).
 * - Tenaga Nasional Berhad (TNB), tariff schedule effective 1 January 2014:
 *   Tariff A (domestic) inclining blocks: first 200 kWh 21.80 sen, next 100 kWh 33.40 sen, next
 *   300 kWh 51.60 sen, next 300 kWh 54.60 sen, above 900 kWh 57.10 sen; TNB's worked examples:
 *   300 kWh = RM 77.00, 1,000 kWh = RM 452.70.
 *   Tariff C2 (medium-voltage commercial): peak (08:00-22:00) 36.50 sen/kWh, off-peak 22.40 sen/kWh,
 *   maximum demand RM 45.10/kW (peak period), minimum monthly charge RM 600.
 * - Gas volume to energy as on UK bills: 100 m3 x 1.02264 x 39.3 MJ/m3 / 3.6 = 1,116.382 kWh.
 */
import assert from 'node:assert/strict';
import { compileTariff } from '../../dist/nodes/core/tariff/compile';
import { TariffEngine } from '../../dist/nodes/core/tariff/engine';
import { parseEngineState, serializeEngineState } from '../../dist/nodes/core/tariff/state';
import { OFGEM_ELECTRICITY_2024Q4, postedMinor, TNB_A, TNB_C2 } from '../support/tariff-fixtures';
import { Charge } from '../../dist/nodes/core/messages';

const DAY = 86_400_000;

function priced(engine: TariffEngine, outcome: ReturnType<TariffEngine['priceConsumption']>): Charge {
  assert.equal(outcome.status, 'priced');
  return (outcome as { charge: Charge }).charge;
}

describe('published tariffs', function () {
  it('Ofgem price cap Oct-Dec 2024: the typical dual-fuel year costs £1,717', function () {
    const electricity = compileTariff(OFGEM_ELECTRICITY_2024Q4, 'ofgem-electricity');
    const gas = compileTariff(
      {
        currency: 'GBP',
        priceUnit: 'minor',
        utility: 'gas',
        timezone: 'Europe/London',
        energy: { type: 'flat', rate: '6.24' },
        standingCharge: { perDay: '31.66' },
      },
      'ofgem-gas',
    );
    const engine = new TariffEngine();
    const year = (tariff: typeof electricity, account: string, kwh: number): Charge[] => {
      const charges: Charge[] = [];
      const start = Date.UTC(2024, 9, 1);
      // Twelve monthly readings of a twelfth of the year's use each.
      for (let m = 0; m < 12; m++) {
        const input = {
          meterId: `${account}-M`,
          accountId: account,
          readingId: `${account}:${m}`,
          delta: kwh / 12,
          unit: 'kWh',
          from: start + m * 30 * DAY,
          to: start + (m + 1) * 30 * DAY,
        };
        charges.push(priced(engine, engine.priceConsumption(tariff, input, { now: 0 })));
      }
      for (let d = 0; d < 365; d++) {
        const date = new Date(start + d * DAY).toISOString().slice(0, 10);
        charges.push(...engine.calendarCharges(tariff, account, date));
      }
      return charges;
    };
    const e = year(electricity, 'E', 2700);
    const g = year(gas, 'G', 11500);
    // 2,700 x 24.50 + 365 x 60.99 = 88,411.35 p; 11,500 x 6.24 + 365 x 31.66 = 83,315.90 p
    assert.equal(
      e.reduce((s, c) => s + c.amount, 0),
      884_113_500,
    );
    assert.equal(
      g.reduce((s, c) => s + c.amount, 0),
      833_159_000,
    );
    assert.equal(postedMinor(e), 88_411n); // £884.11
    assert.equal(postedMinor(g), 83_316n); // £833.16
    const total = postedMinor([...e, ...g]);
    assert.equal(total, 171_727n); // £1,717.27: Ofgem's published £1,717
    assert.equal(total / 100n, 1717n);
  });

  it('TNB tariff A (inclining blocks): 300 kWh = RM 77.00 and 1,000 kWh = RM 452.70, month by month', function () {
    const tariffA = compileTariff(TNB_A, 'tnb-a');
    let engine = new TariffEngine();
    const june = Date.parse('2024-06-01T00:00:00+08:00');
    const july = Date.parse('2024-07-01T00:00:00+08:00');
    // 300 kWh in June, read in 30 daily readings of 10 kWh.
    const juneCharges: Charge[] = [];
    for (let d = 0; d < 30; d++) {
      juneCharges.push(
        priced(
          engine,
          engine.priceConsumption(
            tariffA,
            {
              meterId: 'M',
              accountId: 'H1',
              readingId: `jun-${d}`,
              delta: 10,
              unit: 'kWh',
              from: june + d * DAY,
              to: june + (d + 1) * DAY,
            },
            { now: 0 },
          ),
        ),
      );
    }
    assert.equal(postedMinor(juneCharges), 7700n); // RM 77.00
    // The block position survives a restart (state written and read back as JSON).
    engine = new TariffEngine(parseEngineState(JSON.parse(serializeEngineState(engine.snapshot()))));
    // July starts from the first block again: 1,000 kWh in four readings.
    const julyCharges: Charge[] = [];
    for (let w = 0; w < 4; w++) {
      julyCharges.push(
        priced(
          engine,
          engine.priceConsumption(
            tariffA,
            {
              meterId: 'M',
              accountId: 'H1',
              readingId: `jul-${w}`,
              delta: 250,
              unit: 'kWh',
              from: july + w * 7 * DAY,
              to: july + (w + 1) * 7 * DAY,
            },
            { now: 0 },
          ),
        ),
      );
    }
    assert.equal(postedMinor(julyCharges), 45_270n); // RM 452.70
    const lines = new Map<string, number>();
    for (const c of julyCharges)
      for (const l of c.breakdown) lines.set(l.component, (lines.get(l.component) ?? 0) + l.amount);
    assert.deepEqual(Object.fromEntries(lines), {
      'block.1': 43_600_000, // 200 x 21.80 sen
      'block.2': 33_400_000, // 100 x 33.40 sen
      'block.3': 154_800_000, // 300 x 51.60 sen
      'block.4': 163_800_000, // 300 x 54.60 sen
      'block.5': 57_100_000, // 100 x 57.10 sen
    });
  });

  it('TNB tariff C2: peak/off-peak energy, maximum demand in the peak, and the RM 600 minimum', function () {
    const c2 = compileTariff(
      { ...TNB_C2, demand: { rate: '45.10', intervalMinutes: 30, periods: ['peak'] }, minimumMonthly: '600' },
      'tnb-c2',
    );
    const engine = new TariffEngine();
    const first = Date.parse('2024-06-01T00:00:00+08:00');
    engine.calendarCharges(c2, 'SHOP', '2024-06-01');
    engine.calendarCharges(c2, 'KIOSK', '2024-06-01');
    // SHOP, Monday 3 June: 100 kW through the peak (28 half hours of 50 kWh), 40 kW off-peak
    // (20 half hours of 20 kWh); one half hour at 130 kW sets the month's maximum demand.
    const day = Date.parse('2024-06-03T00:00:00+08:00');
    const charges: Charge[] = [];
    for (let h = 0; h < 48; h++) {
      const from = day + h * 1_800_000;
      const localHour = h / 2;
      const peak = localHour >= 8 && localHour < 22;
      const kwh = h === 30 ? 65 : peak ? 50 : 20;
      charges.push(
        priced(
          engine,
          engine.priceConsumption(
            c2,
            {
              meterId: 'S',
              accountId: 'SHOP',
              readingId: `s${h}`,
              delta: kwh,
              unit: 'kWh',
              from,
              to: from + 1_800_000,
            },
            { now: 0 },
          ),
        ),
      );
    }
    // KIOSK: 10 kWh off-peak in the month.
    charges.push(
      priced(
        engine,
        engine.priceConsumption(
          c2,
          {
            meterId: 'K',
            accountId: 'KIOSK',
            readingId: 'k1',
            delta: 10,
            unit: 'kWh',
            from: day,
            to: day + 3_600_000,
          },
          { now: 0 },
        ),
      ),
    );
    const energy = new Map<string, number>();
    for (const c of charges.filter((x) => x.accountId === 'SHOP'))
      for (const l of c.breakdown) energy.set(l.component, (energy.get(l.component) ?? 0) + l.amount);
    // peak 27 x 50 + 65 = 1,415 kWh x 0.365 = RM 516.475; off-peak 20 x 20 = 400 kWh x 0.224 = RM 89.60
    assert.equal(energy.get('energy.peak'), 516_475_000); // sub-minor: 51,647.5 sen
    assert.equal(energy.get('energy.offpeak'), 89_600_000);
    // Month closes at the first local midnight of July.
    const shopClose = engine.calendarCharges(c2, 'SHOP', '2024-07-01');
    const kioskClose = engine.calendarCharges(c2, 'KIOSK', '2024-07-01');
    const shopMonthly = shopClose.find((c) => c.kind === 'monthly') as Charge;
    // 65 kWh in 30 minutes = 130 kW x RM 45.10 = RM 5,863.00; no minimum (the month is above RM 600)
    assert.deepEqual(
      shopMonthly.breakdown.map((l) => [l.component, l.quantity, l.amount]),
      [['demand', '130', 5_863_000_000]],
    );
    const kioskMonthly = kioskClose.find((c) => c.kind === 'monthly') as Charge;
    // 10 kWh off-peak = RM 2.24; lifted to RM 600: a RM 597.76 minimum charge, no demand in the peak.
    assert.deepEqual(
      kioskMonthly.breakdown.map((l) => [l.component, l.amount]),
      [['minimum', 597_760_000]],
    );
    assert.equal(first < day, true);
  });

  it('gas: 100 m3 x 1.02264 x 39.3 MJ/m3 / 3.6 is exactly 1,116.382 kWh', function () {
    const gas = compileTariff(
      {
        currency: 'GBP',
        priceUnit: 'minor',
        utility: 'gas',
        conversion: { from: 'm3', volumeCorrection: '1.02264', calorificValue: '39.3' },
        energy: { type: 'flat', rate: '6.24' },
      },
      'uk-gas',
    );
    const engine = new TariffEngine();
    const charge = priced(
      engine,
      engine.priceConsumption(
        gas,
        { meterId: 'G', readingId: 'g1', delta: 100, unit: 'm3', from: 0, to: 3_600_000 },
        { now: 0 },
      ),
    );
    assert.equal(charge.quantity, '1116.382');
    assert.equal(charge.unit, 'kWh');
    // 1,116.382 x 6.24 p = 6,966.22368 p -> 69,662,236.8 sub-minor -> 69,662,237
    assert.equal(charge.amount, 69_662_237);
  });
});
